/**
 * The executor side of the storage proxy as a storage module, for a process that reaches a
 * proxy by a unix socket path instead of an inherited descriptor: the conformance suite's
 * child processes (its cross-process cases through the proxy). Executors do not load it.
 */
import { createConnection } from 'node:net';
import { STORAGE_CONTRACT_VERSION, type StorageModule } from '@sluice/storage-api';
import { z } from 'zod';
import { ProxyConnection } from './storage-proxy-connection.js';
import { proxyBackend } from './storage-proxy-client.js';

const optionsSchema = z.object({ socketPath: z.string().min(1), timeoutMs: z.number().int().positive().optional() }).strict();

const storageProxyModule: StorageModule<z.infer<typeof optionsSchema>> = {
  name: 'sluice-storage-proxy',
  // An upper bound: each instance declares what the worker's store has (from the greeting).
  capabilities: { persistent: true, multiProcess: true, multiWriter: true, follow: true, metricsRollups: true, boundedJarMemory: true, blobs: true },
  contractVersion: STORAGE_CONTRACT_VERSION,
  optionsSchema,
  async create(options) {
    const conn = new ProxyConnection(createConnection(options.socketPath), options.timeoutMs ? { timeoutMs: options.timeoutMs } : {});
    return proxyBackend(conn, await conn.hello);
  },
};

export default storageProxyModule;
