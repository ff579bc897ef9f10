// Log lines carry each key once: a logger's bindings and the logged object used to both
// be written (two `epoch`, `pid` or `worker` keys in one line).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openStorage } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';
import { createAppLogger } from '../../packages/engine/dist/observability/index.js';
import { createLogger } from '../../packages/engine/dist/runtime/logger.js';

/** The top-level keys of one JSON object line, in order, duplicates included. */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(line.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return keys;
}

function duplicates(line: string): string[] {
  const keys = topLevelKeys(line);
  return keys.filter((k, i) => keys.indexOf(k) !== i);
}

describe('log lines have no duplicated keys', () => {
  it('the key scanner finds duplicates (so the checks below can fail)', () => {
    expect(duplicates('{"a":1,"b":{"a":2},"a":3}')).toEqual(['a']);
    expect(duplicates('{"a":"x,\\"a\\":1","b":[{"a":1}]}')).toEqual([]);
  });

  it('app logger: bindings re-logged (equal or different), pino keys logged as fields', async () => {
    const storage = await openStorage(memoryModule, {});
    const app = await storage.createAppStorage('a', 'app-1', { owner: 'test' });
    const lines: string[] = [];
    const also = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const appLogger = createAppLogger({ appStorage: app, labels: { app: 'app-1', executor: 'appmaster' }, also, flushIntervalMs: 20 });
    const logger = appLogger.logger.child({ epoch: 1, role: 'appmaster' });
    logger.info({ epoch: 1, executors: 2 }, 'same epoch');
    logger.info({ epoch: 2 }, 'new epoch');
    logger.error({ executor: 3, error: 'boom' }, 'executor failed');
    logger.warn({ level: 'custom', app: 'app-1', time: 5 }, 'pino keys');
    logger.info('plain');
    await appLogger.close({ timeoutMs: 2000 });

    expect(lines).toHaveLength(5);
    for (const l of lines) expect(duplicates(l), l).toEqual([]);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[0]).toMatchObject({ epoch: 1, executors: 2, role: 'appmaster' });
    expect(parsed[1]!.epoch).toBe(2); // the logged value wins, as JSON.parse always read it
    expect(parsed[2]).toMatchObject({ executor: 3, level: 50, msg: 'executor failed' });
    expect(parsed[3]).toMatchObject({ level: 40, _level: 'custom', _time: 5, app: 'app-1' });
    expect(typeof parsed[3]!.time).toBe('number');

    // What the store kept matches the line.
    const { records } = await app.logs.query({ limit: 10, order: 'asc' });
    const pinoKeys = records.find((r) => r.msg === 'pino keys');
    expect(pinoKeys?.level).toBe('warn');
    expect(records.find((r) => r.msg === 'new epoch')?.fields?.epoch).toBe(2);
    await storage.close();
  });

  it('daemon logger: a logged pid/worker beside the bound ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-logkeys-'));
    const file = join(dir, 'daemon.log');
    const before = process.env.SLUICE_LOG_FILE;
    process.env.SLUICE_LOG_FILE = file;
    try {
      const logger = createLogger('worker', { worker: 'local-0' });
      logger.info({ worker: 'local-0', master: 'http://x' }, 'registered');
      logger.info({ appId: 'a', pid: 4242 }, 'executor started');
      logger.flush();
      await new Promise((r) => setTimeout(r, 200));
      const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
      expect(lines).toHaveLength(2);
      for (const l of lines) expect(duplicates(l), l).toEqual([]);
      expect((JSON.parse(lines[1]!) as { pid: number }).pid).toBe(4242);
    } finally {
      if (before === undefined) delete process.env.SLUICE_LOG_FILE;
      else process.env.SLUICE_LOG_FILE = before;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
