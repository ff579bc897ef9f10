// The source commit hook: SourceTask.onCommit(t, position) runs only once checkpoint t is
// committed, with the position the source recorded at the newest boundary <= t, and that
// position is the one the offset store holds at t (what recovery would restore).
import { describe, expect, it } from 'vitest';
import { openStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { dag, InProcessApp, type SourceTask } from '@sluice/engine';

describe('source commit hook', () => {
  it('hands a source the position of each committed checkpoint, never a newer one', async () => {
    const storage = await openStorage(memoryModule, { volume: `source-commit-${process.pid}` });
    const app = await storage.createAppStorage('t', 't-1', { owner: 'test' });
    const calls: Array<{ t: number; position: unknown; readAhead: number }> = [];
    const source = (): SourceTask => {
      let n = 0;
      return {
        open() {},
        read: () => [String(n++)],
        position: () => n,
        onCommit(t, position) {
          calls.push({ t, position, readAhead: n });
        },
      };
    };
    const d = dag('t').source('src', source).sink('sink', () => ({ onNext() {} }));
    const a = new InProcessApp({ dag: d, app, epoch: 1, intervalMs: 20 });
    await a.start();
    try {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && calls.length < 5) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await a.stop();
    }
    expect(calls.length).toBeGreaterThanOrEqual(5);
    const committed = (await app.checkpoints('tasks').last())!.t;
    const offsets = app.offsets('src.0');
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      expect(c.t).toBeLessThanOrEqual(committed);
      expect(c.t % 20).toBe(0);
      if (i > 0) expect(c.t).toBeGreaterThan(calls[i - 1]!.t);
      // the position recorded at boundary t, as the offset store has it (behind what was read by then)
      const look = await offsets.lookUp(c.t);
      expect(look.status).toBe('found');
      if (look.status === 'found') expect(look.entry.t).toBe(c.t);
      if (look.status === 'found') expect(JSON.parse(Buffer.from(look.entry.value).toString('utf8'))).toBe(c.position);
      expect(c.position as number).toBeLessThanOrEqual(c.readAhead);
    }
  });
});
