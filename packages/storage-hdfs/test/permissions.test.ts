// App directories: permission 700 and owned by the app's user when the service user may
// hand them over (HDFS superuser); otherwise they stay with the service user ('auto').
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { freshRoot, openHdfs, rawClient } from './helpers.js';

let server: WebHdfsServer;
beforeAll(async () => {
  server = await startWebHdfsServer({ enforcePermissions: true, superuser: 'hdfs' });
  const admin = rawClient(server, 'hdfs');
  try {
    await admin.mkdirs('/svc', '755');
    await admin.setOwner('/svc', 'svc');
  } finally {
    await admin.close();
  }
});
afterAll(async () => {
  await server?.stop();
});

it('as the HDFS superuser, an app directory is 700 and owned by the app owner', async () => {
  const root = freshRoot();
  const s = await openHdfs(server, root, { user: 'hdfs' });
  const admin = rawClient(server, 'hdfs');
  const mallory = rawClient(server, 'mallory');
  try {
    const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
    await app.offsets('src').writer(1).then((w) => w.append(1, Buffer.from('x')));
    const st = (await admin.status(`${root}/apps/app1`))!;
    expect(st.owner).toBe('alice');
    expect(st.permission).toBe('700');
    // Another user cannot read the app's data.
    await expect(mallory.list(`${root}/apps/app1`)).rejects.toMatchObject({ code: 'STORAGE_PERMISSION_DENIED' });
  } finally {
    await s.close();
    await admin.close();
    await mallory.close();
  }
});

it("as a plain service user, setOwner 'auto' keeps the directory and still works; 'always' refuses", async () => {
  const root = `/svc${freshRoot()}`;
  const s = await openHdfs(server, root, { user: 'svc' });
  try {
    const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
    await app.config.set('p', { a: 1 });
    const svc = rawClient(server, 'svc');
    const st = (await svc.status(`${root}/apps/app1`))!;
    await svc.close();
    expect(st.owner).toBe('svc');
    expect(st.permission).toBe('700');
  } finally {
    await s.close();
  }
  const strict = await openHdfs(server, root, { user: 'svc', permission: { setOwner: 'always' } });
  try {
    await expect(strict.createAppStorage('b', 'app2', { owner: 'alice' })).rejects.toMatchObject({ code: 'STORAGE_PERMISSION_DENIED' });
  } finally {
    await strict.close();
  }
});
