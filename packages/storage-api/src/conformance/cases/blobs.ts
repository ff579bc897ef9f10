import { createHash } from 'node:crypto';
import { assert, bytes, rejectsWith, type ConformanceCase } from '../harness.js';
import { collectBytes } from '../../util/bytes.js';
import { blobBackendOf } from '../../blob-guard.js';
import type { BlobStore } from '../../blobs.js';
import type { Storage } from '../../types.js';

const sha = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');

async function* chunks(parts: string[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

function blobsOf(storage: Storage): BlobStore {
  assert.ok(storage.blobs, 'a backend declaring the blobs capability exposes storage.blobs');
  return storage.blobs;
}

async function read(b: BlobStore, name: string, version?: number): Promise<string> {
  const r = await b.get(name, version === undefined ? {} : { version });
  return (await collectBytes(r.body)).toString();
}

const G = 'blobs';

export const blobCases: ConformanceCase[] = [
  {
    group: G,
    name: 'create streams chunks in; get streams them out; head and list agree; content addressed by SHA-256',
    needs: ['blobs'],
    async run({ storage, uid }) {
      const b = blobsOf(storage);
      const name = uid('dict');
      const parts = ['apple,fruit\n', 'carrot,vegetable\n'];
      const m = await b.create(name, chunks(parts), { owner: 'alice', acl: ['u:bob:r', 'o::-'], labels: { team: 'search' } });
      const all = parts.join('');
      assert.equal(m.version, 1);
      assert.equal(m.sha256, sha(all));
      assert.equal(m.size, Buffer.byteLength(all));
      assert.equal(m.owner, 'alice');
      assert.deepEqual(m.acl, ['u:bob:r', 'o::-']);
      assert.deepEqual(m.labels, { team: 'search' });
      assert.equal(await read(b, name), all);
      assert.deepEqual(await b.head(name), m);
      assert.ok((await b.list()).some((x) => x.name === name && x.sha256 === m.sha256));
      await rejectsWith(b.create(name, bytes('again'), { owner: 'alice' }), 'STORAGE_ALREADY_EXISTS');
      assert.equal(await read(b, name), all, 'a refused create leaves the blob alone');
      const empty = await b.create(uid('empty'), new Uint8Array(0), { owner: 'alice' });
      assert.equal(empty.size, 0);
      assert.equal(empty.sha256, sha(''));
    },
  },
  {
    group: G,
    name: 'update adds an immutable version; older retained versions stay readable',
    needs: ['blobs'],
    async run({ storage, uid }) {
      const b = blobsOf(storage);
      const name = uid('rules');
      await b.create(name, bytes('v1'), { owner: 'alice' });
      const m2 = await b.update(name, bytes('v2!'), { expectedVersion: 1 });
      assert.equal(m2.version, 2);
      assert.equal(m2.sha256, sha('v2!'));
      assert.equal(m2.owner, 'alice');
      assert.deepEqual(m2.versions.map((v) => v.version), [1, 2]);
      assert.equal(await read(b, name), 'v2!');
      assert.equal(await read(b, name, 1), 'v1');
      const got = await b.get(name, { version: 1 });
      assert.equal(got.version.sha256, sha('v1'));
      await collectBytes(got.body);
      const m3 = await b.update(name, bytes('v3'));
      assert.equal(m3.version, 3, 'an update without expectedVersion applies to the newest');
      await rejectsWith(b.update(uid('missing'), bytes('x')), 'STORAGE_NOT_FOUND');
    },
  },
  {
    group: G,
    name: 'compare-and-set: a stale expectedVersion is STORAGE_PRECONDITION_FAILED for update, setAcl and delete',
    needs: ['blobs'],
    async run({ storage, uid }) {
      const b = blobsOf(storage);
      const name = uid('cas');
      await b.create(name, bytes('v1'), { owner: 'alice' });
      await b.update(name, bytes('v2'), { expectedVersion: 1 });
      const err = await rejectsWith(b.update(name, bytes('stale'), { expectedVersion: 1 }), 'STORAGE_PRECONDITION_FAILED');
      assert.match(err.message, /version 2, expected 1/);
      await rejectsWith(b.setAcl(name, ['o::r'], { expectedVersion: 1 }), 'STORAGE_PRECONDITION_FAILED');
      await rejectsWith(b.delete(name, { expectedVersion: 1 }), 'STORAGE_PRECONDITION_FAILED');
      assert.equal((await b.head(name))?.version, 2);
      assert.equal(await read(b, name), 'v2');
    },
  },
  {
    group: G,
    name: 'of racing updates with the same expectedVersion exactly one wins',
    needs: ['blobs', 'multiWriter'],
    async run({ storage, uid }) {
      const b = blobsOf(storage);
      const name = uid('race');
      await b.create(name, bytes('v1'), { owner: 'alice' });
      await b.update(name, bytes('v2'), { expectedVersion: 1 });
      const results = await Promise.allSettled([1, 2, 3, 4].map((i) => b.update(name, bytes(`racer ${i}`), { expectedVersion: 2 })));
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, `exactly one racer wins, got ${won.length}`);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'STORAGE_PRECONDITION_FAILED', String((r.reason as Error).message));
      const head = await b.head(name);
      assert.equal(head?.version, 3);
      assert.equal(await read(b, name), `racer ${results.findIndex((r) => r.status === 'fulfilled') + 1}`);
    },
  },
  {
    group: G,
    name: 'retention keeps the newest N versions',
    needs: ['blobs'],
    async run({ storage, uid }) {
      const b = blobsOf(storage);
      const name = uid('keep');
      await b.create(name, bytes('v1'), { owner: 'alice', keep: 2 });
      for (const v of ['v2', 'v3', 'v4']) await b.update(name, bytes(v));
      const head = await b.head(name);
      assert.equal(head?.keep, 2);
      assert.deepEqual(head?.versions.map((v) => v.version), [3, 4]);
      assert.equal(await read(b, name, 3), 'v3');
      await rejectsWith(b.get(name, { version: 1 }), 'STORAGE_NOT_FOUND');
      await rejectsWith(b.get(name, { version: 2 }), 'STORAGE_NOT_FOUND');
      await rejectsWith(b.create(uid('k'), bytes('x'), { owner: 'alice', keep: 0 }), 'STORAGE_INVALID_ARGUMENT');
    },
  },
  {
    group: G,
    name: 'delete removes every version; the name can be created again',
    needs: ['blobs'],
    async run({ storage, uid }) {
      const b = blobsOf(storage);
      const name = uid('gone');
      await b.create(name, bytes('v1'), { owner: 'alice' });
      await b.update(name, bytes('v2'));
      await b.delete(name, { expectedVersion: 2 });
      assert.equal(await b.head(name), undefined);
      await rejectsWith(b.get(name), 'STORAGE_NOT_FOUND');
      await rejectsWith(b.delete(name), 'STORAGE_NOT_FOUND');
      await rejectsWith(b.update(name, bytes('x')), 'STORAGE_NOT_FOUND');
      await rejectsWith(b.setAcl(name, ['o::r']), 'STORAGE_NOT_FOUND');
      assert.ok(!(await b.list()).some((x) => x.name === name));
      const again = await b.create(name, bytes('fresh'), { owner: 'bob' });
      assert.equal(again.version, 1);
      assert.equal(again.owner, 'bob');
      assert.equal(await read(b, name), 'fresh');
    },
  },
  {
    group: G,
    name: 'setAcl replaces the ACL and keeps the content version',
    needs: ['blobs'],
    async run({ storage, uid }) {
      const b = blobsOf(storage);
      const name = uid('acl');
      await b.create(name, bytes('x'), { owner: 'alice', acl: ['u:bob:r'] });
      const m = await b.setAcl(name, ['u:carol:rw', 'o::r'], { expectedVersion: 1 });
      assert.deepEqual(m.acl, ['u:carol:rw', 'o::r']);
      assert.equal(m.version, 1);
      assert.deepEqual((await b.head(name))?.acl, ['u:carol:rw', 'o::r']);
      await rejectsWith(b.setAcl(name, ['u:bob:xyz']), 'STORAGE_INVALID_ARGUMENT');
      assert.deepEqual((await b.head(name))?.acl, ['u:carol:rw', 'o::r']);
    },
  },
  {
    group: G,
    name: 'invalid names, ACLs and options are STORAGE_INVALID_ARGUMENT and store nothing',
    needs: ['blobs'],
    async run({ storage }) {
      const b = blobsOf(storage);
      for (const bad of ['', '../etc', 'a/b', '.hidden', 'a\\b', 'x\u0000y', '..', 'a'.repeat(200)]) {
        await rejectsWith(b.create(bad, bytes('x'), { owner: 'alice' }), 'STORAGE_INVALID_ARGUMENT', `create ${JSON.stringify(bad)}`);
        await rejectsWith(b.get(bad), 'STORAGE_INVALID_ARGUMENT', `get ${JSON.stringify(bad)}`);
        await rejectsWith(b.head(bad), 'STORAGE_INVALID_ARGUMENT', `head ${JSON.stringify(bad)}`);
        await rejectsWith(b.delete(bad), 'STORAGE_INVALID_ARGUMENT', `delete ${JSON.stringify(bad)}`);
      }
      await rejectsWith(b.create('ok-name', bytes('x'), { owner: 'alice', acl: ['everyone:rwx'] }), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(b.create('ok-name', bytes('x'), { owner: '../root' }), 'STORAGE_INVALID_ARGUMENT');
      await rejectsWith(b.update('ok-name', bytes('x'), { expectedVersion: -1 }), 'STORAGE_INVALID_ARGUMENT');
      assert.equal(await b.head('ok-name'), undefined);
    },
  },
  {
    group: G,
    name: 'content that no longer hashes to its recorded digest fails the read with STORAGE_CORRUPT',
    needs: ['blobs'],
    async run({ storage, uid }) {
      const b = blobsOf(storage);
      const name = uid('tamper');
      await b.create(name, bytes('the real content'), { owner: 'alice' });
      // Behind the store's back, through the backend's own primitives: point version 1 at other bytes.
      const raw = blobBackendOf(b);
      assert.ok(raw, 'storage.blobs is built on backend primitives');
      const seq = Math.max(...(await raw.listRecords(name)));
      const record = JSON.parse(Buffer.from((await raw.readRecord(name, seq))!).toString()) as { seq: number; versions: Array<{ ref: string }> };
      const forged = await raw.writeContent(chunks(['the fake content']), {});
      record.seq = seq + 1;
      record.versions[0]!.ref = forged;
      await raw.createRecord(name, seq + 1, bytes(JSON.stringify(record)));
      const r = await b.get(name);
      await rejectsWith(collectBytes(r.body), 'STORAGE_CORRUPT');
    },
  },
  {
    group: G,
    name: 'another process over the same data sees creates, updates and deletes',
    needs: ['blobs', 'multiProcess'],
    timeoutMs: 60_000,
    async run({ storage, child, uid }) {
      const b = blobsOf(storage);
      const other = await child('multiProcess (blobs)');
      const name = uid('shared');
      await b.create(name, bytes('one'), { owner: 'alice' });
      assert.deepEqual(await other.send({ cmd: 'blob-read', name }), { found: true, version: 1, text: 'one' }, `blobs.get(${name}) in another process after create here`);
      const upd = await other.send({ cmd: 'blob-update', name, value: 'two', expectedVersion: 1 });
      assert.deepEqual(upd, { ok: true, version: 2 }, `blobs.update(${name}, "two", { expectedVersion: 1 }) in another process`);
      assert.equal((await b.head(name))?.version, 2, `blobs.head(${name}) here after the other process's update`);
      assert.equal(await read(b, name), 'two', `blobs.get(${name}) here after the other process's update`);
      await rejectsWith(b.update(name, bytes('stale'), { expectedVersion: 1 }), 'STORAGE_PRECONDITION_FAILED', `blobs.update(${name}, { expectedVersion: 1 }) here after version 2 was written elsewhere`);
      const stale = await other.send({ cmd: 'blob-update', name, value: 'stale', expectedVersion: 1 });
      assert.equal(stale.code, 'STORAGE_PRECONDITION_FAILED', `blobs.update(${name}, { expectedVersion: 1 }) in another process after version 2: ${JSON.stringify(stale)}`);
      await b.delete(name);
      assert.deepEqual(await other.send({ cmd: 'blob-read', name }), { found: false }, `blobs.head(${name}) in another process after delete here`);
    },
  },
  {
    group: G,
    name: 'a 256 MiB blob streams in and out in bounded memory',
    needs: ['blobs', 'boundedJarMemory'],
    timeoutMs: 180_000,
    async run({ storage, uid }) {
      const b = blobsOf(storage);
      const MiB = 1024 * 1024;
      const total = 256;
      const hash = createHash('sha256');
      async function* gen(): AsyncIterable<Uint8Array> {
        for (let i = 0; i < total; i++) {
          const c = Buffer.alloc(MiB, i & 0xff);
          hash.update(c);
          yield c;
        }
      }
      const name = uid('big');
      const base = process.memoryUsage().rss;
      let peak = base;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
      try {
        const m = await b.create(name, gen(), { owner: 'alice' });
        assert.equal(m.size, total * MiB);
        assert.equal(m.sha256, hash.digest('hex'));
        let n = 0;
        for await (const c of (await b.get(name)).body) n += c.byteLength;
        assert.equal(n, total * MiB);
      } finally {
        clearInterval(timer);
      }
      const growth = (peak - base) / MiB;
      // Same bound as the jar case: buffering whole needs at least the size.
      assert.ok(growth < (total * 3) / 4, `RSS grew by ${growth.toFixed(0)} MiB for a ${total} MiB blob: not streamed`);
    },
  },
];
