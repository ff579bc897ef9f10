/**
 * S3-specific behaviour beyond the contract: request counts (batching, commit cost),
 * the error mapping table, and multipart clean-up on a failing source.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { checkpointStoreOver, collectBytes, offsetStoreOver, sha256Hex, type BackendAppStorage, type CheckpointPart } from '@sluice/storage-api';
import { createS3Storage, mapS3Error, type S3Storage } from '@sluice/storage-s3';
import { startS3rver, type S3rverHandle } from '../../../test/servers/s3rver.js';
import { rawClient, s3Options, type S3Target } from '../../../test/servers/s3/factories.js';

let server: S3rverHandle;
let storage: S3Storage;
let app: BackendAppStorage;

beforeAll(async () => {
  server = await startS3rver({ shim: true });
  const target: S3Target = { ...server, bucket: 'sluice-behaviour', singleWriter: false, options: { multipartThreshold: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 } };
  storage = await createS3Storage(s3Options(target, 'b/') as Parameters<typeof createS3Storage>[0]);
  app = await storage.createAppStorage('b', 'app-b', { owner: 'alice' });
});
afterAll(async () => {
  await storage?.close();
  await server?.stop();
});

/** The offsets store as callers see it: storage-api's policy over the backend's hooks. */
const offsets = (name: string) => offsetStoreOver(app.offsets(name));

async function requestsOf(fn: () => Promise<unknown>): Promise<number> {
  const before = storage.io.requests;
  await fn();
  return storage.io.requests - before;
}

describe('S3 backend behaviour', () => {
  it('appendBatch costs the same few requests for 1 or 1000 entries', async () => {
    const w = await offsets('batch').writer(1);
    await w.append(1, new Uint8Array([1])); // the first write also reads the last entry (one LIST)
    const one = await requestsOf(() => w.appendBatch([{ t: 2, value: new Uint8Array([2]) }]));
    const entries = Array.from({ length: 1000 }, (_, i) => ({ t: i + 3, value: new Uint8Array(Buffer.from(`v${i}`)) }));
    const thousand = await requestsOf(() => w.appendBatch(entries));
    expect(thousand).toBe(one);
    expect(thousand).toBeLessThanOrEqual(2); // epoch check + one segment PUT
    expect((await offsets('batch').floor(500))?.t).toBe(500);
  });

  it('unbatched appends are compacted so the segment listing stays short', async () => {
    const w = await offsets('many').writer(1);
    for (let t = 1; t <= 100; t++) await w.append(t, new Uint8Array(Buffer.from(`v${t}`)));
    const c = rawClient({ ...server, bucket: 'sluice-behaviour', singleWriter: false });
    const listed = await c.send(new ListObjectsV2Command({ Bucket: 'sluice-behaviour', Prefix: 'b/apps/app-b/' }));
    c.destroy();
    const segs = (listed.Contents ?? []).filter((o) => o.Key!.includes('/offsets/many/seg/'));
    expect(segs.length).toBeLessThanOrEqual(1 + (100 - 3 * 32)); // 3 runs of 32 merged into one segment + the tail
    const all = await offsets('many').range(0, 1000);
    expect(all.map((e) => e.t)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(Buffer.from((await offsets('many').floor(64))!.value).toString()).toBe('v64');
  });

  it('400 unbatched appends: merged segments absorb each other, so the listing and an append cost stay flat', async () => {
    const w = await offsets('flat').writer(1);
    const costs: number[] = [];
    for (let t = 1; t <= 400; t++) costs.push(await requestsOf(() => w.append(t, new Uint8Array(Buffer.from(`v${t}`)))));
    const c = rawClient({ ...server, bucket: 'sluice-behaviour', singleWriter: false });
    const listed = await c.send(new ListObjectsV2Command({ Bucket: 'sluice-behaviour', Prefix: 'b/apps/app-b/' }));
    c.destroy();
    const segs = (listed.Contents ?? []).filter((o) => o.Key!.includes('/offsets/flat/seg/'));
    expect(segs.length).toBeLessThanOrEqual(1 + (400 % 32)); // one merged segment (< 1024 entries) + the tail
    const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(costs.slice(-100)) / mean(costs.slice(0, 100))).toBeLessThanOrEqual(1.2);
    expect((await offsets('flat').range(0, 1000)).map((e) => e.t)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
  });

  it('listApps reports one app whose meta is garbage as damaged and lists the others', async () => {
    await storage.createAppStorage('d', 'app-damaged', { owner: 'alice' });
    await storage.createAppStorage('d', 'app-fine', { owner: 'alice' });
    const c = rawClient({ ...server, bucket: 'sluice-behaviour', singleWriter: false });
    await c.send(new PutObjectCommand({ Bucket: 'sluice-behaviour', Key: 'b/apps/app-damaged/meta.json', Body: '{"appId": "app-dam' }));
    c.destroy();
    const apps = await storage.listApps();
    const damaged = apps.find((a) => a.appId === 'app-damaged');
    expect(damaged?.damaged?.code).toBe('STORAGE_CORRUPT');
    expect(apps.find((a) => a.appId === 'app-fine')?.damaged).toBeUndefined();
    expect(apps.find((a) => a.appId === 'app-b')?.owner).toBe('alice');
    await storage.deleteAppStorage('app-fine');
  });

  it('a commit takes at most 3 requests whether it lists 1 or 50 parts', async () => {
    const cs = checkpointStoreOver(app.checkpoints('cost', { numRetained: 2 }), 2);
    const w = await cs.writer(1);
    const costs: number[] = [];
    for (const [t, n] of [[1, 1], [2, 50], [3, 50], [4, 1]] as const) {
      const parts: CheckpointPart[] = [];
      for (let i = 0; i < n; i++) parts.push(await w.stage(t, `p${i}`, new Uint8Array([i])));
      costs.push(await requestsOf(() => w.commit(t, parts)));
    }
    for (const c of costs) expect(c).toBeLessThanOrEqual(3);
    expect((await cs.range(0, 100)).map((c) => c.t)).toEqual([3, 4]); // numRetained 2
  });

  it('a commit of 50 parts another handle staged makes no request per part (size and digest travel in the ref); shared parts neither', async () => {
    const other = await createS3Storage(s3Options({ ...server, bucket: 'sluice-behaviour', singleWriter: false }, 'b/') as Parameters<typeof createS3Storage>[0]);
    try {
      const cs = checkpointStoreOver(app.checkpoints('elsewhere', { numRetained: 3 }), 3);
      const w = await cs.writer(1);
      const stager = checkpointStoreOver((await other.getAppStorage('app-b'))!.checkpoints('elsewhere', { numRetained: 3 }), 3).stager(1);
      const base = await stager.stage(1, 'base', new Uint8Array([0]));
      const costs: number[] = [];
      for (const t of [1, 2, 3, 4, 5]) {
        const parts: CheckpointPart[] = [base];
        for (let i = 0; i < 50; i++) parts.push(await stager.stage(t, `d${i}`, new Uint8Array([t, i])));
        costs.push(await requestsOf(() => w.commit(t, parts)));
        expect(parts.every((p) => /\.\d+\.[0-9a-f]{64}$/.test(p.ref))).toBe(true);
      }
      // GET epoch + PUT manifest (+ DeleteObjects once retention retires checkpoints): was 2 + 50 HEADs.
      for (const c of costs) expect(c).toBeLessThanOrEqual(3);
      expect((await cs.range(0, 100)).map((c) => c.t)).toEqual([3, 4, 5]);
      for (const t of [3, 4, 5]) expect(Buffer.from(await cs.readPart(t, 'base'))).toEqual(Buffer.from([0]));
      // A forged size or digest is refused against what the ref encodes, still with no HEAD.
      const p = await stager.stage(6, 'p', new Uint8Array([6]));
      await expect(w.commit(6, [{ ...p, size: 2 }])).rejects.toMatchObject({ code: 'STORAGE_INVALID_ARGUMENT' });
      await expect(w.commit(6, [{ ...p, sha256: sha256Hex(Buffer.from('x')) }])).rejects.toMatchObject({ code: 'STORAGE_INVALID_ARGUMENT' });
    } finally {
      await other.close();
    }
  });

  it('a part staged by an older version (no size in its key) is checked with one HEAD at commit', async () => {
    const cs = checkpointStoreOver(app.checkpoints('legacy-sha'), 5);
    const w = await cs.writer(1);
    const bytes = Buffer.from('staged when keys carried the digest only');
    const ref = `parts/${'1'.padStart(20, '0')}/state/${randomUUID()}.${sha256Hex(bytes)}`;
    await storage.io.put(`${(app as unknown as { dataPrefix: string }).dataPrefix}checkpoints/legacy-sha/${ref}`, bytes);
    const part: CheckpointPart = { name: 'state', size: bytes.length, sha256: sha256Hex(bytes), ref };
    await expect(w.commit(1, [{ ...part, size: part.size + 1 }])).rejects.toMatchObject({ code: 'STORAGE_INVALID_ARGUMENT' });
    expect(await requestsOf(() => w.commit(1, [part]))).toBe(3); // GET epoch, HEAD, PUT
    expect(Buffer.from(await cs.readPart(1, 'state')).toString()).toBe(bytes.toString());
  });

  it('a part staged by an older version (no digest in its key) is checked with one GET at commit and reads back; a forged ref is not staged', async () => {
    const cs = checkpointStoreOver(app.checkpoints('legacy'), 5);
    const w = await cs.writer(1);
    await w.append(1, new Uint8Array([1]));
    const bytes = Buffer.from('staged before digests were in keys');
    const ref = `parts/${'2'.padStart(20, '0')}/state/${randomUUID()}`;
    await storage.io.put(`${(app as unknown as { dataPrefix: string }).dataPrefix}checkpoints/legacy/${ref}`, bytes);
    const part: CheckpointPart = { name: 'state', size: bytes.length, sha256: sha256Hex(bytes), ref };
    await expect(w.commit(2, [{ ...part, sha256: sha256Hex(Buffer.from('other bytes')) }])).rejects.toMatchObject({ code: 'STORAGE_INVALID_ARGUMENT' });
    await expect(w.commit(2, [{ ...part, ref: `../../jars/${ref}` }])).rejects.toMatchObject({ code: 'STORAGE_INVALID_ARGUMENT' });
    expect((await w.commit(2, [part])).parts[0]!.ref).toBe(ref);
    expect(Buffer.from(await cs.readPart(2, 'state')).toString()).toBe(bytes.toString());
  });

  it('maps S3 and network errors to typed codes in one place', () => {
    const svc = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    const table: Array<[unknown, string, boolean]> = [
      [svc('NoSuchKey', 404), 'STORAGE_NOT_FOUND', false],
      [svc('PreconditionFailed', 412), 'STORAGE_PRECONDITION_FAILED', false],
      [svc('ConditionalRequestConflict', 409), 'STORAGE_UNAVAILABLE', true],
      [svc('SlowDown', 503), 'STORAGE_UNAVAILABLE', true],
      [svc('InternalError', 500), 'STORAGE_UNAVAILABLE', true],
      [svc('AccessDenied', 403), 'STORAGE_PERMISSION_DENIED', false],
      [svc('MethodNotAllowed', 405), 'STORAGE_NOT_SUPPORTED', false],
      [svc('NoSuchBucket', 404), 'STORAGE_CONFIG_INVALID', false],
      [svc('EntityTooLarge', 400), 'STORAGE_TOO_LARGE', false],
      [svc('InvalidArgument', 400), 'STORAGE_IO_ERROR', false],
      [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'STORAGE_UNAVAILABLE', true],
    ];
    for (const [err, code, transient] of table) {
      const e = mapS3Error(err, 'op');
      expect([e.code, e.transient], (err as Error).name).toEqual([code, transient]);
    }
    expect(mapS3Error(new Error('x'), 'op', { timedOut: true }).code).toBe('STORAGE_TIMEOUT');
    expect(mapS3Error(new Error('x'), 'op', { callerAborted: true }).code).toBe('STORAGE_ABORTED');
  });

  it('a multipart put whose source fails leaves no name and no data object', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 7);
    async function* failing(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 12; i++) yield chunk;
      throw new Error('source broke');
    }
    await expect(app.jars.put('big', failing())).rejects.toThrow();
    expect(await app.jars.stat('big')).toBeUndefined();
    const c = rawClient({ ...server, bucket: 'sluice-behaviour', singleWriter: false });
    const listed = await c.send(new ListObjectsV2Command({ Bucket: 'sluice-behaviour', Prefix: 'b/apps/app-b/' }));
    c.destroy();
    expect((listed.Contents ?? []).filter((o) => o.Key!.includes('/jars/data/'))).toEqual([]);
  });

  it('a multipart put streams through and reads back verified', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 3);
    async function* src(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 12; i++) yield chunk;
    }
    const info = await app.jars.put('big-ok', src());
    expect(info.size).toBe(12 * 1024 * 1024);
    expect(info.sha256).toBe(sha256Hex(Buffer.concat(Array.from({ length: 12 }, () => chunk))));
    expect((await collectBytes(await app.jars.get('big-ok'))).length).toBe(info.size);
  });
});
