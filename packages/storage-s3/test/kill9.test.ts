/**
 * kill -9 loop: a writer process (fixtures/writer.mjs) appends offsets, commits
 * checkpoints and puts jars against s3rver + shim; it is SIGKILLed 30 times at seeded
 * random moments. After each kill a fresh instance checks: nothing acknowledged is lost,
 * no partial batch, checkpoint or jar is visible.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectBytes, type AppStorage, type Storage } from '@sluice/storage-api';
import { startS3rver, type S3rverHandle } from '../../../test/servers/s3rver.js';
import { mulberry32 } from '../../../test/servers/s3/fault-proxy.js';
import { openS3, type S3Target } from '../../../test/servers/s3/factories.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/writer.mjs', import.meta.url));
const KILLS = 30;

let server: S3rverHandle;
const opened: Storage[] = [];
beforeAll(async () => {
  server = await startS3rver({ shim: true });
});
afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  await server?.stop();
});

function jarSha(name: string, size: number): string {
  const block = Buffer.alloc(64 * 1024);
  const seed = createHash('sha256').update(name).digest();
  for (let i = 0; i < block.length; i += seed.length) seed.copy(block, i);
  const h = createHash('sha256');
  for (let sent = 0; sent < size; sent += block.length) h.update(block.subarray(0, Math.min(block.length, size - sent)));
  return h.digest('hex');
}

interface Acks {
  offsets: number;
  ckpts: number[];
  jars: Array<{ jar: string; size: number; sha256: string }>;
}

/** Runs the writer until `afterMs` past its first line, then SIGKILLs it by PID. */
async function runAndKill(cfg: object, afterMs: number, acks: Acks): Promise<void> {
  const child = spawn(process.execPath, [FIXTURE, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
  let buf = '';
  let ready = false;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writer not ready in 30 s: ${stderr}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as { ready?: boolean; offsets?: number; ckpt?: number; jar?: string; size?: number; sha256?: string };
        buf = buf.slice(nl + 1);
        if (line.ready && !ready) {
          ready = true;
          clearTimeout(timer);
          setTimeout(() => {
            if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
            resolve();
          }, afterMs);
        }
        if (line.offsets !== undefined) acks.offsets = Math.max(acks.offsets, line.offsets);
        if (line.ckpt !== undefined) acks.ckpts.push(line.ckpt);
        if (line.jar !== undefined) acks.jars.push({ jar: line.jar, size: line.size!, sha256: line.sha256! });
      }
    });
    child.once('exit', (code, sig) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`writer exited early (${code ?? sig}): ${stderr}`));
      }
    });
  });
  await exited;
}

async function verify(app: AppStorage, acks: Acks, deep: boolean): Promise<void> {
  // Offsets: contiguous 1..N in whole batches of 10, N ≥ the last acknowledged.
  const entries = await app.offsets('src').range(0, Number.MAX_SAFE_INTEGER);
  const n = entries.length;
  expect(entries.map((e) => e.t)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(n % 10).toBe(0);
  expect(n).toBeGreaterThanOrEqual(acks.offsets);
  for (const e of entries) expect(Buffer.from(e.value).toString()).toBe(`v${e.t}`);
  // Checkpoints: every acknowledged one present; every visible one complete and intact.
  const cps = app.checkpoints('state', { numRetained: 1000 });
  const committed = await cps.range(0, Number.MAX_SAFE_INTEGER);
  const ts = new Set(committed.map((c) => c.t));
  for (const t of acks.ckpts) expect(ts.has(t), `checkpoint ${t}`).toBe(true);
  for (const c of committed) {
    expect(Buffer.from(await cps.readPart(c.t, 'a')).toString()).toBe(`a@${c.t}`);
    expect(Buffer.from(await cps.readPart(c.t, 'b')).toString()).toBe(`b@${c.t}`.repeat(100));
  }
  // Jars: acknowledged ones present with their digest; every listed jar reads back verified.
  const listed = new Map((await app.jars.list()).map((j) => [j.name, j]));
  for (const a of acks.jars) {
    expect(listed.get(a.jar)?.sha256, a.jar).toBe(a.sha256);
    expect(a.sha256).toBe(jarSha(a.jar, a.size));
  }
  if (deep) {
    for (const j of listed.values()) {
      const bytes = await collectBytes(await app.jars.get(j.name));
      expect(bytes.length).toBe(j.size);
    }
  }
}

describe('kill -9 of an S3 writer', () => {
  it(`${KILLS} kills: nothing acknowledged lost, nothing partial visible`, async () => {
    const target: S3Target = { ...server, bucket: 'sluice-kill', singleWriter: false };
    const s = await openS3(target, 'kill/');
    opened.push(s);
    await s.createAppStorage('k', 'app-kill', { owner: 'alice' });
    const app = (await s.getAppStorage('app-kill'))!;
    const rand = mulberry32(9);
    const acks: Acks = { offsets: 0, ckpts: [], jars: [] };
    for (let i = 1; i <= KILLS; i++) {
      const cfg = { endpoint: server.endpoint, bucket: target.bucket, prefix: 'kill/', appId: 'app-kill', epoch: i };
      await runAndKill(cfg, 50 + Math.floor(rand() * 500), acks);
      await verify(app, acks, i === KILLS);
    }
    process.stderr.write(`\n[kill -9] ${KILLS} kills; acknowledged: offsets up to ${acks.offsets}, ${acks.ckpts.length} checkpoints, ${acks.jars.length} jars\n`);
    expect(acks.offsets).toBeGreaterThan(0);
    expect(acks.ckpts.length).toBeGreaterThan(0);
    expect(acks.jars.length).toBeGreaterThan(0);
  }, 600_000);
});
