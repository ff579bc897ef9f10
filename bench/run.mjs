#!/usr/bin/env node
// Runs every bench/*.bench.mjs (or those named on the command line) in its own process,
// collects their BENCH lines and writes bench/results/latest.json.
import { spawn } from 'node:child_process';
import { readdir, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// `--flag value` pairs after the names are passed to each bench (e.g. `nexmark --events 200000`).
const args = process.argv.slice(2);
const flagAt = args.findIndex((a) => a.startsWith('--'));
const wanted = flagAt < 0 ? args : args.slice(0, flagAt);
const flags = flagAt < 0 ? [] : args.slice(flagAt);
// A name selects `<name>.bench.mjs` exactly ('fs' must not also run 'hdfs').
const files = (await readdir(here)).filter((f) => f.endsWith('.bench.mjs') && (wanted.length === 0 || wanted.includes(f.slice(0, -'.bench.mjs'.length)))).sort();
const results = [];
const failures = [];
for (const f of files) {
  process.stdout.write(`# ${f}\n`);
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', join(here, f), ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('BENCH ')) {
          const r = { file: f, ...JSON.parse(line.slice(6)) };
          results.push(r);
          process.stdout.write(`  ${r.name}: ${r.value} ${r.unit}` + (r.baselineValue != null ? ` | ${r.baseline}: ${r.baselineValue} | ratio ${r.ratio}` : '') + (r.goal ? ` | goal ${r.goal}` : '') + '\n');
        } else process.stdout.write(`  ${line}\n`);
      }
    });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) failures.push(f);
}
await mkdir(join(here, 'results'), { recursive: true });
const out = { date: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length, results, failures };
await writeFile(join(here, 'results', wanted.length ? `partial-${Date.now()}.json` : 'latest.json'), JSON.stringify(out, null, 2) + '\n');
process.stdout.write(`wrote ${results.length} results${failures.length ? `; FAILED: ${failures.join(', ')}` : ''}\n`);
process.exitCode = failures.length ? 1 : 0;
