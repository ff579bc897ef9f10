// floor/lookUp/get cost a bounded number of WebHDFS requests whatever the store size:
// one LISTSTATUS of the store directory locates the segment (names carry first/last t),
// then one two-step OPEN reads it. Counted with the server's request counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage } from '@sluice/storage-api';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { COMPACT_AT_SEGMENTS } from '@sluice/storage-hdfs';
import { freshRoot, openHdfs, rawClient } from './helpers.js';

let server: WebHdfsServer;
beforeAll(async () => {
  server = await startWebHdfsServer({ lsLimit: 2 });
});
afterAll(async () => {
  await server?.stop();
});

function requests(): number {
  return server.stats.namenode.requests + server.stats.datanode.requests;
}

/** Requests one call makes, on a fresh instance (no cache). */
async function cost(root: string, fn: (s: Storage) => Promise<unknown>): Promise<number> {
  const s = await openHdfs(server, root);
  try {
    const before = requests();
    await fn(s);
    return requests() - before;
  } finally {
    await s.close();
  }
}

describe('bounded requests', () => {
  for (const size of [5, 120]) {
    it(`offsets floor/lookUp/get with ${size} segments take at most 3 requests`, async () => {
      const root = freshRoot();
      const s = await openHdfs(server, root);
      const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
      const w = await app.offsets('src').writer(1);
      for (let i = 1; i <= size; i++) await w.appendBatch([{ t: i * 10, value: Buffer.from(`a${i}`) }, { t: i * 10 + 5, value: Buffer.from(`b${i}`) }]);
      await s.close();
      const mid = Math.floor(size / 2) * 10 + 7;
      const appOf = async (x: Storage) => (await x.getAppStorage('app1'))!.offsets('src');
      // getAppStorage itself costs a meta read; measure it apart and subtract.
      const base = await cost(root, (x) => appOf(x));
      const floor = (await cost(root, async (x) => expect(Buffer.from((await (await appOf(x)).floor(mid))!.value).toString()).toMatch(/^b/))) - base;
      const lookUp = (await cost(root, async (x) => expect((await (await appOf(x)).lookUp(mid)).status).toBe('found'))) - base;
      const under = (await cost(root, async (x) => expect((await (await appOf(x)).lookUp(1)).status).toBe('underflow'))) - base;
      const get = (await cost(root, async (x) => expect(await (await appOf(x)).get(mid - 2)).toBeDefined())) - base;
      expect(floor).toBeLessThanOrEqual(3);
      expect(lookUp).toBeLessThanOrEqual(3);
      expect(under).toBeLessThanOrEqual(3);
      expect(get).toBeLessThanOrEqual(3);
    });
  }

  it('checkpoint floor/lookUp take at most 3 requests; a commit 4, or 6 with retention', async () => {
    const root = freshRoot();
    const s = await openHdfs(server, root);
    const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
    const w = await app.checkpoints('cp', { numRetained: 100 }).writer(1);
    for (let i = 1; i <= 30; i++) await w.append(i * 100, Buffer.from(`s${i}`));
    const part = await w.stage(5000, 'state', Buffer.from('x'));
    const before = requests();
    await w.commit(5000, [part]);
    // LISTSTATUS _commits (fence + index), CREATE (NN + DN), RENAME NONE.
    expect(requests() - before).toBeLessThanOrEqual(4);
    const rw = await app.checkpoints('kept', { numRetained: 2 }).writer(1);
    for (let i = 1; i <= 3; i++) await rw.append(i, Buffer.from('x'));
    const p2 = await rw.stage(4, 'state', Buffer.from('y'));
    const before2 = requests();
    await rw.commit(4, [p2]);
    // + DELETE of the dropped manifest and of its parts directory.
    expect(requests() - before2).toBeLessThanOrEqual(6);
    expect((await app.checkpoints('kept').range(0, 100)).map((c) => c.t)).toEqual([3, 4]);
    await s.close();
    const appOf = async (x: Storage) => (await x.getAppStorage('app1'))!.checkpoints('cp', { numRetained: 100 });
    const base = await cost(root, (x) => appOf(x));
    expect((await cost(root, async (x) => expect((await (await appOf(x)).floor(1550))!.t).toBe(1500))) - base).toBeLessThanOrEqual(3);
    expect((await cost(root, async (x) => expect((await (await appOf(x)).lookUp(1550)).status).toBe('found'))) - base).toBeLessThanOrEqual(3);
  });

  it('a commit of parts another handle staged (new and shared with earlier checkpoints) makes no request per part or staging directory', async () => {
    const root = freshRoot();
    const s = await openHdfs(server, root);
    const other = await openHdfs(server, root);
    try {
      const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
      const cps = app.checkpoints('inc', { numRetained: 100 });
      const w = await cps.writer(1);
      const stager = (await other.getAppStorage('app1'))!.checkpoints('inc', { numRetained: 100 }).stager(1);
      const base = await stager.stage(1, 'base', Buffer.from('base'));
      const costs: number[] = [];
      for (const t of [1, 2, 3, 4]) {
        const parts = [base];
        for (let i = 0; i < 20; i++) parts.push(await stager.stage(t, `d${i}`, Buffer.from(`${t}/${i}`)));
        const before = requests();
        await w.commit(t, parts);
        costs.push(requests() - before);
      }
      // LISTSTATUS _commits, CREATE (NN + DN), RENAME NONE: was + one LISTSTATUS per staging directory.
      for (const c of costs) expect(c).toBeLessThanOrEqual(4);
      expect(Buffer.from(await cps.readPart(4, 'base')).toString()).toBe('base');
      const p = await stager.stage(5, 'p', Buffer.from('p'));
      await expect(w.commit(5, [{ ...p, size: 2 }])).rejects.toMatchObject({ code: 'STORAGE_INVALID_ARGUMENT' });
    } finally {
      await other.close();
      await s.close();
    }
  });

  it('400 single appends: segments are compacted, so the listing and an append cost stay flat', async () => {
    const root = freshRoot();
    const s = await openHdfs(server, root);
    const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
    const store = app.offsets('src');
    const w = await store.writer(1);
    const costs: number[] = [];
    for (let i = 1; i <= 400; i++) {
      const before = requests();
      await w.append(i * 10, Buffer.from(`v${i}`));
      costs.push(requests() - before);
    }
    const client = rawClient(server);
    const files = ((await client.list(`${root}/apps/app1/offsets/src`)) ?? []).filter((f) => f.pathSuffix.startsWith('s.'));
    await client.close();
    // One merged file per 32 appends would be 12; compaction keeps one plus the tail.
    expect(files.length).toBeLessThanOrEqual(COMPACT_AT_SEGMENTS);
    const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
    // Requests per append over the last 100 vs the first 100 (compactions included).
    expect(mean(costs.slice(-100)) / mean(costs.slice(0, 100))).toBeLessThanOrEqual(1.2);
    expect((await store.range(0, Number.POSITIVE_INFINITY)).map((e) => e.t)).toEqual(Array.from({ length: 400 }, (_, i) => (i + 1) * 10));
    await s.close();
  });
});
