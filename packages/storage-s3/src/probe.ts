import { randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, ListObjectsV2Command, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { isStorageError } from '@sluice/storage-api';
import { compareKeys, type CommitStrategy, type S3Io } from './io.js';

/** What the endpoint was seen to do at open. Each finding is a short verdict. */
export interface ProbeReport {
  /** PutObject If-None-Match:* on an existing key answered 412. */
  createOnly: 'enforced' | 'ignored';
  /** Which If-Match spelling is honoured: the SDK's quoted ETag, only the bare one (RGW), or neither. */
  ifMatch: 'quoted' | 'unquoted' | 'ignored';
  /** If-Match with a stale ETag answered 412 (otherwise CAS is not enforced). */
  ifMatchStaleRejected: boolean;
  /** HTTP status of If-Match on a missing key (AWS 404, RGW 412). */
  ifMatchMissingStatus: number | 'accepted';
  /** CompleteMultipartUpload with If-None-Match:* on an existing key. */
  multipartCreateOnly: 'enforced' | 'ignored' | 'unsupported';
  /** AbortMultipartUpload answered 2xx (s3rver: 405). */
  abortMultipart: 'supported' | 'unsupported';
  /** Keys as listed for a-b, a.b, a/b, a0; UTF-8 order is a-b, a.b, a/b, a0. */
  listingOrder: string[];
  listingUtf8Ordered: boolean;
  /** A MaxKeys=1 listing followed its continuation tokens to the end. */
  pagination: 'ok' | 'broken';
  paginationError?: string;
  /** The commit strategy chosen from the findings. */
  strategy: CommitStrategy;
  /** Several writers are safe: create-only and CAS are both enforced. */
  multiWriterSafe: boolean;
  /** Missing capabilities, in words. */
  missing: string[];
}

const ORDER_KEYS = ['a-b', 'a.b', 'a/b', 'a0'];

function statusOf(err: unknown): number | undefined {
  return isStorageError(err) ? (err.details?.httpStatus as number | undefined) : undefined;
}

/** Runs at open under `<prefix>_probe/<uuid>/` and removes what it wrote. About 20 requests. */
export async function runProbe(io: S3Io, root: string): Promise<ProbeReport> {
  const base = `${root}_probe/${randomUUID()}/`;
  const key = `${base}p`;
  const written = new Set<string>([key]);
  try {
    await io.put(key, 'one');

    // Create-only: the second If-None-Match:* must fail.
    let createOnly: ProbeReport['createOnly'] = 'ignored';
    try {
      await io.put(key, 'two', undefined, { ifNoneMatch: '*' });
    } catch (err) {
      if (!isStorageError(err, 'STORAGE_PRECONDITION_FAILED')) throw err;
      createOnly = 'enforced';
    }

    // If-Match: stale first (is it enforced at all?), then quoted, then bare.
    let ifMatchStaleRejected = false;
    try {
      await io.put(key, 'three', undefined, { ifMatch: '"00000000000000000000000000000000"' });
    } catch (err) {
      if (!isStorageError(err, 'STORAGE_PRECONDITION_FAILED')) throw err;
      ifMatchStaleRejected = true;
    }
    let ifMatch: ProbeReport['ifMatch'] = 'ignored';
    if (ifMatchStaleRejected) {
      const etag = (await io.head(key))!.etag;
      const bare = etag.replace(/"/g, '');
      try {
        await io.put(key, 'four', undefined, { ifMatch: `"${bare}"` });
        ifMatch = 'quoted';
      } catch (err) {
        if (!isStorageError(err, 'STORAGE_PRECONDITION_FAILED')) throw err;
        try {
          await io.put(key, 'five', undefined, { ifMatch: bare });
          ifMatch = 'unquoted';
        } catch (err2) {
          if (!isStorageError(err2, 'STORAGE_PRECONDITION_FAILED')) throw err2;
        }
      }
    }

    let ifMatchMissingStatus: ProbeReport['ifMatchMissingStatus'] = 'accepted';
    const missingKey = `${base}missing`;
    written.add(missingKey);
    try {
      await io.put(missingKey, 'x', undefined, { ifMatch: '"00000000000000000000000000000000"' });
    } catch (err) {
      ifMatchMissingStatus = statusOf(err) ?? 0;
    }

    const { multipartCreateOnly, abortMultipart } = await probeMultipart(io, key);

    for (const k of ORDER_KEYS) {
      written.add(base + k);
      await io.put(base + k, k);
    }
    const listed = await io.sendOnce<{ Contents?: Array<{ Key?: string }> }>(
      new ListObjectsV2Command({ Bucket: io.bucket, Prefix: `${base}a` }),
      'probe list',
    );
    const listingOrder = (listed.Contents ?? []).map((c) => (c.Key ?? '').slice(base.length));
    const listingUtf8Ordered = JSON.stringify(listingOrder) === JSON.stringify([...ORDER_KEYS].sort(compareKeys));

    let pagination: ProbeReport['pagination'] = 'ok';
    let paginationError: string | undefined;
    try {
      let token: string | undefined;
      const seen: string[] = [];
      for (let i = 0; i < 10; i++) {
        const out = await io.sendOnce<{ Contents?: Array<{ Key?: string }>; IsTruncated?: boolean; NextContinuationToken?: string }>(
          new ListObjectsV2Command({ Bucket: io.bucket, Prefix: `${base}a`, MaxKeys: 1, ContinuationToken: token }),
          'probe paginated list',
        );
        for (const c of out.Contents ?? []) seen.push(c.Key ?? '');
        if (!out.IsTruncated) break;
        token = out.NextContinuationToken;
      }
      if (seen.length !== ORDER_KEYS.length) {
        pagination = 'broken';
        paginationError = `saw ${seen.length} of ${ORDER_KEYS.length} keys: pages skip keys when listing order is not UTF-8`;
      }
    } catch (err) {
      pagination = 'broken';
      paginationError = (err as Error).message;
    }

    const strategy: CommitStrategy = {
      createOnly: createOnly === 'enforced',
      ifMatch: ifMatch === 'ignored' ? false : ifMatch,
    };
    const missing: string[] = [];
    if (createOnly !== 'enforced') missing.push('create-only PutObject (If-None-Match: *) is not enforced');
    if (ifMatch === 'ignored') missing.push('compare-and-swap PutObject (If-Match: <ETag>) is not enforced');
    if (pagination === 'broken') missing.push(`paginated listing fails (${paginationError ?? 'unknown'})`);
    return {
      createOnly, ifMatch, ifMatchStaleRejected, ifMatchMissingStatus, multipartCreateOnly, abortMultipart, listingOrder,
      listingUtf8Ordered, pagination, paginationError, strategy, multiWriterSafe: strategy.createOnly && strategy.ifMatch !== false, missing,
    };
  } finally {
    await io.deleteMany([...written]).catch(() => undefined);
  }
}

async function probeMultipart(io: S3Io, key: string): Promise<Pick<ProbeReport, 'multipartCreateOnly' | 'abortMultipart'>> {
  let multipartCreateOnly: ProbeReport['multipartCreateOnly'];
  const start = async (): Promise<string | undefined> =>
    (await io.sendOnce<{ UploadId?: string }>(new CreateMultipartUploadCommand({ Bucket: io.bucket, Key: key }), 'probe multipart')).UploadId;
  try {
    const uploadId = await start();
    const part = await io.sendOnce<{ ETag?: string }>(
      new UploadPartCommand({ Bucket: io.bucket, Key: key, UploadId: uploadId, PartNumber: 1, Body: Buffer.from('mp') }),
      'probe part',
    );
    try {
      await io.sendOnce(
        new CompleteMultipartUploadCommand({
          Bucket: io.bucket, Key: key, UploadId: uploadId, IfNoneMatch: '*', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
        'probe complete',
      );
      multipartCreateOnly = 'ignored';
    } catch (err) {
      if (!isStorageError(err, 'STORAGE_PRECONDITION_FAILED')) throw err;
      multipartCreateOnly = 'enforced';
      await io.sendOnce(new AbortMultipartUploadCommand({ Bucket: io.bucket, Key: key, UploadId: uploadId }), 'probe abort').catch(() => undefined);
    }
  } catch {
    multipartCreateOnly = 'unsupported';
  }
  let abortMultipart: ProbeReport['abortMultipart'];
  try {
    const uploadId = await start();
    await io.sendOnce(new AbortMultipartUploadCommand({ Bucket: io.bucket, Key: key, UploadId: uploadId }), 'probe abort');
    abortMultipart = 'supported';
  } catch {
    abortMultipart = 'unsupported';
  }
  return { multipartCreateOnly, abortMultipart };
}

/** Human-readable probe summary for logs, `sluice storage plan` and test output. */
export function describeProbe(p: ProbeReport): string {
  return [
    `create-only PUT (If-None-Match:*): ${p.createOnly}`,
    `If-Match CAS: ${p.ifMatch}${p.ifMatch === 'unquoted' ? ' (ETag quotes stripped)' : ''}; stale ETag rejected: ${p.ifMatchStaleRejected}; on missing key: ${p.ifMatchMissingStatus}`,
    `conditional CompleteMultipartUpload: ${p.multipartCreateOnly} (never relied on: manifests are single PUTs)`,
    `AbortMultipartUpload: ${p.abortMultipart}`,
    `listing order: ${p.listingOrder.join(', ')} (${p.listingUtf8Ordered ? 'UTF-8' : 'NOT UTF-8: keys are re-sorted client-side'})`,
    `pagination (MaxKeys=1): ${p.pagination}${p.paginationError ? ` (${p.paginationError})` : ''}`,
    `multi-writer safe: ${p.multiWriterSafe}${p.missing.length ? `; missing: ${p.missing.join('; ')}` : ''}`,
  ].join('\n');
}
