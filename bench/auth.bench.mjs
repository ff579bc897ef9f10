// Security bench: per-request cost of authentication (bearer token, verified once with
// scrypt then cached) plus the ACL check on `GET /apps/:id`, beside the same route on a
// router with auth off, both served over real HTTP (keep-alive) in this process run.
// Figure: p50 latency per request; goal: auth on <= 1.10 x auth off.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { JsonRouter } from '../packages/engine/dist/cluster/http.js';
import { createAuthenticator } from '../packages/engine/dist/security/authenticator.js';
import { assertAuthorized } from '../packages/engine/dist/security/authorize.js';
import { addUser, issueToken, UsersRegistry } from '../packages/engine/dist/security/users-file.js';
import { report } from './lib.mjs';

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-auth-'));
const REQUESTS = 4000;
const ROUNDS = 5;
const app = { appId: 'app1', owner: 'alice', acl: ['u:bob:r'], status: 'running', epoch: 3 };

try {
  const usersFile = join(dir, 'users.json');
  await addUser(usersFile, 'bob');
  const token = await issueToken(usersFile, 'bob');
  const users = await new UsersRegistry(usersFile).load();

  const off = new JsonRouter().add('GET', '/apps/:id', async (_req, p) => ({ ...app, appId: p.id }));
  const on = new JsonRouter({ auth: createAuthenticator({ users, clusterSecret: randomBytes(32) }) }).add('GET', '/apps/:id', 'user', async (_req, p, _u, who) => {
    assertAuthorized(who, app, 'r');
    return { ...app, appId: p.id };
  });
  const sOff = await off.listen('127.0.0.1', 0);
  const sOn = await on.listen('127.0.0.1', 0);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  const get = (port, auth) =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/apps/app1', agent, headers: auth ? { authorization: `Bearer ${token}` } : {} }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });

  // Interleaved rounds so machine noise hits both sides alike; p50 over all samples.
  const tOff = [];
  const tOn = [];
  for (let w = 0; w < 300; w++) await get(sOn.address().port, true).then(() => get(sOff.address().port, false));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [port, auth, out] of [[sOff.address().port, false, tOff], [sOn.address().port, true, tOn]]) {
      for (let i = 0; i < REQUESTS / ROUNDS; i++) {
        const s = performance.now();
        await get(port, auth);
        out.push(performance.now() - s);
      }
    }
  }
  const p50 = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const on50 = p50(tOn) * 1000;
  const off50 = p50(tOff) * 1000;
  report({
    name: 'GET /apps/:id p50 with auth + ACL (token cached)',
    value: on50,
    unit: 'us/request',
    baseline: 'same route, auth off, same run',
    baselineValue: off50,
    higherIsBetter: false,
    goal: 'ratio >= 0.91 (auth costs <= 10% at p50)',
    notes: `${REQUESTS} requests each, keep-alive, one socket; first use of a token costs one scrypt (~30-60 ms), then a SHA-256 + map lookup`,
  });
  agent.destroy();
  await new Promise((r) => sOff.close(r));
  await new Promise((r) => sOn.close(r));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
