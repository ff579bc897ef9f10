import type { TestJson } from '../e2e/helpers/engine-cluster.js';
// The real master's control API probed as an attacker would: every route of its route
// table without credentials, every permission as the wrong user, daemon tokens on the
// wrong app or role, spoofed workers, traversal in every id and name, malformed payloads.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClusterConfig, startMaster, type StartedMaster } from '@sluice/engine';
import { WORD_COUNT } from '../e2e/helpers/engine-cluster.js';
import { addUser, issueToken } from '../../packages/engine/dist/security/users-file.js';
import { appDaemonToken, workerToken } from '../../packages/engine/dist/security/tokens.js';
import { authPathsOf, loadClusterSecret } from '../../packages/engine/dist/security/auth-setup.js';

let dir: string;
let m: StartedMaster;
let base: string;
let secret: Buffer;
const tok: Record<string, string> = {};
let appA: string;
let appB: string;

async function req(method: string, path: string, o: { token?: string; body?: unknown; raw?: string } = {}): Promise<{ status: number; body: TestJson; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | Buffer | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) {
    body = Buffer.isBuffer(o.body) ? o.body : JSON.stringify(o.body);
    if (!Buffer.isBuffer(o.body)) headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  let parsed: TestJson = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Prometheus text, HTML
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

function allFiles(d: string): string[] {
  return readdirSync(d, { withFileTypes: true, recursive: true }).map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-sec-routes-'));
  writeFileSync(join(dir, 'cluster.yaml'), "storage:\n  default:\n    module: '@sluice/storage-fs'\n    options: { root: ./store }\nmaster: { host: 127.0.0.1, port: 0, seedFile: ./master/seed.json }\n");
  const loaded = await loadClusterConfig(join(dir, 'cluster.yaml'));
  const users = authPathsOf(loaded).usersFile;
  for (const u of ['alice', 'bob', 'carol']) {
    await addUser(users, u);
    tok[u] = await issueToken(users, u);
  }
  m = await startMaster(loaded);
  base = `http://${m.master.address}`;
  secret = await loadClusterSecret(authPathsOf(loaded).clusterSecretFile);
  tok.worker = workerToken(secret);
  const reg = await req('POST', '/workers/register', { token: tok.worker, body: { name: 'w1', slots: 16 } });
  expect(reg.status).toBe(200);
  const artifact = readFileSync(WORD_COUNT);
  const a = await req('POST', `/apps?name=a&acl=${encodeURIComponent('u:carol:r')}&config=${encodeURIComponent('{"executors":1}')}`, { token: tok.alice, body: artifact });
  expect(a.status, JSON.stringify(a.body)).toBe(200);
  appA = a.body.appId;
  const b = await req('POST', '/apps?name=b', { token: tok.alice, body: artifact });
  appB = b.body.appId;
});

afterAll(async () => {
  await m?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the master control API under attack', () => {
  it('every non-public route of the route table answers 401 without credentials and with a forged token', async () => {
    const routes = m.master.routeTable;
    expect(routes.length).toBeGreaterThan(10);
    expect(routes.every((r) => r.kind !== undefined)).toBe(true);
    const open = routes.filter((r) => r.kind === 'public').map((r) => `${r.method} ${r.pattern}`);
    expect(open).toEqual(['GET /health']);
    for (const r of routes.filter((x) => x.kind !== 'public')) {
      for (const token of [undefined, 'slt1.0123456789abcdef.forgedforgedforgedforgedforgedforgedforge', 'not-a-token']) {
        const res = await req(r.method, r.samplePath, { ...(token ? { token } : {}), ...(r.method === 'GET' ? {} : { body: {} }) });
        expect(res.status, `${r.method} ${r.samplePath} token=${token ?? 'none'}`).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHENTICATED');
        expect(res.headers.get('www-authenticate')).toMatch(/Bearer/);
      }
    }
    // The query routes outside the table, too.
    expect((await req('GET', `/apps/${appA}/logs`)).status).toBe(401);
    expect((await req('GET', `/apps/${appA}/metrics`)).status).toBe(401);
    expect((await req('GET', '/metrics')).status).toBe(401);
  });

  it('owner, r, w and a: another user gets 403 for each; apps lists only what the caller may read', async () => {
    // bob: nothing on A.
    expect((await req('GET', `/apps/${appA}`, { token: tok.bob })).status).toBe(403);
    expect((await req('GET', `/apps/${appA}/logs`, { token: tok.bob })).status).toBe(403);
    expect((await req('GET', `/apps/${appA}/acl`, { token: tok.bob })).status).toBe(403);
    expect((await req('POST', `/apps/${appA}/kill`, { token: tok.bob })).status).toBe(403);
    expect((await req('PUT', `/apps/${appA}/acl`, { token: tok.bob, body: { acl: ['u:bob:rwa'] } })).status).toBe(403);
    expect((await req('DELETE', `/apps/${appA}`, { token: tok.bob })).status).toBe(403);
    expect((await req('GET', '/apps', { token: tok.bob })).body.apps).toEqual([]);
    // carol: r on A only.
    expect((await req('GET', `/apps/${appA}`, { token: tok.carol })).status).toBe(200);
    expect((await req('GET', `/apps/${appA}/logs`, { token: tok.carol })).status).toBe(200);
    expect((await req('GET', `/apps/${appB}`, { token: tok.carol })).status).toBe(403);
    expect((await req('POST', `/apps/${appA}/kill`, { token: tok.carol })).status).toBe(403);
    expect((await req('PUT', `/apps/${appA}/acl`, { token: tok.carol, body: { acl: [] } })).status).toBe(403);
    expect((await req('GET', '/apps', { token: tok.carol })).body.apps.map((x: TestJson) => x.appId)).toEqual([appA]);
    // alice owns both; the owner is who authenticated, not a header.
    const mine = await req('GET', `/apps/${appA}`, { token: tok.alice });
    expect(mine.body.owner).toBe('alice');
    expect((await req('GET', '/apps', { token: tok.alice })).body.apps).toHaveLength(2);
    // a: alice grants bob w; now bob may kill B? no: the grant was on A.
    expect((await req('PUT', `/apps/${appA}/acl`, { token: tok.alice, body: { acl: ['u:carol:r', 'u:bob:w'] } })).status).toBe(200);
    expect((await req('POST', `/apps/${appB}/kill`, { token: tok.bob })).status).toBe(403);
  });

  it('daemon tokens: scoped to their app, role and epoch; users and workers cannot call daemon routes', async () => {
    const status = { epoch: 1, amEpoch: 1, control: '127.0.0.1:1', pid: 1, restarts: 0, commits: 0, executors: 1, connected: 0, phase: 'starting' };
    const amA = appDaemonToken(secret, 'appmaster', appA, 1);
    const exA = appDaemonToken(secret, 'executor', appA, 1);
    const amAEpoch9 = appDaemonToken(secret, 'appmaster', appA, 9);
    expect((await req('POST', `/apps/${appB}/am/heartbeat`, { token: amA, body: status })).status).toBe(403);
    expect((await req('POST', `/apps/${appA}/restart`, { token: exA, body: { epoch: 1, amEpoch: 1, reason: 'x' } })).status).toBe(403);
    expect((await req('POST', `/apps/${appA}/am/heartbeat`, { token: amAEpoch9, body: status })).status).toBe(403);
    expect((await req('POST', `/apps/${appA}/finish`, { token: tok.alice, body: { epoch: 1, amEpoch: 1, status: 'failed' } })).status).toBe(403);
    expect((await req('POST', `/apps/${appA}/epoch`, { token: tok.alice, body: { epoch: 1 } })).status).toBe(404);
    expect((await req('GET', '/apps', { token: tok.worker })).status).toBe(403);
    expect((await req('GET', '/apps', { token: amA })).status).toBe(403);
    // The right token works.
    expect((await req('POST', `/apps/${appA}/am/heartbeat`, { token: amA, body: status })).status).toBe(200);
    // Launch commands carry the scoped token; the cluster secret never leaves the master.
    const hb = await req('POST', '/workers/w1/heartbeat', { token: tok.worker, body: { executors: [], exited: [] } });
    const launches = (hb.body.commands as TestJson[]).filter((c) => c.type === 'launch');
    expect(launches.length).toBeGreaterThan(0);
    for (const c of launches) expect(c.token).toBe(appDaemonToken(secret, c.role, c.appId, c.epoch));
    expect(JSON.stringify(hb.body)).not.toContain(secret.toString('hex'));
  });

  it('spoofed workers are refused: no registration, no fake AppMaster exit, no launch sent to them', async () => {
    expect((await req('POST', '/workers/register', { body: { name: 'evil', slots: 64 } })).status).toBe(401);
    const fakeExit = { executors: [], exited: [{ appId: appA, role: 'appmaster', executor: -1, epoch: 1, pid: 1, logFile: 'x', startedAt: 1, code: 1, signal: null }] };
    expect((await req('POST', '/workers/w1/heartbeat', { body: fakeExit })).status).toBe(401);
    expect((await req('POST', '/workers/w1/heartbeat', { token: tok.alice, body: fakeExit })).status).toBe(403);
    const workers = await req('GET', '/workers', { token: tok.alice });
    expect(workers.body.workers.map((w: TestJson) => w.id)).toEqual(['w1']);
  });

  it('traversal in every id and name is 400 and creates no file; malformed payloads are 400 and others are unaffected', async () => {
    const amA = appDaemonToken(secret, 'appmaster', appA, 1);
    const before = new Set(allFiles(dir));
    const cases: Array<[string, string, { token: string; body?: unknown; raw?: string }]> = [
      ['POST', '/workers/register', { token: tok.worker, body: { name: '../../PWNED', slots: 1 } }],
      ['POST', '/workers/register', { token: tok.worker, body: { name: 'ok', host: '../x/y', slots: 1 } }],
      ['POST', `/apps/${appA}/executors`, { token: amA, body: { epoch: 1, amEpoch: 1, executors: ['../../x'], am: '127.0.0.1:1' } }],
      ['POST', `/apps/${appA}/executors`, { token: amA, body: { epoch: 1, amEpoch: 1, executors: [0], am: '../../PWNED:1' } }],
      ['POST', '/workers/w1/heartbeat', { token: tok.worker, body: { executors: [{ appId: '../../PWNED', role: 'executor', executor: 0, epoch: 1, pid: 5, logFile: 'x', startedAt: 1 }] } }],
      ['POST', '/workers/w1/heartbeat', { token: tok.worker, body: { executors: 'xyz' } }],
      ['POST', '/workers/w1/heartbeat', { token: tok.worker, raw: '{"executors": [' }],
      ['POST', `/apps?name=${encodeURIComponent('../evil')}`, { token: tok.alice, raw: 'x' }],
      ['POST', '/apps?name=n&config=null', { token: tok.alice, raw: 'x' }],
      ['POST', '/apps?name=n&config=%5B1%5D', { token: tok.alice, raw: 'x' }],
      ['POST', `/apps?name=n&acl=${encodeURIComponent('u:../x:r')}`, { token: tok.alice, raw: 'x' }],
      ['GET', '/apps/..%2F..%2Fetc', { token: tok.alice }],
      ['GET', '/apps/%E0%A4%A', { token: tok.alice }],
      ['PUT', `/apps/${appA}/acl`, { token: tok.alice, body: { acl: ['u:x:zzz'] } }],
    ];
    for (const [method, path, o] of cases) {
      const r = await req(method, path, o);
      expect(r.status, `${method} ${path} ${JSON.stringify(o.body ?? o.raw)} -> ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.error.code).toBe('BAD_REQUEST');
    }
    // Encoded dot segments, sent as is (fetch would normalise them away).
    for (const path of ['/apps/%2e%2e', '/apps/%2E%2E/kill', '/apps/.hidden', '/workers/%2e%2e/heartbeat']) {
      const status = await new Promise<number>((resolve, reject) => {
        const r = httpRequest({ host: '127.0.0.1', port: Number(base.split(':').pop()), path, method: path.endsWith('heartbeat') || path.endsWith('kill') ? 'POST' : 'GET', headers: { authorization: `Bearer ${path.startsWith('/workers') ? tok.worker : tok.alice}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        r.on('error', reject);
        r.end();
      });
      expect(status, path).toBe(400);
    }
    const created = allFiles(dir).filter((f) => !before.has(f) && /PWNED|evil|etc$/.test(f));
    expect(created).toEqual([]);
    // One bad worker breaks nothing for anyone else.
    expect((await req('GET', '/apps', { token: tok.alice })).status).toBe(200);
    expect((await req('GET', `/apps/${appA}`, { token: tok.alice })).status).toBe(200);
    expect((await req('GET', '/workers', { token: tok.alice })).status).toBe(200);
  });

  it('HTTP hygiene: 405 with Allow for a wrong method, 404 for no route', async () => {
    const r = await req('PATCH', '/apps', { token: tok.alice });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toMatch(/GET/);
    expect(r.headers.get('allow')).toMatch(/POST/);
    expect((await req('GET', '/nope', { token: tok.alice })).status).toBe(404);
  });
});
