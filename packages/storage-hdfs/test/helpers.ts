// Test helpers: a real WebHDFS test server per suite, a fresh root per storage instance.
import { randomUUID } from 'node:crypto';
import { openStorage } from '@sluice/storage-api';
import type { Storage, StorageLogger } from '@sluice/storage-api';
import type { ConformanceInstance } from '@sluice/storage-api/conformance';
import hdfsModule, { WebHdfsClient, corruptAt } from '@sluice/storage-hdfs';
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
    corrupt: (target) => corruptAt(client, root, target),
    spec: { module: '@sluice/storage-hdfs', options: { url: server.nnUrl, root, timeoutMs: 10_000, ...extra } },
  };
}
