// The one error mapping, fed with real answers of the test server (WebHDFS: 403/404,
// HttpFS: 500 with the class hidden behind "RemoteException") and with the table's rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStorageError } from '@sluice/storage-api';
import { mapHdfsError, type WebHdfsClient } from '@sluice/storage-hdfs';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { freshRoot, rawClient } from './helpers.js';

const cases: Array<[string, number, string, string, boolean]> = [
  ['FileNotFoundException', 404, 'File does not exist: /x', 'STORAGE_NOT_FOUND', false],
  ['FileAlreadyExistsException', 403, '/x for client 127.0.0.1 already exists', 'STORAGE_ALREADY_EXISTS', false],
  ['AccessControlException', 403, 'Permission denied: user=bob, access=WRITE', 'STORAGE_PERMISSION_DENIED', false],
  ['SecurityException', 403, 'Failed to obtain user group information', 'STORAGE_PERMISSION_DENIED', false],
  ['AlreadyBeingCreatedException', 403, 'Failed to CREATE_FILE /x … already the current lease holder', 'STORAGE_UNAVAILABLE', true],
  ['RecoveryInProgressException', 403, 'lease recovery is in progress. Try again later.', 'STORAGE_UNAVAILABLE', true],
  ['SafeModeException', 403, 'Name node is in safe mode.', 'STORAGE_UNAVAILABLE', true],
  ['RetriableException', 403, 'Server is busy', 'STORAGE_UNAVAILABLE', true],
  ['StandbyException', 403, 'Operation category READ is not supported in state standby', 'STORAGE_UNAVAILABLE', true],
  ['IllegalArgumentException', 400, 'Invalid value for webhdfs parameter "permission"', 'STORAGE_INVALID_ARGUMENT', false],
  // HttpFS: IOExceptions are 500 and the class may be the generic wrapper.
  ['RemoteException', 500, 'Failed to APPEND_FILE /x because this file lease is currently owned by DFSClient_1', 'STORAGE_UNAVAILABLE', true],
  ['RemoteException', 500, '/x already exists', 'STORAGE_ALREADY_EXISTS', false],
  ['RemoteException', 500, 'Permission denied: user=bob', 'STORAGE_PERMISSION_DENIED', false],
];

describe('mapHdfsError table', () => {
  for (const [exception, status, message, code, transient] of cases) {
    it(`${exception} (${status}) "${message.slice(0, 30)}" → ${code}`, () => {
      const e = mapHdfsError({ kind: 'http', status, remote: { exception, message }, op: 'OP', path: '/x' });
      expect(e.code).toBe(code);
      expect(e.transient).toBe(transient);
    });
  }
  it('a 403 is not "permission denied" by status alone', () => {
    expect(mapHdfsError({ kind: 'http', status: 403, remote: { exception: 'FileAlreadyExistsException', message: 'm' }, op: 'X', path: '/' }).code).toBe('STORAGE_ALREADY_EXISTS');
  });
  it('connection errors are transient and flagged ambiguous', () => {
    const e = mapHdfsError({ kind: 'network', cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), op: 'X', path: '/' });
    expect(e.code).toBe('STORAGE_UNAVAILABLE');
    expect(e.transient).toBe(true);
    expect(e.details?.ambiguous).toBe(true);
  });
});

for (const mode of ['webhdfs', 'httpfs'] as const) {
  describe(`real answers (${mode})`, () => {
    let server: WebHdfsServer;
    let client: WebHdfsClient;
    beforeAll(async () => {
      server = await startWebHdfsServer({ mode, enforcePermissions: true, faults: { httpfsWrapRemoteException: mode === 'httpfs' } });
      client = rawClient(server, 'alice');
    });
    afterAll(async () => {
      await client?.close();
      await server?.stop();
    });

    it('missing file, existing destination, permission denied, safe mode', async () => {
      const root = `/user/alice${freshRoot()}`;
      const admin = rawClient(server, 'hdfs');
      try {
        await admin.mkdirs('/user/alice', '755');
        await admin.setOwner('/user/alice', 'alice');
      } finally {
        await admin.close();
      }
      await expect(client.readAll(`${root}/missing`)).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' });
      await client.create(`${root}/a`, Buffer.from('a'), { permission: '600' });
      await client.create(`${root}/b`, Buffer.from('b'), { permission: '600' });
      await expect(client.rename(`${root}/a`, `${root}/b`, 'NONE')).rejects.toMatchObject({ code: 'STORAGE_ALREADY_EXISTS' });
      const bob = rawClient(server, 'bob');
      try {
        await expect(bob.readAll(`${root}/a`)).rejects.toMatchObject({ code: 'STORAGE_PERMISSION_DENIED' });
      } finally {
        await bob.close();
      }
      server.setSafeMode(true);
      try {
        const err = await client.mkdirs(`${root}/d`, '700').catch((e: unknown) => e);
        expect(isStorageError(err) && err.code === 'STORAGE_UNAVAILABLE' && err.transient).toBe(true);
      } finally {
        server.setSafeMode(false);
      }
    });
  });
}
