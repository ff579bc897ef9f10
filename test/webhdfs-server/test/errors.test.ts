// Checklist items 16 (error body and status matrix, HttpFS mode) and 17 (parameter parsing).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebHdfsServer } from '@sluice/webhdfs-test-server';
import type { WebHdfsServer } from '@sluice/webhdfs-test-server';
import { api, create, raw, read, status, waitFor } from './helpers.js';

let s: WebHdfsServer;
let h: WebHdfsServer;
beforeAll(async () => {
  s = await startWebHdfsServer();
  h = await startWebHdfsServer({ mode: 'httpfs' });
});
afterAll(async () => {
  await s.stop();
  await h.stop();
});

const rex = (r: { json(): unknown }) => (r.json() as { RemoteException: { exception: string; javaClassName: string; message: string } }).RemoteException;

describe('error matrix (item 16)', () => {
  it('item 16: RemoteException JSON with 404 / 403 / 400 per exception class', async () => {
    const nf = await status(s, '/nope');
    expect(nf.status).toBe(404);
    expect(nf.headers['content-type']).toContain('application/json');
    expect(Object.keys(nf.json())).toEqual(['RemoteException']);
    expect(rex(nf).javaClassName).toBe('java.io.FileNotFoundException');
    await create(s, '/m/f', 'x');
    const fae = await create(s, '/m/f', 'x');
    expect([fae.status, rex(fae).exception]).toEqual([403, 'FileAlreadyExistsException']);
    const bad = await api(s, 'PUT', '/m/f', 'op=MKDIRS&permission=8');
    expect([bad.status, rex(bad).exception]).toEqual([400, 'IllegalArgumentException']);
    expect(rex(bad).message).toMatch(/^Invalid value for webhdfs parameter "permission": /);
    const unsup = await api(s, 'GET', '/m/f', 'op=GETXATTRS');
    expect([unsup.status, rex(unsup).exception]).toEqual([400, 'UnsupportedOperationException']);
    s.setSafeMode(true);
    const sm = await api(s, 'PUT', '/m/d', 'op=MKDIRS');
    expect([sm.status, rex(sm).exception]).toEqual([403, 'SafeModeException']);
    s.setSafeMode(false);
  });

  it('item 16: HttpFS mode is one port; CREATE 307s to itself with data=true', async () => {
    expect(h.nnUrl).toBe(h.dnUrl);
    const r1 = await raw('PUT', `${h.nnUrl}/webhdfs/v1/h/f?op=CREATE&user.name=alice`);
    expect(r1.status).toBe(307);
    const loc = String(r1.headers.location);
    expect(loc).toBe(`${h.nnUrl}/webhdfs/v1/h/f?op=CREATE&user.name=alice&data=true`);
    const noCt = await raw('PUT', loc, { body: 'hello' });
    expect(noCt.status).toBe(400);
    expect(noCt.text).toContain("Data upload requests must have content-type set to 'application/octet-stream'");
    const ok = await raw('PUT', loc, { body: 'hello', headers: { 'Content-Type': 'application/octet-stream' } });
    expect(ok.status).toBe(201);
    const a1 = await raw('POST', `${h.nnUrl}/webhdfs/v1/h/f?op=APPEND&user.name=alice`);
    expect(a1.status).toBe(307);
    const a = await raw('POST', String(a1.headers.location), { body: '!', headers: { 'Content-Type': 'application/octet-stream' } });
    expect(a.status).toBe(200);
    // OPEN is streamed directly, no redirect.
    const o = await raw('GET', `${h.nnUrl}/webhdfs/v1/h/f?op=OPEN`);
    expect(o.status).toBe(200);
    expect(o.text).toBe('hello!');
    const ck = await raw('GET', `${h.nnUrl}/webhdfs/v1/h/f?op=GETFILECHECKSUM`);
    expect(ck.status).toBe(200);
    expect(ck.json().FileChecksum.length).toBe(28);
  });

  it('item 16: HttpFS maps IOExceptions to 500 and can wrap them as RemoteException', async () => {
    const put = (p: string, q = '') =>
      raw('PUT', `${h.nnUrl}/webhdfs/v1${p}?op=CREATE&data=true${q}`, { body: 'x', headers: { 'Content-Type': 'application/octet-stream' } });
    await put('/h2/f');
    const exists = await put('/h2/f', '&overwrite=false');
    expect([exists.status, rex(exists).exception]).toEqual([500, 'FileAlreadyExistsException']);
    const nf = await raw('GET', `${h.nnUrl}/webhdfs/v1/h2/none?op=GETFILESTATUS`);
    expect(nf.status).toBe(404);
    const bad = await raw('PUT', `${h.nnUrl}/webhdfs/v1/h2/d?op=MKDIRS&permission=x`);
    expect(bad.status).toBe(400);
    // A held lease, reported as HttpFS does when the DFS client does not unwrap it.
    h.faults.httpfsWrapRemoteException = true;
    try {
      const http = await import('node:http');
      const req = http.request(`${h.nnUrl}/webhdfs/v1/h2/f?op=APPEND&data=true`, {
        method: 'POST', agent: false, headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
      });
      req.on('error', () => undefined);
      req.write('partial');
      await waitFor(() => h.stats.namenode.bytesIn > 0);
      const conflict = await raw('POST', `${h.nnUrl}/webhdfs/v1/h2/f?op=APPEND&data=true`, {
        body: 'y', headers: { 'Content-Type': 'application/octet-stream' },
      });
      expect(conflict.status).toBe(500);
      expect(rex(conflict)).toMatchObject({ exception: 'RemoteException', javaClassName: 'org.apache.hadoop.ipc.RemoteException' });
      expect(rex(conflict).message).toContain('because this file lease is currently owned by');
      req.end();
    } finally {
      h.faults.httpfsWrapRemoteException = false;
    }
  });
});

describe('parameter parsing (item 17)', () => {
  it('item 17: op values, booleans and parameter names are case-insensitive; unknown params ignored', async () => {
    await create(s, '/p/f', 'x');
    expect((await api(s, 'GET', '/p/f', 'op=getfilestatus&whatever=1')).status).toBe(200);
    expect((await api(s, 'GET', '/p/f', 'OP=GetFileStatus')).status).toBe(200);
    expect((await create(s, '/p/f', 'y', 'overwrite=TRUE')).status).toBe(201);
    const badBool = await api(s, 'PUT', '/p/f', 'op=CREATE&overwrite=yes');
    expect(badBool.status).toBe(400);
    expect(rex(badBool).message).toBe('Invalid value for webhdfs parameter "overwrite": Failed to parse "yes" to Boolean.');
  });

  it('item 17: an op with the wrong HTTP method is a 400', async () => {
    const r = await api(s, 'GET', '/p/f', 'op=CREATE');
    expect(r.status).toBe(400);
    expect(rex(r).exception).toBe('IllegalArgumentException');
    expect(rex(r).message).toContain('No enum constant org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.CREATE');
    expect((await api(s, 'PUT', '/p/f', 'op=GETFILESTATUS')).status).toBe(400);
    expect((await api(s, 'DELETE', '/p/f', 'op=MKDIRS')).status).toBe(400);
  });

  it('item 17: paths are percent-decoded and "+" stays "+"', async () => {
    expect((await create(s, '/p/a%20b+c%25d', 'z')).status).toBe(201);
    const names = (await api(s, 'GET', '/p', 'op=LISTSTATUS')).json().FileStatuses.FileStatus.map(
      (f: { pathSuffix: string }) => f.pathSuffix,
    );
    expect(names).toContain('a b+c%d');
    expect((await read(s, '/p/a%20b%2Bc%25d')).text).toBe('z');
    // URL parsers drop dot segments, so use ':' which DFSUtil.isValidName rejects too.
    const dot = await api(s, 'GET', '/p/a:b', 'op=GETFILESTATUS');
    expect(dot.status).toBe(400);
    expect(rex(dot).exception).toBe('InvalidPathException');
  });
});
