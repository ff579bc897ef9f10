import type { TestJson } from '../../e2e/helpers/engine-cluster.js';
// Checklist items 8-15: create defaults, leases, rename, delete, listing, FileStatus.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareNames, startWebHdfsServer } from '@sluice/webhdfs-test-server';
import type { WebHdfsServer } from '@sluice/webhdfs-test-server';
import { api, append, create, openUpload, raw, read, status, waitFor } from './helpers.js';

let s: WebHdfsServer;
beforeAll(async () => {
  s = await startWebHdfsServer({ lsLimit: 2, truncateRecoveryMs: 60_000, blockSize: 1024 });
});
afterAll(async () => {
  await s.stop();
});

const rex = (r: { json(): unknown }) => (r.json() as { RemoteException: { exception: string; javaClassName: string; message: string } }).RemoteException;

describe('create semantics (item 8)', () => {
  it('item 8: overwrite defaults to false, createparent to true, permissions 644/755', async () => {
    expect((await create(s, '/c8/deep/er/f', 'one')).status).toBe(201);
    const f = (await status(s, '/c8/deep/er/f')).json().FileStatus;
    expect(f.permission).toBe('644');
    const again = await create(s, '/c8/deep/er/f', 'two');
    expect(again.status).toBe(403);
    expect(rex(again).exception).toBe('FileAlreadyExistsException');
    expect(rex(again).message).toBe('/c8/deep/er/f for client 127.0.0.1 already exists');
    expect((await create(s, '/c8/deep/er/f', 'two', 'overwrite=true')).status).toBe(201);
    expect((await read(s, '/c8/deep/er/f')).text).toBe('two');
    expect((await api(s, 'PUT', '/c8/dir', 'op=MKDIRS')).json()).toEqual({ boolean: true });
    expect((await status(s, '/c8/dir')).json().FileStatus.permission).toBe('755');
    expect((await api(s, 'PUT', '/c8/dir', 'op=MKDIRS')).json()).toEqual({ boolean: true });
    const np = await create(s, '/c8/nope/f', 'x', 'createparent=false');
    expect(np.status).toBe(404);
    expect(rex(np).exception).toBe('FileNotFoundException');
    const asDir = await create(s, '/c8/dir', 'x');
    expect(asDir.status).toBe(403);
    expect(rex(asDir).message).toBe('/c8/dir already exists as a directory');
    const under = await create(s, '/c8/deep/er/f/child', 'x');
    expect(under.status).toBe(403);
    expect(rex(under).exception).toBe('ParentNotDirectoryException');
    expect((await create(s, '/c8/perm', 'x', 'permission=1777')).status).toBe(201);
    expect((await status(s, '/c8/perm')).json().FileStatus.permission).toBe('1777');
  });
});

describe('leases (item 9)', () => {
  it('item 9: an open upload holds the lease; CREATE/APPEND/TRUNCATE get AlreadyBeingCreatedException', async () => {
    await create(s, '/lease/f', 'base');
    const loc = String((await api(s, 'POST', '/lease/f', 'op=APPEND')).headers.location);
    const up = openUpload('POST', loc);
    await up.write('more');
    await waitFor(() => s.stats.datanode.bytesIn > 0);
    await waitFor(async () => {
      const r = await append(s, '/lease/f', 'x');
      return r.status === 403;
    });
    const a = await append(s, '/lease/f', 'x');
    expect(a.status).toBe(403);
    expect(rex(a).exception).toBe('AlreadyBeingCreatedException');
    expect(rex(a).javaClassName).toBe('org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException');
    expect(rex(a).message).toMatch(
      /^Failed to APPEND_FILE \/lease\/f for DFSClient_NONMAPREDUCE_\d+_\d+ on 127\.0\.0\.1 because this file lease is currently owned by DFSClient_NONMAPREDUCE_\d+_\d+ on 127\.0\.0\.1$/,
    );
    const c = await create(s, '/lease/f', 'x');
    expect(c.status).toBe(403);
    expect(rex(c).exception).toBe('AlreadyBeingCreatedException');
    expect(rex(c).message).toContain('Failed to CREATE_FILE /lease/f');
    const t = await api(s, 'POST', '/lease/f', 'op=TRUNCATE&newlength=1');
    expect(t.status).toBe(403);
    expect(rex(t).exception).toBe('AlreadyBeingCreatedException');
    expect(rex(t).message).toContain('Failed to TRUNCATE_FILE /lease/f');
    // item 15: the in-progress append is not visible in the length yet.
    expect((await status(s, '/lease/f')).json().FileStatus.length).toBe(4);
    const done = await up.finish();
    expect((done as { status: number }).status).toBe(200);
    expect((await read(s, '/lease/f')).text).toBe('basemore');
  });

  it('item 9: CREATE overwrite=true steals the file and the old writer close fails', async () => {
    const loc = String((await api(s, 'PUT', '/steal/f', 'op=CREATE')).headers.location);
    const up = openUpload('PUT', loc);
    await up.write('old-data');
    await waitFor(async () => (await status(s, '/steal/f')).status === 200);
    const oldId = (await status(s, '/steal/f')).json().FileStatus.fileId;
    expect((await create(s, '/steal/f', 'new', 'overwrite=true')).status).toBe(201);
    expect((await status(s, '/steal/f')).json().FileStatus.fileId).not.toBe(oldId);
    const done = (await up.finish()) as { status: number; json(): TestJson };
    expect(done.status).toBe(404);
    expect(done.json().RemoteException.exception).toBe('FileNotFoundException');
    expect(done.json().RemoteException.message).toMatch(/^No lease on \/steal\/f \(inode \d+\): File does not exist/);
    expect((await read(s, '/steal/f')).text).toBe('new');
  });

  it('TRUNCATE: true on a block boundary, false and recovery otherwise; growing is a 400', async () => {
    await create(s, '/trunc/f', Buffer.alloc(3000, 1));
    expect((await api(s, 'POST', '/trunc/f', 'op=TRUNCATE&newlength=2048')).json()).toEqual({ boolean: true });
    const grow = await api(s, 'POST', '/trunc/f', 'op=TRUNCATE&newlength=9999');
    expect(grow.status).toBe(400);
    expect(rex(grow).exception).toBe('HadoopIllegalArgumentException');
    expect((await api(s, 'POST', '/trunc/f', 'op=TRUNCATE&newlength=100')).json()).toEqual({ boolean: false });
    expect((await status(s, '/trunc/f')).json().FileStatus.length).toBe(100);
    const a = await append(s, '/trunc/f', 'x');
    expect(a.status).toBe(403);
    expect(rex(a).exception).toBe('RecoveryInProgressException');
    const miss = await api(s, 'POST', '/trunc/f', 'op=TRUNCATE');
    expect(miss.status).toBe(400);
    expect(rex(miss).message).toBe('Required param newlength for op: TRUNCATE is null or empty');
  });
});

describe('rename and delete (items 10, 11)', () => {
  it('item 10: rename/2 returns false instead of errors and moves into an existing directory', async () => {
    await create(s, '/r2/a', 'A');
    await create(s, '/r2/b', 'B');
    await api(s, 'PUT', '/r2/dir', 'op=MKDIRS');
    const ren = (src: string, dst: string) => api(s, 'PUT', src, `op=RENAME&destination=${encodeURIComponent(dst)}`);
    expect((await ren('/r2/a', '/r2/b')).json()).toEqual({ boolean: false }); // dst file exists
    expect((await ren('/r2/missing', '/r2/x')).json()).toEqual({ boolean: false }); // no source
    expect((await ren('/r2/a', '/r2/nodir/x')).json()).toEqual({ boolean: false }); // no dst parent
    expect((await ren('/r2/a', '/r2/a')).json()).toEqual({ boolean: true }); // onto itself
    const moved = await ren('/r2/a', '/r2/dir');
    expect(moved.status).toBe(200);
    expect(moved.json()).toEqual({ boolean: true });
    expect((await read(s, '/r2/dir/a')).text).toBe('A');
    expect((await status(s, '/r2/a')).status).toBe(404);
    const under = await ren('/r2/dir', '/r2/dir/sub');
    expect(under.status).toBe(403);
    expect(rex(under).exception).toBe('IOException');
    const noDest = await api(s, 'PUT', '/r2/b', 'op=RENAME');
    expect(noDest.status).toBe(400);
    expect(rex(noDest).message).toBe('Required param destination for op: RENAME is null or empty');
    const rel = await api(s, 'PUT', '/r2/b', 'op=RENAME&destination=relative');
    expect(rel.status).toBe(400);
  });

  it('item 10: rename/3 NONE is put-if-absent, OVERWRITE replaces, with the A.6 exceptions', async () => {
    const ren = (src: string, dst: string, o: string) =>
      api(s, 'PUT', src, `op=RENAME&destination=${encodeURIComponent(dst)}&renameoptions=${o}`);
    await create(s, '/r3/tmp1', 'one');
    await create(s, '/r3/tmp2', 'two');
    await api(s, 'PUT', '/r3/dir', 'op=MKDIRS');
    const ok = await ren('/r3/tmp1', '/r3/final', 'NONE');
    expect(ok.status).toBe(200);
    expect(ok.body.length).toBe(0);
    const exists = await ren('/r3/tmp2', '/r3/final', 'NONE');
    expect(exists.status).toBe(403);
    expect(rex(exists).exception).toBe('FileAlreadyExistsException');
    expect(rex(exists).message).toBe('rename destination /r3/final already exists.');
    expect((await ren('/r3/tmp2', '/r3/final', 'overwrite')).status).toBe(200);
    expect((await read(s, '/r3/final')).text).toBe('two');
    // Not "move into": a directory destination is a type mismatch.
    await create(s, '/r3/tmp3', '3');
    const intoDir = await ren('/r3/tmp3', '/r3/dir', 'OVERWRITE');
    expect(intoDir.status).toBe(403);
    expect(rex(intoDir).exception).toBe('IOException');
    const nosrc = await ren('/r3/none', '/r3/x', 'NONE');
    expect(nosrc.status).toBe(404);
    expect(rex(nosrc).exception).toBe('FileNotFoundException');
    const noparent = await ren('/r3/tmp3', '/r3/nope/x', 'NONE');
    expect(noparent.status).toBe(404);
    const fileParent = await ren('/r3/tmp3', '/r3/final/x', 'NONE');
    expect(fileParent.status).toBe(403);
    expect(rex(fileParent).exception).toBe('ParentNotDirectoryException');
    await api(s, 'PUT', '/r3/full/child', 'op=MKDIRS');
    await api(s, 'PUT', '/r3/emptydir', 'op=MKDIRS');
    const nonEmpty = await ren('/r3/emptydir', '/r3/full', 'OVERWRITE');
    expect(nonEmpty.status).toBe(403);
    expect(rex(nonEmpty).exception).toBe('IOException');
    const bad = await ren('/r3/tmp3', '/r3/y', 'SOMETIMES');
    expect(bad.status).toBe(400);
  });

  it('item 11: DELETE is false for a missing path and 403 for a non-empty directory', async () => {
    expect((await api(s, 'DELETE', '/del/missing', 'op=DELETE')).json()).toEqual({ boolean: false });
    await create(s, '/del/d/f', 'x');
    const r = await api(s, 'DELETE', '/del/d', 'op=DELETE');
    expect(r.status).toBe(403);
    expect(rex(r).exception).toBe('PathIsNotEmptyDirectoryException');
    expect(rex(r).message).toBe("`/del/d is non empty': Directory is not empty");
    expect((await api(s, 'DELETE', '/del/d', 'op=DELETE&recursive=TRUE')).json()).toEqual({ boolean: true });
    expect((await status(s, '/del/d')).status).toBe(404);
    expect((await api(s, 'DELETE', '/', 'op=DELETE&recursive=true')).json()).toEqual({ boolean: false });
  });
});

describe('listing and status (items 12-15)', () => {
  it('item 12: LISTSTATUS sorts by UTF-8 bytes and lists a file as one entry with pathSuffix ""', async () => {
    for (const n of ['é', 'a0', 'a.b', 'a-b', 'B', 'a/b']) await create(s, `/ls/${encodeURIComponent(n)}`, 'x');
    const r = await api(s, 'GET', '/ls', 'op=LISTSTATUS');
    expect(r.status).toBe(200);
    const names = r.json().FileStatuses.FileStatus.map((f: { pathSuffix: string }) => f.pathSuffix);
    // %2F is a separator once decoded: 'a/b' made directory 'a'.
    expect(names).toEqual(['B', 'a', 'a-b', 'a.b', 'a0', 'é']);
    expect([...names].sort(compareNames)).toEqual(names);
    const types = r.json().FileStatuses.FileStatus.map((f: { type: string }) => f.type);
    expect(types[1]).toBe('DIRECTORY');
    const one = await api(s, 'GET', '/ls/a0', 'op=LISTSTATUS');
    expect(one.json().FileStatuses.FileStatus).toHaveLength(1);
    expect(one.json().FileStatuses.FileStatus[0].pathSuffix).toBe('');
    const miss = await api(s, 'GET', '/ls/none', 'op=LISTSTATUS');
    expect(miss.status).toBe(404);
    expect(rex(miss).message).toBe('File /ls/none does not exist.');
  });

  it('item 13: LISTSTATUS_BATCH pages by dfs.ls.limit (2) with startAfter and remainingEntries', async () => {
    for (const n of ['e', 'a', 'd', 'c', 'b']) await create(s, `/batch/${n}`, n);
    const seen: string[] = [];
    const remaining: number[] = [];
    let startAfter = '';
    for (let i = 0; i < 10; i++) {
      const r = await api(s, 'GET', '/batch', `op=LISTSTATUS_BATCH${startAfter ? '&startAfter=' + startAfter : ''}`);
      expect(r.status).toBe(200);
      const dl = r.json().DirectoryListing;
      const page = dl.partialListing.FileStatuses.FileStatus.map((f: { pathSuffix: string }) => f.pathSuffix);
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page);
      remaining.push(dl.remainingEntries);
      if (dl.remainingEntries === 0) break;
      startAfter = page[page.length - 1];
    }
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(remaining).toEqual([3, 1, 0]);
  });

  it('item 14: full FileStatus field set, permission as a string, fileId stable across rename', async () => {
    await create(s, '/fs14/f', 'hello');
    const st = (await status(s, '/fs14/f')).json().FileStatus;
    expect(Object.keys(st).sort()).toEqual([
      'accessTime', 'blockSize', 'childrenNum', 'fileId', 'group', 'length', 'modificationTime', 'owner',
      'pathSuffix', 'permission', 'replication', 'storagePolicy', 'type',
    ]);
    expect(st).toMatchObject({ type: 'FILE', length: 5, permission: '644', owner: 'dr.who', group: 'supergroup', pathSuffix: '', childrenNum: 0, blockSize: 1024, replication: 1 });
    expect(typeof st.permission).toBe('string');
    const dir = (await status(s, '/fs14')).json().FileStatus;
    expect(dir).toMatchObject({ type: 'DIRECTORY', length: 0, blockSize: 0, replication: 0, childrenNum: 1 });
    await api(s, 'PUT', '/fs14/f', 'op=RENAME&destination=/fs14/g');
    expect((await status(s, '/fs14/g')).json().FileStatus.fileId).toBe(st.fileId);
    await api(s, 'PUT', '/fs14/g', 'op=RENAME&destination=/fs14/h&renameoptions=NONE');
    expect((await status(s, '/fs14/h')).json().FileStatus.fileId).toBe(st.fileId);
    const miss = await status(s, '/fs14/none');
    expect(miss.status).toBe(404);
    expect(rex(miss)).toEqual({
      exception: 'FileNotFoundException', javaClassName: 'java.io.FileNotFoundException', message: 'File does not exist: /fs14/none',
    });
  });

  it('other ops: CONTENTSUMMARY, CONCAT, SET*, CHECKACCESS, HOME, SERVERDEFAULTS, tokens', async () => {
    await create(s, '/ops/a', 'AAA');
    await create(s, '/ops/b', 'BB');
    await create(s, '/ops/c', 'C');
    const cs = (await api(s, 'GET', '/ops', 'op=GETCONTENTSUMMARY')).json().ContentSummary;
    expect(cs).toMatchObject({ directoryCount: 1, fileCount: 3, length: 6, quota: -1, spaceQuota: -1 });
    const cc = await api(s, 'POST', '/ops/a', 'op=CONCAT&sources=/ops/b,/ops/c');
    expect(cc.status).toBe(200);
    expect((await read(s, '/ops/a')).text).toBe('AAABBC');
    expect((await status(s, '/ops/b')).status).toBe(404);
    expect((await api(s, 'POST', '/ops/a', 'op=CONCAT')).status).toBe(400);
    expect((await api(s, 'PUT', '/ops/a', 'op=SETPERMISSION&permission=600')).status).toBe(200);
    expect((await status(s, '/ops/a')).json().FileStatus.permission).toBe('600');
    expect((await api(s, 'PUT', '/ops/a', 'op=SETPERMISSION&permission=999')).status).toBe(400);
    const so = await api(s, 'PUT', '/ops/a', 'op=SETOWNER');
    expect(so.status).toBe(400);
    expect(rex(so).message).toBe('Both owner and group are empty.');
    expect((await api(s, 'PUT', '/ops/a', 'op=SETOWNER&owner=carol&group=staff')).status).toBe(200);
    expect((await status(s, '/ops/a')).json().FileStatus).toMatchObject({ owner: 'carol', group: 'staff' });
    expect((await api(s, 'PUT', '/ops/a', 'op=SETTIMES&modificationtime=1000')).status).toBe(200);
    expect((await status(s, '/ops/a')).json().FileStatus.modificationTime).toBe(1000);
    expect((await api(s, 'PUT', '/ops/a', 'op=SETREPLICATION&replication=3')).json()).toEqual({ boolean: true });
    expect((await api(s, 'PUT', '/ops', 'op=SETREPLICATION&replication=3')).json()).toEqual({ boolean: false });
    expect((await api(s, 'GET', '/ops/a', 'op=CHECKACCESS&fsaction=rw-')).status).toBe(200);
    expect((await api(s, 'GET', '/ops/a', 'op=CHECKACCESS&fsaction=bad')).status).toBe(400);
    expect((await api(s, 'GET', '/ops/a', 'op=CHECKACCESS')).status).toBe(400);
    expect((await api(s, 'GET', '/ops/none', 'op=CHECKACCESS&fsaction=r--')).status).toBe(404);
    expect((await api(s, 'GET', '/', 'op=GETHOMEDIRECTORY&user.name=alice')).json()).toEqual({ Path: '/user/alice' });
    const sd = (await api(s, 'GET', '/', 'op=GETSERVERDEFAULTS')).json().FsServerDefaults;
    expect(sd).toMatchObject({ blockSize: 1024, replication: 1 });
    const ck1 = await raw('GET', String((await api(s, 'GET', '/ops/a', 'op=GETFILECHECKSUM')).headers.location));
    const ck2 = await raw('GET', String((await api(s, 'GET', '/ops/a', 'op=GETFILECHECKSUM')).headers.location));
    expect(ck1.json()).toEqual(ck2.json());
    const tok = (await api(s, 'GET', '/', 'op=GETDELEGATIONTOKEN&user.name=alice')).json().Token.urlString;
    expect(typeof tok).toBe('string');
    expect((await api(s, 'GET', '/', `op=GETDELEGATIONTOKEN&delegation=${tok}`)).status).toBe(400);
    const renew = await api(s, 'PUT', '/', `op=RENEWDELEGATIONTOKEN&token=${tok}&user.name=alice`);
    expect(typeof renew.json().long).toBe('number');
    expect((await api(s, 'PUT', '/', 'op=RENEWDELEGATIONTOKEN')).status).toBe(400);
    expect((await api(s, 'PUT', '/', `op=CANCELDELEGATIONTOKEN&token=${tok}&user.name=alice`)).status).toBe(200);
    const gone = await api(s, 'PUT', '/', `op=RENEWDELEGATIONTOKEN&token=${tok}&user.name=alice`);
    expect(gone.status).toBe(403);
    expect(rex(gone).exception).toBe('InvalidToken');
  });
});
