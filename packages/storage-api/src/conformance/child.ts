/**
 * The other process of the conformance suite's cross-process cases. Run as
 * `node child.js <spec-json> <command-json>`: opens the store the way a daemon does
 * (module by name or path, options, baseDir), does one thing and prints one JSON line.
 * Run as `node child.js <spec-json> session`: reads one command per stdin line and answers
 * each with one JSON line, so one process serves a whole case (one spawn per side) and
 * the parent can release several children at once (a racing commit starts when its line
 * arrives). Cross-process claims (persistent, multiProcess) and memory bounds are proven
 * here, not by a second instance inside the test's own process.
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { loadStorageModule, openStorage } from '../loader.js';
import { openConfiguredStorage } from '../routing.js';
import type { StorageConfig } from '../config-schema.js';
import type { AppStorage, CheckpointPart, CheckpointWriter, Storage } from '../types.js';

/** How another process opens the same store: one module and its options, or a whole routed `storage` config. */
export type ChildSpec =
  | {
      /** Module name or path, as in cluster config. */
      module: string;
      options: Record<string, unknown>;
      /** Folder module paths and relative options resolve against. */
      baseDir?: string;
    }
  | { storage: StorageConfig; baseDir?: string };

const appCmd = <C extends string, S extends z.ZodRawShape>(cmd: C, shape: S) => z.object({ cmd: z.literal(cmd), appId: z.string(), ...shape }).strict();
const epochT = { store: z.string(), epoch: z.number().int().nonnegative(), t: z.number().int().nonnegative() };

/** The commands a child runs; every line it reads is parsed with this schema. */
export const childCommandSchema = z.discriminatedUnion('cmd', [
  appCmd('read-app', {}),
  appCmd('offset-writer', { store: z.string(), epoch: z.number().int().nonnegative(), append: z.object({ t: z.number().int().nonnegative(), value: z.string() }).strict().optional() }),
  appCmd('jar-rss', { mib: z.number().int().positive() }),
  /** Stages `parts` for checkpoint t with writer(epoch) and keeps their descriptors for checkpoint-commit. */
  appCmd('checkpoint-stage', { ...epochT, parts: z.array(z.object({ name: z.string(), value: z.string() }).strict()) }),
  /** Commits what checkpoint-stage staged for t in this process. */
  appCmd('checkpoint-commit', epochT),
  /**
   * Starts an incremental chain in the background and answers at once: writer(epoch), then
   * for t = from, from+1, …: stage a delta, commit [base, delta], until the process is
   * killed (the crash cases kill -9 it at some step) or `count` commits are done.
   */
  appCmd('checkpoint-chain', {
    store: z.string(), epoch: z.number().int().nonnegative(), from: z.number().int().nonnegative(), count: z.number().int().positive(),
    numRetained: z.number().int().positive(),
    base: z.object({ name: z.string(), size: z.number().int().nonnegative(), sha256: z.string(), ref: z.string() }).strict(),
  }),
  appCmd('config-set', { key: z.string(), value: z.unknown(), ifVersion: z.number().int().nonnegative().optional() }),
  appCmd('log-append', { msg: z.string() }),
  /** Blob commands work on storage.blobs (no app). */
  z.object({ cmd: z.literal('blob-read'), name: z.string() }).strict(),
  z.object({ cmd: z.literal('blob-update'), name: z.string(), value: z.string(), expectedVersion: z.number().int().positive() }).strict(),
]);

export type ChildCommand = z.infer<typeof childCommandSchema>;

function parseCommand(json: string): ChildCommand {
  const r = childCommandSchema.safeParse(JSON.parse(json));
  if (!r.success) throw new Error(`invalid child command ${json.slice(0, 200)}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** What one child process keeps between session commands: app handles, writers and staged parts. */
interface SessionState {
  apps: Map<string, AppStorage>;
  writers: Map<string, CheckpointWriter>;
  staged: Map<string, CheckpointPart[]>;
}

async function open(spec: ChildSpec): Promise<Storage> {
  if ('storage' in spec) return openConfiguredStorage(spec.storage, { baseDir: spec.baseDir });
  const mod = await loadStorageModule(spec.module, { baseDir: spec.baseDir });
  return openStorage(mod, spec.options, { baseDir: spec.baseDir });
}

/** A failed call as data: the parent asserts on the code and prints the message. */
async function outcome(f: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  try {
    return { ok: true, ...(await f()) };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code, message: (err as Error).message };
  }
}

async function runBlobCommand(storage: Storage, c: Extract<ChildCommand, { cmd: `blob-${string}` }>): Promise<unknown> {
  const blobs = storage.blobs;
  if (!blobs) return { found: false, ok: false, message: 'storage.blobs is absent' };
  if (c.cmd === 'blob-read') {
    const head = await blobs.head(c.name);
    if (!head) return { found: false };
    const chunks: Buffer[] = [];
    for await (const b of (await blobs.get(c.name)).body) chunks.push(Buffer.from(b));
    return { found: true, version: head.version, text: Buffer.concat(chunks).toString() };
  }
  return outcome(async () => ({ version: (await blobs.update(c.name, new Uint8Array(Buffer.from(c.value)), { expectedVersion: c.expectedVersion })).version }));
}

async function appOf(storage: Storage, state: SessionState, appId: string): Promise<AppStorage | undefined> {
  let app = state.apps.get(appId);
  if (!app) {
    app = await storage.getAppStorage(appId);
    if (app) state.apps.set(appId, app);
  }
  return app;
}

async function runCommand(storage: Storage, c: ChildCommand, state: SessionState): Promise<unknown> {
  if (c.cmd === 'blob-read' || c.cmd === 'blob-update') return runBlobCommand(storage, c);
  // jar-rss works on an app of its own: it measures this process, whatever the store shares.
  const app = c.cmd === 'jar-rss' ? await storage.createAppStorage('conformance', c.appId, { owner: 'alice' }) : await appOf(storage, state, c.appId);
  if (!app) return { found: false };
  if (c.cmd === 'checkpoint-stage' || c.cmd === 'checkpoint-commit') {
    const key = `${c.store}@${c.epoch}`;
    return { found: true, ...(await outcome(async () => {
      let w = state.writers.get(key);
      if (!w) state.writers.set(key, (w = await app.checkpoints(c.store, { numRetained: 10 }).writer(c.epoch)));
      if (c.cmd === 'checkpoint-stage') {
        const parts: CheckpointPart[] = [];
        for (const p of c.parts) parts.push(await w.stage(c.t, p.name, new Uint8Array(Buffer.from(p.value))));
        state.staged.set(`${key}/${c.t}`, parts);
        return { staged: parts.length };
      }
      const parts = state.staged.get(`${key}/${c.t}`);
      if (!parts) throw new Error(`checkpoint-commit ${c.t}: nothing staged for it in this process`);
      return { t: (await w.commit(c.t, parts)).t };
    })) };
  }
  if (c.cmd === 'checkpoint-chain') {
    const w = await app.checkpoints(c.store, { numRetained: c.numRetained }).writer(c.epoch);
    const run = async (): Promise<void> => {
      for (let t = c.from; t < c.from + c.count; t++) {
        const delta = await w.stage(t, 'delta', new Uint8Array(Buffer.from(`delta ${t}`)));
        await w.commit(t, [c.base, delta]);
      }
    };
    // Ends with the process (kill -9); a failure before that is the parent's to find.
    void run().catch(() => undefined);
    return { found: true, ok: true };
  }
  if (c.cmd === 'config-set') {
    return { found: true, ...(await outcome(async () => ({ version: (await app.config.set(c.key, c.value, c.ifVersion === undefined ? {} : { ifVersion: c.ifVersion })).version }))) };
  }
  if (c.cmd === 'log-append') {
    return { found: true, ...(await outcome(async () => (await app.logs.append([{ ts: Date.now(), level: 'info', msg: c.msg, labels: {} }]), {}))) };
  }
  if (c.cmd === 'read-app') {
    const meta = await app.meta();
    const off = await app.offsets('src').get(5);
    return {
      found: true,
      labels: meta.labels,
      offset5: off && Buffer.from(off.value).toString(),
      epoch: await app.offsets('src').currentEpoch(),
      config: (await app.config.get('p'))?.value,
      jarSize: (await app.jars.stat('j'))?.size,
    };
  }
  if (c.cmd === 'offset-writer') {
    try {
      const w = await app.offsets(c.store).writer(c.epoch);
      if (c.append) await w.append(c.append.t, new Uint8Array(Buffer.from(c.append.value)));
      return { found: true, ok: true };
    } catch (err) {
      return { found: true, ok: false, code: (err as { code?: string }).code, message: (err as Error).message };
    }
  }
  if (c.cmd !== 'jar-rss') throw new Error(`unknown command ${JSON.stringify(c)}`);
  // jar-rss: a clean process, so the baseline is this process's own, not a test runner's.
  const MiB = 1024 * 1024;
  const mib = c.mib;
  const hash = createHash('sha256');
  async function* gen(): AsyncIterable<Uint8Array> {
    for (let i = 0; i < mib; i++) {
      const b = Buffer.alloc(MiB, i & 0xff);
      hash.update(b);
      yield b;
    }
  }
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  try {
    const info = await app.jars.put('big.bin', gen());
    let n = 0;
    for await (const chunk of await app.jars.get('big.bin')) {
      n += chunk.byteLength;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    await app.jars.delete('big.bin');
    await storage.deleteAppStorage(c.appId);
    return { found: true, size: info.size, sha256: info.sha256, expectedSha256: hash.digest('hex'), readBack: n, growthMiB: (peak - base) / MiB };
  } finally {
    clearInterval(timer);
  }
}

function newState(): SessionState {
  return { apps: new Map(), writers: new Map(), staged: new Map() };
}

/** One command per stdin line, one JSON answer per line, in order; ends when stdin closes. */
async function session(storage: Storage): Promise<void> {
  const state = newState();
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    let answer: unknown;
    try {
      answer = await runCommand(storage, parseCommand(line), state);
    } catch (err) {
      answer = { error: { message: (err as Error).message, code: (err as { code?: string }).code } };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}

async function main(): Promise<void> {
  const [specJson, cmdJson] = process.argv.slice(2);
  const spec = JSON.parse(specJson!) as ChildSpec;
  const storage = await open(spec);
  try {
    if (cmdJson === 'session') await session(storage);
    else process.stdout.write(JSON.stringify(await runCommand(storage, parseCommand(cmdJson!), newState())) + '\n');
  } finally {
    await storage.close();
  }
}

main().catch((err: unknown) => {
  process.stdout.write(JSON.stringify({ error: { message: (err as Error).message, code: (err as { code?: string }).code } }) + '\n');
  process.exitCode = 1;
});
