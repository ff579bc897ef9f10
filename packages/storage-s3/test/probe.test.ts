/**
 * The capability probe's findings on s3rver and on s3rver behind the shim (written to
 * stderr), and what the backend does with them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStorageError, type Storage } from '@sluice/storage-api';
import { createS3Storage, describeProbe, type S3Storage } from '@sluice/storage-s3';
import { startS3rver, type S3rverHandle } from '../../../test/servers/s3rver.js';
import { openS3, s3Options, type S3Target } from '../../../test/servers/s3/factories.js';

let plain: S3rverHandle;
let shimmed: S3rverHandle;
const opened: Array<Storage | S3Storage> = [];

beforeAll(async () => {
  [plain, shimmed] = await Promise.all([startS3rver(), startS3rver({ shim: true })]);
});
afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  await Promise.allSettled([plain?.stop(), shimmed?.stop()]);
});

const target = (h: S3rverHandle, singleWriter: boolean): S3Target => ({ ...h, bucket: 'sluice-probe', singleWriter });

async function open(h: S3rverHandle, singleWriter: boolean, prefix = 'probe/'): Promise<S3Storage> {
  const s = await createS3Storage(s3Options(target(h, singleWriter), prefix) as Parameters<typeof createS3Storage>[0]);
  opened.push(s);
  return s;
}

describe('capability probe', () => {
  it('plain s3rver: no conditional writes, no abort route, directory-walk listing order', async () => {
    const s = await open(plain, true);
    process.stderr.write(`\n[probe] s3rver 3.7.1:\n${describeProbe(s.probe)}\n`);
    expect(s.probe.createOnly).toBe('ignored');
    expect(s.probe.ifMatch).toBe('ignored');
    expect(s.probe.ifMatchStaleRejected).toBe(false);
    expect(s.probe.multipartCreateOnly).toBe('ignored');
    expect(s.probe.abortMultipart).toBe('unsupported');
    expect(s.probe.listingOrder).toEqual(['a/b', 'a-b', 'a.b', 'a0']);
    expect(s.probe.listingUtf8Ordered).toBe(false);
    // With --openssl-legacy-provider the continuation token decrypts, but s3rver pages by
    // "key > token" over its directory-walk order, so MaxKeys=1 pages skip keys.
    expect(s.probe.pagination).toBe('broken');
    expect(s.probe.paginationError).toMatch(/saw 2 of 4/);
    expect(s.probe.multiWriterSafe).toBe(false);
    expect(s.capabilities.multiWriter).toBe(false);
  });

  it('s3rver + shim: create-only and CAS enforced (by the shim), multi-writer safe', async () => {
    const s = await open(shimmed, false);
    process.stderr.write(`\n[probe] s3rver 3.7.1 + conditional-write shim:\n${describeProbe(s.probe)}\n`);
    expect(s.probe.createOnly).toBe('enforced');
    expect(s.probe.ifMatch).toBe('quoted');
    expect(s.probe.ifMatchStaleRejected).toBe(true);
    expect(s.probe.ifMatchMissingStatus).toBe(404);
    expect(s.probe.multipartCreateOnly).toBe('enforced');
    expect(s.probe.multiWriterSafe).toBe(true);
    expect(s.probe.missing.filter((m) => /If-None-Match|If-Match/.test(m))).toEqual([]);
    expect(s.capabilities.multiWriter).toBe(true);
  });

  it('an RGW-like endpoint (If-Match only with the bare ETag) gets the unquoted strategy and CAS still works', async () => {
    await shimmed.configure({ rgwIfMatch: true });
    try {
      const s = await open(shimmed, false, 'probe-rgw/');
      expect(s.probe.ifMatch).toBe('unquoted');
      expect(s.probe.strategy.ifMatch).toBe('unquoted');
      expect(s.capabilities.multiWriter).toBe(true);
      const storage = await openS3(target(shimmed, false), 'probe-rgw/');
      opened.push(storage);
      const app = await storage.createAppStorage('p', 'app-rgw', { owner: 'alice' });
      const v1 = await app.config.set('proc', { a: 1 });
      const v2 = await app.config.set('proc', { a: 2 }, { ifVersion: v1.version });
      expect(v2.version).toBe(2);
      await expect(app.config.set('proc', { a: 3 }, { ifVersion: 1 })).rejects.toMatchObject({ code: 'STORAGE_PRECONDITION_FAILED' });
      const w = await app.offsets('o').writer(1);
      await w.append(1, new Uint8Array([1]));
      await app.offsets('o').writer(2);
      await expect(w.append(2, new Uint8Array([2]))).rejects.toMatchObject({ code: 'STORAGE_FENCED' });
    } finally {
      await shimmed.configure({ rgwIfMatch: false });
    }
  });

  it('without conditional writes and without singleWriter, multi-writer operations are refused by name', async () => {
    // Data created by a single-writer instance; a second instance without the promise may read but not write.
    const single = await openS3(target(plain, true), 'refuse/');
    opened.push(single);
    const app = await single.createAppStorage('p', 'app-1', { owner: 'alice' });
    await (await app.offsets('o').writer(1)).append(5, new Uint8Array([5]));

    const multi = await openS3(target(plain, false), 'refuse/');
    opened.push(multi);
    expect(multi.capabilities.multiWriter).toBe(false);
    const app2 = (await multi.getAppStorage('app-1'))!;
    expect((await app2.offsets('o').last())?.t).toBe(5);
    const refusals = [
      () => app2.offsets('o').writer(2),
      () => app2.checkpoints('c').writer(1),
      () => app2.config.set('proc', 1),
      () => app2.updateMeta({ status: 'running' }),
      () => multi.createAppStorage('p', 'app-2', { owner: 'alice' }),
    ];
    for (const f of refusals) {
      const err = await f().then(() => undefined, (e: unknown) => e);
      expect(isStorageError(err, 'STORAGE_NOT_SUPPORTED'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/If-None-Match/);
      expect((err as Error).message).toMatch(/singleWriter: true/);
    }
    // Plain appends of logs are single PUTs of unique keys: allowed.
    await app2.logs.append([{ ts: 1, level: 'info', msg: 'hi', labels: {} }]);
    expect((await app2.logs.query({})).records).toHaveLength(1);
  });

  it('rejects unknown options with the key path', async () => {
    await expect(createS3Storage({ bucket: 'sluice-probe', bogus: 1 } as never)).rejects.toMatchObject({ code: 'STORAGE_CONFIG_INVALID' });
  });
});
