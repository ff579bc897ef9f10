import { afterAll, beforeAll, describe, it } from 'vitest';
import { registerConformance } from '@sluice/storage-api/conformance';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { instance } from './helpers.js';

// One real WebHDFS server (NameNode + DataNode on separate ports, small ls limit so
// LISTSTATUS_BATCH pagination is exercised); each case gets its own root.
let server: WebHdfsServer;
beforeAll(async () => {
  server = await startWebHdfsServer({ lsLimit: 3 });
});
afterAll(async () => {
  await server?.stop();
});

registerConformance({ describe, it }, { name: 'hdfs', factory: () => instance(server), timeoutMs: 60_000 });
