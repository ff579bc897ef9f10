import { createHmac, hash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * User API tokens (stored scrypt-hashed) and daemon tokens (HMAC under the cluster
 * secret, scoped to one app, epoch and role). No token is ever stored in clear.
 */

/** scrypt cost: N=2^14, r=8 (~30 ms, 16 MiB) — OWASP's minimum; verification is cached per token. */
export const SCRYPT_PARAMS = { N: 1 << 14, r: 8, p: 1 } as const;
const KEY_LEN = 32;
/** scrypt needs 128*N*r bytes; leave headroom over Node's 32 MiB default maxmem. */
const SCRYPT_MAXMEM = 64 * 1024 * 1024;

function scrypt(secret: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: SCRYPT_MAXMEM };
  return new Promise((resolve, reject) => scryptCb(secret, salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$<salt b64url>$<hash b64url>` */
export async function hashSecret(secret: string, params: { N: number; r: number; p: number } = SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Constant-time check of `secret` against a `hashSecret` string; false for malformed hashes. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((x) => Number.isInteger(x) && x > 0)) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length !== KEY_LEN) return false;
  const got = await scrypt(secret, salt, { N, r, p });
  return timingSafeEqual(got, expected);
}

/** User tokens: `slt1.<tokenId>.<secret>`; the id finds the stored hash without scanning. */
const USER_TOKEN_RE = /^slt1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

export function newUserToken(): { token: string; tokenId: string; secret: string } {
  const tokenId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { token: `slt1.${tokenId}.${secret}`, tokenId, secret };
}

export function parseUserToken(token: string): { tokenId: string; secret: string } | undefined {
  const m = USER_TOKEN_RE.exec(token);
  return m ? { tokenId: m[1]!, secret: m[2]! } : undefined;
}

/** A cache key for a presented token: never keep the token itself in memory longer than needed. */
export function tokenDigest(token: string): string {
  // One-shot hash: on every authenticated request, ~3× cheaper than createHash().update().digest().
  return hash('sha256', token, 'base64url');
}

export type DaemonRole = 'appmaster' | 'executor';

export type DaemonClaims =
  | { kind: 'worker' }
  | { kind: 'appDaemon'; role: DaemonRole; appId: string; epoch: number };

/** App ids as the master mints them (validated before they reach a MAC or a path). */
const APP_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function mac(secret: Buffer, what: string): string {
  return createHmac('sha256', secret).update(what).digest('base64url');
}

/** The token a worker presents: proves knowledge of the cluster secret without sending it. */
export function workerToken(clusterSecret: Buffer): string {
  return `sdw1.${mac(clusterSecret, 'sluice-worker-v1')}`;
}

/** A token for one AppMaster or executor of one app at one epoch (set in its environment at launch). */
export function appDaemonToken(clusterSecret: Buffer, role: DaemonRole, appId: string, epoch: number): string {
  if (!APP_ID_RE.test(appId)) throw new TypeError(`invalid app id ${JSON.stringify(appId)}`);
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new TypeError(`invalid epoch ${epoch}`);
  const claim = `${role}.${appId}.${epoch}`;
  return `sda1.${claim}.${mac(clusterSecret, `sluice-app-v1\n${claim}`)}`;
}

function macEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Verifies a daemon token; undefined when it is not one or its MAC is wrong. */
export function verifyDaemonToken(clusterSecret: Buffer, token: string): DaemonClaims | undefined {
  if (token.startsWith('sdw1.')) return macEqual(token, workerToken(clusterSecret)) ? { kind: 'worker' } : undefined;
  if (!token.startsWith('sda1.')) return undefined;
  const m = /^sda1\.(appmaster|executor)\.([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) return undefined;
  const [, role, appId, epochText, sig] = m as unknown as [string, DaemonRole, string, string, string];
  if (!macEqual(sig, mac(clusterSecret, `sluice-app-v1\n${role}.${appId}.${epochText}`))) return undefined;
  return { kind: 'appDaemon', role, appId, epoch: Number(epochText) };
}

/** A fresh 32-byte cluster secret (hex, one line) for `<folder>/cluster.secret`. */
export function newClusterSecret(): string {
  return randomBytes(32).toString('hex');
}
