// Checklist item 18 (fault injection) and item 19 (users, permissions, tokens), plus the
// control endpoint.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWebHdfsServer } from '@sluice/webhdfs-test-server';
import type { WebHdfsServer } from '@sluice/webhdfs-test-server';
import { api, append, create, raw, read, status } from './helpers.js';

let s: WebHdfsServer;
beforeAll(async () => {
  s = await startWebHdfsServer({ dnHostAlias: 'datanode.invalid', softLeaseMs: 0 });
});
afterEach(() => s.resetFaults());
afterAll(async () => {
  await s.stop();
});

const rex = (r: { json(): unknown }) => (r.json() as { RemoteException: { exception: string; javaClassName: string; message: string } }).RemoteException;
/** Follows a Location after rewriting its host to 127.0.0.1 (the client's host-rewrite hook). */
const rewrite = (loc: string) => {
  const u = new URL(loc);
  u.hostname = '127.0.0.1';
  return u.toString();
};
const errOf = (p: Promise<unknown>) => p.then(() => null, (e: Error) => e);

describe('fault injection (item 18)', () => {
  it('item 18: 307s point at a different host name (dnHostAlias / redirectHost)', async () => {
    const r = await api(s, 'PUT', '/f/a', 'op=CREATE');
    const loc = new URL(String(r.headers.location));
    expect(loc.hostname).toBe('datanode.invalid');
    expect(Number(loc.port)).toBe(s.dnPort);
    expect((await raw('PUT', rewrite(String(r.headers.location)), { body: 'a' })).status).toBe(201);
    s.faults.redirectHost = 'other.invalid';
    expect(new URL(String((await api(s, 'GET', '/f/a', 'op=OPEN')).headers.location)).hostname).toBe('other.invalid');
  });

  it('item 18: an unreachable DataNode (Location points to a closed port)', async () => {
    s.faults.dnUnreachable = true;
    const r = await api(s, 'PUT', '/f/unreach', 'op=CREATE');
    const loc = rewrite(String(r.headers.location));
    expect(Number(new URL(loc).port)).not.toBe(s.dnPort);
    const e = await errOf(raw('PUT', loc, { body: 'x' }));
    expect((e as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('item 18: a slow DataNode still delivers every byte', async () => {
    s.faults.dnDelayMsPerChunk = 20;
    const r = await api(s, 'PUT', '/f/slow', 'op=CREATE');
    expect((await raw('PUT', rewrite(String(r.headers.location)), { body: 'slow-bytes' })).status).toBe(201);
    const o = await api(s, 'GET', '/f/slow', 'op=OPEN');
    expect((await raw('GET', rewrite(String(o.headers.location)))).text).toBe('slow-bytes');
  });

  it('item 18: a DataNode that dies mid-stream cuts the socket and keeps the partial file', async () => {
    s.faults.dnDieAfterBytes = 500;
    const r = await api(s, 'PUT', '/f/die', 'op=CREATE');
    const e = await errOf(raw('PUT', rewrite(String(r.headers.location)), { body: Buffer.alloc(5000, 1) }));
    expect(e).toBeInstanceOf(Error);
    s.faults.dnDieAfterBytes = null;
    expect((await status(s, '/f/die')).json().FileStatus.length).toBe(500);
    // Reads die too.
    s.faults.dnDieAfterBytes = 100;
    const o = await api(s, 'GET', '/f/die', 'op=OPEN');
    const re = await errOf(raw('GET', rewrite(String(o.headers.location))));
    expect(re).toBeInstanceOf(Error);
  });

  it('item 18: a DN crash that keeps the lease: AlreadyBeingCreated, then lease recovery', async () => {
    const local = await startWebHdfsServer({ softLeaseMs: 60_000 });
    try {
      local.faults.dnDieAfterBytes = 10;
      local.faults.dnDieKeepsLease = true;
      await errOf(create(local, '/crash', Buffer.alloc(100, 2)));
      local.resetFaults();
      const a = await append(local, '/crash', 'x');
      expect([a.status, rex(a).exception]).toEqual([403, 'AlreadyBeingCreatedException']);
      expect((await status(local, '/crash')).json().FileStatus.length).toBe(0);
    } finally {
      await local.stop();
    }
    // With the soft limit passed: RecoveryInProgress once, then the file is closed.
    s.faults.dnDieAfterBytes = 10;
    s.faults.dnDieKeepsLease = true;
    const r = await api(s, 'PUT', '/f/crash', 'op=CREATE');
    await errOf(raw('PUT', rewrite(String(r.headers.location)), { body: Buffer.alloc(100, 2) }));
    s.resetFaults();
    const first = await api(s, 'POST', '/f/crash', 'op=TRUNCATE&newlength=0');
    expect([first.status, rex(first).exception]).toEqual([403, 'RecoveryInProgressException']);
    expect(rex(first).message).toContain('lease recovery is in progress. Try again later.');
    expect((await status(s, '/f/crash')).json().FileStatus.length).toBe(10);
  });

  it('item 18: safe mode gives 403 SafeModeException on writes, reads still work', async () => {
    const r = await api(s, 'PUT', '/f/sm', 'op=CREATE');
    s.setSafeMode(true);
    const dn = await raw('PUT', rewrite(String(r.headers.location)), { body: 'x' });
    expect([dn.status, rex(dn).exception]).toEqual([403, 'SafeModeException']);
    expect(rex(dn).message).toMatch(/^Cannot create file\/f\/sm\. Name node is in safe mode\./);
    const mk = await api(s, 'PUT', '/f/smdir', 'op=MKDIRS');
    expect([mk.status, rex(mk).exception, rex(mk).javaClassName]).toEqual([
      403, 'SafeModeException', 'org.apache.hadoop.hdfs.server.namenode.SafeModeException',
    ]);
    expect((await api(s, 'GET', '/', 'op=LISTSTATUS')).status).toBe(200);
  });

  it('item 18: a standby NameNode gives 403 StandbyException on everything', async () => {
    s.setStandby(true);
    for (const [m, q] of [['GET', 'op=GETFILESTATUS'], ['PUT', 'op=MKDIRS'], ['GET', 'op=LISTSTATUS'], ['PUT', 'op=CREATE']]) {
      const r = await api(s, m, '/f', q);
      expect([r.status, rex(r).exception]).toEqual([403, 'StandbyException']);
    }
    expect(rex(await api(s, 'GET', '/f', 'op=GETFILESTATUS')).message).toContain('Operation category READ is not supported in state standby');
  });

  it('item 18: the seeded random injector is reproducible and mixes 403 Retriable / 500 / drops', async () => {
    const run = async () => {
      const outcomes: string[] = [];
      for (let i = 0; i < 30; i++) {
        const r = await errOf(api(s, 'GET', '/', 'op=GETFILESTATUS').then((x) => {
          outcomes.push(x.status === 403 ? `403:${rex(x).exception}` : String(x.status));
        }));
        if (r) outcomes.push('drop');
      }
      s.faults.failRate = 0;
      return outcomes;
    };
    const ctl = `${s.nnUrl}/_control/faults`;
    // Reseed through the control endpoint so both runs start from the same PRNG state.
    await raw('PUT', ctl, { body: JSON.stringify({ failSeed: 7, failRate: 0.5 }) });
    const a = await run();
    await raw('PUT', ctl, { body: JSON.stringify({ failSeed: 7, failRate: 0.5 }) });
    const b = await run();
    expect(a).toEqual(b);
    expect(a).toContain('200');
    expect(a).toContain('403:RetriableException');
    expect(a).toContain('500');
    expect(a).toContain('drop');
    expect(s.stats.injectedFaults).toBeGreaterThan(0);
  });

  it('control endpoint: GET/PUT faults, stats, safemode, standby, reset', async () => {
    const f = await raw('PUT', `${s.nnUrl}/_control/faults`, { body: JSON.stringify({ dnDelayMsPerChunk: 5 }) });
    expect(f.json().dnDelayMsPerChunk).toBe(5);
    expect(s.faults.dnDelayMsPerChunk).toBe(5);
    expect((await raw('PUT', `${s.nnUrl}/_control/faults`, { body: '{"nope":1}' })).status).toBe(400);
    await raw('PUT', `${s.nnUrl}/_control/safemode`, { body: '{"on":true}' });
    expect(s.faults.safeMode).toBe(true);
    await raw('PUT', `${s.nnUrl}/_control/standby`, { body: '{"on":false}' });
    const st = (await raw('GET', `${s.nnUrl}/_control/stats`)).json();
    expect(st.namenode.requests).toBeGreaterThan(0);
    await raw('POST', `${s.nnUrl}/_control/reset`);
    expect(s.faults.safeMode).toBe(false);
    expect(s.stats.namenode.requests).toBe(0);
  });
});

describe('users and permissions (item 19)', () => {
  let p: WebHdfsServer;
  beforeAll(async () => {
    p = await startWebHdfsServer({ enforcePermissions: true, proxyUsers: ['hdfs'] });
  });
  afterAll(async () => {
    await p.stop();
  });

  it('item 19: user.name with the dr.who fallback, validated by the user pattern', async () => {
    await api(p, 'PUT', '/tmp', 'op=MKDIRS&user.name=hdfs&permission=1777');
    expect((await create(p, '/tmp/anon', 'x')).status).toBe(201);
    expect((await status(p, '/tmp/anon')).json().FileStatus.owner).toBe('dr.who');
    expect((await create(p, '/tmp/alice', 'x', 'user.name=alice')).status).toBe(201);
    expect((await status(p, '/tmp/alice')).json().FileStatus.owner).toBe('alice');
    const bad = await api(p, 'GET', '/', 'op=GETFILESTATUS&user.name=1bad');
    expect([bad.status, rex(bad).exception]).toEqual([400, 'IllegalArgumentException']);
  });

  it('item 19: permission enforcement on parents and files, superuser bypass, sticky bit', async () => {
    const denied = await api(p, 'PUT', '/top', 'op=MKDIRS&user.name=alice');
    expect([denied.status, rex(denied).exception]).toEqual([403, 'AccessControlException']);
    expect(rex(denied).message).toBe('Permission denied: user=alice, access=WRITE, inode="/":hdfs:supergroup:drwxr-xr-x');
    expect((await api(p, 'PUT', '/top', 'op=MKDIRS&user.name=hdfs')).status).toBe(200);
    await create(p, '/tmp/priv', 'secret', 'user.name=alice&permission=600');
    const rd = await api(p, 'GET', '/tmp/priv', 'op=OPEN&user.name=bob');
    expect([rd.status, rex(rd).exception]).toEqual([403, 'AccessControlException']);
    expect((await read(p, '/tmp/priv', 'user.name=alice')).text).toBe('secret');
    expect((await read(p, '/tmp/priv', 'user.name=hdfs')).text).toBe('secret');
    const del = await api(p, 'DELETE', '/tmp/priv', 'op=DELETE&user.name=bob');
    expect([del.status, rex(del).exception]).toEqual([403, 'AccessControlException']);
    expect((await api(p, 'GET', '/tmp/priv', 'op=CHECKACCESS&fsaction=r--&user.name=bob')).status).toBe(403);
    expect((await api(p, 'GET', '/tmp/priv', 'op=CHECKACCESS&fsaction=rw-&user.name=alice')).status).toBe(200);
    const chown = await api(p, 'PUT', '/tmp/priv', 'op=SETOWNER&owner=bob&user.name=alice');
    expect([chown.status, rex(chown).exception]).toEqual([403, 'AccessControlException']);
  });

  it('item 19: delegation tokens are accepted as opaque tokens; doas needs a proxy user', async () => {
    const tok = (await api(p, 'GET', '/', 'op=GETDELEGATIONTOKEN&user.name=alice')).json().Token.urlString;
    expect((await create(p, '/tmp/bytoken', 'x', `delegation=${tok}`)).status).toBe(201);
    expect((await status(p, '/tmp/bytoken')).json().FileStatus.owner).toBe('alice');
    expect((await api(p, 'GET', '/tmp/bytoken', 'op=GETFILESTATUS&delegation=opaque-token-from-elsewhere')).status).toBe(200);
    const asBob = await api(p, 'GET', '/', 'op=GETHOMEDIRECTORY&user.name=hdfs&doas=bob');
    expect(asBob.json()).toEqual({ Path: '/user/bob' });
    const notProxy = await api(p, 'GET', '/', 'op=GETHOMEDIRECTORY&user.name=alice&doas=bob');
    expect([notProxy.status, rex(notProxy).exception]).toEqual([403, 'AuthorizationException']);
  });
});
