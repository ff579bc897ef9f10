// An executor's mapped blobs over a real fs store and a real worker cache: versions side by
// side under the local name, unpacked archives, malicious archives refused, LRU eviction of
// the shared cache under a small limit never breaking a version an executor uses.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage, type BlobStore, type Storage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
import { BlobCache } from '../src/runtime/blob-cache.js';
import { BlobWatcher, ExecutorBlobs } from '../src/runtime/executor-blobs.js';
import { isEngineError } from '../src/errors.js';

const KiB = 1024;

function tarGz(entries: Array<{ path: string; body: string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body);
    const block = Buffer.alloc(512);
    new Header({ path: e.path, mode: 0o644, size: body.length, type: 'File', mtime: new Date(0) }).encode(block, 0);
    blocks.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

let dir: string;
let storage: Storage;
let store: BlobStore;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-exec-blobs-'));
  storage = await openStorage(fsModule, { root: join(dir, 'store') });
  store = storage.blobs!;
});

afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ExecutorBlobs', () => {
  it('maps each version under its local name, side by side, and drops versions no task uses', async () => {
    await store.create('dict', Buffer.from('alpha'), { owner: 'alice' });
    await store.update('dict', Buffer.from('beta'));
    const local = new ExecutorBlobs(store, new BlobCache(join(dir, 'cache'), 1024 * KiB), join(dir, 'exec'), { dict: { localName: 'dict.txt', uncompress: false } });
    const p1 = await local.materialize('dict', 1);
    const p2 = await local.materialize('dict', 2);
    expect(p1.endsWith(join('dict', 'v1', 'dict.txt'))).toBe(true);
    expect(readFileSync(p1, 'utf8')).toBe('alpha');
    expect(readFileSync(p2, 'utf8')).toBe('beta');
    expect(await local.materialize('dict', 2)).toBe(p2);
    await local.release(new Map([['dict', new Set([2])]]));
    expect(existsSync(p1)).toBe(false);
    expect(local.pathOf('dict', 1)).toBeUndefined();
    expect(readFileSync(p2, 'utf8')).toBe('beta');
  });

  it('unpacks an archive blob mapped with uncompress; refuses a malicious one and a non-archive', async () => {
    await store.create('rules', tarGz([{ path: 'a/rule.txt', body: 'allow' }]), { owner: 'alice' });
    await store.create('evil', tarGz([{ path: '../../escape.txt', body: 'pwned' }]), { owner: 'alice' });
    await store.create('plain', Buffer.from('not an archive'), { owner: 'alice' });
    const mapping = { rules: { localName: 'rules', uncompress: true }, evil: { localName: 'evil', uncompress: true }, plain: { localName: 'plain', uncompress: true } };
    const local = new ExecutorBlobs(store, new BlobCache(join(dir, 'cache'), 1024 * KiB), join(dir, 'exec'), mapping);
    const p = await local.materialize('rules', 1);
    expect(readFileSync(join(p, 'a', 'rule.txt'), 'utf8')).toBe('allow');
    for (const name of ['evil', 'plain']) {
      const err = await local.materialize(name, 1).then(() => undefined, (e: unknown) => e);
      expect(isEngineError(err, 'ARCHIVE_UNSAFE'), String(err)).toBe(true);
    }
    expect(existsSync(join(dir, 'escape.txt'))).toBe(false);
    expect(existsSync(join(dir, 'exec', 'escape.txt'))).toBe(false);
  });

  it('the shared cache evicts under a small limit while an executor keeps reading its linked version', async () => {
    const cache = new BlobCache(join(dir, 'cache'), 100 * KiB);
    for (const i of [1, 2, 3]) await store.create(`b${i}`, Buffer.alloc(40 * KiB, i), { owner: 'alice' });
    const a = new ExecutorBlobs(store, cache, join(dir, 'exec-a'), { b1: { localName: 'b1', uncompress: false } });
    // Another executor (another process in real life: its own cache object, no shared pins).
    const other = new BlobCache(join(dir, 'cache'), 100 * KiB);
    const b = new ExecutorBlobs(store, other, join(dir, 'exec-b'), { b2: { localName: 'b2', uncompress: false }, b3: { localName: 'b3', uncompress: false } });
    const p1 = await a.materialize('b1', 1);
    await b.materialize('b2', 1);
    await b.materialize('b3', 1);
    // 120 KiB > 100 KiB: the least recently used entry (b1's) left the cache ...
    expect((await cache.entries()).length).toBe(2);
    // ... yet the executor's hard link still holds b1 intact.
    expect(readFileSync(p1).equals(Buffer.alloc(40 * KiB, 1))).toBe(true);
  });

  it('the watcher materializes a new version as soon as it appears and reports it once', async () => {
    await store.create('dict', Buffer.from('v1'), { owner: 'alice' });
    const local = new ExecutorBlobs(store, new BlobCache(join(dir, 'cache'), 1024 * KiB), join(dir, 'exec'), { dict: { localName: 'd', uncompress: false } });
    const reports: Array<Record<string, number>> = [];
    const w = new BlobWatcher(local, 60_000, quiet, (r) => reports.push(r));
    w.start({ dict: 1 });
    await w.poll();
    expect(reports).toEqual([]);
    await store.update('dict', Buffer.from('v2'));
    await w.poll();
    await w.poll();
    w.stop();
    expect(reports).toEqual([{ dict: 2 }]);
    expect(readFileSync(local.pathOf('dict', 2)!, 'utf8')).toBe('v2');
  });
});
