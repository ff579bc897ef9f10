// Checklist items 1-7 (redirects and the DataNode side) and 15 (stale length while writing).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebHdfsServer } from '@sluice/webhdfs-test-server';
import type { WebHdfsServer } from '@sluice/webhdfs-test-server';
import { api, create, openUpload, raw, read, status, waitFor } from './helpers.js';

let s: WebHdfsServer;
beforeAll(async () => {
  s = await startWebHdfsServer({ dnHostAlias: '127.0.0.1' });
});
afterAll(async () => {
  await s.stop();
});

describe('redirects and the DataNode', () => {
  it('item 1: NameNode and DataNode are separate listeners', async () => {
    expect(s.nnPort).not.toBe(s.dnPort);
    expect(s.nnUrl).not.toBe(s.dnUrl);
    // The DN does not serve NN ops, the NN does not take data.
    const r = await raw('GET', `${s.dnUrl}/webhdfs/v1/?op=LISTSTATUS&namenoderpcaddress=127.0.0.1:8020`);
    expect(r.status).toBe(400);
    expect(r.json().RemoteException.message).toContain('Invalid operation');
  });

  it('item 2: 307 Location carries op, user.name, namenoderpcaddress, then sorted params', async () => {
    const r = await api(s, 'PUT', '/loc/a%20b', 'op=create&user.name=alice&permission=600&replication=1&overwrite=TRUE&blocksize=1048576');
    expect(r.status).toBe(307);
    expect(r.body.length).toBe(0);
    const loc = new URL(String(r.headers.location));
    expect(`${loc.protocol}//${loc.host}`).toBe(s.dnUrl);
    expect(loc.pathname).toBe('/webhdfs/v1/loc/a%20b');
    expect([...loc.searchParams.keys()]).toEqual([
      'op', 'user.name', 'namenoderpcaddress', 'blocksize', 'createflag', 'createparent', 'overwrite', 'permission', 'replication',
    ]);
    expect(loc.search).toBe(
      '?op=CREATE&user.name=alice&namenoderpcaddress=127.0.0.1:8020&blocksize=1048576&createflag=&createparent=true&overwrite=true&permission=600&replication=1',
    );
    // doas sorts before user.name (Param.toSortedString(doAsUser, username)).
    const r2 = await api(s, 'GET', '/', 'op=GETFILESTATUS');
    expect(r2.status).toBe(200);
    await create(s, '/loc/f', 'x');
    const r3 = await api(s, 'GET', '/loc/f', 'op=OPEN&user.name=alice&doas=bob');
    expect(new URL(String(r3.headers.location)).search).toBe(
      '?op=OPEN&doas=bob&user.name=alice&namenoderpcaddress=127.0.0.1:8020&offset=0',
    );
    // An opaque delegation token replaces user.name in the redirect.
    const r4 = await api(s, 'GET', '/loc/f', 'op=OPEN&delegation=TOKEN123&length=1');
    expect(new URL(String(r4.headers.location)).search).toBe(
      '?op=OPEN&delegation=TOKEN123&namenoderpcaddress=127.0.0.1:8020&length=1&offset=0',
    );
  });

  it('item 2: noredirect=true answers 200 {"Location": ...} for CREATE, APPEND, OPEN, GETFILECHECKSUM', async () => {
    await create(s, '/nr/f', 'abc');
    for (const [m, op] of [['PUT', 'CREATE'], ['POST', 'APPEND'], ['GET', 'OPEN'], ['GET', 'GETFILECHECKSUM']]) {
      const r = await api(s, m, '/nr/f', `op=${op}&noredirect=true`);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toContain('application/json');
      expect(r.json().Location).toMatch(new RegExp(`^${s.dnUrl}/webhdfs/v1/nr/f\\?op=${op}&`));
    }
    const loc = (await api(s, 'GET', '/nr/f', 'op=GETFILECHECKSUM&noredirect=true')).json().Location;
    const ck = await raw('GET', loc);
    expect(ck.status).toBe(200);
    expect(ck.json().FileChecksum).toMatchObject({ algorithm: 'MD5-of-0MD5-of-512CRC32C', length: 28 });
  });

  it('item 3: data sent to the NameNode on CREATE/APPEND is rejected and counted', async () => {
    const before = s.stats.nnBodyRejected;
    const r = await api(s, 'PUT', '/nnbody', 'op=CREATE', { body: 'oops' });
    expect(r.status).toBe(400);
    expect(r.json().RemoteException.exception).toBe('IllegalArgumentException');
    await create(s, '/nnbody2', 'a');
    const r2 = await api(s, 'POST', '/nnbody2', 'op=APPEND', { body: 'oops' });
    expect(r2.status).toBe(400);
    expect(s.stats.nnBodyRejected).toBe(before + 2);
    expect((await status(s, '/nnbody')).status).toBe(404);
  });

  it('item 4: the DataNode sends 100 Continue (asked for, and unasked like Hadoop)', async () => {
    const r1 = await api(s, 'PUT', '/cont/f', 'op=CREATE');
    const r = await raw('PUT', String(r1.headers.location), { body: 'hello', expectContinue: true });
    expect(r.status).toBe(201);
    expect(r.informational).toContain(100);
    const r2 = await api(s, 'POST', '/cont/f', 'op=APPEND');
    const a = await raw('POST', String(r2.headers.location), { body: '!' });
    expect(a.status).toBe(200);
    expect(a.informational).toContain(100);
    expect((await read(s, '/cont/f')).text).toBe('hello!');
  });

  it('item 5 + 15: the file exists (length 0) once the DN request arrives, before the body', async () => {
    const r1 = await api(s, 'PUT', '/arrive/f', 'op=CREATE');
    const up = openUpload('PUT', String(r1.headers.location));
    await waitFor(async () => (await status(s, '/arrive/f')).status === 200);
    let st = (await status(s, '/arrive/f')).json().FileStatus;
    expect(st.length).toBe(0);
    await up.write('0123456789');
    await waitFor(() => s.stats.datanode.bytesIn >= 10);
    st = (await status(s, '/arrive/f')).json().FileStatus;
    expect(st.length).toBe(0); // stale until close
    const done = await up.finish();
    expect(done).not.toBeInstanceOf(Error);
    expect((done as { status: number }).status).toBe(201);
    expect((await status(s, '/arrive/f')).json().FileStatus.length).toBe(10);
  });

  it('item 6: a client abort mid-body keeps the partial bytes and closes the file', async () => {
    const r1 = await api(s, 'PUT', '/abort/f', 'op=CREATE');
    const before = s.stats.datanode.bytesIn;
    const up = openUpload('PUT', String(r1.headers.location));
    await up.write(Buffer.alloc(1000, 97));
    await waitFor(() => s.stats.datanode.bytesIn >= before + 1000);
    up.abort();
    await waitFor(async () => (await status(s, '/abort/f')).json().FileStatus.length === 1000);
    expect((await read(s, '/abort/f')).body.length).toBe(1000);
    // Closed: a new APPEND gets the lease at once.
    const r2 = await api(s, 'POST', '/abort/f', 'op=APPEND');
    expect((await raw('POST', String(r2.headers.location), { body: 'z' })).status).toBe(200);
  });

  it('item 7: CREATE answers 201 with Location hdfs://<nn-rpc><path>, APPEND 200 empty', async () => {
    const r = await create(s, '/codes/f 1', 'data');
    expect(r.status).toBe(201);
    expect(r.headers.location).toBe('hdfs://127.0.0.1:8020/codes/f%201');
    expect(r.headers['content-length']).toBe('0');
    expect(r.body.length).toBe(0);
    const a1 = await api(s, 'POST', '/codes/f%201', 'op=APPEND');
    const a = await raw('POST', String(a1.headers.location), { body: 'more' });
    expect(a.status).toBe(200);
    expect(a.headers['content-length']).toBe('0');
    expect(a.body.length).toBe(0);
  });

  it('OPEN honours offset/length, Connection: close, and EOFException 403 past EOF', async () => {
    await create(s, '/open/f', '0123456789');
    const r = await read(s, '/open/f', 'offset=3&length=4');
    expect(r.status).toBe(200);
    expect(r.text).toBe('3456');
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers.connection).toBe('close');
    expect((await read(s, '/open/f', 'offset=10')).body.length).toBe(0);
    const e = await read(s, '/open/f', 'offset=11');
    expect(e.status).toBe(403);
    expect(e.json().RemoteException.exception).toBe('EOFException');
    const m = await api(s, 'GET', '/open/missing', 'op=OPEN');
    expect(m.status).toBe(404);
    const d = await api(s, 'GET', '/open', 'op=OPEN');
    expect(d.status).toBe(404);
    expect(d.json().RemoteException.message).toBe('Path is not a file: /open');
  });

  it('item 4: like a real DataNode, the unsolicited 100 breaks undici fetch; dnAlwaysSendContinue:false does not', async () => {
    const loc = String((await fetch(`${s.nnUrl}/webhdfs/v1/fetch/f?op=CREATE`, { method: 'PUT', redirect: 'manual' })).headers.get('location'));
    const err = await fetch(loc, { method: 'PUT', body: 'abc' }).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const quiet = await startWebHdfsServer({ dnAlwaysSendContinue: false });
    try {
      const r1 = await fetch(`${quiet.nnUrl}/webhdfs/v1/fetch/f?op=CREATE&noredirect=true`, { method: 'PUT' });
      const { Location } = (await r1.json()) as { Location: string };
      const r2 = await fetch(Location, { method: 'PUT', body: 'abc' });
      expect(r2.status).toBe(201);
      const o = await fetch(`${quiet.nnUrl}/webhdfs/v1/fetch/f?op=OPEN`, { redirect: 'manual' });
      expect(o.status).toBe(307);
      expect(await (await fetch(String(o.headers.get('location')))).text()).toBe('abc');
    } finally {
      await quiet.stop();
    }
  });

  it('a DataNode request without namenoderpcaddress is a 400', async () => {
    const r = await raw('PUT', `${s.dnUrl}/webhdfs/v1/x?op=CREATE`, { body: 'a' });
    expect(r.status).toBe(400);
    expect(r.json().RemoteException.message).toBe('namenoderpcaddress is not specified.');
  });

  it('counts requests per listener and per op', async () => {
    const nnBefore = s.stats.namenode.byOp.GETFILESTATUS ?? 0;
    const dnBefore = s.stats.datanode.byOp.CREATE ?? 0;
    await create(s, '/count/f', 'a');
    await status(s, '/count/f');
    expect(s.stats.namenode.byOp.GETFILESTATUS).toBe(nnBefore + 1);
    expect(s.stats.datanode.byOp.CREATE).toBe(dnBefore + 1);
  });
});
