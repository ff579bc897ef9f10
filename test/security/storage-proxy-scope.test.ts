// The storage proxy's scope, over a real socket and the fs store: an executor of app A reads
// and writes A's sub-stores, reads (only reads) the app it starts from, reads the blobs its
// config maps, and gets STORAGE_PERMISSION_DENIED for everything else.
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { isStorageError, openStorage, type Storage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
import { appScope, openProxyStorage, StorageProxySession } from '@sluice/engine';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
let dir: string;
let direct: Storage;
let server: Server;
let proxied: Storage;

async function denied(p: Promise<unknown> | (() => Promise<unknown>)): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (isStorageError(err, 'STORAGE_PERMISSION_DENIED')) return;
    throw err;
  }
  throw new Error('expected STORAGE_PERMISSION_DENIED, but it succeeded');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'slp-scope-'));
  direct = await openStorage(fsModule, { root: join(dir, 'store') });
  const a = await direct.createAppStorage('a', 'app-a', { owner: 'alice' });
  const config = { blobs: { dict: { localName: 'dict.txt' } }, startFrom: { app: 'app-old', t: 1 } };
  await a.config.set('_app', config); // APP_CONFIG_ID: the worker reads the scope from it
  const old = await direct.createAppStorage('old', 'app-old', { owner: 'alice' });
  await (await old.offsets('src').writer(1)).append(1, enc('old-offset'));
  await direct.createAppStorage('other', 'app-other', { owner: 'bob' });
  await direct.blobs!.create('dict', enc('words'), { owner: 'alice' });
  await direct.blobs!.create('secret-blob', enc('nope'), { owner: 'bob' });
  const logger = pino({ level: 'silent' });
  const sock = join(dir, 'p.sock');
  server = createServer((s) => new StorageProxySession(s, { storage: direct, logger }).bind(appScope('app-a', config)));
  await new Promise<void>((r) => server.listen(sock, r));
  proxied = (await openProxyStorage(createConnection(sock))).storage;
});

afterAll(async () => {
  await proxied?.close();
  await new Promise((r) => server?.close(r));
  await direct?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('storage proxy scope (app-a, starting from app-old, mapping blob dict)', () => {
  it('its own app: offsets, checkpoints, logs, metrics and config work; metadata and artifacts are read-only', async () => {
    const a = (await proxied.getAppStorage('app-a'))!;
    const w = await a.offsets('src').writer(1);
    await w.append(5, enc('x'));
    expect((await a.offsets('src').last())?.t).toBe(5);
    const cw = await a.checkpoints('state').writer(1);
    const part = await a.checkpoints('state').stager(1).stage(7, 'p', enc('state'));
    await cw.commit(7, [part]);
    expect(Buffer.from(await a.checkpoints('state').readPart(7, 'p')).toString()).toBe('state');
    await a.logs.append([{ ts: Date.now(), level: 'info', msg: 'hello', labels: {} }]);
    await a.metrics.write([{ name: 'm', labels: {}, ts: Date.now(), value: 1, kind: 'gauge' }]);
    await a.config.set('proc', { k: 1 });
    expect((await a.meta()).appId).toBe('app-a');
    await denied(a.updateMeta({ status: 'killed' }));
    await denied(a.jars.put('evil.mjs', enc('x')));
    await a.close();
    // Written through the proxy, read directly: the same data.
    expect((await (await direct.getAppStorage('app-a'))!.offsets('src').last())?.t).toBe(5);
  });

  it('the app it starts from: reads only', async () => {
    const old = (await proxied.getAppStorage('app-old'))!;
    expect(Buffer.from((await old.offsets('src').get(1))!.value).toString()).toBe('old-offset');
    await denied(old.offsets('src').writer(2));
    await denied(old.config.set('x', 1));
    await denied(old.logs.append([{ ts: Date.now(), level: 'info', msg: 'x', labels: {} }]));
    await old.close();
  });

  it('another app, the app list, creating and deleting apps: refused', async () => {
    await denied(proxied.getAppStorage('app-other'));
    await denied(proxied.listApps());
    await denied(proxied.deleteAppStorage('app-other'));
    await denied(proxied.createAppStorage('evil', 'app-evil', { owner: 'mallory' }));
    expect(await direct.getAppStorage('app-other')).toBeDefined();
  });

  it('blobs: head and get of the mapped blob; nothing else', async () => {
    const b = proxied.blobs!;
    expect((await b.head('dict'))?.version).toBe(1);
    const got = await b.get('dict');
    const chunks: Uint8Array[] = [];
    for await (const c of got.body) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe('words');
    await denied(b.head('secret-blob'));
    await denied(b.get('secret-blob'));
    await denied(b.list());
    await denied(b.update('dict', enc('overwritten')));
    await denied(b.create('new-blob', enc('x'), { owner: 'mallory' }));
    await denied(b.delete('dict'));
  });
});
