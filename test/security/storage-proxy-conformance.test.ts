// The storage-api conformance suite through the executors' storage proxy: a worker-side
// session over the reference (memory) backend, the executor-side backend over a real
// socket. The proxy must be invisible to the contract (scope "all": the scope checks have
// their own tests in storage-proxy-scope.test.ts).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, it } from 'vitest';
import pino from 'pino';
import { blobBackendOf, openStorage, type Storage } from '@sluice/storage-api';
import memoryModule, { dropVolume, namedVolume } from '@sluice/storage-api/memory';
import fsModule from '@sluice/storage-fs';
import { registerConformance } from '@sluice/storage-api/conformance';
import { openProxyStorage, StorageProxySession } from '@sluice/engine';

const dir = mkdtempSync(join(tmpdir(), 'slp-'));
const servers: Server[] = [];
const logger = pino({ level: 'silent' });

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

/** A proxy server over `storage` on a fresh unix socket; returns how to connect a client. */
// How the suite's child processes reach the proxy: the proxy module, by socket path.
const PROXY_MODULE = fileURLToPath(new URL('../../packages/engine/dist/runtime/storage-proxy-module.js', import.meta.url));

async function serve(storage: Storage, path = join(dir, `${servers.length}.sock`)): Promise<() => Promise<Storage>> {
  const server = createServer((sock) => new StorageProxySession(sock, { storage, logger }).bind({ kind: 'all' }));
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return async () => {
    const s = (await openProxyStorage(createConnection(path))).storage;
    // The blob tamper case reaches the primitives behind the store: here, the worker's.
    const raw = storage.blobs && blobBackendOf(storage.blobs);
    if (s.blobs && raw) Object.defineProperty(s.blobs, Symbol.for('@sluice/storage-api.blobBackend'), { value: raw });
    return s;
  };
}

registerConformance({ describe, it }, {
  name: 'proxy over memory',
  factory: async () => {
    const volume = `conf-${randomUUID()}`;
    const behind = await openStorage(memoryModule, { volume });
    const connect = await serve(behind);
    const opened: Storage[] = [];
    const open = async (): Promise<Storage> => {
      const s = await connect();
      opened.push(s);
      return s;
    };
    return {
      storage: await open(),
      reopen: open,
      destroy: async () => {
        for (const s of opened) await s.close();
        await behind.close();
        dropVolume(volume);
      },
      // Flips stored bytes behind the backend (as conformance.memory.test.ts does).
      corrupt: async (target) => {
        const app = namedVolume(volume).apps.get(target.appId)!;
        if ('jar' in target) {
          const blob = app.blobs.get(app.jars.get(target.jar)!.sha256)!;
          blob[0]! ^= 0xff;
        } else if ('config' in target) {
          const e = app.config.get(target.config)!;
          app.config.set(target.config, JSON.parse(JSON.stringify(e).replace(target.from, target.to)) as typeof e);
        } else if ('offsets' in target) {
          const e = app.offsets.get(target.offsets)!.entries.find((x) => x.t === target.t)!;
          e.value[e.value.length - 1]! ^= 0xff;
        } else {
          const cp = app.checkpoints.get(target.store)!.committed.find((c) => c.t === target.t)!;
          const ref = cp.parts.find((p) => p.name === target.part)!.ref;
          app.checkpoints.get(target.store)!.staged.get(ref)![0]! ^= 0xff;
        }
      },
    };
  },
});

// Over the fs store the cross-process cases run too: children open the proxy module on the
// same socket, so racing commits from four processes meet the policy on the worker's side.
registerConformance({ describe, it }, {
  name: 'proxy over fs',
  factory: async () => {
    const root = mkdtempSync(join(dir, 'fs-'));
    const behind = await openStorage(fsModule, { root });
    const socketPath = join(dir, `fs-${servers.length}.sock`);
    const connect = await serve(behind, socketPath);
    const opened: Storage[] = [];
    const open = async (): Promise<Storage> => {
      const s = await connect();
      opened.push(s);
      return s;
    };
    return {
      storage: await open(),
      reopen: open,
      destroy: async () => {
        for (const s of opened) await s.close();
        await behind.close();
        rmSync(root, { recursive: true, force: true });
      },
      corrupt: async (target) => fsModule.testHooks!.corrupt(behind, target),
      spec: { module: PROXY_MODULE, options: { socketPath } },
    };
  },
});
