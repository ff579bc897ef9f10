// `sluice blobs` end to end: a real `sluice local` cluster (auth on), three users with their
// own tokens, every command through the master, on fs and on S3 (s3rver with conditional writes).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type S3rverHandle } from '../servers/s3rver.js';
import { cli, Proc, useLocalAdminToken, WORD_COUNT, writeClusterYaml, writeWords } from './helpers/engine-cluster.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function s3Yaml(s3: S3rverHandle): string {
  return [
    '  default:', "    module: '@sluice/storage-s3'", '    options:', '      bucket: sluice-blobs', `      endpoint: '${s3.endpoint}'`, `      region: ${s3.region}`,
    '      forcePathStyle: true', '      createBucket: true', '      checksums: WHEN_REQUIRED', '      credentials:', `        accessKeyId: ${s3.accessKeyId}`,
    `        secretAccessKey: ${s3.secretAccessKey}`, '',
  ].join('\n');
}

for (const backend of ['fs', 's3'] as const) {
  describe(`sluice blobs on ${backend}`, () => {
    let dir: string;
    let local: Proc | undefined;
    let s3: S3rverHandle | undefined;
    let master: string;
    const tokens: Record<string, string> = {};

    /** Runs the CLI as one user (their token), against the local master. */
    async function as(user: string, args: string[]): Promise<Run> {
      const p = Proc.start([...args, '--master', master], { cwd: dir, env: { SLUICE_TOKEN: tokens[user]! } });
      const code = await p.exited;
      await new Promise((r) => setImmediate(r));
      return { code, stdout: p.out.join('\n'), stderr: p.err.join('') };
    }

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `sluice-blobs-${backend}-`));
      if (backend === 's3') s3 = await startS3rver({ shim: true });
      writeClusterYaml(join(dir, 'cluster.yaml'), s3 ? s3Yaml(s3) : undefined);
      local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '1'], { cwd: dir });
      master = (await local.line(/master on (\S+),/, 30_000))[1]!;
      tokens.admin = useLocalAdminToken(dir);
      for (const u of ['alice', 'bob', 'carol']) {
        const add = await cli(['auth', 'add-user', u, '-c', 'cluster.yaml'], dir);
        expect(add.code, add.stderr).toBe(0);
        const tok = await cli(['auth', 'token', u, '-c', 'cluster.yaml'], dir);
        expect(tok.code, tok.stderr).toBe(0);
        tokens[u] = tok.stdout.trim();
      }
    }, 60_000);

    afterAll(async () => {
      await local?.stop();
      await s3?.stop();
      if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    it('create, update, get, cat, list, ACL and delete, each checked against the caller and the blob ACL', async () => {
      const v1 = join(dir, 'dict-v1.txt');
      const v2 = join(dir, 'dict-v2.txt');
      writeFileSync(v1, 'apple,fruit\ncarrot,vegetable\n');
      writeFileSync(v2, 'apple,fruit\ncarrot,vegetable\nbasil,herb\n');

      const created = await as('alice', ['blobs', 'create', 'dict', '--file', v1, '--acl', 'u:bob:r', '--json']);
      expect(created.code, created.stderr).toBe(0);
      const m1 = JSON.parse(created.stdout) as { version: number; sha256: string; owner: string; acl: string[] };
      expect(m1).toMatchObject({ version: 1, sha256: sha(readFileSync(v1)), owner: 'alice', acl: ['u:bob:r'] });

      const again = await as('alice', ['blobs', 'create', 'dict', '--file', v1]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('STORAGE_ALREADY_EXISTS');

      // Reads: bob has r, carol has nothing (the blob is not even listed for her).
      expect((await as('bob', ['blobs', 'cat', 'dict'])).stdout).toBe(readFileSync(v1, 'utf8').trimEnd());
      const carolCat = await as('carol', ['blobs', 'cat', 'dict']);
      expect(carolCat.code).toBe(1);
      expect(carolCat.stderr).toMatch(/FORBIDDEN/);
      expect(JSON.parse((await as('bob', ['blobs', 'list', '--json'])).stdout).map((b: { name: string }) => b.name)).toEqual(['dict']);
      expect(JSON.parse((await as('carol', ['blobs', 'list', '--json'])).stdout)).toEqual([]);

      // Writes: bob has no w; alice updates with compare-and-set.
      const bobUpdate = await as('bob', ['blobs', 'update', 'dict', '--file', v2]);
      expect(bobUpdate.code).toBe(1);
      expect(bobUpdate.stderr).toMatch(/FORBIDDEN/);
      const up = await as('alice', ['blobs', 'update', 'dict', '--file', v2, '--expected-version', '1', '--json']);
      expect(up.code, up.stderr).toBe(0);
      expect(JSON.parse(up.stdout)).toMatchObject({ version: 2, sha256: sha(readFileSync(v2)) });
      const stale = await as('alice', ['blobs', 'update', 'dict', '--file', v1, '--expected-version', '1']);
      expect(stale.code).toBe(1);
      expect(stale.stderr).toContain('STORAGE_PRECONDITION_FAILED');

      // get writes a file (atomically, verified); --version reads a retained older one.
      const out1 = join(dir, 'got-v1.txt');
      const got = await as('bob', ['blobs', 'get', 'dict', '--file', out1, '--blob-version', '1', '--json']);
      expect(got.code, got.stderr).toBe(0);
      expect(JSON.parse(got.stdout)).toMatchObject({ version: 1 });
      expect(readFileSync(out1, 'utf8')).toBe(readFileSync(v1, 'utf8'));
      const out2 = join(dir, 'got-v2.txt');
      expect((await as('bob', ['blobs', 'get', 'dict', '--file', out2])).code).toBe(0);
      expect(readFileSync(out2, 'utf8')).toBe(readFileSync(v2, 'utf8'));

      // ACL: only alice (a) may change it; then carol reads and bob does not.
      const bobAcl = await as('bob', ['blobs', 'set-acl', 'dict', '--acl', 'u:bob:rwa']);
      expect(bobAcl.code).toBe(1);
      expect(bobAcl.stderr).toMatch(/FORBIDDEN/);
      expect((await as('alice', ['blobs', 'set-acl', 'dict', '--acl', 'u:carol:r'])).code).toBe(0);
      expect(JSON.parse((await as('carol', ['blobs', 'get-acl', 'dict', '--json'])).stdout)).toEqual({ name: 'dict', owner: 'alice', acl: ['u:carol:r'] });
      expect((await as('carol', ['blobs', 'cat', 'dict'])).code).toBe(0);
      expect((await as('bob', ['blobs', 'cat', 'dict'])).code).toBe(1);

      // Bad input: a traversal name is a usage error (exit 2) and stores nothing; a bad ACL too.
      const bad = await as('alice', ['blobs', 'create', '..%2fetc', '--file', v1]);
      expect(bad.code).toBe(2);
      const badAcl = await as('alice', ['blobs', 'create', 'other', '--file', v1, '--acl', 'everyone:rwx']);
      expect(badAcl.code).toBe(2);
      expect(JSON.parse((await as('alice', ['blobs', 'list', '--json'])).stdout).map((b: { name: string }) => b.name)).toEqual(['dict']);

      // Delete needs a; then the blob is gone (exit 3, not found).
      expect((await as('carol', ['blobs', 'delete', 'dict'])).code).toBe(1);
      const del = await as('alice', ['blobs', 'delete', 'dict']);
      expect(del.code, del.stderr).toBe(0);
      const gone = await as('alice', ['blobs', 'cat', 'dict']);
      expect(gone.code).toBe(3);
      expect(gone.stderr).toContain('STORAGE_NOT_FOUND');
      const anon = Proc.start(['blobs', 'list', '--master', master], { cwd: dir, env: { SLUICE_TOKEN: 'not-a-token' } });
      expect(await anon.exited).toBe(1);
    }, 120_000);

    it('an app may map only blobs its submitter can read; bad mappings are usage errors', async () => {
      const file = join(dir, 'geo.csv');
      writeFileSync(file, 'fr,France\n');
      expect((await as('alice', ['blobs', 'create', 'geo', '--file', file])).code).toBe(0);
      const input = join(dir, 'words.txt');
      writeWords(input, 50, 1);
      const submit = (user: string, mapping: string): Promise<Run> =>
        as(user, ['submit', WORD_COUNT, '--config', `input=${input}`, '--config', `output=${join(dir, `out-${user}`)}`, '--config', `blobs=${mapping}`]);
      const mapping = JSON.stringify({ geo: { localName: 'geo.csv', uncompress: false } });

      const refused = await submit('bob', mapping);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/FORBIDDEN/);
      expect(refused.stderr).toContain('blob geo');
      const missing = await submit('alice', JSON.stringify({ nope: { localName: 'x.txt' } }));
      expect(missing.code).toBe(3);
      const traversal = await submit('alice', JSON.stringify({ geo: { localName: '../../etc/passwd' } }));
      expect(traversal.code).toBe(2);
      expect(traversal.stderr).toContain('blobs.geo.localName');

      expect((await as('alice', ['blobs', 'set-acl', 'geo', '--acl', 'u:bob:r'])).code).toBe(0);
      const ok = await submit('bob', mapping);
      expect(ok.code, ok.stderr).toBe(0);
      const appId = ok.stdout.trim();
      expect((await as('bob', ['kill', appId])).code).toBe(0);
    }, 120_000);
  });
}
