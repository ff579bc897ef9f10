// Guards `npx sluice …` on a fresh clone: npm links a package's bin at install time only
// if the target exists, and dist/ does not exist before `npm run build`. So the bin must
// be a committed file, shipped in the package, linked by the workspace install, and it
// must say what to do when the build is missing.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const ENGINE = join(ROOT, 'packages/engine');

function exec(cmd: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
  });
}

async function binTarget(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(ENGINE, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const target = pkg.bin.sluice;
  if (!target) throw new Error('packages/engine/package.json has no bin.sluice');
  return target.replace(/^\.\//, '');
}

describe('the sluice bin (npx sluice on a fresh clone)', () => {
  it('is a committed file outside dist/, with a node shebang', async () => {
    const target = await binTarget();
    expect(target.startsWith('dist/')).toBe(false);
    // Tracked by git: a fresh clone has it before any build.
    const tracked = await exec('git', ['ls-files', '--error-unmatch', `packages/engine/${target}`], ROOT);
    expect(tracked.code, tracked.stderr).toBe(0);
    expect((await readFile(join(ENGINE, target), 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('is in the packed package and linked by the workspace install', async () => {
    const target = await binTarget();
    const pack = await exec('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], ENGINE);
    expect(pack.code, pack.stderr).toBe(0);
    const files = (JSON.parse(pack.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    expect(files).toContain(target);
    // node_modules/.bin/sluice resolves to the committed file (what npm install links).
    expect(await realpath(join(ROOT, 'node_modules/.bin/sluice'))).toBe(await realpath(join(ENGINE, target)));
  }, 90_000);

  it('runs the built CLI through the link', async () => {
    const r = await exec(join(ROOT, 'node_modules/.bin/sluice'), ['--version'], ROOT);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(r.code).toBe(0);
  });

  it('says "run npm run build" and exits 1 when dist/ is missing', async () => {
    // The same file in a package folder without dist/: what a fresh clone looks like.
    const dir = await mkdtemp(join(tmpdir(), 'sluice-bin-'));
    try {
      const target = await binTarget();
      await mkdir(join(dir, 'bin'), { recursive: true });
      await copyFile(join(ENGINE, target), join(dir, target));
      const r = await exec(process.execPath, [join(dir, target), '--help'], dir);
      expect(r.stderr).toContain('npm run build');
      expect(r.stderr).toContain(join(dir, 'dist/cli/main.js'));
      expect(r.stdout).toBe('');
      expect(r.code).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
