import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { JsonRouter, callJson } from '../../dist/cluster/http.js';
import { loadTlsServer, loadTlsClientCa } from '../../dist/security/tls.js';
import { closeServer, portOf, tempDir } from './helpers.js';

const OPENSSL = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p));

/** A throw-away CA and a server certificate for 127.0.0.1 signed by it. */
function makeCa(dir: string, name: string): void {
  const o = (args: string[]): void => void execFileSync(OPENSSL!, args, { cwd: dir, stdio: 'pipe', timeout: 30_000 });
  o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}-ca`, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`]);
  o(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', `${name}-server.key`, '-out', `${name}-server.csr`]);
}

function signServer(dir: string, name: string): void {
  execFileSync(OPENSSL!, ['x509', '-req', '-in', `${name}-server.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', `${name}-server.pem`], { cwd: dir, stdio: 'pipe', timeout: 30_000 });
}

describe('TLS on the control API', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let server: Server;
  let base: string;

  beforeAll(async () => {
    // A missing openssl is a failure, never a silent skip.
    expect(OPENSSL, 'openssl binary not found: TLS tests NOT RUN').toBeDefined();
    tmp = await tempDir('sluice-tls-');
    await writeFile(join(tmp.dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    makeCa(tmp.dir, 'good');
    signServer(tmp.dir, 'good');
    makeCa(tmp.dir, 'other');
    const tls = await loadTlsServer({ cert: join(tmp.dir, 'good-server.pem'), key: join(tmp.dir, 'good-server.key'), ca: join(tmp.dir, 'good-ca.pem') });
    const r = new JsonRouter().add('GET', '/health', async () => ({ ok: true }));
    server = await r.listen('127.0.0.1', 0, undefined, { tls });
    base = `https://127.0.0.1:${portOf(server)}`;
  });

  afterAll(async () => {
    if (server) await closeServer(server);
    await tmp?.cleanup();
  });

  it('a client with the right CA verifies the master and gets an answer', async () => {
    const ca = await loadTlsClientCa({ ca: join(tmp.dir, 'good-ca.pem') });
    expect(await callJson({ url: base, ca: ca! }, 'GET', '/health')).toEqual({ ok: true });
  });

  it('a client with the wrong CA is refused (certificate not trusted)', async () => {
    const ca = await loadTlsClientCa({ ca: join(tmp.dir, 'other-ca.pem') });
    const err = await callJson({ url: base, ca: ca! }, 'GET', '/health').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MASTER_UNREACHABLE' });
    expect(String((err as Error).message)).toMatch(/certificate|CERT|self.signed|verify/i);
  });

  it('a client with no CA (system roots only) is refused', async () => {
    const err = await callJson(base, 'GET', '/health').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MASTER_UNREACHABLE' });
  });

  it('plain http to the TLS port gets no JSON answer', async () => {
    const err = await callJson(base.replace('https', 'http'), 'GET', '/health', undefined, 3000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
  });

  it('a missing or non-PEM file names its config key', async () => {
    await expect(loadTlsServer({ cert: join(tmp.dir, 'nope.pem'), key: join(tmp.dir, 'good-server.key') })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('master.tls.cert') });
    await expect(loadTlsServer({ cert: join(tmp.dir, 'san.ext'), key: join(tmp.dir, 'good-server.key') })).rejects.toMatchObject({ message: expect.stringContaining('not a PEM') });
  });
});
