import { describe, expect, it } from 'vitest';
import { assertAuthorized, authorize, filterReadable, parseAclFlag } from '../../dist/security/authorize.js';

const user = (name: string, admin = false) => ({ kind: 'user' as const, name, admin });
const app = (acl: string[], owner = 'alice', appId = 'app1') => ({ appId, owner, acl });

describe('authorize', () => {
  it('the owner holds r, w and a; a stranger none', () => {
    for (const perm of ['r', 'w', 'a'] as const) {
      expect(authorize(user('alice'), app([]), perm)).toBe(true);
      expect(authorize(user('mallory'), app([]), perm)).toBe(false);
    }
  });

  it('u:bob:r gives bob read only; o:: gives others nothing; o::r gives others read', () => {
    const a = app(parseAclFlag('u:bob:r,o::'));
    expect(authorize(user('bob'), a, 'r')).toBe(true);
    expect(authorize(user('bob'), a, 'w')).toBe(false);
    expect(authorize(user('bob'), a, 'a')).toBe(false);
    expect(authorize(user('carol'), a, 'r')).toBe(false);
    expect(authorize(user('carol'), app(['o::r']), 'r')).toBe(true);
    expect(authorize(user('carol'), app(['o::r']), 'w')).toBe(false);
  });

  it('a user entry wins over o:: (bob denied write although others may write)', () => {
    expect(authorize(user('bob'), app(['u:bob:r', 'o::rw']), 'w')).toBe(false);
  });

  it('superusers and users-file admins hold everything', () => {
    expect(authorize(user('root'), app([]), 'a', { superusers: ['root'] })).toBe(true);
    expect(authorize(user('ops', true), app([]), 'a')).toBe(true);
  });

  it('daemons act only on their own app; workers and anonymous on none', () => {
    const am = { kind: 'appDaemon' as const, role: 'appmaster' as const, appId: 'app1', epoch: 1 };
    expect(authorize(am, app([]), 'r')).toBe(true);
    expect(authorize(am, app([], 'alice', 'app2'), 'r')).toBe(false);
    expect(authorize({ kind: 'worker' }, app(['o::rwa']), 'r')).toBe(false);
    expect(authorize({ kind: 'anonymous' }, app(['o::rwa']), 'r')).toBe(false);
  });

  it('assertAuthorized: UNAUTHENTICATED for anonymous, FORBIDDEN naming the permission for others', () => {
    expect(() => assertAuthorized({ kind: 'anonymous' }, app([]), 'r')).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    expect(() => assertAuthorized(user('bob'), app(['u:bob:r']), 'w')).toThrow(expect.objectContaining({ code: 'FORBIDDEN', message: expect.stringContaining('kill') }));
  });

  it('GET /apps lists only what the caller may read', () => {
    const apps = [app([], 'alice', 'a1'), app(['u:bob:r'], 'alice', 'a2'), app([], 'bob', 'a3'), app(['o::r'], 'carol', 'a4')];
    expect(filterReadable(user('bob'), apps).map((a) => a.appId)).toEqual(['a2', 'a3', 'a4']);
    expect(filterReadable({ kind: 'anonymous' }, apps)).toEqual([]);
  });

  it('--acl entries are validated (BAD_REQUEST)', () => {
    expect(() => parseAclFlag('u:bob:x')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => parseAclFlag('u:../x:r')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});
