// Delegation tokens as opaque strings. The server mints them as if a secret manager ran
// (security-off Hadoop returns {"Token":null}); the owner of a known token becomes the caller.
import { randomBytes } from 'node:crypto';
import { errors } from './errors.js';

interface TokenInfo {
  owner: string;
  renewer: string;
  expiry: number;
  seq: number;
}

const RENEW_INTERVAL_MS = 24 * 3600 * 1000;

export class TokenStore {
  private readonly tokens = new Map<string, TokenInfo>();
  private readonly cancelled = new Set<string>();
  private seq = 0;

  mint(owner: string, renewer: string | undefined): string {
    const seq = ++this.seq;
    // Hadoop's Token.encodeToUrlString() is URL-safe base64 of the token's Writable form.
    const body = Buffer.concat([Buffer.from(`HDFS_DELEGATION_TOKEN/${owner}/${seq}/`), randomBytes(18)]);
    const s = body.toString('base64url');
    this.tokens.set(s, { owner, renewer: renewer ?? owner, expiry: Date.now() + RENEW_INTERVAL_MS, seq });
    return s;
  }

  private describe(t: string, info: TokenInfo | undefined): string {
    return info ? `HDFS_DELEGATION_TOKEN token ${info.seq} for ${info.owner}` : `token (${t.slice(0, 24)}…)`;
  }

  /** Owner of a known token; undefined for an unknown (opaque) one; throws if cancelled. */
  ownerOf(t: string): string | undefined {
    if (this.cancelled.has(t)) {
      throw errors.invalidToken(`token (${this.describe(t, undefined)}) can't be found in cache`);
    }
    return this.tokens.get(t)?.owner;
  }

  renew(t: string, user: string): number {
    const info = this.tokens.get(t);
    if (!info) throw errors.invalidToken(`token (${this.describe(t, info)}) can't be found in cache`);
    if (info.renewer !== user) {
      throw errors.accessControl(
        `${user} tries to renew a token (${this.describe(t, info)}) with non-matching renewer ${info.renewer}`,
      );
    }
    info.expiry = Date.now() + RENEW_INTERVAL_MS;
    return info.expiry;
  }

  cancel(t: string, user: string): void {
    const info = this.tokens.get(t);
    if (!info) throw errors.invalidToken(`token (${this.describe(t, info)}) can't be found in cache`);
    if (user !== info.owner && user !== info.renewer) {
      throw errors.accessControl(`${user} is not authorized to cancel the token ${this.describe(t, info)}`);
    }
    this.tokens.delete(t);
    this.cancelled.add(t);
  }
}
