// kill -9 loop: a writer process is killed at random points (≥30 times) while it writes
// offsets, checkpoints and a streamed jar against a real WebHDFS server. After each kill,
// everything it acknowledged is readable and nothing partial is visible.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { freshRoot, openHdfs } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/writer.mjs', import.meta.url));
const KILLS = 30;

let server: WebHdfsServer;
beforeAll(async () => {
  server = await startWebHdfsServer();
});
afterAll(async () => {
  await server?.stop();
});

interface Acks {
  offsets: number;
  cps: number[];
  jars: string[];
}

/** Runs one writer until it has acknowledged `minAcks` writes plus a random delay, then SIGKILLs it. */
function runAndKill(root: string, epoch: number, acks: Acks, delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [FIXTURE, server.nnUrl, root, String(epoch)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let err = '';
    let armed = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const [tag, kind, key] = buf.slice(0, i).split(' ');
        buf = buf.slice(i + 1);
        if (tag !== 'ACK') continue;
        if (kind === 'offsets') acks.offsets = Math.max(acks.offsets, Number(key));
        if (kind === 'cp') acks.cps.push(Number(key));
        if (kind === 'jar') acks.jars.push(key!);
        if (!armed) {
          armed = true;
          setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`writer exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}

it(`a writer killed -9 ${KILLS} times loses nothing acknowledged and exposes nothing partial`, async () => {
  const root = freshRoot();
  const acks: Acks = { offsets: 0, cps: [], jars: [] };
  const seed = 12345;
  let rnd = seed;
  const random = (): number => ((rnd = (rnd * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  let streak = 0;
  for (let k = 1; k <= KILLS; k++) {
    const cpsBefore = acks.cps.length;
    await runAndKill(root, k, acks, Math.floor(random() * 250));
    const s = await openHdfs(server, root);
    try {
      const app = (await s.getAppStorage('app1'))!;
      // Offsets: every acknowledged t is there with its value; nothing torn.
      const all = await app.offsets('src').range(0, Number.MAX_SAFE_INTEGER);
      for (let i = 0; i < all.length; i++) {
        expect(all[i]!.t).toBe(i + 1);
        expect(Buffer.from(all[i]!.value).toString()).toBe(`v${i + 1}`);
      }
      expect(all.length).toBeGreaterThanOrEqual(acks.offsets);
      // Checkpoints: retention keeps the newest 3 (unacknowledged commits of killed writers
      // count too), every kept one verifies, and nothing at or after the newest
      // acknowledged t that is still in the retention window is missing.
      const cps = app.checkpoints('cp', { numRetained: 3 });
      const kept = await cps.range(0, Number.MAX_SAFE_INTEGER);
      // A kill between a commit and its retention step leaves one extra until the next
      // completed commit; runs killed before acknowledging any commit can add one each.
      const acked = acks.cps.length > cpsBefore;
      streak = acked ? 0 : streak + 1;
      expect(kept.length).toBeLessThanOrEqual(3 + 1 + (acked ? 0 : streak));
      for (const cp of kept) expect(Buffer.from(await cps.readPart(cp.t, 'state')).toString()).toBe(`state-${cp.t}`);
      const lastAck = acks.cps[acks.cps.length - 1];
      if (lastAck !== undefined) {
        expect(kept[kept.length - 1]!.t).toBeGreaterThanOrEqual(lastAck);
        if (lastAck >= kept[0]!.t) expect(kept.some((cp) => cp.t === lastAck)).toBe(true);
      }
      // Jar: once acknowledged it is always there, complete, and verifies on read.
      if (acks.jars.length > 0) {
        const info = (await app.jars.stat('app.js'))!;
        expect(info.size).toBe(8 * 256 * 1024);
        let n = 0;
        for await (const c of await app.jars.get('app.js')) n += c.byteLength;
        expect(n).toBe(info.size);
      }
    } finally {
      await s.close();
    }
  }
  expect(acks.offsets).toBeGreaterThan(KILLS);
  expect(acks.jars.length).toBeGreaterThan(0);
}, 300_000);
