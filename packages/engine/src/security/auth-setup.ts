import { resolve, join } from 'node:path';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { EngineError } from '../errors.js';
import type { LoadedClusterConfig } from '../config/cluster-config.js';
import { authOff, createAuthenticator, type Authenticate } from './authenticator.js';
import { readPrivateFileIfExists, writePrivateFile } from './private-file.js';
import { newClusterSecret, workerToken } from './tokens.js';
import { addUser, issueToken, readUsersDoc, UsersRegistry } from './users-file.js';

/** Paths of the auth files of a cluster config (relative paths resolve against its folder). */
export interface AuthPaths {
  usersFile: string;
  clusterSecretFile: string;
  /** `<config folder>/admin.token`: the local admin's token, found by the CLI without flags. */
  adminTokenFile: string;
}

export function authPathsOf(loaded: LoadedClusterConfig): AuthPaths {
  const auth = loaded.config.auth;
  return {
    usersFile: resolve(loaded.baseDir, auth.usersFile ?? './.sluice/users.json'),
    clusterSecretFile: resolve(loaded.baseDir, auth.clusterSecretFile ?? './.sluice/cluster.secret'),
    adminTokenFile: join(loaded.baseDir, 'admin.token'),
  };
}

/** Every superuser: top-level `superusers` plus `auth.superusers`. */
export function superusersOf(loaded: LoadedClusterConfig): string[] {
  return [...new Set([...loaded.config.superusers, ...(loaded.config.auth.superusers ?? [])])];
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** Reads the cluster secret; creates it (0600) when `create` and absent. */
export async function loadClusterSecret(path: string, options: { create?: boolean } = {}): Promise<Buffer> {
  let text = await readPrivateFileIfExists(path, 'cluster secret');
  if (text === undefined) {
    if (!options.create) throw new EngineError('CONFIG_INVALID', `auth.clusterSecretFile: ${path} does not exist (the master creates it on first start)`, { details: { key: 'auth.clusterSecretFile' } });
    await writePrivateFile(path, `${newClusterSecret()}\n`);
    text = await readPrivateFileIfExists(path, 'cluster secret');
  }
  const secret = text!.trim();
  if (!/^[0-9a-f]{64,}$/.test(secret)) throw new EngineError('CONFIG_INVALID', `auth.clusterSecretFile: ${path} must hold at least 64 hex characters`, { details: { key: 'auth.clusterSecretFile' } });
  return Buffer.from(secret, 'hex');
}

export interface MasterAuth {
  authenticate: Authenticate;
  enabled: boolean;
  superusers: string[];
  /** Undefined only with auth off. */
  clusterSecret: Buffer | undefined;
  users: UsersRegistry | undefined;
}

/**
 * What the master needs to authenticate: refuses `auth.enabled: false` unless `host`
 * is loopback (and logs a warning when it is), creates the cluster secret on first start.
 */
export async function setupMasterAuth(loaded: LoadedClusterConfig, host: string, logger: Pick<Logger, 'warn'>): Promise<MasterAuth> {
  const superusers = superusersOf(loaded);
  if (!loaded.config.auth.enabled) {
    if (!isLoopbackHost(host)) throw new EngineError('CONFIG_INVALID', `auth.enabled: false is refused because master.host ${host} is not a loopback address; turn auth on or bind to 127.0.0.1`, { details: { key: 'auth.enabled' } });
    logger.warn({ host }, 'AUTHENTICATION IS OFF (auth.enabled: false): anyone who can reach this loopback port controls the cluster');
    return { authenticate: authOff, enabled: false, superusers, clusterSecret: undefined, users: undefined };
  }
  const paths = authPathsOf(loaded);
  const clusterSecret = await loadClusterSecret(paths.clusterSecretFile, { create: true });
  const users = await new UsersRegistry(paths.usersFile).load();
  return { authenticate: createAuthenticator({ users, clusterSecret }), enabled: true, superusers, clusterSecret, users };
}

/** A worker's bearer token, from the cluster secret file it shares with the master. */
export async function workerTokenOf(loaded: LoadedClusterConfig): Promise<string | undefined> {
  if (!loaded.config.auth.enabled) return undefined;
  return workerToken(await loadClusterSecret(authPathsOf(loaded).clusterSecretFile));
}

/**
 * For `sluice local` and the demo: an `admin` user with a token in `<config folder>/admin.token`
 * (0600), so the CLI works with no flags. Idempotent: an existing admin.token is kept.
 */
export async function ensureLocalAdmin(loaded: LoadedClusterConfig): Promise<string | undefined> {
  if (!loaded.config.auth.enabled) return undefined;
  const paths = authPathsOf(loaded);
  const existing = await readPrivateFileIfExists(paths.adminTokenFile, 'admin token');
  if (existing?.trim()) return existing.trim();
  const doc = await readUsersDoc(paths.usersFile);
  if (!doc.users.admin) await addUser(paths.usersFile, 'admin', { admin: true });
  const token = await issueToken(paths.usersFile, 'admin');
  await writePrivateFile(paths.adminTokenFile, `${token}\n`);
  return token;
}
