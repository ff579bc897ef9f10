// Security bench: per-request cost of authentication (bearer token: scrypt once, then a
// cached digest) plus the ACL check, on the real master's `GET /apps/:id` and its log query
// route `GET /apps/:id/logs`, beside the same routes on a master with auth off, in the same
// run, over real HTTP (keep-alive, one connection each). Figure: p50 latency per request;
// goal (issue 12): auth on <= 1.10 x auth off.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'node:http';
import { loadClusterConfig, startMaster } from '../packages/engine/dist/index.js';
import { addUser, issueToken } from '../packages/engine/dist/security/users-file.js';
import { authPathsOf } from '../packages/engine/dist/security/auth-setup.js';
import { report } from './lib.mjs';

const WORD_COUNT = fileURLToPath(new URL('../packages/engine/examples/word-count/word-count.mjs', import.meta.url));
const REQUESTS = 3000;
const ROUNDS = 5;
process.env.SLUICE_LOG_LEVEL = 'error';

async function cluster(name, authOn) {
  const dir = mkdtempSync(join(tmpdir(), `sluice-bench-auth-${name}-`));
  writeFileSync(join(dir, 'cluster.yaml'), `storage:\n  default:\n    module: '@sluice/storage-fs'\n    options: { root: ./store }\nmaster: { host: 127.0.0.1, port: 0 }\n${authOn ? '' : 'auth: { enabled: false }\n'}`);
  const loaded = await loadClusterConfig(join(dir, 'cluster.yaml'));
  let token;
  if (authOn) {
    const users = authPathsOf(loaded).usersFile;
    await addUser(users, 'alice');
    await addUser(users, 'bob');
    token = await issueToken(users, 'bob');
    // alice owns the app and grants bob r: the check walks the ACL, not an owner shortcut.
    const alice = await issueToken(users, 'alice');
    const m = await startMaster(loaded);
    const res = await fetch(`http://${m.master.address}/apps?name=wc&acl=${encodeURIComponent('u:bob:r')}`, { method: 'POST', headers: { authorization: `Bearer ${alice}` }, body: readFileSync(WORD_COUNT) });
    const { appId } = await res.json();
    return { m, dir, token, appId };
  }
  const m = await startMaster(loaded);
  const res = await fetch(`http://${m.master.address}/apps?name=wc`, { method: 'POST', body: readFileSync(WORD_COUNT) });
  const { appId } = await res.json();
  return { m, dir, token, appId };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function get(address, path, token) {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path, agent, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function p50(address, path, token) {
  const t = [];
  for (let i = 0; i < REQUESTS; i++) {
    const s = process.hrtime.bigint();
    await get(address, path, token);
    t.push(Number(process.hrtime.bigint() - s) / 1e3);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

const on = await cluster('on', true);
const off = await cluster('off', false);
try {
  for (const [label, route] of [['GET /apps/:id', (id) => `/apps/${id}`], ['GET /apps/:id/logs', (id) => `/apps/${id}/logs?limit=10`]]) {
    // Warm both (the first authenticated request pays scrypt once), then alternate rounds.
    await p50(on.m.master.address, route(on.appId), on.token);
    await p50(off.m.master.address, route(off.appId));
    const a = [];
    const b = [];
    for (let r = 0; r < ROUNDS; r++) {
      a.push(await p50(on.m.master.address, route(on.appId), on.token));
      b.push(await p50(off.m.master.address, route(off.appId)));
    }
    a.sort((x, y) => x - y);
    b.sort((x, y) => x - y);
    report({
      name: `${label} with auth + ACL check (p50)`, value: a[Math.floor(ROUNDS / 2)], unit: 'µs', baseline: 'same route, auth off', baselineValue: b[Math.floor(ROUNDS / 2)],
      higherIsBetter: false, goal: 'ratio >= 0.91 (auth adds <= 10%)', notes: `median of ${ROUNDS} rounds x ${REQUESTS} requests, real master, fs store`,
    });
  }
} finally {
  agent.destroy();
  await on.m.stop();
  await off.m.stop();
  rmSync(on.dir, { recursive: true, force: true });
  rmSync(off.dir, { recursive: true, force: true });
}
