import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { openStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { RetentionDaemon } from '../src/cluster/retention-daemon.js';
import { parseClusterConfig } from '../src/config/cluster-config.js';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('RetentionDaemon', () => {
  it('applies the retention policy every interval and logs what it removed', async () => {
    const storage = await openStorage(memoryModule, {});
    const app = await storage.createAppStorage('a', 'app-1', { owner: 'alice' });
    await app.logs.append([
      { ts: 1_000, level: 'info', msg: 'old', labels: {} },
      { ts: 99_000, level: 'info', msg: 'new', labels: {} },
    ]);
    const { logger, lines } = capture();
    const daemon = new RetentionDaemon({ storage, policy: { logs: { maxAgeMs: 10_000 } }, intervalMs: 20, logger, now: () => 100_000 });
    daemon.start();
    try {
      await until(() => lines.some((l) => String(l.msg).startsWith('retention removed')));
      expect((await app.logs.query({})).records.map((r) => r.msg)).toEqual(['new']);
      expect(lines.find((l) => String(l.msg).startsWith('retention removed'))).toMatchObject({ appId: 'app-1', subStore: 'logs', count: 1 });
      const runs = daemon.runs;
      await until(() => daemon.runs >= runs + 2); // keeps going
    } finally {
      await daemon.stop();
      await storage.close();
    }
  });

  it('a failing pass is logged and the loop goes on; stop() ends it', async () => {
    const storage = await openStorage(memoryModule, {});
    await storage.close(); // every call now fails with STORAGE_CLOSED
    const { logger, lines } = capture();
    const daemon = new RetentionDaemon({ storage, policy: {}, intervalMs: 10, logger });
    daemon.start();
    await until(() => daemon.runs >= 3);
    await daemon.stop();
    const after = daemon.runs;
    expect(lines.filter((l) => l.msg === 'retention pass failed; retrying at the next interval').length).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 50));
    expect(daemon.runs).toBe(after);
  });

  it('interval 0 disables it; a negative interval is refused; the config key is validated', async () => {
    const storage = await openStorage(memoryModule, {});
    const { logger } = capture();
    const off = new RetentionDaemon({ storage, policy: {}, intervalMs: 0, logger });
    off.start();
    await new Promise((r) => setTimeout(r, 30));
    expect(off.runs).toBe(0);
    expect(() => new RetentionDaemon({ storage, policy: {}, intervalMs: -1, logger })).toThrow(/retentionIntervalMs/);
    expect(parseClusterConfig({ master: { retentionIntervalMs: 60_000 } }).master.retentionIntervalMs).toBe(60_000);
    expect(() => parseClusterConfig({ master: { retentionIntervalMs: -5 } })).toThrow(/master\.retentionIntervalMs/);
    await storage.close();
  });
});
