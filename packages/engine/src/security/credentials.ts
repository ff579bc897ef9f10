import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { EngineError } from '../errors.js';
import type { LoadedClusterConfig } from '../config/cluster-config.js';
import { readPrivateFile, readPrivateFileIfExists } from './private-file.js';
import { authPathsOf } from './auth-setup.js';
import { authedMasterClient, masterUrls } from '../cluster/master-client.js';
import { loadTlsClientCa } from './tls.js';
import type { Endpoint } from '../cluster/http.js';

/** Where a CLI token came from (shown by `sluice auth whoami`, never the token itself). */
export type TokenSource = 'token-file' | 'env' | 'credentials' | 'admin.token' | 'none';

/** `$XDG_CONFIG_HOME/sluice/credentials` or `~/.config/sluice/credentials`. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'sluice', 'credentials');
}

/**
 * The credentials file: one token per line, either `<token>` (any master) or
 * `<host:port> <token>` (that master); `#` starts a comment. Must be 0600.
 */
export function tokenFromCredentials(text: string, master: string): string | undefined {
  let fallback: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const parts = line.split(/\s+/);
    if (parts.length === 1) fallback ??= parts[0];
    else if (parts[0] === master || parts[0] === master.replace(/^https?:\/\//, '')) return parts[1];
  }
  return fallback;
}

export interface ResolveTokenOptions {
  tokenFile?: string;
  master: string;
  loaded?: LoadedClusterConfig;
  env?: NodeJS.ProcessEnv;
}

/**
 * The CLI's token, first found wins: `--token-file`, `SLUICE_TOKEN`, the per-user
 * credentials file, then the local cluster's `<config folder>/admin.token`.
 */
export async function resolveToken(o: ResolveTokenOptions): Promise<{ token: string | undefined; source: TokenSource }> {
  const env = o.env ?? process.env;
  if (o.tokenFile) {
    let text: string;
    try {
      text = await readPrivateFile(o.tokenFile, 'token file');
    } catch (err) {
      if (err instanceof EngineError) throw err;
      throw new EngineError('CONFIG_INVALID', `--token-file ${o.tokenFile}: ${(err as Error).message}`, { cause: err, details: { exit: 2 } });
    }
    return { token: text.trim(), source: 'token-file' };
  }
  if (env.SLUICE_TOKEN) return { token: env.SLUICE_TOKEN.trim(), source: 'env' };
  const cred = await readPrivateFileIfExists(credentialsPath(env), 'credentials file');
  const fromCred = cred === undefined ? undefined : tokenFromCredentials(cred, o.master);
  if (fromCred) return { token: fromCred, source: 'credentials' };
  if (o.loaded) {
    const admin = await readPrivateFileIfExists(authPathsOf(o.loaded).adminTokenFile, 'admin token');
    if (admin?.trim()) return { token: admin.trim(), source: 'admin.token' };
  }
  return { token: undefined, source: 'none' };
}

/**
 * The master endpoint the CLI calls: https + CA when `master.tls` is set, plus the
 * resolved token. With several masters (`--master a,b,c` or `master.urls`), the one that
 * reports itself leader (or the leader a follower names).
 */
export async function cliEndpoint(master: string, loaded: LoadedClusterConfig | undefined, tokenFile?: string): Promise<Endpoint> {
  const tls = loaded?.config.master.tls;
  const list = master.includes(',') ? masterUrls(master) : loaded?.config.master.urls && !master ? masterUrls(loaded.config.master.urls) : [master];
  const hostPort = (list[0] ?? master).replace(/^https?:\/\//, '');
  const ep: Endpoint = { url: `${tls ? 'https' : 'http'}://${hostPort}` };
  const { token } = await resolveToken({ master: hostPort, ...(loaded ? { loaded } : {}), ...(tokenFile ? { tokenFile } : {}) });
  if (token) ep.token = token;
  if (tls?.ca && loaded) {
    const ca = await loadTlsClientCa({ ca: resolve(loaded.baseDir, tls.ca) });
    if (ca) ep.ca = ca;
  }
  if (list.length > 1) ep.url = await findLeader(list.map((u) => (u.includes('://') ? u : `${tls ? 'https' : 'http'}://${u}`)), ep);
  return ep;
}

/** Asks every master's /health (bounded) for the leader; the first URL if none answers. */
async function findLeader(urls: string[], auth: Endpoint): Promise<string> {
  const health = await authedMasterClient(urls, { ...(auth.token ? { token: auth.token } : {}), ...(auth.ca ? { ca: auth.ca } : {}) }).health(2000);
  const self = health.find((h) => h.ok && (h.health?.role === 'leader' || h.health?.role === 'single'));
  if (self) return self.url;
  const named = health.map((h) => h.health?.leader).find((l): l is string => typeof l === 'string' && l.length > 0);
  return named ?? urls[0]!;
}
