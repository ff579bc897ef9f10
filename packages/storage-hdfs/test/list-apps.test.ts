// One app whose stored metadata is damaged must not break listApps (and so `sluice apps`
// and gc) for the whole store: it is reported as damaged and the others are listed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { freshRoot, openHdfs, rawClient } from './helpers.js';

let server: WebHdfsServer;
beforeAll(async () => {
  server = await startWebHdfsServer();
});
afterAll(async () => {
  await server?.stop();
});

describe('listApps with a damaged app', () => {
  it('reports the app whose newest meta version is garbage as damaged and lists the others', async () => {
    const root = freshRoot();
    const s = await openHdfs(server, root);
    await s.createAppStorage('a', 'app-damaged', { owner: 'alice' });
    await s.createAppStorage('a', 'app-fine', { owner: 'bob' });
    const client = rawClient(server);
    const metaDir = `${root}/apps/app-damaged/meta`;
    const versions = ((await client.list(metaDir)) ?? []).map((f) => f.pathSuffix).filter((n) => /^\d{20}$/.test(n)).sort();
    expect(versions.length).toBeGreaterThan(0);
    await client.create(`${metaDir}/${versions[versions.length - 1]}`, Buffer.from('{"meta": {"appId": "app-'), { overwrite: true, permission: '600' });
    await client.close();
    const apps = await s.listApps();
    expect(apps.map((a) => a.appId)).toEqual(['app-damaged', 'app-fine']);
    expect(apps[0]!.damaged?.code).toBe('STORAGE_CORRUPT');
    expect(apps[1]!.damaged).toBeUndefined();
    expect(apps[1]!.owner).toBe('bob');
    await s.close();
  });
});
