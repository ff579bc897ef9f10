import { describe, expect, it } from 'vitest';
import { openStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { dag, InProcessApp, type SourceTask, type Task } from '@sluice/engine';

describe('Task API and runtime config', () => {
  it('calls onStart, onNext, onClock at boundaries and picks up config changes at run time', async () => {
    const storage = await openStorage(memoryModule, { volume: `task-api-${process.pid}` });
    const app = await storage.createAppStorage('t', 't-1', { owner: 'test' });
    const seen = { started: 0, batches: 0, clocks: [] as number[], configs: [] as unknown[], stopped: 0 };
    // An endless source: the app stays up while the config changes.
    const source = (): SourceTask => {
      let n = 0;
      return { open() {}, read: () => [String(n++)], position: () => n };
    };
    const probe = (): Task => ({
      onStart(ctx) {
        seen.started++;
        seen.configs.push(ctx.config);
      },
      onNext() {
        seen.batches++;
      },
      onClock(t) {
        seen.clocks.push(t);
      },
      onConfig(value) {
        seen.configs.push(value);
      },
      onStop() {
        seen.stopped++;
      },
    });
    await app.config.set('probe', { threshold: 1 });
    const d = dag('t').source('src', source).process('probe', probe, { parallelism: 2 }).sink('sink', () => ({ onNext() {} }));
    const a = new InProcessApp({ dag: d, app, epoch: 1, intervalMs: 20, configPollMs: 20 });
    await a.start();
    try {
      await app.config.set('probe', { threshold: 2 });
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !(seen.configs.some((c) => (c as { threshold?: number })?.threshold === 2) && seen.clocks.length >= 4)) {
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await a.stop();
    }
    expect(seen.started).toBe(2);
    expect(seen.batches).toBeGreaterThan(0);
    expect(seen.configs.slice(0, 2)).toEqual([{ threshold: 1 }, { threshold: 1 }]);
    expect(seen.configs).toContainEqual({ threshold: 2 });
    // Boundaries are multiples of the interval and increase per task.
    expect(seen.clocks.every((t) => t % 20 === 0)).toBe(true);
    expect(seen.stopped).toBe(2);
    expect(a.committer.commits).toBeGreaterThan(0);
  });
});
