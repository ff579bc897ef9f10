// `sluice update` and `sluice rollback` on a real local cluster (`sluice local`: master + 2
// workers, executors as child processes): new artifact versions of a running keyed word
// count on the same app id, processors added and removed at the savepoint boundary, a
// refused and a crashing version rolled back by the master, a manual rollback; the
// committed output must equal the reference count.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { api, cli, Proc, referenceCount, waitFor, WORD_COUNT, writeClusterYaml, writeWords, useLocalAdminToken, type TestJson } from './helpers/engine-cluster.js';

let dir: string;
let local: Proc;
let addr: string;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-update-'));
  writeClusterYaml(join(dir, 'cluster.yaml'));
  local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '2'], { cwd: dir });
  addr = (await local.line(/master on (\S+),/))[1]!;
  base = `http://${addr}`;
  useLocalAdminToken(dir);
});

afterAll(async () => {
  await local?.stop();
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

const sluice = (args: string[]): ReturnType<typeof cli> => cli([...args, '--master', addr], dir);
const app = (id: string): Promise<TestJson> => api(base, 'GET', `/apps/${id}`);

/** Waits until the app committed past `after` (at least `n` commits of this AppMaster) while running. */
async function progressed(id: string, after: number, n = 2): Promise<number> {
  return waitFor(`app ${id} to commit past ${after}`, 60_000, async () => {
    const a = await app(id);
    if (a.status !== 'running') throw new Error(`app ${id} is ${a.status}: ${a.error ?? ''}`);
    const c = a.appMaster?.committed;
    return a.appMaster?.phase === 'running' && c > after && (a.appMaster?.commits ?? 0) >= n ? (c as number) : undefined;
  }, 200);
}

/** A variant of the word-count example: `edit` rewrites its source text. */
function variant(name: string, edit: (src: string) => string): string {
  const src = readFileSync(WORD_COUNT, 'utf8');
  const out = edit(src);
  expect(out, `variant ${name} changed the source`).not.toBe(src);
  const path = join(dir, `${name}.mjs`);
  writeFileSync(path, out);
  return path;
}

describe('sluice update and rollback', () => {
  it('adds and removes processors on the same app id; refused and crashing versions roll back by themselves; the output equals the reference', async () => {
    const input = join(dir, 'words.txt');
    writeWords(input, 42_000, 17);
    const output = join(dir, 'out');
    const sub = await sluice(['submit', WORD_COUNT, '--config', `input=${input}`, '--config', `output=${output}`, '--config', 'executors=2',
      '--config', 'checkpointIntervalMs=300', '--config', 'linesPerSec=600', '--config', 'parallelism=2']);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sub.stdout.trim();
    await progressed(id, 0);

    // w on the app: bob (no access to the admin's app) can neither update, roll back nor rescale it.
    expect((await cli(['auth', 'add-user', 'bob', '-c', 'cluster.yaml'], dir)).code).toBe(0);
    const tok = await cli(['auth', 'token', 'bob', '-c', 'cluster.yaml'], dir);
    expect(tok.code, tok.stderr).toBe(0);
    writeFileSync(join(dir, 'bob.token'), tok.stdout.trim(), { mode: 0o600 });
    for (const args of [['update', id, WORD_COUNT], ['rollback', id], ['rescale', id, '--parallelism', 'count=1']]) {
      const r = await cli([...args, '--master', addr, '--token-file', join(dir, 'bob.token')], dir);
      expect(r.stderr, args.join(' ')).toContain('FORBIDDEN');
    }
    // A config the cluster refuses is refused before anything stops.
    const big = await sluice(['update', id, WORD_COUNT, '--config', 'executors=100000']);
    expect(big.stderr).toContain('LIMIT_EXCEEDED');
    const still = await app(id);
    expect(still.status, 'a refused update leaves the app running').toBe('running');
    expect(still.versions, 'refused calls change nothing').toBeUndefined();

    // v2 adds a processor ('keep'); the kept ones carry their state (the count's keyed state).
    const v2 = variant('v2-keep', (s) => s.replace(".flatMap('split', tokenize, { parallelism })", ".flatMap('split', tokenize, { parallelism }).filter('keep', (w) => w.length > 0, { parallelism })"));
    const u2 = await sluice(['update', id, v2, '--json']);
    expect(u2.code, u2.stderr).toBe(0);
    const r2 = JSON.parse(u2.stdout) as { appId: string; from: number; version: number; savepoint: { name: string; t: number }; restoredAt: number };
    expect(r2.appId, 'the same app id').toBe(id);
    expect([r2.from, r2.version]).toEqual([1, 2]);
    expect(r2.restoredAt).toBe(r2.savepoint.t);
    const s2 = await sluice(['status', id, '--json']);
    expect(s2.code, s2.stderr).toBe(0);
    const st2 = JSON.parse(s2.stdout) as TestJson;
    expect(st2.versions.current).toBe(2);
    expect(st2.versions.previous).toEqual({ version: 1, savepoint: r2.savepoint.name, t: r2.savepoint.t });
    expect(st2.versions.versions.map((v: TestJson) => v.jar)).toEqual(['app.mjs', 'app-v2.mjs']);
    const apps = await sluice(['apps']);
    expect(apps.stdout.split('\n').find((l) => l.startsWith(id))).toContain('version=2 (previous 1)');
    let c = await progressed(id, r2.savepoint.t);

    // v3 renames the keyed count without a uid: its state has no home, the master rolls back to v2.
    const v3 = variant('v3-renamed', (s) => s.replace(".flatMap('split', tokenize, { parallelism })", ".flatMap('split', tokenize, { parallelism }).filter('keep', (w) => w.length > 0, { parallelism })").replace(".count('count'", ".count('tally'"));
    const u3 = await sluice(['update', id, v3]);
    expect(u3.code, u3.stderr).toBe(2);
    expect(u3.stderr).toContain('STATE_UNMATCHED');
    expect(u3.stderr).toContain('rolled back to version 2');
    const a3 = await app(id);
    expect(a3.versions.current).toBe(2);
    expect(a3.versions.events.at(-1)).toMatchObject({ kind: 'rollback', from: 3, to: 2, auto: true });
    c = await progressed(id, c, 1);

    // v4 throws at start; with no restart budget it fails at once and is rolled back.
    const v4 = variant('v4-throws', (s) => s.replace('const { dag, connectors } = sluice;', "throw new Error('v4 is broken');"));
    const u4 = await sluice(['update', id, v4, '--config', 'maxRestarts=0']);
    expect(u4.code, u4.stderr).not.toBe(0);
    expect(u4.stderr).toContain('rolled back to version 2');
    expect((await app(id)).versions.events.at(-1)).toMatchObject({ kind: 'rollback', from: 4, to: 2, auto: true });
    await progressed(id, c, 1);

    // v5: the count renamed with uid 'count' keeps its state; 'keep' (stateless) is removed.
    const v5 = variant('v5-uid', (s) => s.replace(".count('count', { parallelism })", ".count('tally', { parallelism, uid: 'count' })"));
    const u5 = await sluice(['update', id, v5, '--json']);
    expect(u5.code, u5.stderr).toBe(0);
    expect(JSON.parse(u5.stdout).version).toBe(5);
    const a5 = await app(id);
    expect(a5.versions.previous.version).toBe(2);
    await progressed(id, JSON.parse(u5.stdout).restoredAt as number);

    // Manual rollback to v2 from the savepoint v5's update took.
    const back = await sluice(['rollback', id]);
    expect(back.code, back.stderr).toBe(0);
    const ab = await app(id);
    expect(ab.versions.current).toBe(2);
    expect(ab.versions.previous, 'a rollback leaves nothing to roll back to').toBeUndefined();
    const again = await sluice(['update', id, '--rollback']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('APP_STATE');

    const end = await waitFor(`app ${id} to finish`, 150_000, async () => {
      const a = await app(id);
      return ['running', 'pending'].includes(a.status) ? undefined : a;
    }, 300);
    expect(end.status, end.error).toBe('stopped');
    expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
  }, 300_000);
});
