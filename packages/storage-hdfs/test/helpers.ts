// Test helpers: a real WebHDFS test server per suite, a fresh root per storage instance.
import { randomUUID } from 'node:crypto';
import { openStorage } from '@sluice/storage-api';
import type { Storage, StorageLogger } from '@sluice/storage-api';
import type { ConformanceInstance, CorruptTarget } from '@sluice/storage-api/conformance';
import hdfsModule, { WebHdfsClient } from '@sluice/storage-hdfs';
import type { HdfsOptionsInput } from '@sluice/storage-hdfs';
import type { WebHdfsServer } from '@sluice/webhdfs-test-server';

const noop = (): void => {};
export const quietLogger: StorageLogger = { debug: noop, info: noop, warn: noop, error: noop };

export function freshRoot(): string {
  return `/sluice-test/${randomUUID()}`;
}

export function rawClient(server: WebHdfsServer, user = 'sluice'): WebHdfsClient {
  return new WebHdfsClient({ urls: [server.nnUrl], user, hostMap: {}, timeoutMs: 10_000, maxAttempts: 3, expectContinue: false, logger: quietLogger });
}

export async function openHdfs(server: WebHdfsServer, root: string, extra: Partial<HdfsOptionsInput> = {}): Promise<Storage> {
  return openStorage(hdfsModule, { url: server.nnUrl, root, timeoutMs: 10_000, ...extra }, { logger: quietLogger });
}

function flip(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  if (out.length > 0) out[out.length >> 1]! ^= 0xff;
  return out;
}

/** Rewrites stored bytes behind the backend's back (verify-on-read cases). */
export async function corrupt(client: WebHdfsClient, root: string, target: CorruptTarget): Promise<void> {
  const app = `${root}/apps/${target.appId}`;
  let path: string;
  if ('jar' in target) {
    const rec = JSON.parse((await client.readAll(`${app}/jars/names/${target.jar}`)).toString()) as { sha256: string };
    path = `${app}/jars/blobs/${rec.sha256}`;
  } else {
    const m = JSON.parse((await client.readAll(`${app}/checkpoints/${target.store}/_commits/${String(target.t).padStart(20, '0')}`)).toString()) as {
      parts: Array<{ name: string; ref: string }>;
    };
    path = `${app}/checkpoints/${target.store}/parts/${m.parts.find((p) => p.name === target.part)!.ref}`;
  }
  const bytes = flip(await client.readAll(path));
  await client.create(path, bytes, { overwrite: true, permission: '600' });
}

/** A conformance instance: its own root on a shared server. */
export async function instance(server: WebHdfsServer, extra: Partial<HdfsOptionsInput> = {}): Promise<ConformanceInstance> {
  const root = freshRoot();
  const opened: Storage[] = [];
  const open = async (): Promise<Storage> => {
    const s = await openHdfs(server, root, extra);
    opened.push(s);
    return s;
  };
  const client = rawClient(server);
  return {
    storage: await open(),
    reopen: open,
    destroy: async () => {
      for (const s of opened) await s.close();
      await client.delete(root, true).catch(() => undefined);
      await client.close();
    },
    corrupt: (target) => corrupt(client, root, target),
  };
}
