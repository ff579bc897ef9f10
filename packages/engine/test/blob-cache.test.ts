// The worker blob cache over a real fs store: LRU eviction under a small limit, digest
// verification of hits and downloads, and concurrent fetches sharing one download.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobBackendOf, openStorage, type BlobStore, type Storage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
import { BlobCache } from '../src/runtime/blob-cache.js';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const KiB = 1024;

let dir: string;
let storage: Storage;
let blobs: BlobStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-blob-cache-'));
  storage = await openStorage(fsModule, { root: join(dir, 'store') });
  blobs = storage.blobs!;
});

afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('BlobCache', () => {
  it('evicts the least recently used entries to stay under the limit, never a pinned one', async () => {
    const cache = new BlobCache(join(dir, 'cache'), 100 * KiB);
    const content = (i: number): Buffer => Buffer.alloc(40 * KiB, i);
    for (const i of [1, 2, 3]) await blobs.create(`b${i}`, content(i), { owner: 'alice' });
    const a = await cache.fetch(blobs, 'b1');
    cache.pin(a.sha256);
    const b = await cache.fetch(blobs, 'b2');
    expect(await cache.entries()).toEqual([a.sha256, b.sha256].sort());
    // 3 × 40 KiB > 100 KiB: b2 (unpinned, least recent) goes; pinned b1 stays.
    const c = await cache.fetch(blobs, 'b3');
    expect(await cache.entries()).toEqual([a.sha256, c.sha256].sort());
    expect(readFileSync(c.path)).toEqual(content(3));
    // Unpinned and older than b3: b1 goes when b2 comes back.
    cache.unpin(a.sha256);
    await new Promise((r) => setTimeout(r, 20)); // distinct mtimes
    await cache.fetch(blobs, 'b3'); // touch b3: most recent
    const b2 = await cache.fetch(blobs, 'b2');
    expect(await cache.entries()).toEqual([b2.sha256, c.sha256].sort());
  });

  it('refuses a blob larger than the whole cache with STORAGE_TOO_LARGE', async () => {
    const cache = new BlobCache(join(dir, 'cache'), 10 * KiB);
    await blobs.create('big', Buffer.alloc(20 * KiB, 7), { owner: 'alice' });
    await expect(cache.fetch(blobs, 'big')).rejects.toMatchObject({ code: 'STORAGE_TOO_LARGE' });
    expect(await cache.entries()).toEqual([]);
  });

  it('re-fetches a damaged cached file, and a download that fails its digest leaves nothing', async () => {
    const cache = new BlobCache(join(dir, 'cache'), 1024 * KiB);
    await blobs.create('dict', Buffer.from('apple,fruit\n'), { owner: 'alice' });
    const first = await cache.fetch(blobs, 'dict');
    writeFileSync(first.path, 'tampered');
    const again = await cache.fetch(blobs, 'dict');
    expect(readFileSync(again.path, 'utf8')).toBe('apple,fruit\n');

    // Behind the store's back: version 1 of `forged` now points at other bytes.
    await blobs.create('forged', Buffer.from('real'), { owner: 'alice' });
    const raw = blobBackendOf(blobs)!;
    const seq = Math.max(...(await raw.listRecords('forged')));
    const rec = JSON.parse(Buffer.from((await raw.readRecord('forged', seq))!).toString()) as { seq: number; versions: Array<{ ref: string }> };
    rec.seq = seq + 1;
    rec.versions[0]!.ref = await raw.writeContent((async function* () { yield Buffer.from('fake'); })(), {});
    await raw.createRecord('forged', seq + 1, Buffer.from(JSON.stringify(rec)));
    await expect(cache.fetch(blobs, 'forged')).rejects.toMatchObject({ code: 'STORAGE_CORRUPT' });
    expect(await cache.entries()).toEqual([sha('apple,fruit\n')]);
  });

  it('concurrent fetches of one version share a download; versions are addressed by digest', async () => {
    const cache = new BlobCache(join(dir, 'cache'), 1024 * KiB);
    await blobs.create('rules', Buffer.alloc(200 * KiB, 1), { owner: 'alice' });
    const got = await Promise.all(Array.from({ length: 8 }, () => cache.fetch(blobs, 'rules')));
    expect(new Set(got.map((g) => g.path)).size).toBe(1);
    expect(await cache.entries()).toHaveLength(1);
    await blobs.update('rules', Buffer.alloc(200 * KiB, 2), { expectedVersion: 1 });
    const v2 = await cache.fetch(blobs, 'rules');
    const v1 = await cache.fetch(blobs, 'rules', 1);
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(v1.path).not.toBe(v2.path);
    expect(readFileSync(v2.path)).toEqual(Buffer.alloc(200 * KiB, 2));
  });
});
