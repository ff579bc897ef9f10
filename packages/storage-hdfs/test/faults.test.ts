// Fault suite against the real WebHDFS test server: DataNode death mid-upload, standby
// failover, safe mode, unresolvable DataNode host names, random failures. After each:
// nothing acknowledged is lost and nothing partial is visible.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isStorageError, withRetry, type Storage } from '@sluice/storage-api';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { freshRoot, openHdfs, rawClient } from './helpers.js';

const MiB = 1024 * 1024;

async function* chunks(n: number, size = 256 * 1024, fill = 7): AsyncIterable<Uint8Array> {
  for (let i = 0; i < n; i++) yield Buffer.alloc(size, (fill + i) & 0xff);
}

async function collect(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of src) out.push(c);
  return Buffer.concat(out);
}

/** Every file under `dir`, recursively (bounded). */
async function walk(server: WebHdfsServer, dir: string): Promise<Array<{ path: string; length: number }>> {
  const client = rawClient(server);
  const out: Array<{ path: string; length: number }> = [];
  const todo = [dir];
  try {
    for (let i = 0; i < 10_000 && todo.length > 0; i++) {
      const d = todo.pop()!;
      for (const s of (await client.list(d)) ?? []) {
        const p = `${d}/${s.pathSuffix}`;
        if (s.type === 'DIRECTORY') todo.push(p);
        else out.push({ path: p, length: s.length });
      }
    }
  } finally {
    await client.close();
  }
  return out;
}

let server: WebHdfsServer;
const opened: Storage[] = [];
async function open(root = freshRoot(), extra: Parameters<typeof openHdfs>[2] = {}): Promise<Storage> {
  const s = await openHdfs(server, root, { maxAttempts: 3, ...extra });
  opened.push(s);
  return s;
}

beforeAll(async () => {
  server = await startWebHdfsServer({ lsLimit: 2 });
});
afterEach(async () => {
  server.resetFaults();
  for (const s of opened.splice(0)) await s.close();
});
afterAll(async () => {
  await server?.stop();
});

describe('DataNode dies mid-upload', () => {
  for (const keepsLease of [false, true]) {
    it(`a jar upload fails transiently, leaves no jar and no committed blob (lease ${keepsLease ? 'orphaned' : 'closed'})`, async () => {
      const root = freshRoot();
      const s = await open(root);
      const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
      server.faults.dnDieKeepsLease = keepsLease;
      server.faults.dnDieAfterBytes = 1 * MiB;
      const err = await app.jars.put('big.js', chunks(16)).catch((e: unknown) => e);
      expect(isStorageError(err) && err.transient).toBe(true);
      expect(server.stats.abortedUploads).toBeGreaterThan(0);
      expect(await app.jars.stat('big.js')).toBeUndefined();
      expect(await app.jars.list()).toEqual([]);
      // A partial file may be left by the DataNode, but only under a temp name.
      for (const f of await walk(server, `${root}/apps/app1/jars`)) expect(f.path.split('/').pop()!.startsWith('_tmp.')).toBe(true);
      server.faults.dnDieAfterBytes = null;
      const info = await app.jars.put('big.js', chunks(16));
      expect(info.size).toBe(4 * MiB);
      expect((await collect(await app.jars.get('big.js'))).equals(await collect(chunks(16)))).toBe(true);
    });
  }

  it('a checkpoint part upload restarts into a fresh temp path once the DataNode is back', async () => {
    const s = await open();
    const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
    const w = await app.checkpoints('cp').writer(1);
    server.faults.dnDieAfterBytes = 64 * 1024;
    const state = Buffer.alloc(256 * 1024, 3);
    await expect(w.append(10, state)).rejects.toMatchObject({ transient: true });
    expect(await app.checkpoints('cp').last()).toBeUndefined();
    server.faults.dnDieAfterBytes = null;
    await w.append(10, state);
    expect(Buffer.from(await app.checkpoints('cp').readPart(10, 'state')).equals(state)).toBe(true);
  });
});

describe('NameNode HA', () => {
  it('fails over from a standby NameNode to the next url', async () => {
    const standby = await startWebHdfsServer();
    try {
      standby.setStandby(true);
      const root = freshRoot();
      const s = await openHdfs(server, root, { url: undefined, urls: [standby.nnUrl, server.nnUrl] });
      opened.push(s);
      const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
      const w = await app.offsets('src').writer(1);
      await w.append(5, Buffer.from('five'));
      expect(Buffer.from((await app.offsets('src').get(5))!.value).toString()).toBe('five');
      expect(standby.stats.namenode.byStatus['403']).toBeGreaterThan(0);
      // The data is on the active NameNode.
      const files = await walk(server, `${root}/apps/app1/offsets/src`);
      expect(files.some((f) => f.path.endsWith('/s.00000000000000000005.00000000000000000005.1'))).toBe(true);
    } finally {
      await standby.stop();
    }
  });

  it('with only a standby NameNode, calls fail with a transient STORAGE_UNAVAILABLE', async () => {
    const s = await open();
    server.setStandby(true);
    await expect(s.listApps()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', transient: true });
    server.setStandby(false);
    expect(await s.listApps()).toEqual([]);
  });
});

describe('safe mode', () => {
  it('writes fail transiently, reads work, and writes resume when safe mode ends', async () => {
    const s = await open();
    const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
    const w = await app.offsets('src').writer(1);
    await w.append(1, Buffer.from('one'));
    server.setSafeMode(true);
    await expect(w.append(2, Buffer.from('two'))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', transient: true });
    expect(Buffer.from((await app.offsets('src').last())!.value).toString()).toBe('one');
    server.setSafeMode(false);
    await w.append(2, Buffer.from('two'));
    expect((await app.offsets('src').range(0, 10)).map((e) => e.t)).toEqual([1, 2]);
  });
});

describe('DataNode host names', () => {
  it('a redirect to an unresolvable host fails, and the host map fixes it', async () => {
    server.faults.redirectHost = 'datanode.invalid';
    const root = freshRoot();
    const bad = await open(root);
    await expect(bad.createAppStorage('a', 'app1', { owner: 'alice' })).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    const good = await open(root, { dataNodeHostMap: { 'datanode.invalid': '127.0.0.1' } });
    const app2 = await good.createAppStorage('a', 'app1', { owner: 'alice' });
    await app2.jars.put('a.js', Buffer.from('console.log(1)'));
    expect((await collect(await app2.jars.get('a.js'))).toString()).toBe('console.log(1)');
  });
});

describe('random failures (10%)', () => {
  it('a mixed workload under injected failures loses nothing acknowledged and shows nothing partial', async () => {
    const root = freshRoot();
    const s = await open(root);
    const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
    server.faults.failSeed = 42;
    server.faults.failRate = 0.1;
    const retry = <T>(fn: () => Promise<T>): Promise<T> => withRetry(fn, { attempts: 12, baseDelayMs: 5, maxDelayMs: 50 });
    const offsets = await retry(() => app.offsets('src').writer(1));
    const ckpt = await retry(() => app.checkpoints('cp', { numRetained: 100 }).writer(1));
    const acked = { offsets: [] as number[], checkpoints: [] as number[], jars: [] as string[], config: 0 };
    for (let i = 1; i <= 30; i++) {
      const t = i * 10;
      // Callers retry transient failures idempotently: re-appending the last entry and
      // re-committing the identical checkpoint are no-ops.
      await retry(() => offsets.append(t, Buffer.from(`off-${t}`))).then(() => acked.offsets.push(t), () => undefined);
      const part = await retry(() => ckpt.stage(t, 'state', Buffer.from(`state-${t}`))).catch(() => undefined);
      if (part) await retry(() => ckpt.commit(t, [part])).then(() => acked.checkpoints.push(t), () => undefined);
      if (i % 5 === 0) await retry(() => app.jars.put(`j${i}.js`, Buffer.from(`jar-${i}`))).then(() => acked.jars.push(`j${i}.js`), () => undefined);
      if (i % 3 === 0) await retry(() => app.config.set('proc', { i })).then((e) => (acked.config = e.version), () => undefined);
    }
    expect(server.stats.injectedFaults).toBeGreaterThan(10);
    server.faults.failRate = 0;
    expect(acked.offsets.length).toBeGreaterThan(20);

    const off = await app.offsets('src').range(0, 1_000_000);
    for (const t of acked.offsets) expect(Buffer.from(off.find((e) => e.t === t)!.value).toString()).toBe(`off-${t}`);
    for (const e of off) expect(Buffer.from(e.value).toString()).toBe(`off-${e.t}`);
    const cps = app.checkpoints('cp', { numRetained: 100 });
    for (const t of acked.checkpoints) expect(Buffer.from(await cps.readPart(t, 'state')).toString()).toBe(`state-${t}`);
    for (const name of acked.jars) expect((await collect(await app.jars.get(name))).toString()).toBe(`jar-${name.slice(1, -3)}`);
    expect((await app.jars.list()).every((j) => /^j\d+\.js$/.test(j.name))).toBe(true);
    if (acked.config > 0) expect((await app.config.get('proc'))!.version).toBeGreaterThanOrEqual(acked.config);
    // No committed-looking file holds partial content: every segment and manifest parses.
    const client = rawClient(server);
    try {
      for (const f of await walk(server, `${root}/apps/app1`)) {
        const name = f.path.split('/').pop()!;
        if (name.startsWith('_tmp.')) continue;
        if (/^s\.\d{20}\.\d{20}\.\d+$/.test(name) || /\/_commits\/\d{20}$/.test(f.path)) {
          JSON.parse((await client.readAll(f.path)).toString());
        }
      }
    } finally {
      await client.close();
    }
  });
});

describe('temp files of dead writers', () => {
  it('are never read as data, and opening a writer sweeps those older than an hour', async () => {
    const root = freshRoot();
    const s = await open(root);
    const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
    await (await app.offsets('src').writer(1)).append(1, Buffer.from('one'));
    const dir = `${root}/apps/app1/offsets/src`;
    const client = rawClient(server);
    try {
      // What a writer killed mid-upload leaves behind.
      await client.create(`${dir}/_tmp.s.00000000000000000002.00000000000000000002.1.old`, Buffer.from('{"v":1,"e":[[2,'), { permission: '600' });
      await client.create(`${dir}/_tmp.s.00000000000000000003.00000000000000000003.1.new`, Buffer.from('{"v":1,"e":[[3,'), { permission: '600' });
      const old = Date.now() - 2 * 3_600_000;
      const r = await fetch(`${server.nnUrl}/webhdfs/v1${dir}/_tmp.s.00000000000000000002.00000000000000000002.1.old?op=SETTIMES&modificationtime=${old}&accesstime=-1&user.name=sluice`, { method: 'PUT' });
      expect(r.status).toBe(200);
      expect((await app.offsets('src').range(0, 100)).map((e) => e.t)).toEqual([1]);
      expect((await app.offsets('src').last())!.t).toBe(1);
      await app.offsets('src').writer(2);
      const names = ((await client.list(dir)) ?? []).map((f) => f.pathSuffix);
      expect(names.some((n) => n.endsWith('.old'))).toBe(false);
      expect(names.some((n) => n.endsWith('.new'))).toBe(true);
    } finally {
      await client.close();
    }
  });
});
