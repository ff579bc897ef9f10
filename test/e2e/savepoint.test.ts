// Savepoints, start-from and rescale on a real local cluster (`sluice local`: master + 2
// workers, executors as child processes): a keyed word count is rescaled 2 -> 4 -> 1 and
// updated to a new artifact version while it runs, with executor SIGKILLs in between, and
// its committed output must equal the reference count (issue 20's "done when").
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { api, cli, Proc, referenceCount, waitFor, WORD_COUNT, writeClusterYaml, useLocalAdminToken, type TestJson } from './helpers/engine-cluster.js';

let dir: string;
let local: Proc;
let addr: string;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-savepoint-'));
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

/**
 * `lines` lines of 8 words from a 3000-word vocabulary of letters only (the example's
 * tokenizer drops digits): thousands of keys, spread over every key group.
 */
function writeWords(path: string, lines: number, seed: number): void {
  let x = seed >>> 0;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const word = (n: number): string => {
    let w = 'w';
    for (let i = 0; i < 3; i++, n = Math.floor(n / 26)) w += String.fromCharCode(97 + (n % 26));
    return w;
  };
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(Array.from({ length: 8 }, () => word(next() % 3000)).join(' '));
  writeFileSync(path, out.join('\n') + '\n');
}

const sluice = (args: string[]): ReturnType<typeof cli> => cli([...args, '--master', addr], dir);

async function submit(input: string, output: string, extra: string[] = [], linesPerSec = 1500): Promise<string> {
  const r = await sluice(['submit', WORD_COUNT, '--config', `input=${input}`, '--config', `output=${output}`, '--config', 'executors=2',
    '--config', 'checkpointIntervalMs=300', '--config', `linesPerSec=${linesPerSec}`, '--config', 'parallelism=2', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

const app = (id: string): Promise<TestJson> => api(base, 'GET', `/apps/${id}`);

/** Waits until the app committed past `after` (at least `n` commits of this epoch) while running. */
async function progressed(id: string, after: number, n = 2): Promise<number> {
  return waitFor(`app ${id} to commit past ${after}`, 60_000, async () => {
    const a = await app(id);
    if (a.status !== 'running') throw new Error(`app ${id} is ${a.status}: ${a.error ?? ''}`);
    const c = a.appMaster?.committed;
    return a.appMaster?.phase === 'running' && c > after && (a.appMaster?.commits ?? 0) >= n ? (c as number) : undefined;
  }, 200);
}

async function finished(id: string): Promise<TestJson> {
  return waitFor(`app ${id} to finish`, 150_000, async () => {
    const a = await app(id);
    return ['running', 'pending'].includes(a.status) ? undefined : a;
  }, 300);
}

/** The committed output of a file sink, only files of checkpoints <= t (what a savepoint at t covers). */
function outputUpTo(out: string, t: number): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of readdirSync(out).filter((x) => x.startsWith('part-') && x.endsWith('.txt')).sort()) {
    if (Number(f.slice(5, 20)) > t) continue;
    for (const line of readFileSync(join(out, f), 'utf8').split('\n')) {
      const tab = line.indexOf('\t');
      if (tab > 0) m.set(line.slice(0, tab), line.slice(tab + 1));
    }
  }
  return m;
}

describe('savepoints and rescale', () => {
  it('rescales a keyed word count 2 -> 4 -> 1 and updates it to a new artifact version while it runs, with executor SIGKILLs between; the output equals the reference', async () => {
    const input = join(dir, 'words-rescale.txt');
    writeWords(input, 36_000, 5);
    const output = join(dir, 'out-rescale');
    const id = await submit(input, output, [], 800);
    await progressed(id, 0);

    /** SIGKILLs one executor of the running app and waits until it recovered and committed again. */
    const killOne = async (): Promise<void> => {
      const before = await app(id);
      const c = await progressed(id, (before.appMaster?.committed as number | undefined) ?? 0, 1);
      const victim = (await app(id)).executors.find((e: TestJson) => e.role === 'executor');
      expect(victim, 'an executor to kill').toBeDefined();
      process.kill(victim.pid as number, 'SIGKILL');
      await waitFor('the restart', 30_000, async () => ((await app(id)).epoch > before.epoch ? true : undefined));
      await progressed(id, c, 1);
    };

    const r1 = await sluice(['rescale', id, '--parallelism', 'split=4,count=4', '--json']);
    expect(r1.code, r1.stderr).toBe(0);
    const j1 = JSON.parse(r1.stdout) as TestJson;
    expect(j1.appId, 'rescale keeps the app id').toBe(id);
    expect(j1.version).toBe(2);
    const a2 = await app(id);
    expect(a2.status).toBe('running');
    expect(a2.appMaster?.committed).toBeGreaterThan(0);
    expect(a2.versions.events.at(-1)).toMatchObject({ kind: 'rescale', from: 1, to: 2 });
    await killOne();

    // A new artifact version (another tokenizer expression, same words) from a savepoint, at parallelism 4.
    const v3 = join(dir, 'word-count-v3.mjs');
    const src = readFileSync(WORD_COUNT, 'utf8');
    writeFileSync(v3, src.replace(".filter((w) => w.length > 0 && w !== \"'\")", ".filter((w) => !(w.length === 0 || w === \"'\"))"));
    expect(readFileSync(v3, 'utf8')).not.toBe(src);
    const u = await sluice(['update', id, v3, '--json']);
    expect(u.code, u.stderr).toBe(0);
    expect(JSON.parse(u.stdout)).toMatchObject({ appId: id, from: 2, version: 3 });
    await killOne();

    const r2 = await sluice(['rescale', id, '--parallelism', 'split=1,count=1', '--name', 'to-one']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout.trim()).toBe(id);
    const sps = await sluice(['savepoints', 'list', '--json']);
    expect(JSON.parse(sps.stdout).map((s: TestJson) => s.name)).toContain('to-one');
    const a4 = await app(id);
    expect(a4.versions.current).toBe(4);
    expect(a4.versions.versions.at(-1).sha256, 'a rescale restarts the running artifact').toBe(a4.versions.versions.find((v: TestJson) => v.version === 3).sha256);

    const end = await finished(id);
    expect(end.status, end.error).toBe('stopped');
    const reference = await referenceCount(readFileSync(input, 'utf8'));
    expect(reference.size).toBeGreaterThan(2000);
    expect(readCommittedOutput(output)).toEqual(reference);
  }, 300_000);

  it('a savepoint outlives its app (retention, delete); --from-savepoint restarts exactly from it', async () => {
    const input = join(dir, 'words-sp.txt');
    writeWords(input, 30_000, 9);
    const outA = join(dir, 'out-sp-a');
    const id = await submit(input, outA, [], 600);
    await progressed(id, 0);
    const s = await sluice(['savepoint', id, '--name', 'keep-me', '--json']);
    expect(s.code, s.stderr).toBe(0);
    const sp = JSON.parse(s.stdout) as { name: string; t: number };
    expect(sp.name).toBe('keep-me');
    const after = await app(id);
    expect(after.status, 'a savepoint without --stop leaves the app running').toBe('running');
    const at = after.appMaster.commits as number;
    // More commits than the app retains (3): the checkpoint the savepoint came from is pruned.
    await waitFor('retention to prune the saved checkpoint', 60_000, async () => {
      const a = await app(id);
      if (a.status !== 'running') throw new Error(`app ${id} ended (${a.status}) before the savepoint's checkpoint was pruned`);
      return a.appMaster?.commits >= at + 5 ? true : undefined;
    });
    const taken = await sluice(['submit', WORD_COUNT, '--from-checkpoint', `${id}@${sp.t}`, '--config', `input=${input}`, '--config', 'output=/nonexistent']);
    expect(taken.code, 'the checkpoint is gone').toBe(3);
    expect(taken.stderr).toContain('SAVEPOINT_NOT_FOUND');
    await api(base, 'POST', `/apps/${id}/kill`);
    const del = await sluice(['delete', id]);
    expect(del.code, del.stderr).toBe(0);

    const outB = join(dir, 'out-sp-b');
    const next = await submit(input, outB, ['--from-savepoint', 'keep-me']);
    const end = await finished(next);
    expect(end.status, end.error).toBe('stopped');
    // What the first app committed up to t, then everything the second published.
    const union = outputUpTo(outA, sp.t);
    for (const [k, v] of readCommittedOutput(outB)) union.set(k, v);
    expect(union).toEqual(await referenceCount(readFileSync(input, 'utf8')));
  }, 180_000);

  it('--from-checkpoint and --from-time start from a retained checkpoint; unmatched state is refused', async () => {
    const input = join(dir, 'words-cp.txt');
    writeWords(input, 30_000, 13);
    const outA = join(dir, 'out-cp-a');
    const id = await submit(input, outA, [], 600);
    await progressed(id, 0);
    await api(base, 'POST', `/apps/${id}/kill`);
    // A loaded machine commits several checkpoints between a status read and the kill: ask
    // the master which it retains (its SAVEPOINT_NOT_FOUND answer lists them) and take the newest.
    const probe = await sluice(['submit', WORD_COUNT, '--from-checkpoint', `${id}@1`, '--config', `input=${input}`, '--config', 'output=/nonexistent']);
    expect(probe.code, probe.stderr).toBe(3);
    const retained = /retained: ([\d, ]+)/.exec(probe.stderr)?.[1]?.split(', ').map(Number) ?? [];
    expect(retained.length, probe.stderr).toBeGreaterThan(0);
    const t = Math.max(...retained);

    // A new artifact version whose keyed processor was renamed: its state has no home.
    const renamed = join(dir, 'word-count-renamed.mjs');
    writeFileSync(renamed, readFileSync(WORD_COUNT, 'utf8').replace(".count('count'", ".count('tally'"));
    const refused = await sluice(['submit', renamed, '--from-time', new Date().toISOString(), '--from-app', id, '--config', `input=${input}`, '--config', `output=${join(dir, 'out-cp-x')}`]);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('STATE_UNMATCHED');
    expect(refused.stderr).toContain('count');

    // Exactly from a checkpoint (the newest), and from a time between checkpoints (1 ms after
    // the oldest retained one: it resolves to that checkpoint), both beside each other.
    const t0 = Math.min(...retained);
    const outB = join(dir, 'out-cp-b');
    const outC = join(dir, 'out-cp-c');
    const [next, fromTime] = await Promise.all([
      submit(input, outB, ['--from-checkpoint', `${id}@${t}`]),
      submit(input, outC, ['--from-time', new Date(t0 + 1).toISOString(), '--from-app', id]),
    ]);
    const reference = await referenceCount(readFileSync(input, 'utf8'));
    for (const [appId, out, at] of [[next, outB, t], [fromTime, outC, t0]] as const) {
      const end = await finished(appId);
      expect(end.status, end.error).toBe('stopped');
      const union = outputUpTo(outA, at);
      for (const [k, v] of readCommittedOutput(out)) union.set(k, v);
      expect(union, `${appId} from ${at}`).toEqual(reference);
    }

    // Dropped on request: the renamed app starts (its count starts empty).
    const allowed = await sluice(['submit', renamed, '--from-checkpoint', `${id}@${t}`, '--allow-unmatched-state', '--config', `input=${input}`, '--config', `output=${join(dir, 'out-cp-y')}`]);
    expect(allowed.code, allowed.stderr).toBe(0);
    const allowedId = allowed.stdout.trim();
    const killed = await sluice(['kill', allowedId]);
    // The rest of the input is short: the app may have finished already; either way it did not fail.
    if (killed.code !== 0) expect((await app(allowedId)).status, killed.stderr).toBe('stopped');
  }, 180_000);

  it('bad savepoint names, ids and times are typed errors', async () => {
    const bad = await sluice(['savepoint', 'no-such-app', '--name', 'x']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('APP_NOT_FOUND');
    const input = join(dir, 'words-bad.txt');
    writeWords(input, 40_000, 3);
    const id = await submit(input, join(dir, 'out-bad'), [], 400);
    const name = await sluice(['savepoint', id, '--name', '../etc']);
    expect(name.code).toBe(2);
    expect(name.stderr).toContain('SAVEPOINT_INVALID');
    const missing = await sluice(['submit', WORD_COUNT, '--from-savepoint', 'nope', '--config', `input=${input}`, '--config', 'output=/x']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('SAVEPOINT_NOT_FOUND');
    const notTime = await sluice(['submit', WORD_COUNT, '--from-checkpoint', `${id}@soon`, '--config', `input=${input}`, '--config', 'output=/x']);
    expect(notTime.code).toBe(2);
    expect(notTime.stderr).toContain('BAD_REQUEST');
    const two = await sluice(['submit', WORD_COUNT, '--from-savepoint', 'a', '--from-time', '5', '--from-app', id]);
    expect(two.code).toBe(2);
    const noApp = await sluice(['submit', WORD_COUNT, '--from-checkpoint', 'ghost@5', '--config', `input=${input}`, '--config', 'output=/x']);
    expect(noApp.code).toBe(3);
    expect(noApp.stderr).toContain('APP_NOT_FOUND');
    const del = await sluice(['savepoints', 'delete', 'nope']);
    expect(del.code).toBe(3);
    const proc = await sluice(['rescale', id, '--parallelism', 'nosuch=2']);
    expect(proc.code, proc.stderr).toBe(2);
    expect(proc.stderr).toContain('UNKNOWN_PROCESSOR');
    expect((await app(id)).status, 'a refused rescale leaves the app running').toBe('running');
    const syntax = await sluice(['rescale', id, '--parallelism', 'split']);
    expect(syntax.code).toBe(2);

    // ACLs as for the app: bob (no access to the admin's app) can neither take, see, use nor delete its savepoints.
    expect((await cli(['auth', 'add-user', 'bob', '-c', 'cluster.yaml'], dir)).code).toBe(0);
    const tok = await cli(['auth', 'token', 'bob', '-c', 'cluster.yaml'], dir);
    expect(tok.code, tok.stderr).toBe(0);
    writeFileSync(join(dir, 'bob.token'), tok.stdout.trim(), { mode: 0o600 });
    const asBob = (args: string[]): ReturnType<typeof cli> => cli([...args, '--master', addr, '--token-file', join(dir, 'bob.token')], dir);
    const mine = await sluice(['savepoint', id, '--name', 'acl-check']);
    expect(mine.code, mine.stderr).toBe(0);
    const take = await asBob(['savepoint', id, '--name', 'bobs']);
    expect(take.stderr).toContain('FORBIDDEN');
    const list = await asBob(['savepoints', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
    const use = await asBob(['submit', WORD_COUNT, '--from-savepoint', 'acl-check', '--config', `input=${input}`, '--config', 'output=/x']);
    expect(use.stderr).toContain('FORBIDDEN');
    const rm = await asBob(['savepoints', 'delete', 'acl-check']);
    expect(rm.stderr).toContain('FORBIDDEN');
    expect((await sluice(['savepoints', 'delete', 'acl-check'])).code).toBe(0);
    if ((await app(id)).status === 'running') await api(base, 'POST', `/apps/${id}/kill`);
  }, 240_000);
});
