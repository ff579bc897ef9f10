import { afterAll, beforeAll, describe, it } from 'vitest';
import { registerConformance } from '@sluice/storage-api/conformance';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { instance } from './helpers.js';

// The same suite through an HttpFS gateway: one port, uploads 307 to itself with
// data=true (Content-Type checked), IOExceptions as 500, wrapped "RemoteException" names.
let server: WebHdfsServer;
beforeAll(async () => {
  server = await startWebHdfsServer({ mode: 'httpfs', faults: { httpfsWrapRemoteException: true } });
});
afterAll(async () => {
  await server?.stop();
});

registerConformance({ describe, it }, { name: 'hdfs (httpfs)', factory: () => instance(server), timeoutMs: 60_000 });
