import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseClusterConfig } from '../../dist/config/cluster-config.js';
import { authPathsOf, ensureLocalAdmin, isLoopbackHost, setupMasterAuth, workerTokenOf } from '../../dist/security/auth-setup.js';
import { credentialsPath, resolveToken } from '../../dist/security/credentials.js';
import { verifyDaemonToken } from '../../dist/security/tokens.js';
import { tempDir } from './helpers.js';

const quiet = { warn: () => undefined };

describe('auth setup', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> } | undefined;
  afterEach(async () => tmp?.cleanup());

  const loaded = (dir: string, doc: unknown = {}) => ({ config: parseClusterConfig(doc), baseDir: dir });

  it('auth is on by default; the config names the key of a bad auth section', () => {
    expect(parseClusterConfig({}).auth.enabled).toBe(true);
    expect(() => parseClusterConfig({ auth: { enabled: 'no' } })).toThrow(/auth\.enabled/);
    expect(() => parseClusterConfig({ master: { tls: { cert: 'c' } } })).toThrow(/master\.tls\.key/);
  });

  it('auth off is refused unless the master binds to loopback, and warns when it does', async () => {
    tmp = await tempDir();
    const l = loaded(tmp.dir, { auth: { enabled: false } });
    await expect(setupMasterAuth(l, '0.0.0.0', quiet)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('auth.enabled') });
    const warnings: string[] = [];
    const a = await setupMasterAuth(l, '127.0.0.1', { warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)) });
    expect(a.enabled).toBe(false);
    expect(warnings.join()).toMatch(/AUTHENTICATION IS OFF/);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('127.0.0.5')).toBe(true);
    expect(isLoopbackHost('10.0.0.1')).toBe(false);
    expect(isLoopbackHost('localhost.evil.com')).toBe(false);
  });

  it('the master creates a 0600 cluster secret; workers derive a token the master accepts', async () => {
    tmp = await tempDir();
    const l = loaded(tmp.dir);
    const a = await setupMasterAuth(l, '0.0.0.0', quiet);
    expect((await stat(authPathsOf(l).clusterSecretFile)).mode & 0o777).toBe(0o600);
    const wt = await workerTokenOf(l);
    expect(verifyDaemonToken(a.clusterSecret!, wt!)).toEqual({ kind: 'worker' });
  });

  it('the local quick start: admin.token (0600) is created once and found by the CLI with no flags', async () => {
    tmp = await tempDir();
    const l = loaded(tmp.dir);
    const t = await ensureLocalAdmin(l);
    expect(await ensureLocalAdmin(l)).toBe(t);
    expect((await stat(join(tmp.dir, 'admin.token'))).mode & 0o777).toBe(0o600);
    const env = { HOME: join(tmp.dir, 'home') };
    expect(await resolveToken({ master: '127.0.0.1:7070', loaded: l, env })).toEqual({ token: t, source: 'admin.token' });
    const a = await setupMasterAuth(l, '127.0.0.1', quiet);
    const who = await a.authenticate({ headers: { authorization: `Bearer ${t}` } } as never);
    expect(who).toEqual({ kind: 'user', name: 'admin', admin: true });
  });

  it('token resolution order: --token-file, SLUICE_TOKEN, credentials file (per master, then default), admin.token', async () => {
    tmp = await tempDir();
    const l = loaded(tmp.dir);
    await ensureLocalAdmin(l);
    const env: NodeJS.ProcessEnv = { HOME: join(tmp.dir, 'home') };
    const cred = credentialsPath(env);
    await mkdir(join(tmp.dir, 'home', '.config', 'sluice'), { recursive: true });
    await writeFile(cred, '# mine\nslt-default\n127.0.0.1:7070 slt-for-7070\n', { mode: 0o600 });
    expect(await resolveToken({ master: '127.0.0.1:7070', loaded: l, env })).toEqual({ token: 'slt-for-7070', source: 'credentials' });
    expect(await resolveToken({ master: '127.0.0.1:9999', loaded: l, env })).toEqual({ token: 'slt-default', source: 'credentials' });
    expect((await resolveToken({ master: 'x', loaded: l, env: { ...env, SLUICE_TOKEN: 'from-env' } })).source).toBe('env');
    const tf = join(tmp.dir, 'tok');
    await writeFile(tf, 'from-file\n', { mode: 0o600 });
    expect(await resolveToken({ master: 'x', loaded: l, env: { ...env, SLUICE_TOKEN: 'from-env' }, tokenFile: tf })).toEqual({ token: 'from-file', source: 'token-file' });
    // A credentials file others can read is refused, not used.
    await chmod(cred, 0o644);
    await expect(resolveToken({ master: 'x', loaded: l, env })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('chmod 600') });
  });
});
