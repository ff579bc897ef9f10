// Storage proxy hop profile (issue 21): where one proxied offset append (32 B, durable) spends its time,
// worker side in this process on an fs store: executor call -> the worker's guarded writer entered,
// the writer's own time, writer returned -> executor's promise settled. Medians of 2000; prints one line.
// A diagnostic for the storage proxy bench (bench/storage-proxy.bench.mjs), not a goal of its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openStorage } from '../packages/storage-api/dist/index.js';
import fsModule from '../packages/storage-fs/dist/index.js';
import { openProxyStorage, StorageProxySession } from '../packages/engine/dist/index.js';
const dir = mkdtempSync(join(tmpdir(), 'prof-'));
const st = await openStorage(fsModule, { root: dir });
const hr = () => Number(process.hrtime.bigint()) / 1000;
let tIn = 0, tOut = 0;
const origCreate = st.createAppStorage.bind(st);
st.createAppStorage = async (...a) => { const app = await origCreate(...a); const oo = app.offsets.bind(app);
  app.offsets = (n) => { const s = oo(n); const ow = s.writer.bind(s); s.writer = async (e) => { const w = await ow(e); const ap = w.append.bind(w); w.append = async (...x) => { tIn = hr(); const r = await ap(...x); tOut = hr(); return r; }; return w; }; return s; }; return app; };
const sock = join(dir, 's.sock');
const srv = createServer((s) => new StorageProxySession(s, { storage: st, logger: pino({ level: 'silent' }) }).bind({ kind: 'all' }));
await new Promise((r) => srv.listen(sock, r));
const { storage: px } = await openProxyStorage(createConnection(sock));
const app = await px.createAppStorage('b', 'x', { owner: 'b' });
const w = await app.offsets('src').writer(1);
const V = new Uint8Array(32);
const a = [], b = [], c = [];
for (let i = 1; i <= 2000; i++) { const t0 = hr(); await w.append(i, V); const t3 = hr(); a.push(tIn - t0); b.push(tOut - tIn); c.push(t3 - tOut); }
const med = (x) => x.sort((p, q) => p - q)[x.length >> 1];
console.log('client->backend', med(a), 'backend', med(b), 'backend->client', med(c));
rmSync(dir, { recursive: true, force: true });
process.exit(0);
