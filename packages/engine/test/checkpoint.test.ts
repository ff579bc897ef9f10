import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointCoordinator, dag, DEFAULT_VOCABULARY_FOR_TESTS, fileSink, generatedLine, generatorSource, InProcessApp, readCommittedOutput } from './helpers.js';
import { isStorageError, openStorage, type AppStorage, type CheckpointPart } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';

const part = (name: string): CheckpointPart => ({ name, size: 1, sha256: 'x', ref: `r-${name}` });
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('checkpoint coordination', () => {
  it('completes t only when every task staged it, in task order', () => {
    const c = new CheckpointCoordinator(['a', 'b', 'c']);
    expect(c.staged(1000, 'b', [part('b')])).toBeUndefined();
    expect(c.staged(1000, 'a', [part('a')])).toBeUndefined();
    expect(c.staged(1000, 'ghost', [part('g')])).toBeUndefined();
    expect(c.staged(1000, 'c', [part('c')])!.map((p) => p.name)).toEqual(['a', 'b', 'c']);
  });

  it('ignores stale times and drops skipped ones after a later commit', () => {
    const c = new CheckpointCoordinator(['a', 'b'], 1000);
    expect(c.staged(1000, 'a', [part('a')])).toBeUndefined();
    expect(c.openTimes()).toEqual([]);
    c.staged(2000, 'a', [part('a')]); // b's clock jumps over 2000
    c.staged(3000, 'a', [part('a')]);
    expect(c.staged(3000, 'b', [part('b')])).toHaveLength(2);
    c.committed(3000);
    expect(c.openTimes()).toEqual([]);
    expect(c.lastCommitted).toBe(3000);
  });

  it('bounds the open checkpoints it remembers', () => {
    const c = new CheckpointCoordinator(['a', 'b'], undefined, 4);
    for (let t = 1; t <= 10; t++) c.staged(t * 100, 'a', [part('a')]);
    expect(c.openTimes()).toEqual([700, 800, 900, 1000]);
  });
});

async function memoryApp(volume: string): Promise<AppStorage> {
  const storage = await openStorage(memoryModule, { volume });
  return storage.createAppStorage('wc', 'wc-1', { owner: 'test' });
}

function wordCount(out: string, lines: number) {
  return dag('wc')
    .source('gen', generatorSource({ lines }), { parallelism: 2 })
    .flatMap('split', (l: string) => l.split(' '), { parallelism: 2 })
    .groupBy((w: string) => w)
    .count('count', { parallelism: 3 })
    .sink('out', fileSink({ dir: out }), { parallelism: 2 });
}

function reference(lines: number): Map<string, string> {
  const m = new Map<string, number>();
  for (let i = 0; i < lines; i++) for (const w of generatedLine(1, i, 8, DEFAULT_VOCABULARY_FOR_TESTS).split(' ')) m.set(w, (m.get(w) ?? 0) + 1);
  return new Map([...m].map(([k, v]) => [k, String(v)]));
}

describe('exactly-once in one process (memory store)', () => {
  it('restores at the last committed checkpoint after a crash and produces exact counts', async () => {
    const out = mkdtempSync(join(tmpdir(), 'sluice-ckpt-'));
    dirs.push(out);
    const app = await memoryApp(`ckpt-${process.pid}-1`);
    const lines = 60_000;
    const first = new InProcessApp({ dag: wordCount(out, lines), app, epoch: 1, intervalMs: 50, batchSize: 200 });
    await first.start();
    const deadline = Date.now() + 20_000;
    while ((first.committer.lastCommitted === undefined || first.committer.commits < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await first.stop(); // a crash: whatever was staged after the last commit is lost
    expect(first.committer.commits).toBeGreaterThanOrEqual(2);
    const second = new InProcessApp({ dag: wordCount(out, lines), app, epoch: 2, intervalMs: 50, batchSize: 200 });
    await second.start();
    expect(second.restoredFrom).toBe(first.committer.lastCommitted);
    await second.waitFinished(30_000);
    await second.stop();
    expect(readCommittedOutput(out)).toEqual(reference(lines));
    expect(readdirSync(join(out, '.staging')).filter((f) => f.includes('.e2.'))).toEqual([]);
  });

  it('fences the older epoch: its stages and commits fail with STORAGE_FENCED', async () => {
    const app = await memoryApp(`ckpt-${process.pid}-2`);
    const store = app.checkpoints('tasks');
    const old = await store.writer(1);
    const p = await old.stage(1000, 'a.0', new Uint8Array([1]));
    await store.writer(2);
    const err = await old.commit(1000, [p]).catch((e: unknown) => e);
    expect(isStorageError(err, 'STORAGE_FENCED')).toBe(true);
    const offsets = app.offsets('gen.0');
    const o1 = await offsets.writer(1);
    await offsets.writer(2);
    expect(isStorageError(await o1.append(5, new Uint8Array([1])).catch((e: unknown) => e), 'STORAGE_FENCED')).toBe(true);
  });
});
