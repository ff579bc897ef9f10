// `sluice bundle` on a TypeScript app folder with two npm dependencies (the real CLI, the
// real esbuild): the bundle runs, rebuilds byte-identical, maps stacks to the sources, and
// refuses native addons, missing dependencies and folders without an entry by name.
// Running it on a cluster (fs and S3, exactly once) is test/e2e/app-bundle.test.ts.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as sluice from '@sluice/engine';
import { cli, Proc } from '../e2e/helpers/engine-cluster.js';
import { referenceLabels, writeBundleApp } from './fixtures/bundle-app.js';

let dir: string;
let app: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-bundle-'));
  app = writeBundleApp(join(dir, 'app'));
});

afterAll(() => {
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the fixture app to break in one way. */
function variant(name: string): string {
  const to = join(dir, name);
  cpSync(app, to, { recursive: true });
  return to;
}

interface BundleJson {
  file: string;
  sha256: string;
  size: number;
  entry: string;
  packages: string[];
}

async function bundle(args: string[]): Promise<BundleJson> {
  const r = await cli(['bundle', ...args, '--json'], dir);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as BundleJson;
}

async function refusal(args: string[]): Promise<{ code: number | null; error: { code: string; message: string } }> {
  const r = await cli([...args, '--json'], dir);
  expect(r.stdout).toBe('');
  return { code: r.code, error: (JSON.parse(r.stderr.trim()) as { error: { code: string; message: string } }).error };
}

function runNode(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

// Each case spawns the CLI up to three times: generous for a loaded 2-core machine.
describe('sluice bundle', { timeout: 120_000 }, () => {
  it('bundles a TypeScript entry and its two npm dependencies into one module that builds the DAG', async () => {
    const r = await bundle([app, '-o', join(dir, 'one.mjs')]);
    expect(r).toMatchObject({ file: join(dir, 'one.mjs'), entry: 'src/index.ts', packages: ['ms@2.1.3', 'picocolors@1.1.1'] });
    const bytes = readFileSync(r.file);
    expect(bytes.length).toBe(r.size);
    // @sluice/engine stays the worker's: never inlined (the fixture imports only its types).
    expect(bytes.toString()).not.toMatch(/packages\/engine\/src|storage-api/);
    const mod = (await import(pathToFileURL(r.file).href)) as { default: (s: typeof sluice, c: Record<string, unknown>) => unknown; label(w: string): string };
    const text = 'w75 w3 w75\nw400 w3 w75\n';
    const mine = new Map<string, number>();
    for (const w of text.split(/\s+/).filter(Boolean)) mine.set(mod.label(w), (mine.get(mod.label(w)) ?? 0) + 1);
    expect(new Map([...mine].map(([k, v]) => [k, String(v)]))).toEqual(referenceLabels(text));
    expect(mod.label('w75')).toBe('\u001b[1mw75\u001b[22m 4m'); // '75' in base 36 = 257 s
    const d = sluice.validateDag(mod.default(sluice, { input: join(dir, 'in.txt'), output: join(dir, 'out') }));
    expect(d.name).toBe('bundled-count');
  });

  it('rebuilds byte-identical (same digest wherever -o points, whatever the mtimes); a source change changes it', async () => {
    const a = await bundle([app, '-o', join(dir, 'a.mjs')]);
    utimesSync(join(app, 'src', 'words.ts'), new Date(), new Date(Date.now() - 86_400_000));
    mkdirSync(join(dir, 'elsewhere'), { recursive: true });
    const b = await bundle([app, '-o', join(dir, 'elsewhere', 'b.mjs')]);
    expect(b.sha256).toBe(a.sha256);
    expect(readFileSync(b.file).equals(readFileSync(a.file))).toBe(true);
    const changed = variant('changed');
    writeFileSync(join(changed, 'src', 'words.ts'), readFileSync(join(changed, 'src', 'words.ts'), 'utf8').replace("'boom from words.ts'", "'boom, changed'"));
    expect((await bundle([changed, '-o', join(dir, 'c.mjs')])).sha256).not.toBe(a.sha256);
  });

  it('writes ./<name>.bundle.mjs by default and accepts a single .ts file', async () => {
    const r = await bundle([app]);
    expect(r.file).toBe(join(dir, 'app.bundle.mjs'));
    const single = await bundle([join(app, 'src', 'index.ts'), '-o', join(dir, 'single.mjs')]);
    expect(single.packages).toEqual(['ms@2.1.3', 'picocolors@1.1.1']);
  });

  it("carries an inline source map: a throw in the bundle points at the app's .ts source", async () => {
    const r = await bundle([app, '-o', join(dir, 'mapped.mjs')]);
    const script = `import(${JSON.stringify(pathToFileURL(r.file).href)}).then((m) => m.boom())`;
    const mapped = await runNode(['--enable-source-maps', '-e', script]);
    expect(mapped.code).not.toBe(0);
    expect(mapped.out).toMatch(/boom from words\.ts[\s\S]*at \S*boom \(\S*src\/words\.ts:\d+:\d+\)/);
  });

  it('refuses a native addon by package name: gypfile, binding.gyp, a .node file (also when only a dependency needs it)', async () => {
    const gyp = variant('native-gyp');
    mkdirSync(join(gyp, 'node_modules', 'fake-gyp'), { recursive: true });
    writeFileSync(join(gyp, 'node_modules', 'fake-gyp', 'package.json'), JSON.stringify({ name: 'fake-gyp', version: '1.0.0', main: 'index.js', gypfile: true }));
    writeFileSync(join(gyp, 'node_modules', 'fake-gyp', 'index.js'), 'module.exports = 1;\n');
    writeFileSync(join(gyp, 'src', 'index.ts'), `import n from 'fake-gyp';\nexport const x = n;\n${readFileSync(join(gyp, 'src', 'index.ts'), 'utf8')}`);
    let r = await refusal(['bundle', gyp, '-o', join(dir, 'x.mjs')]);
    expect(r.code).toBe(2);
    expect(r.error.code).toBe('ARTIFACT_NATIVE_ADDON');
    expect(r.error.message).toMatch(/dependency fake-gyp .*gypfile/);

    // Declared in package.json; its .node file sits in a dependency of its own (a transitive native addon).
    const dot = variant('native-dot');
    const wrap = join(dot, 'node_modules', 'pure-wrapper');
    const addon = join(dot, 'node_modules', 'fast-thing');
    mkdirSync(wrap, { recursive: true });
    mkdirSync(join(addon, 'build', 'Release'), { recursive: true });
    writeFileSync(join(wrap, 'package.json'), JSON.stringify({ name: 'pure-wrapper', version: '1.0.0', main: 'index.js', dependencies: { 'fast-thing': '1' } }));
    writeFileSync(join(wrap, 'index.js'), 'module.exports = 2;\n');
    writeFileSync(join(addon, 'package.json'), JSON.stringify({ name: 'fast-thing', version: '1.0.0', main: 'index.js' }));
    writeFileSync(join(addon, 'build', 'Release', 'fast.node'), 'not really an ELF');
    const pkg = JSON.parse(readFileSync(join(dot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    pkg.dependencies['pure-wrapper'] = '1';
    writeFileSync(join(dot, 'package.json'), JSON.stringify(pkg));
    r = await refusal(['bundle', dot, '-o', join(dir, 'x.mjs')]);
    expect(r.code).toBe(2);
    expect(r.error.code).toBe('ARTIFACT_NATIVE_ADDON');
    expect(r.error.message).toMatch(/dependency fast-thing \(required by pure-wrapper > fast-thing\).*build\/Release\/fast\.node/);

    // binding.gyp, reached only through an import (no package.json: a single-file app).
    const single = join(dir, 'native-single');
    mkdirSync(join(single, 'node_modules', 'gyp-only'), { recursive: true });
    writeFileSync(join(single, 'node_modules', 'gyp-only', 'package.json'), JSON.stringify({ name: 'gyp-only', version: '1.0.0', main: 'index.js' }));
    writeFileSync(join(single, 'node_modules', 'gyp-only', 'index.js'), 'module.exports = 3;\n');
    writeFileSync(join(single, 'node_modules', 'gyp-only', 'binding.gyp'), '{}');
    writeFileSync(join(single, 'app.ts'), "import g from 'gyp-only';\nexport default () => g;\n");
    r = await refusal(['bundle', join(single, 'app.ts'), '-o', join(dir, 'x.mjs')]);
    expect(r.error.code).toBe('ARTIFACT_NATIVE_ADDON');
    expect(r.error.message).toMatch(/dependency gyp-only \(imported by the app\).*binding\.gyp/);
    expect(existsSync(join(dir, 'x.mjs'))).toBe(false);
  });

  it('refuses a missing dependency naming the package and the importing file, and a missing local file', async () => {
    const miss = variant('missing-dep');
    rmSync(join(miss, 'node_modules', 'picocolors'), { recursive: true });
    const r = await refusal(['bundle', miss, '-o', join(dir, 'x.mjs')]);
    expect(r.code).toBe(2);
    expect(r.error.code).toBe('ARTIFACT_MISSING_DEPENDENCY');
    expect(r.error.message).toMatch(/package picocolors \("picocolors", imported from src\/words\.ts:2:\d+\) is not installed/);

    const local = variant('missing-file');
    writeFileSync(join(local, 'src', 'index.ts'), `import { gone } from './gone.js';\nexport default () => gone;\n`);
    const l = await refusal(['bundle', local, '-o', join(dir, 'x.mjs')]);
    expect(l.error.code).toBe('ARTIFACT_MISSING_DEPENDENCY');
    expect(l.error.message).toMatch(/"\.\/gone\.js" imported from src\/index\.ts:1:\d+ does not exist/);
  });

  it('refuses a folder without a resolvable entry, and a main that names a missing file', async () => {
    const none = join(dir, 'no-entry');
    mkdirSync(join(none, 'lib'), { recursive: true });
    writeFileSync(join(none, 'package.json'), '{"name":"no-entry"}');
    writeFileSync(join(none, 'lib', 'thing.ts'), 'export const a = 1;\n');
    let r = await refusal(['bundle', none]);
    expect(r.code).toBe(2);
    expect(r.error.code).toBe('ARTIFACT_NO_ENTRY');
    expect(r.error.message).toMatch(/no entry module in .*no-entry/);

    writeFileSync(join(none, 'package.json'), '{"name":"no-entry","main":"dist/index.js"}');
    r = await refusal(['bundle', none]);
    expect(r.error.code).toBe('ARTIFACT_NO_ENTRY');
    expect(r.error.message).toMatch(/"main" names dist\/index\.js, which does not exist/);

    writeFileSync(join(none, 'package.json'), '{"name":"no-entry","exports":{".":{"import":"./lib/thing.ts"}}}');
    expect((await bundle([none, '-o', join(dir, 'exports.mjs')])).entry).toBe('lib/thing.ts');
  });

  it('refuses a syntax error with file and line', async () => {
    const bad = variant('syntax');
    writeFileSync(join(bad, 'src', 'words.ts'), 'export function tokenize(: string {\n');
    const r = await refusal(['bundle', bad, '-o', join(dir, 'x.mjs')]);
    expect(r.code).toBe(2);
    expect(r.error.code).toBe('ARTIFACT_BUILD_FAILED');
    expect(r.error.message).toMatch(/src\/words\.ts:1:\d+/);
  });

  it('submit refuses at bundle time, before any master is contacted (none listens here)', async () => {
    const miss = variant('submit-missing');
    rmSync(join(miss, 'node_modules', 'ms'), { recursive: true });
    // The CLI's temp folder is ours to inspect: nothing of the failed bundle may stay there.
    const tmp = join(dir, 'cli-tmp');
    mkdirSync(tmp);
    const p = Proc.start(['submit', miss, '--master', '127.0.0.1:9', '--json'], { cwd: dir, env: { TMPDIR: tmp } });
    const code = await p.exited;
    const err = (JSON.parse(p.err.join('').trim()) as { error: { code: string; message: string } }).error;
    expect(code).toBe(2);
    expect(err.code).toBe('ARTIFACT_MISSING_DEPENDENCY');
    expect(err.message).toMatch(/package ms /);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
