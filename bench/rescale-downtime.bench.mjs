// Rescale downtime on a real local cluster (issue 20's budget: last output before -> first
// output after <= 15 s at 1 GB of keyed state): `sluice local` (master + 2 workers, fs),
// a keyed word count over KEYS distinct words publishing a file-sink part every 300 ms
// checkpoint; `sluice rescale` 2 -> 4 on the same app id. Downtime = the largest gap
// between consecutive part files' mtimes around the rescale. Beside it, in the same run:
// a plain copy of the savepoint's bytes (write + fsync + read back a file of that size).
// Size: SLUICE_BENCH_RESCALE_KEYS (default 200,000 distinct keys).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { report } from './lib.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(REPO, 'packages/engine/dist/cli/main.js');
const WORD_COUNT = join(REPO, 'packages/engine/examples/word-count/word-count.mjs');
const KEYS = Number(process.env.SLUICE_BENCH_RESCALE_KEYS ?? 200_000);
const LINES = Math.ceil((KEYS * 2) / 8);
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-rescale-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Word n in letters only (the example's tokenizer drops digits). */
const word = (n) => {
  let w = 'w';
  do {
    w += String.fromCharCode(97 + (n % 26));
    n = Math.floor(n / 26);
  } while (n > 0);
  return w;
};

function cli(args, env = {}) {
  return new Promise((res) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, SLUICE_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => res({ code, out, err }));
  });
}

writeFileSync(join(dir, 'cluster.yaml'), "storage:\n  default:\n    module: '@sluice/storage-fs'\n    options:\n      root: ./store\nmaster:\n  host: 127.0.0.1\n  port: 0\n  seedFile: ./master/seed.json\nworker:\n  cacheDir: ./workers\n  heartbeatMs: 200\n");
// Every key twice over the input, in a scrambled order (a multiplicative walk over the keys).
const lines = [];
for (let l = 0, i = 0; l < LINES; l++) {
  const ws = [];
  for (let j = 0; j < 8; j++, i++) ws.push(word((i * 7919) % KEYS));
  lines.push(ws.join(' '));
}
writeFileSync(join(dir, 'words.txt'), lines.join('\n') + '\n');
const out = join(dir, 'out');

const local = spawn(process.execPath, [CLI, 'local', '-c', 'cluster.yaml', '--workers', '2'], { cwd: dir, env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
try {
  let banner = '';
  local.stdout.on('data', (d) => (banner += d));
  for (let i = 0; i < 600 && !/master on (\S+),/.test(banner); i++) await sleep(100);
  const addr = /master on (\S+),/.exec(banner)?.[1];
  if (!addr) throw new Error(`sluice local did not start: ${banner}`);
  const env = { SLUICE_TOKEN: readFileSync(join(dir, 'admin.token'), 'utf8').trim() };
  const m = ['--master', addr];
  // The input lasts well past the rescale: half of it at the rate below is ~KEYS/1000 s.
  const rate = Math.max(500, Math.round(LINES / 60));
  const sub = await cli(['submit', WORD_COUNT, ...m, '--config', `input=${join(dir, 'words.txt')}`, '--config', `output=${out}`, '--config', 'executors=2', '--config', 'checkpointIntervalMs=300', '--config', `linesPerSec=${rate}`, '--config', 'parallelism=2'], env);
  if (sub.code !== 0) throw new Error(`submit failed: ${sub.err}`);
  const id = sub.out.trim();
  // Every key is in the state once every line was read once... half the input (each key twice).
  const parts = () => (!existsSync(out) ? [] : readdirSync(out, { withFileTypes: true }).filter((f) => f.isFile() && f.name.startsWith('part-')).map((f) => statSync(join(out, f.name)).mtimeMs));
  await sleep(((LINES / 2) / rate) * 1000);
  const t0 = Date.now();
  const r = await cli(['rescale', id, ...m, '--parallelism', 'split=4,count=4', '--json'], env);
  const cmdMs = Date.now() - t0;
  if (r.code !== 0) throw new Error(`rescale failed: ${r.err}`);
  const j = JSON.parse(r.out);
  // First output after: wait for a part file newer than the command's end.
  for (let i = 0; i < 600 && !parts().some((t) => t > t0 + cmdMs); i++) await sleep(100);
  const around = parts().filter((t) => t >= t0 - 5000).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < around.length; i++) gap = Math.max(gap, around[i] - around[i - 1]);
  const spSize = Number(j.savepoint.size ?? 0);

  // Baseline: the savepoint's bytes written, fsynced and read back once.
  const b0 = performance.now();
  const f = join(dir, 'copy.bin');
  const fd = openSync(f, 'w');
  const chunk = Buffer.alloc(1 << 20, 7);
  for (let n = 0; n < spSize; n += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, spSize - n));
  fsyncSync(fd);
  closeSync(fd);
  readFileSync(f);
  const copyMs = performance.now() - b0;
  report({
    name: `rescale downtime 2 -> 4 of a word count with ${KEYS} keys (${(spSize / 1e6).toFixed(1)} MB savepoint) on sluice local, fs: last output before -> first after`,
    value: gap, unit: 'ms', higherIsBetter: false,
    baseline: 'plain copy of the savepoint bytes (write + fsync + read back)', baselineValue: copyMs, goal: 'issue 20: 1 GB downtime <= 15 s',
    notes: `sluice rescale returned in ${cmdMs} ms (stop, savepoint, restart, first commit); version ${j.version}, same app id ${j.appId === id}`,
  });
  await cli(['kill', id, ...m], env);
} finally {
  local.kill('SIGTERM');
  await new Promise((r) => {
    const t = setTimeout(() => {
      local.kill('SIGKILL');
      r();
    }, 10_000);
    local.on('exit', () => {
      clearTimeout(t);
      r();
    });
  });
  rmSync(dir, { recursive: true, force: true });
}
