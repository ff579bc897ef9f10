// Real processes for engine end-to-end tests: the `sluice` CLI, its daemons, HTTP calls.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../../..');
export const CLI = resolve(REPO, 'packages/engine/dist/cli/main.js');
export const WORD_COUNT = resolve(REPO, 'packages/engine/examples/word-count/word-count.mjs');

/** A child process whose stdout lines we can wait for; stopped by pid. */
export class Proc {
  readonly out: string[] = [];
  readonly err: string[] = [];
  #waiters: Array<() => void> = [];
  exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      this.out.push(...parts);
      for (const w of this.#waiters.splice(0)) w();
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (this.err.length < 2000) this.err.push(d.toString());
    });
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  static start(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Proc {
    const token = credentials.token ? { SLUICE_TOKEN: credentials.token } : {};
    return new Proc(spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...process.env, SLUICE_LOG_LEVEL: 'warn', ...token, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  async line(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000; i++) {
      for (const l of this.out) {
        const m = l.match(re);
        if (m) return m;
      }
      if (Date.now() > deadline || this.child.exitCode !== null) break;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 200);
      });
    }
    throw new Error(`no line matching ${re} (stdout: ${this.out.join(' | ')}; stderr: ${this.err.join('').slice(-2000)})`);
  }

  /** SIGTERM (daemons stop their executors), then SIGKILL after a grace period. */
  async stop(graceMs = 8000): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    process.kill(pid, 'SIGTERM');
    const t = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** The API token the CLI (SLUICE_TOKEN) and api() use; set by useAdminToken(). */
export const credentials: { token: string | undefined } = { token: undefined };

/**
 * Auth is on by default: makes an admin user in the cluster's users file and uses its
 * token for every later CLI run and api() call in this test file.
 */
export async function useAdminToken(cwd: string, config = 'cluster.yaml'): Promise<string> {
  const add = await cli(['auth', 'add-user', 'admin', '--admin', '-c', config], cwd);
  if (add.code !== 0 && !/exists/.test(add.stderr)) throw new Error(`auth add-user failed: ${add.stderr}`);
  const tok = await cli(['auth', 'token', 'admin', '-c', config], cwd);
  if (tok.code !== 0) throw new Error(`auth token failed: ${tok.stderr}`);
  credentials.token = tok.stdout.trim();
  return credentials.token;
}

/** `sluice local` and the demo write the admin's token to <config folder>/admin.token: use it. */
export function useLocalAdminToken(dir: string): string {
  credentials.token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  return credentials.token;
}

/** Runs the CLI to completion; returns its exit code and output. */
export async function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = Proc.start(args, { cwd });
  const code = await p.exited;
  await new Promise((r) => setImmediate(r));
  return { code, stdout: p.out.join('\n'), stderr: p.err.join('') };
}

/**
 * A daemon's JSON answer as the end-to-end tests read it: they navigate it freely and
 * `expect` checks every value they rely on (a wrong shape fails the assertion or throws).
 * The one `any` of the tests, named so it is greppable; library code has none.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test-side JSON navigation, checked by expect()
export type TestJson = any;

export async function api(base: string, method: string, path: string, body?: unknown): Promise<TestJson> {
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  if (credentials.token) headers.authorization = `Bearer ${credentials.token}`;
  const res = await fetch(new URL(path, base), { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const json = (await res.json()) as TestJson;
  if (!res.ok) throw Object.assign(new Error(json?.error?.message ?? `HTTP ${res.status}`), { status: res.status });
  return json;
}

/** Polls fn until it returns a value (not undefined); bounded in time and count. */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 100_000; i++) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`, { cause: last });
}

export function writeClusterYaml(path: string, storageYaml = "  default:\n    module: '@sluice/storage-fs'\n    options:\n      root: ./store\n"): void {
  writeFileSync(path, `storage:\n${storageYaml}master:\n  host: 127.0.0.1\n  port: 0\n  seedFile: ./master/seed.json\nworker:\n  cacheDir: ./workers\n  heartbeatMs: 200\n`);
}

/**
 * `sluice master` and `sluice worker` processes on the fs store in a fresh temp dir, auth on
 * (the admin token set for cli()/api()). `master` may be replaced (a test restarting it);
 * stop() stops whatever runs and removes the dir (SLUICE_KEEP_TEST_DIR=1 keeps it).
 */
export class ProcCluster {
  master!: Proc;
  readonly workers: Proc[] = [];
  addr = '';
  private constructor(readonly dir: string) {}

  get base(): string {
    return `http://${this.addr}`;
  }

  static async start(prefix: string, workerNames = ['w1', 'w2']): Promise<ProcCluster> {
    const c = new ProcCluster(mkdtempSync(join(tmpdir(), prefix)));
    writeClusterYaml(join(c.dir, 'cluster.yaml'));
    c.master = Proc.start(['master', '-c', 'cluster.yaml'], { cwd: c.dir });
    c.addr = (await c.master.line(/master listening on (\S+)/))[1]!;
    await useAdminToken(c.dir);
    for (const name of workerNames) {
      const w = Proc.start(['worker', '-c', 'cluster.yaml', '--master', c.addr, '--name', name], { cwd: c.dir });
      c.workers.push(w);
      await w.line(/registered/);
    }
    await waitFor(`${workerNames.length} workers`, 10_000, async () => ((await api(c.base, 'GET', '/health')).workers === workerNames.length ? true : undefined));
    return c;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.stop()));
    await this.master?.stop();
    if (!process.env.SLUICE_KEEP_TEST_DIR) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * `sluice local` (a master and `workers` workers in one command) on the fs store in a fresh
 * temp dir, with the local admin token set for cli()/api(): what the connector e2e tests run
 * on. stop() stops it and removes the dir (SLUICE_KEEP_TEST_DIR=1 keeps it for a post-mortem).
 */
export class LocalCluster {
  private constructor(readonly dir: string, readonly local: Proc, readonly addr: string) {}

  get base(): string {
    return `http://${this.addr}`;
  }

  static async start(prefix: string, workers = 2): Promise<LocalCluster> {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    writeClusterYaml(join(dir, 'cluster.yaml'));
    const local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', String(workers)], { cwd: dir });
    try {
      const addr = (await local.line(/master on (\S+),/))[1]!;
      useLocalAdminToken(dir);
      return new LocalCluster(dir, local, addr);
    } catch (err) {
      await local.stop();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.local.stop();
    if (!process.env.SLUICE_KEEP_TEST_DIR) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Word n of the vocabulary in letters only (`wa`, `wb`, … `wpj`): the tokenizer keeps letters, so `w123` would collapse to one key. */
export const wordOf = (n: number): string => `w${n.toString(26).replace(/[0-9a-p]/g, (c) => String.fromCharCode(97 + parseInt(c, 26)))}`;

/** `n` deterministic lines of 8 words from a 400-word vocabulary (xorshift from `seed`; 400 distinct keys). */
export function wordLines(n: number, seed = 7): string[] {
  let x = seed >>> 0;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return Array.from({ length: n }, () => Array.from({ length: 8 }, () => wordOf(next() % 400)).join(' '));
}

/** Writes wordLines(lines, seed) to `path`; returns the number of words. */
export function writeWords(path: string, lines: number, seed = 7): number {
  writeFileSync(path, wordLines(lines, seed).join('\n') + '\n');
  return lines * 8;
}

/** The reference count, with the example's own tokenizer. */
export async function referenceCount(text: string): Promise<Map<string, string>> {
  const { tokenize } = (await import(pathToFileURL(WORD_COUNT).href)) as { tokenize: (l: string) => string[] };
  const m = new Map<string, number>();
  for (const l of text.split('\n')) for (const w of tokenize(l)) m.set(w, (m.get(w) ?? 0) + 1);
  return new Map([...m].map(([k, v]) => [k, String(v)]));
}
