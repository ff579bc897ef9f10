import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
import { createAppLogger } from '../packages/engine/dist/observability/index.js';
const work = await mkdtemp(join(tmpdir(), 'x-'));
const storage = await openStorage(fsModule, { root: join(work, 'store'), synchronous: 'NORMAL' });
const app = await storage.createAppStorage('b', 'b', { owner: 'b' });
const log = createAppLogger({ appStorage: app, labels: { app: 'ingest', executor: 'e1', host: 'h' }, batchSize: 5000, maxBufferRecords: 50_000, flushIntervalMs: 50, spoolDir: process.env.SPOOL ? join(work, 'spool') : undefined });
const task = log.logger.child({ processor: 'split', task: '0.0' });
const N = 200000;
const t0 = performance.now();
for (let i = 0; i < N; i += 5000) { for (let k = i; k < i + 5000; k++) task.info({ k, word: 'sluice' }, 'processed a message'); await new Promise((r) => setImmediate(r)); }
await log.flush({ toStore: true, timeoutMs: 120000 });
console.log(process.env.SPOOL ? 'spool' : 'nospool', 'lines/s', Math.round(N / (performance.now() - t0) * 1000));
