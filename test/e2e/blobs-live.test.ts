// Blobs in running apps, end to end on a real `sluice local` cluster (auth on), on fs and on
// S3 (s3rver with the conditional-write shim): an app tags every input line with the mapped
// `dict` blob's content and version; `sluice blobs update` while it runs switches every task
// at one event-time boundary (and an executor killed with SIGKILL after the switch restores
// the version recorded in the checkpoint); an update is not applied once the submitter lost r.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type S3rverHandle } from '../servers/s3rver.js';
import { cli, Proc, useLocalAdminToken } from './helpers/engine-cluster.js';

const TAGGER = resolve(__dirname, 'fixtures/blob-tagger.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface BlobStatus {
  name: string;
  version: number;
  from?: number;
  executors: Record<string, number>;
  refused?: string;
}

function s3Yaml(s3: S3rverHandle): string {
  return [
    '  default:', "    module: '@sluice/storage-s3'", '    options:', '      bucket: sluice-blobs-live', `      endpoint: '${s3.endpoint}'`, `      region: ${s3.region}`,
    '      forcePathStyle: true', '      createBucket: true', '      checksums: WHEN_REQUIRED', '      credentials:', `        accessKeyId: ${s3.accessKeyId}`,
    `        secretAccessKey: ${s3.secretAccessKey}`, '',
  ].join('\n');
}

/** Every committed output record: line -> [tag, version, ts] (a line seen twice fails). */
function committed(dir: string): Map<string, { tag: string; version: number; ts: number }> {
  const out = new Map<string, { tag: string; version: number; ts: number }>();
  for (const f of readdirSync(dir).filter((x) => x.startsWith('part-') && x.endsWith('.txt')).sort()) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!line) continue;
      const [key, value] = line.split('\t') as [string, string];
      const [tag, version, ts] = value.split('|');
      if (out.has(key)) throw new Error(`line ${key} committed twice (${f})`);
      out.set(key, { tag: tag!, version: Number(version), ts: Number(ts) });
    }
  }
  return out;
}

for (const backend of ['fs', 's3'] as const) {
  describe(`blobs in a running app on ${backend}`, () => {
    let dir: string;
    let local: Proc | undefined;
    let s3: S3rverHandle | undefined;
    let master: string;
    const tokens: Record<string, string> = {};

    async function as(user: string, args: string[]): Promise<Run> {
      const p = Proc.start([...args, '--master', master], { cwd: dir, env: { SLUICE_TOKEN: tokens[user]! } });
      const code = await p.exited;
      await new Promise((r) => setImmediate(r));
      return { code, stdout: p.out.join('\n'), stderr: p.err.join('') };
    }

    /** Exit code of a CLI call that must succeed; its stderr is printed when it does not. */
    async function ok(user: string, args: string[]): Promise<number | null> {
      const r = await as(user, args);
      if (r.code !== 0) console.error(`sluice ${args.join(' ')} -> ${r.code}: ${r.stderr}`);
      return r.code;
    }

    async function blobStatus(user: string, appId: string): Promise<{ status: string; blobs: BlobStatus[] }> {
      const r = await as(user, ['status', appId, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const a = JSON.parse(r.stdout) as { status: string; appMaster?: { blobs?: BlobStatus[] } | null };
      return { status: a.status, blobs: a.appMaster?.blobs ?? [] };
    }

    /** Polls `sluice status` until `ok` (bounded in time and count). */
    async function until(user: string, appId: string, ok: (b: BlobStatus | undefined) => boolean, ms: number): Promise<BlobStatus> {
      const deadline = Date.now() + ms;
      let last: BlobStatus | undefined;
      for (let i = 0; i < 500 && Date.now() < deadline; i++) {
        last = (await blobStatus(user, appId)).blobs[0];
        if (ok(last)) return last!;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`blob status never matched; last ${JSON.stringify(last)}`);
    }

    function submitArgs(input: string, output: string, blob: string): string[] {
      return ['submit', TAGGER, '--config', `input=${input}`, '--config', `output=${output}`, '--config', 'executors=2', '--config', 'linesPerSec=400', '--config', `blob=${blob}`,
        '--config', `blobs=${JSON.stringify({ [blob]: { localName: `${blob}.txt`, uncompress: false } })}`];
    }

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `sluice-blobs-live-${backend}-`));
      if (backend === 's3') s3 = await startS3rver({ shim: true });
      const storage = s3 ? s3Yaml(s3) : "  default:\n    module: '@sluice/storage-fs'\n    options:\n      root: ./store\n";
      writeFileSync(join(dir, 'cluster.yaml'), `storage:\n${storage}master:\n  host: 127.0.0.1\n  port: 0\n  seedFile: ./master/seed.json\nworker:\n  cacheDir: ./workers\n  heartbeatMs: 200\n  blobPollMs: 200\n  blobCacheMaxBytes: 1048576\n`);
      local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '1'], { cwd: dir });
      master = (await local.line(/master on (\S+),/, 30_000))[1]!;
      tokens.admin = useLocalAdminToken(dir);
      for (const u of ['alice', 'bob']) {
        expect((await cli(['auth', 'add-user', u, '-c', 'cluster.yaml'], dir)).code).toBe(0);
        const tok = await cli(['auth', 'token', u, '-c', 'cluster.yaml'], dir);
        expect(tok.code, tok.stderr).toBe(0);
        tokens[u] = tok.stdout.trim();
      }
    }, 60_000);

    afterAll(async () => {
      await local?.stop();
      await s3?.stop();
      if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    it('an update while the app runs switches every task at one boundary, exactly once, also across a SIGKILL', async () => {
      writeFileSync(join(dir, 'v1.txt'), 'alpha\n');
      writeFileSync(join(dir, 'v2.txt'), 'beta\n');
      expect(await ok('alice', ['blobs', 'create', 'dict', '--file', join(dir, 'v1.txt')])).toBe(0);
      // ~20 s of input at 400 lines/s: the app must still run through the switch, the status
      // checks and the SIGKILL below, even when a loaded machine makes the switch slow.
      const lines = 8000;
      const input = join(dir, 'lines.txt');
      writeFileSync(input, [...Array(lines).keys()].map((i) => `k${i}`).join('\n') + '\n');
      const output = join(dir, 'out');
      const sub = await as('alice', submitArgs(input, output, 'dict'));
      expect(sub.code, sub.stderr).toBe(0);
      const appId = sub.stdout.trim();

      const before = await until('alice', appId, (b) => b?.version === 1 && Object.keys(b.executors).length === 2, 30_000);
      expect(Object.values(before.executors)).toEqual([1, 1]);
      const up = await as('alice', ['blobs', 'update', 'dict', '--file', join(dir, 'v2.txt')]);
      expect(up.code, up.stderr).toBe(0);
      const after = await until('alice', appId, (b) => b?.version === 2 && Object.values(b.executors).every((v) => v === 2), 20_000);
      const B = after.from!;
      expect(typeof B).toBe('number');
      const human = await as('alice', ['status', appId]);
      expect(human.stdout).toMatch(new RegExp(`blob dict v2 from t=${B} executors 0:v2 1:v2`));

      // Kill an executor (not the AppMaster) after the switch: the app restores and goes on.
      const st = JSON.parse((await as('alice', ['status', appId, '--json'])).stdout) as { executors: Array<{ role: string; pid: number }> };
      const victim = st.executors.find((e) => e.role === 'executor')!;
      process.kill(victim.pid, 'SIGKILL');

      const waited = await as('alice', ['wait', appId, '--timeout', '90s']);
      expect(waited.code, waited.stderr + waited.stdout).toBe(0);
      const restarts = JSON.parse((await as('alice', ['status', appId, '--json'])).stdout) as { restarts: number };
      expect(restarts.restarts).toBeGreaterThanOrEqual(1);

      const out = committed(output);
      expect(out.size).toBe(lines);
      const v1 = [...out.values()].filter((r) => r.version === 1);
      const v2 = [...out.values()].filter((r) => r.version === 2);
      expect(v1.length).toBeGreaterThan(0);
      expect(v2.length).toBeGreaterThan(0);
      for (const r of v1) expect(r.tag).toBe('alpha');
      for (const r of v2) expect(r.tag).toBe('beta');
      // One boundary for every task: all of v1 before it, all of v2 at or after it.
      const lastV1 = Math.max(...v1.map((r) => r.ts));
      const firstV2 = Math.min(...v2.map((r) => r.ts));
      expect(lastV1).toBeLessThan(firstV2);
      expect(lastV1).toBeLessThan(B);
      expect(firstV2).toBeGreaterThanOrEqual(B);
    }, 180_000);

    it('an update is not applied once the submitter lost r on the blob (the master refuses the switch)', async () => {
      writeFileSync(join(dir, 'r1.txt'), 'one\n');
      writeFileSync(join(dir, 'r2.txt'), 'two\n');
      expect(await ok('alice', ['blobs', 'create', 'rules', '--file', join(dir, 'r1.txt'), '--acl', 'u:bob:r'])).toBe(0);
      const input = join(dir, 'lines-r.txt');
      writeFileSync(input, [...Array(30_000).keys()].map((i) => `r${i}`).join('\n') + '\n');
      const output = join(dir, 'out-r');
      const sub = await as('bob', submitArgs(input, output, 'rules'));
      expect(sub.code, sub.stderr).toBe(0);
      const appId = sub.stdout.trim();
      await until('bob', appId, (b) => b?.version === 1 && Object.keys(b.executors).length === 2, 30_000);

      expect(await ok('alice', ['blobs', 'set-acl', 'rules', '--acl', 'o::-'])).toBe(0);
      expect(await ok('alice', ['blobs', 'update', 'rules', '--file', join(dir, 'r2.txt')])).toBe(0);
      const refused = await until('bob', appId, (b) => b?.refused !== undefined, 20_000);
      expect(refused.version).toBe(1);
      expect(refused.refused).toMatch(/FORBIDDEN|not allowed|permission/i);
      expect(Object.values(refused.executors)).toEqual([1, 1]);

      // Given r again, the pending update goes through (the refusal was the ACL, nothing else).
      expect(await ok('alice', ['blobs', 'set-acl', 'rules', '--acl', 'u:bob:r'])).toBe(0);
      await until('bob', appId, (b) => b?.version === 2 && b.refused === undefined, 30_000);
      expect(await ok('bob', ['kill', appId])).toBe(0);
      for (const r of committed(output).values()) expect(r.tag).toBe(r.version === 1 ? 'one' : 'two');
    }, 180_000);
  });
}
