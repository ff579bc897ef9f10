import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { JsonRouter, callJson, readBody, HttpError } from '../../dist/cluster/http.js';
import { executorsRequestSchema as launchExecutorsSchema, workerRegisterSchema, workerHeartbeatSchema, finishRequestSchema as finishSchema } from '../../dist/cluster/protocol.js';
import { createAuthenticator } from '../../dist/security/authenticator.js';
import { appDaemonToken, workerToken } from '../../dist/security/tokens.js';
import { addUser, issueToken, UsersRegistry } from '../../dist/security/users-file.js';
import { closeServer, portOf, rawRequest, tempDir } from './helpers.js';

/**
 * A router shaped like the master's (same kinds on the same paths), served over real
 * HTTP on 127.0.0.1, with real users-file tokens and real daemon tokens.
 */
describe('JsonRouter with auth', () => {
  let server: Server;
  let port: number;
  let router: JsonRouter;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  const secret = randomBytes(32);
  let aliceToken: string;
  const written: string[] = [];
  const workers: Array<{ name?: string }> = [];

  beforeAll(async () => {
    tmp = await tempDir();
    const usersFile = join(tmp.dir, 'users.json');
    await addUser(usersFile, 'alice');
    aliceToken = await issueToken(usersFile, 'alice');
    const users = await new UsersRegistry(usersFile).load();
    router = new JsonRouter({ auth: createAuthenticator({ users, clusterSecret: secret }) });
    router
      .add('GET', '/health', 'public', async () => ({ ok: true }))
      .add('GET', '/apps', 'user', async (_req, _p, _u, who) => ({ who }))
      .add('GET', '/apps/:id', 'user', async (_req, p) => ({ id: p.id }))
      .add('POST', '/apps/:id/kill', 'user', async (_req, p) => ({ killed: p.id }))
      .add('POST', '/workers/register', 'worker', async (req) => {
        const b = await readBody(req, workerRegisterSchema);
        workers.push(b);
        // What the old master did with a name: it reached a file path.
        if (b.name) {
          await mkdir(join(tmp.dir, 'workers'), { recursive: true });
          await writeFile(join(tmp.dir, 'workers', b.name), 'x');
        }
        return { workerId: b.name ?? 'w' };
      })
      .add('POST', '/workers/:id/heartbeat', 'worker', async (req, p) => ({ id: p.id, body: await readBody(req, workerHeartbeatSchema) }))
      .add('POST', '/apps/:id/am/heartbeat', { kind: 'appDaemon', roles: ['appmaster'] }, async () => ({ ok: true }))
      .add('POST', '/apps/:id/executors', { kind: 'appDaemon', roles: ['appmaster'] }, async (req, p) => {
        const b = await readBody(req, launchExecutorsSchema);
        for (const i of b.executors) {
          const f = join(tmp.dir, `${p.id}-executor-${i}.log`);
          written.push(f);
          await writeFile(f, 'x');
        }
        return { placed: b.executors };
      })
      .add('POST', '/apps/:id/finish', 'appDaemon', async (req) => readBody(req, finishSchema));
    server = await router.listen('127.0.0.1', 0);
    port = portOf(server);
  });

  afterAll(async () => {
    if (server) await closeServer(server);
    await tmp?.cleanup();
  });

  it('every non-public route in the table answers 401 without credentials, and 401 with a forged token', async () => {
    const table = router.routes();
    expect(table.length).toBeGreaterThanOrEqual(9);
    for (const r of table) expect(r.kind, `${r.method} ${r.pattern}`).toBeDefined();
    const closed = table.filter((r) => r.kind !== 'public');
    expect(closed.length).toBe(table.length - 1);
    for (const r of closed) {
      const none = await rawRequest(port, r.method, r.samplePath, r.method === 'POST' ? { body: '{}' } : {});
      expect(none.status, `${r.method} ${r.samplePath}`).toBe(401);
      expect(none.body.error.code).toBe('UNAUTHENTICATED');
      expect(none.headers['www-authenticate']).toContain('Bearer');
      const forged = await rawRequest(port, r.method, r.samplePath, { token: `sdw1.${'A'.repeat(43)}`, ...(r.method === 'POST' ? { body: '{}' } : {}) });
      expect(forged.status, `forged on ${r.method} ${r.samplePath}`).toBe(401);
    }
    expect((await rawRequest(port, 'GET', '/health')).status).toBe(200);
  });

  it('a real user token reaches user routes (and the handler sees the principal)', async () => {
    const r = await callJson({ url: `http://127.0.0.1:${port}`, token: aliceToken }, 'GET', '/apps');
    expect((r as { who?: unknown }).who).toEqual({ kind: 'user', name: 'alice', admin: false });
  });

  it('401 and 403 are distinct: a user token on a worker route is 403, a daemon token on a user route is 403', async () => {
    const u = await rawRequest(port, 'POST', '/workers/register', { token: aliceToken, body: '{}' });
    expect(u.status).toBe(403);
    expect(u.body.error.code).toBe('FORBIDDEN');
    const w = await rawRequest(port, 'GET', '/apps', { token: workerToken(secret) });
    expect(w.status).toBe(403);
  });

  it("app A's executor token on app B's daemon route is 403; on its own app it works", async () => {
    const tokA = appDaemonToken(secret, 'executor', 'appA', 1);
    const onB = await rawRequest(port, 'POST', '/apps/appB/finish', { token: tokA, body: JSON.stringify({ epoch: 1, amEpoch: 1, status: 'failed' }) });
    expect(onB.status).toBe(403);
    const onA = await rawRequest(port, 'POST', '/apps/appA/finish', { token: tokA, body: JSON.stringify({ epoch: 1, amEpoch: 1, status: 'failed' }) });
    expect(onA.status).toBe(200);
    // An executor token cannot call AppMaster-only routes of its own app.
    const am = await rawRequest(port, 'POST', '/apps/appA/executors', { token: tokA, body: JSON.stringify({ epoch: 1, amEpoch: 1, executors: [0], am: '127.0.0.1:1' }) });
    expect(am.status).toBe(403);
  });

  it('a spoofed worker (token under another secret) is 401 and registers nothing', async () => {
    const before = workers.length;
    const r = await rawRequest(port, 'POST', '/workers/register', { token: workerToken(randomBytes(32)), body: JSON.stringify({ name: 'evil', host: '127.0.0.1', slots: 4 }) });
    expect(r.status).toBe(401);
    expect(workers.length).toBe(before);
    const ok = await callJson({ url: `http://127.0.0.1:${port}`, token: workerToken(secret) }, 'POST', '/workers/register', { name: 'good', host: '127.0.0.1', slots: 2 });
    expect(ok).toMatchObject({ workerId: 'good' });
  });

  it('traversal in names and ids is 400 and creates no file', async () => {
    const wt = workerToken(secret);
    const before = await readdir(tmp.dir, { recursive: true });
    for (const name of ['../../PWNED', '..', '.hidden', 'a/b', 'x\u0000y']) {
      const r = await rawRequest(port, 'POST', '/workers/register', { token: wt, body: JSON.stringify({ name, host: '127.0.0.1', slots: 1 }) });
      expect(r.status, name).toBe(400);
      expect(r.body.error.code).toBe('BAD_REQUEST');
      expect(r.body.error.message).toContain('name');
    }
    const amTok = appDaemonToken(secret, 'appmaster', 'appA', 1);
    for (const id of ['..%2F..%2FPWNED', '%2e%2e', 'a%2Fb', '%00']) {
      const r = await rawRequest(port, 'POST', `/apps/${id}/executors`, { token: amTok, body: JSON.stringify({ epoch: 1, amEpoch: 1, executors: [0], am: '127.0.0.1:1' }) });
      expect(r.status, id).toBe(400);
    }
    const bad = await rawRequest(port, 'POST', '/apps/appA/executors', { token: amTok, body: JSON.stringify({ epoch: 1, amEpoch: 1, executors: ['../../x'], am: '127.0.0.1:1' }) });
    expect(bad.status).toBe(400);
    expect(await readdir(tmp.dir, { recursive: true })).toEqual(before);
    expect(existsSync(join(tmp.dir, '..', 'PWNED'))).toBe(false);
  });

  it('malformed %-escapes are 400, not 500', async () => {
    const r = await rawRequest(port, 'GET', '/apps/%E0%A4%A', { token: aliceToken });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/escape/);
  });

  it('a wrong method is 405 with Allow; an unknown path is 404', async () => {
    const r = await rawRequest(port, 'DELETE', '/apps/x/kill', { token: aliceToken });
    expect(r.status).toBe(405);
    expect(r.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(r.headers.allow).toBe('POST');
    const g = await rawRequest(port, 'PUT', '/apps');
    expect(g.headers.allow).toBe('GET');
    const n = await rawRequest(port, 'GET', '/nope');
    expect(n.status).toBe(404);
    expect(n.body.error.code).toBe('NO_ROUTE');
  });

  it('malformed worker payloads are 400 naming the field, and other clients are unaffected', async () => {
    const wt = workerToken(secret);
    const r = await rawRequest(port, 'POST', '/workers/w1/heartbeat', { token: wt, body: JSON.stringify({ executors: 'xyz' }) });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('executors');
    const notJson = await rawRequest(port, 'POST', '/workers/w1/heartbeat', { token: wt, body: '{' });
    expect(notJson.status).toBe(400);
    const ok = await callJson({ url: `http://127.0.0.1:${port}`, token: aliceToken }, 'GET', '/apps/app1');
    expect(ok).toEqual({ id: 'app1' });
  });

  it('bodies are bounded', async () => {
    const wt = workerToken(secret);
    const big = JSON.stringify({ executors: [], pad: 'x'.repeat(5 * 1024 * 1024) });
    const r = await rawRequest(port, 'POST', '/workers/w1/heartbeat', { token: wt, body: big }).catch((err: Error) => ({ status: -1, body: String(err) }));
    // Either a 400 answer or the connection is cut while we still send: never a 200.
    expect(r.status === 400 || r.status === -1).toBe(true);
  });

  it('callJson surfaces the server code as HttpError', async () => {
    const err = await callJson(`http://127.0.0.1:${port}`, 'GET', '/apps').catch((e: unknown) => e);
    expect(err, String(err)).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(401);
    expect((err as HttpError).code).toBe('UNAUTHENTICATED');
  });

  it('a router with auth refuses routes that do not declare their kind', () => {
    const r = new JsonRouter({ auth: async () => ({ kind: 'anonymous' }) });
    expect(() => r.add('GET', '/x', async () => 1)).toThrow(/access kind/);
    expect(() => r.add('POST', '/apps/x', 'appDaemon', async () => 1)).toThrow(/:id/);
  });
});
