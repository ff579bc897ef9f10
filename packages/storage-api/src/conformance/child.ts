/**
 * The other process of the conformance suite's cross-process cases. Run as
 * `node child.js <spec-json> <command> <args-json>`; opens the store the way a daemon does
 * (module by name or path, options, baseDir), does one thing and prints one JSON line.
 * Cross-process claims (persistent, multiProcess) and memory bounds are proven here, not
 * by a second instance inside the test's own process.
 */
import { createHash } from 'node:crypto';
import { loadStorageModule, openStorage } from '../loader.js';
import { openConfiguredStorage } from '../routing.js';
import type { StorageConfig } from '../config-schema.js';
import type { Storage } from '../types.js';

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

export type ChildCommand =
  | { cmd: 'read-app'; appId: string }
  | { cmd: 'offset-writer'; appId: string; store: string; epoch: number; append?: { t: number; value: string } }
  | { cmd: 'jar-rss'; appId: string; mib: number };

async function open(spec: ChildSpec): Promise<Storage> {
  if ('storage' in spec) return openConfiguredStorage(spec.storage, { baseDir: spec.baseDir });
  const mod = await loadStorageModule(spec.module, { baseDir: spec.baseDir });
  return openStorage(mod, spec.options, { baseDir: spec.baseDir });
}

async function runCommand(storage: Storage, c: ChildCommand): Promise<unknown> {
  // jar-rss works on an app of its own: it measures this process, whatever the store shares.
  const app = c.cmd === 'jar-rss' ? await storage.createAppStorage('conformance', c.appId, { owner: 'alice' }) : await storage.getAppStorage(c.appId);
  if (!app) return { found: false };
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

async function main(): Promise<void> {
  const [specJson, cmdJson] = process.argv.slice(2);
  const spec = JSON.parse(specJson!) as ChildSpec;
  const storage = await open(spec);
  try {
    process.stdout.write(JSON.stringify(await runCommand(storage, JSON.parse(cmdJson!) as ChildCommand)) + '\n');
  } finally {
    await storage.close();
  }
}

main().catch((err: unknown) => {
  process.stdout.write(JSON.stringify({ error: { message: (err as Error).message, code: (err as { code?: string }).code } }) + '\n');
  process.exitCode = 1;
});
