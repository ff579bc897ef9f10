import { afterEach, describe, expect, it } from 'vitest';
import { chmod, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addUser, issueToken, revokeTokens, UsersRegistry } from '../../dist/security/users-file.js';
import { tokenDigest } from '../../dist/security/tokens.js';
import { tempDir } from './helpers.js';

describe('users file', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> } | undefined;
  afterEach(async () => tmp?.cleanup());

  it('stores only scrypt hashes, mode 0600, and verifies issued tokens', async () => {
    tmp = await tempDir();
    const file = join(tmp.dir, 'sub', 'users.json');
    await addUser(file, 'bob');
    await addUser(file, 'ops', { admin: true });
    const t = await issueToken(file, 'bob');
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(t.split('.')[2]);
    expect(text).toContain('scrypt$');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const reg = await new UsersRegistry(file).load();
    expect(await reg.verify(t, tokenDigest(t))).toEqual({ name: 'bob', admin: false });
    const wrong = `${t.slice(0, -2)}${t.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await reg.verify(wrong, tokenDigest(wrong))).toBeUndefined();
    expect(await reg.verify('slt1.0000000000000000.' + 'A'.repeat(43), 'x')).toBeUndefined();
  });

  it('accepts a token issued while the registry runs on its first use (a background check in flight is awaited)', async () => {
    tmp = await tempDir();
    const file = join(tmp.dir, 'users.json');
    await addUser(file, 'bob');
    const reg = await new UsersRegistry(file).load();
    await new Promise((r) => setTimeout(r, 1100));
    const t = await issueToken(file, 'bob');
    // The hot path starts a background file check; verify() must wait for it.
    expect(reg.cached(tokenDigest(t))).toBeUndefined();
    expect(await reg.verify(t, tokenDigest(t))).toEqual({ name: 'bob', admin: false });
    // And before the periodic check is due (an unknown id re-reads the file, rate-limited to 100 ms).
    const t2 = await issueToken(file, 'bob');
    await new Promise((r) => setTimeout(r, 150));
    expect(await reg.verify(t2, tokenDigest(t2))).toEqual({ name: 'bob', admin: false });
  });

  it('refuses bad user names, duplicates and tokens for unknown users (BAD_REQUEST)', async () => {
    tmp = await tempDir();
    const file = join(tmp.dir, 'users.json');
    await expect(addUser(file, '../x')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await addUser(file, 'bob');
    await expect(addUser(file, 'bob')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(issueToken(file, 'nobody')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('refuses a group/world-readable users file', async () => {
    tmp = await tempDir();
    const file = join(tmp.dir, 'users.json');
    await addUser(file, 'bob');
    await chmod(file, 0o644);
    await expect(new UsersRegistry(file).load()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('chmod 600') });
  });

  it('names the bad key of a corrupt users file', async () => {
    tmp = await tempDir();
    const file = join(tmp.dir, 'users.json');
    await writeFile(file, JSON.stringify({ version: 1, users: { bob: { admin: 'yes' } } }), { mode: 0o600 });
    await expect(new UsersRegistry(file).load()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('users.bob.admin') });
  });

  it('the registry sees a revocation after the file changes (cache dropped)', async () => {
    tmp = await tempDir();
    const file = join(tmp.dir, 'users.json');
    await addUser(file, 'bob');
    const t = await issueToken(file, 'bob');
    const reg = await new UsersRegistry(file).load();
    expect(await reg.verify(t, tokenDigest(t))).toBeDefined();
    expect(await revokeTokens(file, 'bob')).toBe(1);
    // Make the mtime change visible even on coarse-timestamp file systems.
    const later = new Date(Date.now() + 5000);
    await utimes(file, later, later);
    const deadline = Date.now() + 5000;
    let still = true;
    while (still && Date.now() < deadline) {
      still = (await reg.verify(t, tokenDigest(t))) !== undefined;
      if (still) await new Promise((r) => setTimeout(r, 200));
    }
    expect(still).toBe(false);
  });
});
