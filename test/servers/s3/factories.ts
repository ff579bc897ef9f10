/**
 * Conformance and fault-test factories for @sluice/storage-s3, parameterised by endpoint
 * and credentials so the same tests run against s3rver (+shim) or Ceph RGW:
 *   s3ConformanceFactory({ ...rgw, bucket: 'sluice-conf', singleWriter: false })
 */
import { randomUUID } from 'node:crypto';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { openStorage, type Storage, type StorageContext } from '@sluice/storage-api';
import type { ConformanceFactory, CorruptTarget } from '@sluice/storage-api/conformance';
import s3Module from '@sluice/storage-s3';

export interface S3Target {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  bucket: string;
  /** true for endpoints without conditional writes (plain s3rver). */
  singleWriter: boolean;
  /** Extra backend options (timeouts, part sizes ...). */
  options?: Record<string, unknown>;
}

/** Backend options for a target under a key prefix. */
export function s3Options(t: S3Target, prefix: string): Record<string, unknown> {
  return {
    bucket: t.bucket, prefix, endpoint: t.endpoint, region: t.region, forcePathStyle: true,
    credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    singleWriter: t.singleWriter, createBucket: true, checksums: 'WHEN_REQUIRED', requestTimeoutMs: 10_000, ...t.options,
  };
}

export function rawClient(t: S3Target): S3Client {
  return new S3Client({
    endpoint: t.endpoint, region: t.region, forcePathStyle: true, credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function openS3(t: S3Target, prefix: string, context: Partial<StorageContext> = {}): Promise<Storage> {
  return openStorage(s3Module, s3Options(t, prefix), context);
}

async function getText(c: S3Client, bucket: string, key: string): Promise<string> {
  const o = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return o.Body!.transformToString();
}

/** Removes every object under a prefix (MaxKeys 1000 pages; no continuation needed as we delete as we go). */
export async function deletePrefix(c: S3Client, bucket: string, prefix: string): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    const out = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
    const keys = (out.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) return;
    await c.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
}

/**
 * Flips a byte of stored content behind the backend's back, following the documented key
 * layout: <prefix>apps/<appId>/meta.json → gen → jars/names/<jar>.json → dataKey, or
 * checkpoints/<store>/_commits/<t>.json → part ref.
 */
export async function corruptS3(c: S3Client, bucket: string, prefix: string, target: CorruptTarget): Promise<void> {
  const meta = JSON.parse(await getText(c, bucket, `${prefix}apps/${target.appId}/meta.json`)) as { gen: string };
  const data = `${prefix}apps/${target.appId}/${meta.gen}/`;
  let key: string;
  if ('jar' in target) {
    key = (JSON.parse(await getText(c, bucket, `${data}jars/names/${target.jar}.json`)) as { dataKey: string }).dataKey;
  } else if ('offsets' in target || 'config' in target) {
    throw new TypeError('corruptS3: offset and config values are corrupted through the module hook');
  } else {
    const base = `${data}checkpoints/${target.store}/`;
    const m = JSON.parse(await getText(c, bucket, `${base}_commits/${String(target.t).padStart(20, '0')}.json`)) as { parts: Array<{ name: string; ref: string }> };
    key = base + m.parts.find((p) => p.name === target.part)!.ref;
  }
  const o = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = Buffer.from(await o.Body!.transformToByteArray());
  if (body.length > 0) body[body.length - 1]! ^= 0xff;
  else body.writeUInt8(1);
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** A fresh, isolated store (own prefix) per call; reopen = a second independent instance. */
export function s3ConformanceFactory(t: S3Target): ConformanceFactory {
  return async () => {
    const prefix = `conf-${randomUUID()}/`;
    const opened: Storage[] = [];
    const storage = await openS3(t, prefix);
    opened.push(storage);
    const raw = rawClient(t);
    return {
      storage,
      reopen: async () => {
        const s = await openS3(t, prefix);
        opened.push(s);
        return s;
      },
      // Offset values sit inside segment objects the backend caches: its own hook rewrites them.
      corrupt: (target) => ('offsets' in target || 'config' in target ? s3Module.testHooks!.corrupt(storage, target) : corruptS3(raw, t.bucket, prefix, target)),
      // The suite's cross-process cases open the same prefix from a child process.
      spec: { module: '@sluice/storage-s3', options: s3Options(t, prefix) as Record<string, unknown> },
      destroy: async () => {
        await Promise.allSettled(opened.map((s) => s.close()));
        await deletePrefix(raw, t.bucket, prefix).catch(() => undefined);
        raw.destroy();
      },
    };
  };
}
