/**
 * A worker's side of its executors' storage: the worker opens the cluster's store once
 * (it holds the credentials) and serves each executor over the socket it handed the child
 * at spawn, scoped to the executor's app (runtime/storage-proxy-scope.ts).
 */
import type { Duplex } from 'node:stream';
import { openConfiguredStorage, type Storage, type StorageConfig } from '@sluice/storage-api';
import type { Logger } from 'pino';
import { StorageProxySession } from '../runtime/storage-proxy-server.js';
import { appScope } from '../runtime/storage-proxy-scope.js';
import { APP_CONFIG_ID } from './master.js';

/**
 * What an executor inherits of the worker's environment: everything but credentials (the
 * worker's token, storage configuration, cloud keys, anything named like a secret). The
 * worker sets the executor's own SLUICE_* variables on top.
 */
const SECRET_ENV = /^(SLUICE_TOKEN|SLUICE_STORAGE|SLUICE_DAEMON_TOKEN|AWS_(?!SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED$).*)$|SECRET|PASSWORD|PASSWD|CREDENTIAL|TOKEN|PRIVATE_KEY|ACCESS_KEY/i;

export function executorBaseEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !SECRET_ENV.test(k)));
}

export class WorkerStorageProxy {
  #storage: Promise<Storage> | undefined;
  readonly #sessions = new Set<StorageProxySession>();

  constructor(private readonly config: StorageConfig, private readonly baseDir: string, private readonly logger: Logger) {}

  #open(): Promise<Storage> {
    this.#storage ??= openConfiguredStorage(this.config, { baseDir: this.baseDir, context: { logger: this.logger }, require: ['multiProcess'] }).catch((err: unknown) => {
      this.#storage = undefined; // the next launch tries again
      throw err;
    });
    return this.#storage;
  }

  /** A session on the worker's end of a child's socket; it answers nothing until bound. */
  attach(socket: Duplex): Promise<StorageProxySession> {
    return this.#open().then((storage) => {
      const s = new StorageProxySession(socket, { storage, logger: this.logger });
      this.#sessions.add(s);
      socket.once('close', () => this.#sessions.delete(s));
      return s;
    });
  }

  /**
   * Binds a session to an app: its scope comes from the app's stored config (the blobs it
   * maps, the app or savepoint it starts from). A failure closes the session: the executor
   * fails to start and is replaced like any failed executor.
   */
  async bind(session: Promise<StorageProxySession>, appId: string, token: string | undefined): Promise<void> {
    let s: StorageProxySession | undefined;
    try {
      s = await session;
      const storage = await this.#open();
      const app = await storage.getAppStorage(appId);
      if (!app) throw new Error(`app ${appId} has no store`);
      try {
        const config = ((await app.config.get(APP_CONFIG_ID))?.value ?? {}) as Record<string, unknown>;
        s.bind(appScope(appId, config), token ? { token } : {});
      } finally {
        await app.close();
      }
    } catch (err) {
      this.logger.error({ appId, err: String(err) }, 'storage proxy: could not bind an executor to its app; closing its connection');
      await s?.close();
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#sessions].map((s) => s.close()));
    this.#sessions.clear();
    const s = this.#storage;
    this.#storage = undefined;
    if (s) await s.then((x) => x.close()).catch(() => undefined);
  }
}
