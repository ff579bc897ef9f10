import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import {
  appDaemonToken, hashSecret, newUserToken, parseUserToken, verifyDaemonToken, verifySecret, workerToken,
} from '../../dist/security/tokens.js';

describe('scrypt token hashes', () => {
  it('verifies the right secret and refuses a wrong one', async () => {
    const { secret } = newUserToken();
    const stored = await hashSecret(secret);
    expect(stored).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(stored).not.toContain(secret);
    expect(await verifySecret(secret, stored)).toBe(true);
    expect(await verifySecret(`${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`, stored)).toBe(false);
  });

  it('uses a fresh salt per hash', async () => {
    const a = await hashSecret('same', { N: 1024, r: 8, p: 1 });
    const b = await hashSecret('same', { N: 1024, r: 8, p: 1 });
    expect(a).not.toBe(b);
    expect(await verifySecret('same', a)).toBe(true);
    expect(await verifySecret('same', b)).toBe(true);
  });

  it('refuses malformed stored hashes instead of throwing', async () => {
    for (const bad of ['', 'scrypt$x$8$1$aa$bb', 'bcrypt$1$2$3$4$5', 'scrypt$1024$8$1$c2FsdA$c2hvcnQ']) {
      expect(await verifySecret('x', bad)).toBe(false);
    }
  });

  it('user tokens parse only in their exact shape', () => {
    const t = newUserToken();
    expect(parseUserToken(t.token)).toEqual({ tokenId: t.tokenId, secret: t.secret });
    expect(parseUserToken(`${t.token}x`)).toBeUndefined();
    expect(parseUserToken('slt1.zz.zz')).toBeUndefined();
  });
});

describe('daemon tokens', () => {
  const secret = randomBytes(32);

  it('round-trips worker and app-scoped claims', () => {
    expect(verifyDaemonToken(secret, workerToken(secret))).toEqual({ kind: 'worker' });
    expect(verifyDaemonToken(secret, appDaemonToken(secret, 'executor', 'wc.app-1', 7))).toEqual({ kind: 'appDaemon', role: 'executor', appId: 'wc.app-1', epoch: 7 });
  });

  it('a token minted under another secret is refused', () => {
    const other = randomBytes(32);
    expect(verifyDaemonToken(secret, workerToken(other))).toBeUndefined();
    expect(verifyDaemonToken(secret, appDaemonToken(other, 'appmaster', 'a', 1))).toBeUndefined();
  });

  it('changing the app, epoch or role of a token breaks its MAC', () => {
    const t = appDaemonToken(secret, 'executor', 'appA', 3);
    expect(verifyDaemonToken(secret, t.replace('.appA.', '.appB.'))).toBeUndefined();
    expect(verifyDaemonToken(secret, t.replace('.3.', '.4.'))).toBeUndefined();
    expect(verifyDaemonToken(secret, t.replace('executor', 'appmaster'))).toBeUndefined();
  });

  it('refuses app ids that could reach a path', () => {
    expect(() => appDaemonToken(secret, 'executor', '../x', 1)).toThrow(TypeError);
  });
});
