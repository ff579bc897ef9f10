import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assert, bytes, rejectsWith, type ConformanceCase } from '../harness.js';
import { collectBytes } from '../../util/bytes.js';

async function* chunks(parts: string[], failAfter?: number): AsyncIterable<Uint8Array> {
  let i = 0;
  for (const p of parts) {
    if (failAfter !== undefined && i++ === failAfter) throw new Error('source broke');
    yield Buffer.from(p);
  }
}

const sha = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');

export const jarCases: ConformanceCase[] = [
  {
    group: 'jars',
    name: 'put streams chunks in; get streams them out; stat and list agree',
    async run({ app }) {
      const a = await app();
      const parts = ['export default ', 'function () {', ' return 42 }'];
      const info = await a.jars.put('app.js', chunks(parts));
      const all = parts.join('');
      assert.equal(info.sha256, sha(all));
      assert.equal(info.size, Buffer.byteLength(all));
      assert.equal((await collectBytes(await a.jars.get('app.js'))).toString(), all);
      assert.deepEqual(await a.jars.stat('app.js'), info);
      assert.deepEqual((await a.jars.list()).map((j) => j.name), ['app.js']);
      const empty = await a.jars.put('empty.js', new Uint8Array(0));
      assert.equal(empty.size, 0);
      assert.equal((await collectBytes(await a.jars.get('empty.js'))).length, 0);
    },
  },
  {
    group: 'jars',
    name: 'identical content is deduplicated but names stay independent',
    async run({ app }) {
      const a = await app();
      const x = await a.jars.put('a.js', bytes('same'));
      const y = await a.jars.put('b.js', bytes('same'));
      assert.equal(x.sha256, y.sha256);
      await a.jars.delete('a.js');
      assert.equal(await a.jars.stat('a.js'), undefined);
      assert.equal((await collectBytes(await a.jars.get('b.js'))).toString(), 'same');
    },
  },
  {
    group: 'jars',
    name: 'replacing a name points it at the new content',
    async run({ app }) {
      const a = await app();
      await a.jars.put('a.js', bytes('v1'));
      const v2 = await a.jars.put('a.js', bytes('v2!'));
      assert.equal(v2.sha256, sha('v2!'));
      assert.equal((await collectBytes(await a.jars.get('a.js'))).toString(), 'v2!');
      assert.equal((await a.jars.list()).length, 1);
    },
  },
  {
    group: 'jars',
    name: 'missing jars: get/delete → STORAGE_NOT_FOUND, stat → undefined',
    async run({ app }) {
      const a = await app();
      await rejectsWith(a.jars.get('nope.js'), 'STORAGE_NOT_FOUND');
      await rejectsWith(a.jars.delete('nope.js'), 'STORAGE_NOT_FOUND');
      assert.equal(await a.jars.stat('nope.js'), undefined);
    },
  },
  {
    group: 'jars',
    name: 'a put whose content does not match expectedSha256 is STORAGE_CORRUPT and leaves nothing',
    async run({ app }) {
      const a = await app();
      await rejectsWith(a.jars.put('a.js', bytes('abc'), { expectedSha256: sha('xyz') }), 'STORAGE_CORRUPT');
      assert.equal(await a.jars.stat('a.js'), undefined);
      const ok = await a.jars.put('a.js', bytes('abc'), { expectedSha256: sha('abc') });
      assert.equal(ok.sha256, sha('abc'));
    },
  },
  {
    group: 'jars',
    name: 'a put whose source fails midway is atomic: old content intact, no new name',
    async run({ app }) {
      const a = await app();
      await a.jars.put('keep.js', bytes('old'));
      await assert.rejects(a.jars.put('keep.js', chunks(['n', 'e', 'w'], 2)));
      assert.equal((await collectBytes(await a.jars.get('keep.js'))).toString(), 'old');
      await assert.rejects(a.jars.put('fresh.js', chunks(['n', 'e', 'w'], 1)));
      assert.equal(await a.jars.stat('fresh.js'), undefined);
      assert.deepEqual((await a.jars.list()).map((j) => j.name), ['keep.js']);
    },
  },
  {
    group: 'jars',
    name: 'an aborted put is STORAGE_ABORTED and leaves nothing',
    async run({ app }) {
      const a = await app();
      const ac = new AbortController();
      async function* slow(): AsyncIterable<Uint8Array> {
        yield Buffer.from('first');
        ac.abort();
        await new Promise((r) => setTimeout(r, 20));
        yield Buffer.from('second');
      }
      await rejectsWith(a.jars.put('ab.js', slow(), { signal: ac.signal }), 'STORAGE_ABORTED');
      assert.equal(await a.jars.stat('ab.js'), undefined);
    },
  },
  {
    group: 'jars',
    name: 'delete and replace are refused while the running app uses the jar',
    async run({ app }) {
      const a = await app();
      await a.jars.put('app.js', bytes('code'));
      await a.updateMeta({ status: 'running', jar: 'app.js' });
      await rejectsWith(a.jars.delete('app.js'), 'STORAGE_IN_USE');
      await rejectsWith(a.jars.put('app.js', bytes('other')), 'STORAGE_IN_USE');
      await a.jars.put('other.js', bytes('fine'));
      await a.updateMeta({ status: 'stopped' });
      await a.jars.delete('app.js');
    },
  },
  {
    group: 'jars',
    name: 'copyFromLocal / copyToLocal round-trip with progress',
    async run({ app }) {
      const a = await app();
      const dir = await mkdtemp(join(tmpdir(), 'sluice-conf-'));
      try {
        const data = Buffer.alloc(3 * 1024 * 1024 + 7, 7);
        data.write('header');
        await writeFile(join(dir, 'in.bin'), data);
        const seen: number[] = [];
        const info = await a.jars.copyFromLocal(join(dir, 'in.bin'), 'big.bin', { onProgress: (d) => seen.push(d) });
        assert.equal(info.size, data.length);
        assert.equal(info.sha256, sha(data));
        assert.ok(seen.length > 0 && seen[seen.length - 1] === data.length, 'progress reaches the size');
        assert.ok(seen.every((v, i) => i === 0 || v >= seen[i - 1]!), 'progress is monotonic');
        await a.jars.copyToLocal('big.bin', join(dir, 'sub', 'out.bin'));
        assert.ok((await readFile(join(dir, 'sub', 'out.bin'))).equals(data));
        await rejectsWith(a.jars.copyFromLocal(join(dir, 'absent.bin'), 'x.bin'), 'STORAGE_NOT_FOUND');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
  {
    group: 'jars',
    name: 'corrupt stored content is STORAGE_CORRUPT on read, and copyToLocal leaves no file',
    async run({ app, instance }) {
      assert.ok(instance.corrupt, 'the conformance instance must provide corrupt() (verify-on-read is part of the contract)');
      const a = await app();
      await a.jars.put('c.js', bytes('content that will rot'));
      await instance.corrupt({ appId: a.appId, jar: 'c.js' });
      await rejectsWith(async () => collectBytes(await a.jars.get('c.js')), 'STORAGE_CORRUPT');
      const dir = await mkdtemp(join(tmpdir(), 'sluice-conf-'));
      try {
        await rejectsWith(a.jars.copyToLocal('c.js', join(dir, 'c.js')), 'STORAGE_CORRUPT');
        await assert.rejects(readFile(join(dir, 'c.js')));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
  {
    group: 'jars',
    name: 'a 256 MiB jar streams in and out in bounded memory (peak RSS of a separate process)',
    needs: ['boundedJarMemory'],
    timeoutMs: 180_000,
    async run({ uid, inChild }) {
      const total = 256;
      // A fresh process: its baseline is its own, not whatever the runner held before.
      const r = await inChild({ cmd: 'jar-rss', appId: uid('app-jar-rss'), mib: total }, 'boundedJarMemory');
      assert.equal(r.size, total * 1024 * 1024, 'jars.put size');
      assert.equal(r.sha256, r.expectedSha256, 'jars.put sha256');
      assert.equal(r.readBack, total * 1024 * 1024, 'bytes read back by jars.get');
      const growth = r.growthMiB as number;
      // Buffering the jar whole needs at least its size; streaming needs the backend's
      // buffers plus garbage the GC has not yet returned (seen up to half the size on a
      // loaded machine with S3 multipart queues). Three quarters separates the two.
      assert.ok(growth < (total * 3) / 4, `jars.put + jars.get of a ${total} MiB jar grew a fresh process's RSS by ${growth.toFixed(0)} MiB (limit ${(total * 3) / 4}): not streamed`);
    },
  },
];
