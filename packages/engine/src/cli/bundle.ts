/**
 * App bundles: a folder with package.json and node_modules, or one .ts/.mts/.js/.mjs file,
 * built into the one ES module the jar store holds and workers import (runtime/artifact.ts).
 *
 * Why esbuild rather than packing node_modules into a tarball: the artifact stays one
 * file, so the jar store's SHA-256 addressing, the worker's digest-named cache and its
 * verify-on-read apply unchanged, with nothing to unpack on workers; TypeScript is
 * compiled in the same pass; only the code reachable from the entry ships (node_modules
 * trees are mostly tests, docs and type files); and esbuild's output is deterministic, so
 * an unchanged app rebuilds to the same bytes and the same digest. The cost: a
 * dependency that reads its own files at run time (via __dirname) does not work bundled.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { build, type BuildFailure, type Message, type Metafile } from 'esbuild';
import { z } from 'zod';
import { EngineError } from '../errors.js';
import { resolveArtifact } from '../cluster/client.js';

/** What a build produced: the file, its digest, and what went into it. */
export interface BundleResult {
  file: string;
  sha256: string;
  size: number;
  /** The entry module, relative to the app's folder. */
  entry: string;
  /** npm packages bundled in (name@version), sorted. */
  packages: string[];
}

const TS_EXT = new Set(['.ts', '.mts', '.cts', '.tsx']);
const JS_EXT = new Set(['.js', '.mjs', '.cjs', '.jsx']);
/** Entry files tried in a folder after package.json's exports and main, in this order. */
const ENTRY_CANDIDATES = ['index.ts', 'index.mts', 'index.mjs', 'index.js', 'app.ts', 'app.mts', 'app.mjs', 'app.js', 'src/index.ts', 'src/index.mts'];
/** The engine is the worker's own: apps get it as the default export's first argument, and an import of it resolves there. */
const EXTERNAL = ['@sluice/engine', '@sluice/engine/*'];
/**
 * CommonJS dependencies call require() for Node built-ins (picocolors: `require("tty")`);
 * in an ES module esbuild's shim throws "Dynamic require is not supported" unless a real
 * `require` is in scope, so the bundle defines one.
 */
const BANNER = "import { createRequire as __sluiceCreateRequire } from 'node:module';\nconst require = __sluiceCreateRequire(import.meta.url);";
/** Native-addon scan bounds per package: deep enough for build/Release/x.node and prebuilds/<platform>/x.node, bounded for huge packages. */
const SCAN_MAX_DEPTH = 6;
const SCAN_MAX_ENTRIES = 20_000;
/** Errors listed in one refusal: the first few say what to fix. */
const MAX_REPORTED = 5;

const packageJsonSchema = z.looseObject({
  name: z.string().optional(),
  version: z.string().optional(),
  main: z.string().optional(),
  exports: z.unknown().optional(),
  gypfile: z.boolean().optional(),
  dependencies: z.record(z.string(), z.string()).optional(),
  optionalDependencies: z.record(z.string(), z.string()).optional(),
});
type PackageJson = z.infer<typeof packageJsonSchema>;

function readPackageJson(dir: string): PackageJson | undefined {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new EngineError('ARTIFACT_NO_ENTRY', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = packageJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EngineError('ARTIFACT_NO_ENTRY', `${file}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** The "." target of package.json `exports`, taking the conditions a worker's import would: import, node, default. */
function exportsEntry(exp: unknown): string | undefined {
  if (typeof exp === 'string') return exp;
  if (Array.isArray(exp)) return exp.map(exportsEntry).find((e) => e !== undefined);
  if (exp === null || typeof exp !== 'object') return undefined;
  const o = exp as Record<string, unknown>;
  if ('.' in o) return exportsEntry(o['.']);
  for (const cond of ['import', 'node', 'default']) if (cond in o) return exportsEntry(o[cond]);
  return undefined;
}

/** The app's folder and entry file; refuses a folder with no entry, naming what it looked for. */
export function resolveBundleEntry(input: string): { root: string; entry: string } {
  const path = resolve(input);
  if (!existsSync(path)) throw new EngineError('BAD_REQUEST', `artifact ${input} does not exist`);
  if (!statSync(path).isDirectory()) return { root: dirname(path), entry: path };
  const pkg = readPackageJson(path);
  const declared = pkg?.exports !== undefined ? { key: 'exports', value: exportsEntry(pkg.exports) } : pkg?.main !== undefined ? { key: 'main', value: pkg.main } : undefined;
  if (declared) {
    if (declared.value === undefined) throw new EngineError('ARTIFACT_NO_ENTRY', `${join(input, 'package.json')}: "exports" has no "." entry for import, node or default`);
    const entry = resolve(path, declared.value);
    if (!existsSync(entry) || statSync(entry).isDirectory()) {
      throw new EngineError('ARTIFACT_NO_ENTRY', `${join(input, 'package.json')} "${declared.key}" names ${declared.value}, which does not exist in ${input} (build it first, or point it at the source entry, e.g. src/index.ts)`);
    }
    return { root: path, entry };
  }
  const found = ENTRY_CANDIDATES.map((c) => join(path, c)).find((c) => existsSync(c));
  if (!found) throw new EngineError('ARTIFACT_NO_ENTRY', `no entry module in ${input}: no package.json "exports"/"main", and none of ${ENTRY_CANDIDATES.join(', ')}`);
  return { root: path, entry: found };
}

/** The package an import specifier names: `a/b` → `a`, `@s/p/x` → `@s/p`; undefined for relative or absolute paths. */
function packageOfSpecifier(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The package folder a bundled input belongs to (the innermost node_modules/<name>), or undefined for the app's own files. */
function packageDirOfInput(root: string, input: string): string | undefined {
  const parts = input.split('/');
  const i = parts.lastIndexOf('node_modules');
  if (i < 0 || i + 1 >= parts.length) return undefined;
  const n = parts[i + 1]!.startsWith('@') ? 2 : 1;
  return resolve(root, ...parts.slice(0, i + 1 + n));
}

/** Why a package folder holds a native addon, or undefined: gypfile, binding.gyp, or a .node file (bounded walk). */
function nativeReason(dir: string, pkg: PackageJson | undefined): string | undefined {
  if (pkg?.gypfile === true) return 'package.json has "gypfile": true';
  if (existsSync(join(dir, 'binding.gyp'))) return 'it has a binding.gyp';
  const stack: Array<{ d: string; depth: number }> = [{ d: dir, depth: 0 }];
  let seen = 0;
  while (stack.length > 0 && seen < SCAN_MAX_ENTRIES) {
    const { d, depth } = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      seen++;
      if (e.isFile() && e.name.endsWith('.node')) return `it ships a compiled addon (${relative(dir, join(d, e.name))})`;
      // Nested node_modules are packages of their own, checked when reached.
      if (e.isDirectory() && e.name !== 'node_modules' && depth < SCAN_MAX_DEPTH) stack.push({ d: join(d, e.name), depth: depth + 1 });
    }
  }
  return undefined;
}

/** node's lookup: <from>/node_modules/<name>, then each parent folder's, up to the file system root. */
function findPackageDir(from: string, name: string): string | undefined {
  for (let d = from; ; d = dirname(d)) {
    const cand = join(d, 'node_modules', name);
    if (existsSync(join(cand, 'package.json'))) return cand;
    if (dirname(d) === d) return undefined;
  }
}

function refuseNative(dir: string, pkg: PackageJson | undefined, via: string): void {
  const reason = nativeReason(dir, pkg);
  if (reason === undefined) return;
  const name = pkg?.name ?? basename(dir);
  throw new EngineError('ARTIFACT_NATIVE_ADDON', `dependency ${name} (${via}) is a native addon: ${reason}; only pure-JS dependencies can be bundled`, { details: { package: name } });
}

/** Every installed package the app declares, transitively (dependencies and optionalDependencies): refused if native. */
function checkDeclared(root: string, pkg: PackageJson | undefined): void {
  const queue: Array<{ from: string; pkg: PackageJson | undefined; chain: string }> = [{ from: root, pkg, chain: '' }];
  const done = new Set<string>();
  while (queue.length > 0) {
    const cur = queue.shift()!;
    for (const name of Object.keys({ ...cur.pkg?.dependencies, ...cur.pkg?.optionalDependencies })) {
      const dir = findPackageDir(cur.from, name);
      // Not installed: only an import of it matters, and esbuild names that one.
      if (dir === undefined || done.has(dir)) continue;
      done.add(dir);
      const dep = readPackageJson(dir);
      const chain = cur.chain ? `${cur.chain} > ${name}` : name;
      refuseNative(dir, dep, cur.chain ? `required by ${chain}` : 'in package.json');
      queue.push({ from: dir, pkg: dep, chain });
    }
  }
}

/** The bundled inputs' packages: refused if native (covers apps without a package.json); returns name@version, sorted. */
function checkBundled(root: string, meta: Metafile): string[] {
  const out = new Set<string>();
  const dirs = new Set<string>();
  for (const input of Object.keys(meta.inputs)) {
    const dir = packageDirOfInput(root, input);
    if (dir !== undefined) dirs.add(dir);
  }
  for (const dir of dirs) {
    const pkg = readPackageJson(dir);
    refuseNative(dir, pkg, `imported by the app`);
    out.add(`${pkg?.name ?? basename(dir)}@${pkg?.version ?? '?'}`);
  }
  return [...out].sort();
}

function where(m: Message): string {
  return m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}` : '(no location)';
}

/** esbuild's failure as the typed refusal: missing imports and native files named, with the importing file. */
function refusalOf(input: string, failure: BuildFailure): EngineError {
  const errors = failure.errors.slice(0, MAX_REPORTED);
  const more = failure.errors.length > MAX_REPORTED ? ` (and ${failure.errors.length - MAX_REPORTED} more)` : '';
  const unresolved = errors.map((m) => ({ m, spec: /^Could not resolve "(.+)"$/.exec(m.text)?.[1] })).filter((x) => x.spec !== undefined);
  if (unresolved.length > 0) {
    const lines = unresolved.map(({ m, spec }) => {
      const pkg = packageOfSpecifier(spec!);
      return pkg === undefined ? `"${spec}" imported from ${where(m)} does not exist` : `package ${pkg} ("${spec}", imported from ${where(m)}) is not installed: add it to package.json and run npm install`;
    });
    const first = unresolved[0]!;
    return new EngineError('ARTIFACT_MISSING_DEPENDENCY', `cannot bundle ${input}: ${lines.join('; ')}${more}`, {
      details: { import: first.spec, importer: first.m.location?.file, ...(packageOfSpecifier(first.spec!) ? { package: packageOfSpecifier(first.spec!) } : {}) },
    });
  }
  const native = errors.find((m) => /\.node" files/.test(m.text) || m.location?.file.endsWith('.node'));
  if (native) {
    const file = /: (\S+\.node)\b/.exec(native.text)?.[1] ?? native.notes.map((n) => n.text).join(' ');
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(`${file} ${native.location?.file ?? ''}`)?.[1] ?? 'unknown';
    return new EngineError('ARTIFACT_NATIVE_ADDON', `cannot bundle ${input}: dependency ${pkg} is a native addon (imports ${file} from ${where(native)}); only pure-JS dependencies can be bundled`, { details: { package: pkg } });
  }
  const lines = errors.map((m) => `${where(m)}: ${m.text}`);
  return new EngineError('ARTIFACT_BUILD_FAILED', `cannot bundle ${input}: ${lines.join('; ')}${more}`);
}

/**
 * Builds an app into one ES module at `outFile` (written atomically): platform node, target
 * node20, an inline source map (it travels in the one content-addressed artifact; stacks
 * map to the app's sources where source maps are enabled). Type errors are not checked.
 */
export async function bundleApp(input: string, outFile: string): Promise<BundleResult> {
  const { root, entry } = resolveBundleEntry(input);
  const ext = extname(entry);
  if (!TS_EXT.has(ext) && !JS_EXT.has(ext)) throw new EngineError('ARTIFACT_NO_ENTRY', `entry ${entry} is not a JavaScript or TypeScript module (${[...JS_EXT, ...TS_EXT].join(', ')})`);
  const pkg = statSync(resolve(input)).isDirectory() ? readPackageJson(root) : undefined;
  checkDeclared(root, pkg);
  let result;
  try {
    result = await build({
      entryPoints: [entry],
      absWorkingDir: root,
      // Never written: it fixes the source map's relative paths, so the bytes do not depend on -o.
      outfile: join(root, `${basename(entry, ext)}.bundle.mjs`),
      write: false,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      sourcemap: 'inline',
      external: EXTERNAL,
      banner: { js: BANNER },
      metafile: true,
      logLevel: 'silent',
    });
  } catch (err) {
    const f = err as Partial<BuildFailure>;
    if (Array.isArray(f.errors) && f.errors.length > 0) throw refusalOf(input, f as BuildFailure);
    throw new EngineError('ARTIFACT_BUILD_FAILED', `cannot bundle ${input}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  const packages = checkBundled(root, result.metafile);
  const out = result.outputFiles.find((o) => o.path.endsWith('.mjs'));
  if (!out) throw new EngineError('INTERNAL', `esbuild produced no module for ${input}`);
  const target = resolve(outFile);
  if (Object.keys(result.metafile.inputs).some((i) => resolve(root, i) === target)) throw new EngineError('BAD_REQUEST', `output ${outFile} is one of the app's own sources`);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, out.contents);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
  return { file: target, sha256: createHash('sha256').update(out.contents).digest('hex'), size: out.contents.byteLength, entry: relative(root, entry).split(sep).join('/'), packages };
}

/** Does `submit` bundle this artifact? TypeScript files and folders with a package.json; a plain .js/.mjs file uploads as it is. */
export function needsBundling(path: string): boolean {
  if (!existsSync(path)) return false;
  if (statSync(path).isDirectory()) return existsSync(join(path, 'package.json'));
  return TS_EXT.has(extname(path));
}

/** The file `submit` uploads: a bundle in a private temp folder (removed by dispose) or the artifact itself. */
export async function artifactForSubmit(artifact: string): Promise<{ file: string; bundled?: BundleResult; dispose(): Promise<void> }> {
  if (!needsBundling(artifact)) return { file: resolveArtifact(artifact), dispose: () => Promise.resolve() };
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bundle-'));
  const dispose = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const bundled = await bundleApp(artifact, join(dir, 'app.mjs'));
    return { file: bundled.file, bundled, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
