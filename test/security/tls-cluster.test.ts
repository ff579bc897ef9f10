// TLS end to end: `sluice local` with `master.tls` serves HTTPS only; the CLI, the workers,
// AppMasters and executors verify it with the cluster's CA and an app runs to the end;
// `sluice logs` streams over HTTPS; a client trusting another CA is refused.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, Proc, useLocalAdminToken, waitFor, WORD_COUNT, writeWords } from '../e2e/helpers/engine-cluster.js';

const OPENSSL = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p));
let dir: string;
let local: Proc | undefined;
let addr: string;

function makeCa(name: string): void {
  const o = (args: string[]): void => void execFileSync(OPENSSL!, args, { cwd: dir, stdio: 'pipe', timeout: 30_000 });
  o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}-ca`, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`]);
  o(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', `${name}-server.key`, '-out', `${name}-server.csr`]);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  o(['x509', '-req', '-in', `${name}-server.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', `${name}-server.pem`]);
}

function yaml(ca: string): string {
  return `storage:\n  default:\n    module: '@sluice/storage-fs'\n    options: { root: ./store }\nmaster:\n  host: 127.0.0.1\n  port: 0\n  seedFile: ./master/seed.json\n  tls: { cert: ./good-server.pem, key: ./good-server.key, ca: ./${ca}-ca.pem }\nworker: { cacheDir: ./workers, heartbeatMs: 200 }\n`;
}

beforeAll(async () => {
  // A missing openssl is a failure, never a silent skip.
  expect(OPENSSL, 'openssl binary not found: TLS cluster test NOT RUN').toBeDefined();
  dir = mkdtempSync(join(tmpdir(), 'sluice-tls-cluster-'));
  makeCa('good');
  makeCa('evil');
  writeFileSync(join(dir, 'cluster.yaml'), yaml('good'));
  // Same master, but a client that trusts another CA.
  writeFileSync(join(dir, 'wrong-ca.yaml'), yaml('evil'));
  local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '1'], { cwd: dir, env: { SLUICE_LOG_LEVEL: 'info' } });
  addr = (await local.line(/master on (\S+),/, 30_000))[1]!;
  useLocalAdminToken(dir);
}, 90_000);

afterAll(async () => {
  await local?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TLS on a whole cluster', () => {
  it('an app runs over HTTPS end to end; the CLI verifies with the CA; a wrong CA and plain HTTP are refused', async () => {
    const input = join(dir, 'words.txt');
    writeWords(input, 300);
    const sub = await cli(['submit', WORD_COUNT, '-c', 'cluster.yaml', '--master', addr, '--json', '--config', `input=${input}`, '--config', `output=${join(dir, 'out')}`, '--config', 'executors=1'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const appId = (JSON.parse(sub.stdout) as { appId: string }).appId;
    const end = await waitFor('the app to end over HTTPS', 90_000, async () => {
      const r = await cli(['status', appId, '-c', 'cluster.yaml', '--master', addr, '--json'], dir);
      if (r.code !== 0) throw new Error(r.stderr);
      const a = JSON.parse(r.stdout) as { status: string };
      return ['running', 'pending'].includes(a.status) ? undefined : a;
    }, 500);
    expect(end.status).toBe('stopped');
    // Logs ship in batches: the AppMaster's last lines land as it exits, just after the finish.
    const logs = await waitFor('the last log lines over HTTPS', 20_000, async () => {
      const r = await cli(['logs', appId, '-c', 'cluster.yaml', '--master', addr, '--since', '1h', '--limit', '5000'], dir);
      if (r.code !== 0) throw new Error(r.stderr);
      return /app finished/.test(r.stdout) ? r : undefined;
    }, 500);
    expect(logs.stdout).toMatch(/all executors running/);
    const wrong = await cli(['acl', 'get', appId, '-c', 'wrong-ca.yaml', '--master', addr], dir);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/MASTER_UNREACHABLE|certificate|self.signed|verify/i);
    const plain = await fetch(`http://${addr}/health`).then((r) => r.status, () => 0);
    expect(plain).not.toBe(200);
  }, 150_000);
});
