import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectBytes } from '@sluice/storage-api';
import type { AppStorage } from '@sluice/storage-api';
import { FIXTURES, openFs, removeRoot, tempRoot } from './helpers.js';
import { BATCH, partBytes } from './fixtures/crash-content.mjs';

/** Kills in the test; `npm run stress -w @sluice/storage-fs` runs many more (SLUICE_KILLS). */
const KILLS = Number(process.env.SLUICE_KILLS ?? 50);
const root = tempRoot('sluice-crash-');
afterAll(() => removeRoot(root));

interface Round {
  lines: string[];
  stderr: string;
  exit: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs one writer and SIGKILLs it at a random moment: 10% while it opens; otherwise a
 * random delay after READY, or (every other round) after its first acknowledged append, so
 * that even a starved machine makes progress in those rounds.
 */
function runAndKill(armOnFirstAck: boolean): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(FIXTURES, 'crash-writer.mjs'), root, 'crash'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const r: Round = { lines: [], stderr: '', exit: null, signal: null };
    let buf = '';
    let armed = false;
    const kill = (): boolean => child.kill('SIGKILL');
    const early = Math.random() < 0.1;
    if (early) setTimeout(kill, Math.random() * 200);
    const safety = setTimeout(kill, 20_000); // bound: a hung child never hangs the test
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const l of parts) {
        r.lines.push(l);
        if (!early && l.startsWith(armOnFirstAck ? 'OFF ' : 'READY') && !armed) {
          armed = true;
          setTimeout(kill, 10 + Math.random() * 300);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (r.stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(safety);
      r.exit = code;
      r.signal = signal;
      resolve(r);
    });
  });
}

/** What the store must hold, carried from round to round. */
interface Expect {
  lastOffset: number;
  lastCheckpoint: number;
  /** jar name → allowed digests (the acknowledged one, plus an unacknowledged in-flight one). */
  jars: Map<string, Set<string>>;
}

function lastOf(lines: string[], prefix: string): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.startsWith(prefix)) return lines[i]!.slice(prefix.length);
  return undefined;
}

/** The in-flight operation at the kill: the last BEGIN of that kind without its acknowledgement. */
function pending(lines: string[], op: string): string | undefined {
  const begun = lastOf(lines, `BEGIN ${op} `);
  if (begun === undefined) return undefined;
  const acked = lastOf(lines, `${op} `);
  return acked === begun ? undefined : begun;
}

async function check(app: AppStorage, round: Round, exp: Expect): Promise<void> {
  // Offsets: the batch in flight is all there or not at all; contiguous; values intact.
  const ackedOff = Number(lastOf(round.lines, 'OFF ') ?? exp.lastOffset);
  const pendOff = pending(round.lines, 'OFF');
  const src = app.offsets('src');
  const last = (await src.last())?.t ?? 0;
  expect([ackedOff, pendOff === undefined ? ackedOff : Number(pendOff)]).toContain(last);
  expect(last % BATCH).toBe(0);
  expect((await src.first())?.t ?? 1).toBe(1);
  for (let from = Math.max(1, exp.lastOffset - BATCH); from <= last; from += 10_000) {
    const page = await src.range(from, last + 1, { limit: 10_000 });
    expect(page.length).toBe(Math.min(10_000, last + 1 - from));
    page.forEach((e, i) => {
      expect(e.t).toBe(from + i);
      expect(Buffer.from(e.value).toString()).toBe(`v${e.t}`);
    });
  }
  exp.lastOffset = last;

  // Checkpoints: the newest is the acknowledged one or the one in flight; every part verifies.
  const ackedCp = Number(lastOf(round.lines, 'CP ') ?? exp.lastCheckpoint);
  const pendCp = pending(round.lines, 'CP');
  const cps = app.checkpoints('cp', { numRetained: 3 });
  const newest = (await cps.last())?.t ?? 0;
  expect([ackedCp, pendCp === undefined ? ackedCp : Number(pendCp)]).toContain(newest);
  const all = await cps.range(0, Number.MAX_SAFE_INTEGER);
  expect(all.length).toBeLessThanOrEqual(3);
  for (const cp of all) {
    expect(cp.parts.map((p) => p.name)).toEqual(['a', 'b']);
    for (const part of ['a', 'b']) expect(Buffer.from(await cps.readPart(cp.t, part)).equals(partBytes(cp.t, part))).toBe(true);
  }
  exp.lastCheckpoint = newest;

  // Jars: each name holds an acknowledged (or the in-flight) content, complete and verified.
  for (const l of round.lines) {
    const m = /^(BEGIN )?JAR (\S+) (\S+)$/.exec(l);
    if (!m) continue;
    const allowed = exp.jars.get(m[2]!) ?? new Set<string>();
    if (m[1]) allowed.add(m[3]!);
    else {
      allowed.clear();
      allowed.add(m[3]!);
    }
    exp.jars.set(m[2]!, allowed);
  }
  const listed = await app.jars.list();
  expect(listed.every((j) => exp.jars.has(j.name))).toBe(true);
  for (const [name, allowed] of exp.jars) {
    const info = listed.find((j) => j.name === name);
    // Absent only if no put of that name was ever acknowledged (only an in-flight one).
    if (!info) {
      expect(allowed.size).toBe(1);
      expect(round.lines.some((l) => l === `BEGIN JAR ${name} ${[...allowed][0]}`)).toBe(true);
      exp.jars.delete(name);
      continue;
    }
    expect(allowed.has(info.sha256)).toBe(true);
    const bytes = await collectBytes(await app.jars.get(name)); // throws STORAGE_CORRUPT on a partial blob
    expect(bytes.length).toBe(info.size);
    exp.jars.set(name, new Set([info.sha256]));
  }
}

describe('fs crash safety (kill -9)', () => {
  it(`loses nothing acknowledged and shows nothing partial across ${KILLS} SIGKILLs`, { timeout: 120_000 + KILLS * 3_000 }, async () => {
    const setup = await openFs(root);
    await (await setup.createAppStorage('crash', 'crash', { owner: 'alice' })).close();
    await setup.close();
    const exp: Expect = { lastOffset: 0, lastCheckpoint: 0, jars: new Map() };
    let progressed = 0;
    for (let k = 0; k < KILLS; k++) {
      const round = await runAndKill(k % 2 === 1);
      if (round.signal !== 'SIGKILL') throw new Error(`writer exited on its own (code ${round.exit}): ${round.stderr}`);
      const before = exp.lastOffset;
      const s = await openFs(root); // a fresh instance, like a restarted process
      try {
        const app = (await s.getAppStorage('crash'))!;
        await check(app, round, exp);
      } finally {
        await s.close();
      }
      // The next writer continues from what is stored: READY reports the last offset it found.
      const ready = lastOf(round.lines, 'READY ');
      if (ready !== undefined) expect(Number(ready)).toBe(before);
      if (exp.lastOffset > before) progressed++;
    }
    // The loop did real work: at least the rounds armed on the first ack appended.
    expect(progressed).toBeGreaterThanOrEqual(Math.floor(KILLS * 0.3));
  });
});
