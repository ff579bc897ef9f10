/**
 * Endpoint-independent S3 robustness scenarios (used by packages/storage-s3/test against
 * s3rver + shim; pass a Ceph RGW target to run them there):
 *   faultScenario: appends and commits through the fault proxy, then verify with a clean instance
 *   killLoop:      SIGKILL a writer process N times, verify after each kill
 * They throw (node:assert) on any lost acknowledgement or partial state.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { collectBytes, isStorageError, seededRandom, type AppStorage, type CheckpointPart, type Storage } from '@sluice/storage-api';
import { startFaultProxy, type FaultKind } from './fault-proxy.js';
import { openS3, type S3Target } from './factories.js';

export const WRITER_FIXTURE = fileURLToPath(new URL('../../../packages/storage-s3/test/fixtures/writer.mjs', import.meta.url));

/** Retries an idempotent operation until it is acknowledged (bounded). */
async function untilAcked<T>(fn: () => Promise<T>, what: string): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 20; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isStorageError(err) || !err.transient) throw err;
      last = err;
    }
  }
  throw new Error(`${what}: not acknowledged after 20 tries: ${String(last)}`);
}

const offsetValue = (t: number): Uint8Array => new Uint8Array(Buffer.from(`offset-${t}`));
const partBytes = (t: number, i: number): Uint8Array => new Uint8Array(Buffer.from(`cp-${t}-part-${i}-`.repeat(50)));

export interface FaultScenarioReport {
  requests: number;
  faults: Record<FaultKind, number>;
  appends: number;
  commits: number;
}

export async function faultScenario(
  target: S3Target,
  options: { prefix: string; seed?: number; rate?: number; appends?: number; commitEvery?: number },
): Promise<FaultScenarioReport> {
  const appends = options.appends ?? 1000;
  const every = options.commitEvery ?? 50;
  const proxy = await startFaultProxy({ upstream: target.endpoint, seed: options.seed ?? 42, rate: 0 });
  const opened: Storage[] = [];
  try {
    const faulty: S3Target = { ...target, endpoint: proxy.endpoint, options: { requestTimeoutMs: 500, maxAttempts: 8, ...target.options } };
    const s = await openS3(faulty, options.prefix);
    opened.push(s);
    const app = await s.createAppStorage('f', 'app-faults', { owner: 'alice' });
    const ow = await app.offsets('src').writer(1);
    const cw = await app.checkpoints('state', { numRetained: 1000 }).writer(1);

    proxy.rate = options.rate ?? 0.1;
    const ackedOffsets: number[] = [];
    const ackedCommits: number[] = [];
    for (let t = 1; t <= appends; t++) {
      await untilAcked(() => ow.append(t, offsetValue(t)), `append ${t}`);
      ackedOffsets.push(t);
      if (t % every === 0) {
        const parts: CheckpointPart[] = [];
        for (let i = 0; i < 3; i++) parts.push(await untilAcked(() => cw.stage(t, `task-${i}`, partBytes(t, i)), `stage ${t}/${i}`));
        // The same parts on every retry: an identical commit is a no-op, so a lost answer is safe.
        await untilAcked(() => cw.commit(t, parts), `commit ${t}`);
        ackedCommits.push(t);
      }
    }
    proxy.rate = 0;

    // A second instance, straight to the server, sees exactly what was acknowledged.
    const check = await openS3(target, options.prefix);
    opened.push(check);
    const app2 = (await check.getAppStorage('app-faults'))!;
    const all = await app2.offsets('src').range(0, Number.MAX_SAFE_INTEGER);
    assert.deepEqual(all.map((e) => e.t), ackedOffsets, 'offsets: exactly the acknowledged times');
    for (const e of all) assert.equal(Buffer.from(e.value).toString(), `offset-${e.t}`);
    const cps = app2.checkpoints('state', { numRetained: 1000 });
    const committed = await cps.range(0, Number.MAX_SAFE_INTEGER);
    assert.deepEqual(committed.map((c) => c.t), ackedCommits, 'checkpoints: exactly the acknowledged commits');
    for (const c of committed) {
      assert.deepEqual(c.parts.map((p) => p.name), ['task-0', 'task-1', 'task-2']);
      for (let i = 0; i < 3; i++) assert.ok(Buffer.from(await cps.readPart(c.t, `task-${i}`)).equals(Buffer.from(partBytes(c.t, i))));
    }
    return { requests: proxy.stats.requests, faults: { ...proxy.stats.faults }, appends: ackedOffsets.length, commits: ackedCommits.length };
  } finally {
    await Promise.allSettled(opened.map((s) => s.close()));
    await proxy.stop();
  }
}

// ------------------------------------------------------------------------- kill -9

export function jarSha(name: string, size: number): string {
  const block = Buffer.alloc(64 * 1024);
  const seed = createHash('sha256').update(name).digest();
  for (let i = 0; i < block.length; i += seed.length) seed.copy(block, i);
  const h = createHash('sha256');
  for (let sent = 0; sent < size; sent += block.length) h.update(block.subarray(0, Math.min(block.length, size - sent)));
  return h.digest('hex');
}

export interface KillAcks {
  offsets: number;
  ckpts: number[];
  jars: Array<{ jar: string; size: number; sha256: string }>;
}

/** Runs the writer until `afterMs` past its first line, then SIGKILLs it by PID. */
async function runAndKill(cfg: object, afterMs: number, acks: KillAcks): Promise<void> {
  const child = spawn(process.execPath, [WRITER_FIXTURE, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
  let buf = '';
  let ready = false;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
      reject(new Error(`writer not ready in 30 s: ${stderr}`));
    }, 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as { ready?: boolean; offsets?: number; ckpt?: number; jar?: string; size?: number; sha256?: string };
        buf = buf.slice(nl + 1);
        if (line.ready && !ready) {
          ready = true;
          clearTimeout(timer);
          setTimeout(() => {
            if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
            resolve();
          }, afterMs);
        }
        if (line.offsets !== undefined) acks.offsets = Math.max(acks.offsets, line.offsets);
        if (line.ckpt !== undefined) acks.ckpts.push(line.ckpt);
        if (line.jar !== undefined) acks.jars.push({ jar: line.jar, size: line.size!, sha256: line.sha256! });
      }
    });
    child.once('exit', (code, sig) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`writer exited early (${code ?? sig}): ${stderr}`));
      }
    });
  });
  await exited;
}

export async function verifyAfterKill(app: AppStorage, acks: KillAcks, deep: boolean): Promise<void> {
  // Offsets: contiguous 1..N in whole batches of 10, N ≥ the last acknowledged.
  const entries = await app.offsets('src').range(0, Number.MAX_SAFE_INTEGER);
  const n = entries.length;
  assert.deepEqual(entries.map((e) => e.t), Array.from({ length: n }, (_, i) => i + 1), 'offsets contiguous');
  assert.equal(n % 10, 0, 'offset batches all or nothing');
  assert.ok(n >= acks.offsets, `offsets: ${n} stored, ${acks.offsets} acknowledged`);
  for (const e of entries) assert.equal(Buffer.from(e.value).toString(), `v${e.t}`);
  // Checkpoints: every acknowledged one present; every visible one complete and intact.
  const cps = app.checkpoints('state', { numRetained: 1000 });
  const committed = await cps.range(0, Number.MAX_SAFE_INTEGER);
  const ts = new Set(committed.map((c) => c.t));
  for (const t of acks.ckpts) assert.ok(ts.has(t), `checkpoint ${t} acknowledged but missing`);
  for (const c of committed) {
    assert.equal(Buffer.from(await cps.readPart(c.t, 'a')).toString(), `a@${c.t}`);
    assert.equal(Buffer.from(await cps.readPart(c.t, 'b')).toString(), `b@${c.t}`.repeat(100));
  }
  // Jars: acknowledged ones present with their digest; every listed jar reads back verified.
  const listed = new Map((await app.jars.list()).map((j) => [j.name, j]));
  for (const a of acks.jars) {
    assert.equal(listed.get(a.jar)?.sha256, a.sha256, `jar ${a.jar}`);
    assert.equal(a.sha256, jarSha(a.jar, a.size));
  }
  if (deep) {
    for (const j of listed.values()) assert.equal((await collectBytes(await app.jars.get(j.name))).length, j.size);
  }
}

export async function killLoop(target: S3Target, options: { prefix: string; kills: number; seed?: number }): Promise<KillAcks> {
  const s = await openS3(target, options.prefix);
  try {
    await s.createAppStorage('k', 'app-kill', { owner: 'alice' });
    const app = (await s.getAppStorage('app-kill'))!;
    const rand = seededRandom(options.seed ?? 9);
    const acks: KillAcks = { offsets: 0, ckpts: [], jars: [] };
    for (let i = 1; i <= options.kills; i++) {
      const cfg = {
        endpoint: target.endpoint, bucket: target.bucket, prefix: options.prefix, appId: 'app-kill', epoch: i, region: target.region,
        credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
      };
      await runAndKill(cfg, 50 + Math.floor(rand() * 500), acks);
      await verifyAfterKill(app, acks, i === options.kills);
    }
    return acks;
  } finally {
    await s.close();
  }
}
