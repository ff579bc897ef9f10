/**
 * Under ~10% injected faults (seeded: 500, 503 SlowDown, reset before forwarding,
 * response cut mid-body after the write took effect, stall past the request timeout),
 * 1000 appends and 20 checkpoint commits lose nothing acknowledged and never show a
 * partial commit. Server: s3rver + conditional-write shim, behind test/servers/s3/fault-proxy.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStorageError, type CheckpointPart, type Storage } from '@sluice/storage-api';
import { startS3rver, type S3rverHandle } from '../../../test/servers/s3rver.js';
import { startFaultProxy, type FaultProxy } from '../../../test/servers/s3/fault-proxy.js';
import { openS3, type S3Target } from '../../../test/servers/s3/factories.js';

let server: S3rverHandle;
let proxy: FaultProxy;
const opened: Storage[] = [];

beforeAll(async () => {
  server = await startS3rver({ shim: true });
  proxy = await startFaultProxy({ upstream: server.endpoint, seed: 42, rate: 0 });
});
afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  await proxy?.stop();
  await server?.stop();
});

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

const value = (t: number): Uint8Array => new Uint8Array(Buffer.from(`offset-${t}`));
const partBytes = (t: number, i: number): Uint8Array => new Uint8Array(Buffer.from(`cp-${t}-part-${i}-`.repeat(50)));

describe('S3 backend under injected faults', () => {
  it('1000 appends and 20 commits: nothing acknowledged lost, no partial commit visible', async () => {
    const target: S3Target = { ...server, endpoint: proxy.endpoint, bucket: 'sluice-faults', singleWriter: false, options: { requestTimeoutMs: 500, maxAttempts: 8 } };
    const s = await openS3(target, 'faults/');
    opened.push(s);
    const app = await s.createAppStorage('f', 'app-faults', { owner: 'alice' });
    const offsets = app.offsets('src');
    const cps = app.checkpoints('state', { numRetained: 100 });
    const ow = await offsets.writer(1);
    const cw = await cps.writer(1);

    proxy.rate = 0.1;
    const ackedOffsets: number[] = [];
    const ackedCommits: number[] = [];
    for (let t = 1; t <= 1000; t++) {
      await untilAcked(() => ow.append(t, value(t)), `append ${t}`);
      ackedOffsets.push(t);
      if (t % 50 === 0) {
        const parts: CheckpointPart[] = [];
        for (let i = 0; i < 3; i++) parts.push(await untilAcked(() => cw.stage(t, `task-${i}`, partBytes(t, i)), `stage ${t}/${i}`));
        // The same parts on every retry: an identical commit is a no-op, so a lost answer is safe.
        await untilAcked(() => cw.commit(t, parts), `commit ${t}`);
        ackedCommits.push(t);
      }
    }
    proxy.rate = 0;
    const faults = proxy.stats.faults;
    process.stderr.write(`\n[faults] ${proxy.stats.requests} requests, injected ${JSON.stringify(faults)}\n`);
    for (const k of ['500', '503', 'reset', 'cut', 'stall'] as const) expect(faults[k], k).toBeGreaterThan(0);
    expect(ackedCommits).toHaveLength(20);

    // A second instance, without faults, sees exactly what was acknowledged.
    const check = await openS3({ ...target, endpoint: server.endpoint }, 'faults/');
    opened.push(check);
    const app2 = (await check.getAppStorage('app-faults'))!;
    const all = await app2.offsets('src').range(0, Number.MAX_SAFE_INTEGER);
    expect(all.map((e) => e.t)).toEqual(ackedOffsets);
    for (const e of all) expect(Buffer.from(e.value).toString()).toBe(`offset-${e.t}`);
    const committed = await app2.checkpoints('state', { numRetained: 100 }).range(0, Number.MAX_SAFE_INTEGER);
    expect(committed.map((c) => c.t)).toEqual(ackedCommits);
    for (const c of committed) {
      expect(c.parts.map((p) => p.name)).toEqual(['task-0', 'task-1', 'task-2']);
      for (let i = 0; i < 3; i++) {
        const b = await app2.checkpoints('state', { numRetained: 100 }).readPart(c.t, `task-${i}`);
        expect(Buffer.from(b).equals(Buffer.from(partBytes(c.t, i)))).toBe(true);
      }
    }
  }, 240_000);
});
