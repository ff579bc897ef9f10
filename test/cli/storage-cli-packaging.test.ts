import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The user's path for the separately published backends: pack every package, install the
// engine and the backends from their tarballs into an empty project (no workspace links),
// write a cluster config that routes to each backend and run the conformance suite with
// the installed `sluice` against a live server this test starts.
const root = resolve(import.meta.dirname, '../..');
const started: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const c of started) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGTERM');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number; out: string; stdout: string }> {
  return new Promise((res, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    let out = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => ((out += d.toString()), (stdout += d.toString())));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      res({ code: code ?? 1, out, stdout });
    });
  });
}

async function must(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  const r = await run(cmd, args, cwd, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.out.slice(-4000)}`);
  return r.out;
}

/** Starts a server script that prints one JSON line when listening; stopped by PID in afterAll. */
function server(args: string[]): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(child);
  return new Promise((res, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`${args.join(' ')} did not start in 30 s`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(t);
        res(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      }
    });
    child.on('exit', (c) => reject(new Error(`${args.join(' ')} exited ${c}`)));
  });
}

interface Report { passed: number; failed: number; skipped: number; results: Array<{ group: string; name: string; status: string; error?: { message: string } }> }

describe('backends as separately published artifacts', () => {
  it('engine + storage-s3 and engine + storage-hdfs installed from tarballs pass `npx sluice storage conformance -c`', { timeout: 1_500_000 }, async () => {
    const work = await mkdtemp(join(tmpdir(), 'sluice-artifacts-'));
    dirs.push(work);
    const tgz = join(work, 'tgz');
    const proj = join(work, 'proj');
    mkdirSync(tgz);
    mkdirSync(proj);
    for (const pkg of ['storage-api', 'storage-fs', 'storage-s3', 'storage-hdfs', 'engine']) await must('npm', ['pack', '--pack-destination', tgz], join(root, 'packages', pkg), 120_000);
    const tarballs = readdirSync(tgz).sort();
    expect(tarballs).toEqual(['sluice-engine-0.1.0.tgz', 'sluice-storage-api-0.1.0.tgz', 'sluice-storage-fs-0.1.0.tgz', 'sluice-storage-hdfs-0.1.0.tgz', 'sluice-storage-s3-0.1.0.tgz']);
    // Each backend ships types, a README and a changelog, and declares its peer range on storage-api.
    for (const t of tarballs.filter((x) => /storage-(s3|hdfs)/.test(x))) {
      const listing = await must('tar', ['-tzf', join(tgz, t)], work, 30_000);
      expect(listing, t).toMatch(/package\/dist\/index\.d\.ts/);
      expect(listing, t).toMatch(/package\/README\.md/);
      expect(listing, t).toMatch(/package\/CHANGELOG\.md/);
    }
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'artifact-probe', private: true, type: 'module', allowScripts: { 'better-sqlite3': true } }));
    // One install of the engine with both backends (better-sqlite3, which the engine's default
    // backend needs, compiles from source here: minutes per install).
    await must('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs.map((t) => join(tgz, t))], proj, 1_200_000);
    expect(readdirSync(join(proj, 'node_modules', '@sluice')).sort()).toEqual(['engine', 'storage-api', 'storage-fs', 'storage-hdfs', 'storage-s3']);
    for (const b of ['storage-s3', 'storage-hdfs']) {
      const pkg = JSON.parse(readFileSync(join(proj, 'node_modules', '@sluice', b, 'package.json'), 'utf8')) as { peerDependencies?: Record<string, string> };
      expect(pkg.peerDependencies?.['@sluice/storage-api'], b).toBe('^0.1.0');
    }

    const s3 = await server(['--openssl-legacy-provider', join(root, 'test/servers/s3/launcher.mjs'), '--dir', join(work, 's3rver'), '--shim']);
    const hdfs = await server([join(root, 'test/webhdfs-server/dist/main.js')]);
    writeFileSync(join(proj, 'cluster-s3.yaml'), [
      'storage:', '  default:', '    module: "@sluice/storage-s3"',
      `    options: { bucket: artifacts, prefix: conf/, endpoint: "http://127.0.0.1:${s3.port as number}", region: us-east-1, forcePathStyle: true, createBucket: true, credentials: { accessKeyId: S3RVER, secretAccessKey: S3RVER } }`, '',
    ].join('\n'));
    writeFileSync(join(proj, 'cluster-hdfs.yaml'), ['storage:', '  default:', '    module: "@sluice/storage-hdfs"', `    options: { url: "${hdfs.namenode as string}", root: /artifacts }`, ''].join('\n'));
    for (const cfg of ['cluster-s3.yaml', 'cluster-hdfs.yaml']) {
      const r = await run('npx', ['--no-install', 'sluice', 'storage', 'conformance', '-c', cfg, '--json'], proj, 600_000);
      let report: Report;
      try {
        report = JSON.parse(r.stdout) as Report;
      } catch {
        throw new Error(`${cfg}: sluice storage conformance printed no JSON report (exit ${r.code}):\n${r.out.slice(-4000)}`);
      }
      expect(report.results.filter((x) => x.status === 'failed').map((x) => `${x.group} › ${x.name}: ${x.error?.message}`), cfg).toEqual([]);
      expect(report.passed, cfg).toBeGreaterThan(50);
      expect(r.code, cfg).toBe(0);
    }
  });
});
