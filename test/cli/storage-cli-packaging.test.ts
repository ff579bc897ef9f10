import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { satisfiesCaret } from '@sluice/storage-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The user's path for the separately published backends: pack every package, install the
// engine and the backends from their tarballs into an empty project (no workspace links),
// write cluster configs that route to each backend, run the conformance suite and a small
// app on `sluice local` with the installed `sluice` against live servers this file starts.
// One install and one server of each kind for the whole file: the install compiles
// better-sqlite3 from source (about a minute of CPU).
const root = resolve(import.meta.dirname, '../..');
const PACKAGES = ['storage-api', 'storage-fs', 'storage-s3', 'storage-hdfs', 'engine'] as const;
const started: ChildProcess[] = [];
const dirs: string[] = [];
// The CLI finds the local cluster's admin token by itself (<config folder>/admin.token):
// no token from the environment running the test may win over it.
const cliEnv = { ...process.env, npm_config_update_notifier: 'false', SLUICE_TOKEN: '', SLUICE_LOG_LEVEL: 'warn' };

afterAll(async () => {
  for (const c of started) await stop(c);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number; out: string; stdout: string; stderr: string }> {
  return new Promise((res, reject) => {
    // Its own process group: npx runs `sluice` as a child, and a timeout must stop both.
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv, detached: true });
    let out = '';
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => ((out += d.toString()), (stdout += d.toString())));
    child.stderr.on('data', (d: Buffer) => ((out += d.toString()), (stderr += d.toString())));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      res({ code: code ?? 1, out, stdout, stderr });
    });
  });
}

async function must(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  const r = await run(cmd, args, cwd, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.out.slice(-4000)}`);
  return r.stdout;
}

/** SIGTERM by PID (sluice local stops its executors), SIGKILL after a grace period. */
async function stop(c: ChildProcess, graceMs = 20_000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null || !c.pid) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  process.kill(c.pid, 'SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

/** Resolves the first match of `re` on the child's stdout; rejects on exit or after `timeoutMs`. */
function lineOf(child: ChildProcess, re: RegExp, timeoutMs: number, what: string): Promise<RegExpMatchArray> {
  return new Promise((res, reject) => {
    let out = '';
    let err = '';
    const fail = (why: string): void => reject(new Error(`${what}: ${why} (stdout: ${out.slice(-2000)}; stderr: ${err.slice(-2000)})`));
    const t = setTimeout(() => fail(`no line matching ${re} in ${timeoutMs} ms`), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(re);
      if (m) {
        clearTimeout(t);
        res(m);
      }
    });
    child.once('exit', (c) => {
      clearTimeout(t);
      fail(`exited ${c}`);
    });
  });
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
interface Packed { name: string; version: string; filename: string; files: Array<{ path: string }> }
interface Manifest {
  name: string;
  version: string;
  description?: string;
  license?: string;
  engines?: { node?: string };
  exports?: Record<string, string | { types?: string; default?: string }>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

let work: string;
let tgz: string;
let proj: string;
let packed: Packed[];
let s3Port: number;
let namenode: string;

// A small app written by the user into their project (not shipped in any package): counts
// the words of one file. Its input gives known counts.
const APP = `// Counts the words of one input file.
export default function countWords(sluice, config) {
  const { dag, connectors } = sluice;
  return dag('probe-count', { checkpointIntervalMs: 200 })
    .source('lines', connectors.fileSource({ path: config.input }))
    .flatMap('split', (line) => line.split(' ').filter((w) => w.length > 0))
    .groupBy((w) => w)
    .count('count')
    .sink('out', connectors.fileSink({ dir: config.output }));
}
`;
const INPUT_LINES = Array.from({ length: 300 }, (_, i) => `w${i % 7} w${i % 11} w${i % 13}`);
const EXPECTED = new Map<string, string>();
for (const w of INPUT_LINES.flatMap((l) => l.split(' '))) EXPECTED.set(w, String(Number(EXPECTED.get(w) ?? 0) + 1));
const APP_SHA256 = createHash('sha256').update(APP).digest('hex');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sluice-artifacts-'));
  dirs.push(work);
  tgz = join(work, 'tgz');
  proj = join(work, 'proj');
  mkdirSync(tgz);
  mkdirSync(proj);
  packed = [];
  for (const pkg of PACKAGES) packed.push(...(JSON.parse(await must('npm', ['pack', '--json', '--pack-destination', tgz], join(root, 'packages', pkg), 120_000)) as Packed[]));
  writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'artifact-probe', private: true, type: 'module', allowScripts: { 'better-sqlite3': true } }));
  // One install of the engine with both backends (better-sqlite3, which the engine's default
  // backend needs, compiles from source here).
  await must('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...packed.map((p) => join(tgz, p.filename))], proj, 1_200_000);
  const s3 = await server(['--openssl-legacy-provider', join(root, 'test/servers/s3/launcher.mjs'), '--dir', join(work, 's3rver'), '--shim']);
  s3Port = s3.port as number;
  namenode = (await server([join(root, 'test/webhdfs-server/dist/main.js')])).namenode as string;
  writeFileSync(join(proj, 'app.mjs'), APP);
  writeFileSync(join(proj, 'input.txt'), `${INPUT_LINES.join('\n')}\n`);
}, 1_500_000);

function s3Options(prefix: string): string {
  return `{ bucket: artifacts, prefix: ${prefix}, endpoint: "http://127.0.0.1:${s3Port}", region: us-east-1, forcePathStyle: true, createBucket: true, credentials: { accessKeyId: S3RVER, secretAccessKey: S3RVER } }`;
}

/** A cluster config in its own folder of the project (the local cluster's admin token lands there). */
function clusterConfig(folder: string, module: string, options: string): string {
  mkdirSync(join(proj, folder), { recursive: true });
  writeFileSync(join(proj, folder, 'cluster.yaml'), [
    'storage:', '  default:', `    module: "${module}"`, `    options: ${options}`,
    'master: { host: 127.0.0.1, port: 0, seedFile: ./master/seed.json }',
    'worker: { cacheDir: ./workers, heartbeatMs: 200 }', '',
  ].join('\n'));
  return `${folder}/cluster.yaml`;
}

/** The tarball's own copy of a file. */
async function fromTarball(p: Packed, file: string): Promise<string> {
  return must('tar', ['-xzOf', join(tgz, p.filename), `package/${file}`], work, 30_000);
}

/**
 * Starts the installed `sluice local` on `config`, submits the project's app, waits for it
 * with `sluice wait` and checks its exact output; returns the app id. The local cluster
 * is stopped by PID before returning.
 */
async function runAppOnLocal(config: string, output: string): Promise<string> {
  // The installed bin (what `npx sluice` runs), spawned directly so its PID is the cluster's.
  const local = spawn(process.execPath, [join(proj, 'node_modules', '.bin', 'sluice'), 'local', '-c', config, '--workers', '1'], { cwd: proj, env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(local);
  try {
    const addr = (await lineOf(local, /master on (\S+),/, 60_000, `sluice local -c ${config}`))[1]!;
    const sub = await run('npx', ['--no-install', 'sluice', 'submit', 'app.mjs', '-c', config, '--master', addr,
      '--config', `input=${join(proj, 'input.txt')}`, '--config', `output=${join(proj, output)}`, '--config', 'executors=1'], proj, 120_000);
    expect(sub.code, sub.out).toBe(0);
    const appId = sub.stdout.trim();
    expect(appId).toMatch(/^app-[a-z0-9]+$/);
    const waited = await run('npx', ['--no-install', 'sluice', 'wait', appId, '-c', config, '--master', addr, '--timeout', '150s'], proj, 180_000);
    expect(waited.code, waited.out).toBe(0);
    expect(waited.stdout.trim()).toBe(`${appId} stopped`);
    // The committed output, read with the installed engine's own reader.
    const engine = (await import(pathToFileURL(join(proj, 'node_modules/@sluice/engine/dist/index.js')).href)) as { readCommittedOutput(dir: string): Map<string, string> };
    expect(engine.readCommittedOutput(join(proj, output))).toEqual(EXPECTED);
    return appId;
  } finally {
    await stop(local);
  }
}

describe('backends as separately published artifacts', () => {
  it('each tarball ships its types, a README and a changelog entry for its version, and declares its range on storage-api', async () => {
    expect(packed.map((p) => p.filename).sort()).toEqual(['sluice-engine-0.1.0.tgz', 'sluice-storage-api-0.1.0.tgz', 'sluice-storage-fs-0.1.0.tgz', 'sluice-storage-hdfs-0.1.0.tgz', 'sluice-storage-s3-0.1.0.tgz']);
    const api = packed.find((p) => p.name === '@sluice/storage-api')!;
    for (const p of packed) {
      const files = new Set(p.files.map((f) => f.path));
      expect([...files].filter((f) => ['README.md', 'CHANGELOG.md', 'package.json'].includes(f)).sort(), p.name).toEqual(['CHANGELOG.md', 'README.md', 'package.json']);
      const pkg = JSON.parse(await fromTarball(p, 'package.json')) as Manifest;
      expect(pkg.description ?? '', `${p.name}: description`).toMatch(/\S{3}/);
      expect(pkg.engines?.node, p.name).toBe('>=20.19');
      // Types: every export has a `types` condition, listed first, whose .d.ts (and the code) is in the tarball.
      const entries = Object.entries(pkg.exports ?? {}).filter(([k]) => k !== './package.json');
      expect(entries.length, p.name).toBeGreaterThan(0);
      for (const [sub, target] of entries) {
        expect(typeof target === 'object' && Object.keys(target)[0], `${p.name} ${sub}`).toBe('types');
        const t = target as { types: string; default: string };
        expect(files.has(t.types.replace(/^\.\//, '')), `${p.name} ${sub}: ${t.types} in the tarball`).toBe(true);
        expect(files.has(t.default.replace(/^\.\//, '')), `${p.name} ${sub}: ${t.default} in the tarball`).toBe(true);
      }
      // A changelog entry for this version: its heading, or the unreleased section of its line.
      const [maj, min] = pkg.version.split('.');
      const headings = (await fromTarball(p, 'CHANGELOG.md')).split('\n').filter((l) => l.startsWith('## '));
      expect(headings.some((h) => h === `## ${pkg.version}` || h === `## Unreleased (${maj}.${min}.x)`), `${p.name}: ${headings.join(' | ')}`).toBe(true);
      if (p.name === '@sluice/storage-api') continue;
      if (p.name === '@sluice/engine') {
        // The host: it brings the storage-api the backends peer on.
        expect(satisfiesCaret(api.version, pkg.dependencies?.['@sluice/storage-api'] ?? 'none'), 'engine → storage-api').toBe(true);
        continue;
      }
      // Backends: a peer range the packed storage-api satisfies, never a copy of their own.
      expect(pkg.peerDependencies?.['@sluice/storage-api'], p.name).toBe('^0.1.0');
      expect(satisfiesCaret(api.version, pkg.peerDependencies!['@sluice/storage-api']!), p.name).toBe(true);
      expect(pkg.dependencies?.['@sluice/storage-api'], p.name).toBeUndefined();
      // Its README says how to install it.
      expect(await fromTarball(p, 'README.md'), `${p.name} README`).toMatch(new RegExp(`^npm install [^\\n]*${p.name}$`, 'm'));
    }
    expect(readdirSync(join(proj, 'node_modules', '@sluice')).sort()).toEqual(['engine', 'storage-api', 'storage-fs', 'storage-hdfs', 'storage-s3']);
  });

  it('engine + storage-s3 and engine + storage-hdfs installed from tarballs pass `npx sluice storage conformance -c`', { timeout: 1_300_000 }, async () => {
    const configs = [clusterConfig('conf-s3', '@sluice/storage-s3', s3Options('conf/')), clusterConfig('conf-hdfs', '@sluice/storage-hdfs', `{ url: "${namenode}", root: /artifacts }`)];
    for (const cfg of configs) {
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

  it('a small app runs on the installed `sluice local` with storage routed to S3, and its jar, offsets and checkpoints are in the bucket', { timeout: 400_000 }, async () => {
    const appId = await runAppOnLocal(clusterConfig('app-s3', '@sluice/storage-s3', s3Options('app/')), 'out-s3');
    // The SDK's eight-line Node-version warning, off as the CLI turns it off.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const s3 = new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      const keys: string[] = [];
      let token: string | undefined;
      for (let page = 0; page < 20; page++) {
        const r = await s3.send(new ListObjectsV2Command({ Bucket: 'artifacts', Prefix: `app/apps/${appId}/`, ContinuationToken: token }));
        keys.push(...(r.Contents ?? []).map((c) => c.Key!));
        token = r.NextContinuationToken;
        if (!r.IsTruncated) break;
      }
      const rel = keys.map((k) => k.replace(`app/apps/${appId}/`, ''));
      expect(rel).toContain('meta.json');
      // <gen>/jars/digests/<sha256 of the submitted file>.json, and its bytes are the app's.
      expect(rel.filter((k) => k.endsWith(`/jars/digests/${APP_SHA256}.json`)), rel.join('\n')).toHaveLength(1);
      const jarKeys = keys.filter((k) => /\/jars\/data\/[^/]+$/.test(k));
      expect(jarKeys, rel.join('\n')).toHaveLength(1);
      expect(await (await s3.send(new GetObjectCommand({ Bucket: 'artifacts', Key: jarKeys[0] }))).Body!.transformToString()).toBe(APP);
      expect(rel.filter((k) => /\/offsets\/lines\.0\/seg\/[^/]+$/.test(k)).length, rel.join('\n')).toBeGreaterThan(0);
      expect(rel.filter((k) => /\/checkpoints\/[^/]+\/_commits\/\d{20}\.json$/.test(k)).length, rel.join('\n')).toBeGreaterThan(0);
    } finally {
      s3.destroy();
    }
  });

  it('a small app runs on the installed `sluice local` with storage routed to HDFS, and its jar, offsets and checkpoints are in the WebHDFS namespace', { timeout: 400_000 }, async () => {
    const appId = await runAppOnLocal(clusterConfig('app-hdfs', '@sluice/storage-hdfs', `{ url: "${namenode}", root: /app }`), 'out-hdfs');
    // Every path under the app's folder, by LISTSTATUS (bounded in directories visited).
    const base = `/app/apps/${appId}`;
    const files: Array<{ path: string; length: number }> = [];
    const queue = [''];
    for (let visited = 0; queue.length > 0; visited++) {
      expect(visited, 'directories under the app').toBeLessThan(500);
      const dir = queue.shift()!;
      const r = await fetch(`${namenode}/webhdfs/v1${base}${dir}?op=LISTSTATUS&user.name=sluice`);
      expect(r.status, `LISTSTATUS ${base}${dir}`).toBe(200);
      const body = (await r.json()) as { FileStatuses: { FileStatus: Array<{ pathSuffix: string; type: string; length: number }> } };
      for (const s of body.FileStatuses.FileStatus) {
        if (s.type === 'DIRECTORY') queue.push(`${dir}/${s.pathSuffix}`);
        else files.push({ path: `${dir}/${s.pathSuffix}`, length: s.length });
      }
    }
    const paths = files.map((f) => f.path);
    expect(paths, paths.join('\n')).toContain(`/jars/blobs/${APP_SHA256}`);
    const jar = await fetch(`${namenode}/webhdfs/v1${base}/jars/blobs/${APP_SHA256}?op=OPEN&user.name=sluice`);
    expect(await jar.text()).toBe(APP);
    expect(paths.filter((p) => /^\/offsets\/lines\.0\/s\.\d{20}\.\d{20}\./.test(p)).length, paths.join('\n')).toBeGreaterThan(0);
    expect(paths.filter((p) => /^\/checkpoints\/[^/]+\/_commits\/\d{20}$/.test(p)).length, paths.join('\n')).toBeGreaterThan(0);
  });

  it('a backend built for another storage-api is refused with both versions named, exit 2 (STORAGE_MODULE_INVALID), even when it would not import', { timeout: 120_000 }, async () => {
    // What `npm install --force` of a storage-hdfs 0.2.0 would leave: a package whose peer
    // range excludes the engine's storage-api 0.1.0 and which imports an export that 0.1.0
    // lacks. It sits in a nested node_modules of the config's folder, where the loader
    // resolves it first, so the installed project stays as it was.
    const nested = join(proj, 'mismatch', 'node_modules', '@sluice', 'storage-hdfs');
    cpSync(join(proj, 'node_modules', '@sluice', 'storage-hdfs'), nested, { recursive: true });
    const pkg = JSON.parse(readFileSync(join(nested, 'package.json'), 'utf8')) as Manifest;
    writeFileSync(join(nested, 'package.json'), JSON.stringify({ ...pkg, version: '0.2.0', peerDependencies: { '@sluice/storage-api': '^0.2.0' } }));
    const entry = join(nested, 'dist', 'index.js');
    writeFileSync(entry, `import { storageApiOfTheFuture } from '@sluice/storage-api';\nvoid storageApiOfTheFuture;\n${readFileSync(entry, 'utf8')}`);
    const config = clusterConfig('mismatch', '@sluice/storage-hdfs', `{ url: "${namenode}", root: /mismatch }`);
    const message = '@sluice/storage-hdfs@0.2.0 needs @sluice/storage-api ^0.2.0, but 0.1.0 is installed: install a @sluice/storage-hdfs built for it (or upgrade the engine) [STORAGE_MODULE_INVALID]';
    for (const args of [['local', '-c', config, '--workers', '1'], ['storage', 'conformance', '-c', config]]) {
      const r = await run('npx', ['--no-install', 'sluice', ...args], proj, 60_000);
      expect(r.stderr.trim(), args.join(' ')).toBe(`sluice: ${message}`);
      // 2: a usage or config error in the engine's error table (packages/engine/src/errors.ts).
      expect(r.code, args.join(' ')).toBe(2);
    }
  });
});
