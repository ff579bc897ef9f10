// Nexmark queries on a real local cluster (`sluice local`: master + 2 workers, executors as
// child processes), submitted through the CLI as bench/nexmark-queries.mjs: the committed
// output equals the plain-JS reference exactly, also when an executor is SIGKILLed mid-run
// (exactly-once: an append query would show duplicates, an upsert a wrong final value, an
// event-time window (q8, q11) a wrong count or a late record lost).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nexmark } from '@sluice/engine';
import { api, cli, Proc, REPO, waitFor, writeClusterYaml, useLocalAdminToken, type TestJson } from '../e2e/helpers/engine-cluster.js';

const APP = resolve(REPO, 'bench/nexmark-queries.mjs');
let dir: string;
let local: Proc;
let addr: string;
let failed = false;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-nexmark-'));
  writeClusterYaml(join(dir, 'cluster.yaml'));
  local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '2'], { cwd: dir });
  addr = (await local.line(/master on (\S+),/))[1]!;
  useLocalAdminToken(dir);
});

afterAll(async () => {
  await local?.stop();
  // The cluster's output is printed only when a case failed (quiet otherwise).
  if (failed && local) process.stderr.write(`sluice local stderr:\n${local.err.join('').slice(-4000)}\n`);
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

/** Every line the file sink committed, in checkpoint order. */
function committedLines(out: string): string[] {
  if (!existsSync(out)) return [];
  const lines: string[] = [];
  for (const f of readdirSync(out).filter((n) => n.startsWith('part-') && n.endsWith('.txt')).sort()) {
    for (const l of readFileSync(join(out, f), 'utf8').split('\n')) if (l) lines.push(l);
  }
  return lines;
}

async function submit(query: string, events: number, extra: string[] = []): Promise<{ appId: string; out: string }> {
  const out = join(dir, `out-${query}-${events}`);
  const args = ['submit', APP, '--master', addr, '--config', `query=${query}`, '--config', `events=${events}`, '--config', `output=${out}`,
    '--config', 'executors=2', '--config', 'parallelism=2', '--config', 'checkpointIntervalMs=300', ...extra];
  const sub = await cli(args, dir);
  expect(sub.code, sub.stderr).toBe(0);
  return { appId: sub.stdout.trim(), out };
}

async function finished(appId: string, timeoutMs: number): Promise<TestJson> {
  return waitFor(`app ${appId} to end`, timeoutMs, async () => {
    const a = await api(`http://${addr}`, 'GET', `/apps/${appId}`);
    return ['running', 'pending'].includes(a.status) ? undefined : a;
  }, 300);
}

function expectReference(query: string, events: number, out: string): void {
  const ref = nexmark.referenceLines(query, [...nexmark.nexmarkEvents({ events, ...(RATE[query] ? { firstEventRate: RATE[query] } : {}) })]);
  const lines = committedLines(out);
  const diff = nexmark.diffOutput(ref.kind, lines, ref.lines);
  if (diff) failed = true;
  expect(diff, `${query}: ${lines.length} committed lines, ${ref.lines.length} in the reference`).toBeUndefined();
  expect(ref.lines.length).toBeGreaterThan(0); // a query with no output would prove nothing
}

/**
 * Windowed queries run at a slower event-time rate, so a short stream still spans many
 * 10 s windows (q7: 10 at 200 events per event-time second, not 2).
 */
const RATE: Record<string, number> = { q7: 200, q8: 1000 };
const rateArgs = (query: string): string[] => (RATE[query] ? ['--config', `rate=${RATE[query]}`] : []);

/** The join or window processor of the event-time queries among the SIGKILL cases. */
const WATERMARKED: Record<string, string> = { q4: 'join', q7: 'highestBid', q8: 'newSellers', q9: 'join', q11: 'sessions' };

describe('nexmark queries on a local cluster equal the reference', () => {
  // q3, q4, q7, q8, q9 and q20 are the DSL joins (joinTable, intervalJoin, windowCoGroup).
  for (const query of ['q0', 'q1', 'q2', 'q3', 'q4', 'q7', 'q8', 'q9', 'q11', 'q20']) {
    it(`${query}`, async () => {
      const events = 20_000;
      const { appId, out } = await submit(query, events, rateArgs(query));
      const end = await finished(appId, 120_000);
      if (end.status !== 'stopped') failed = true;
      expect(end.status, end.error).toBe('stopped');
      expectReference(query, events, out);
    }, 150_000);
  }

  for (const query of ['q4', 'q7', 'q8', 'q9', 'q11', 'q20']) {
    it(`${query} through an executor SIGKILL`, async () => {
      const events = 40_000;
      // Throttled so the run outlasts a few checkpoints; the kill lands mid-stream.
      const { appId, out } = await submit(query, events, ['--config', 'eventsPerSec=4000', ...rateArgs(query)]);
      const base = `http://${addr}`;
      const before = await waitFor('a committed checkpoint', 60_000, async () => {
        const a = await api(base, 'GET', `/apps/${appId}`);
        return a.appMaster?.committed > 0 && a.appMaster?.phase === 'running' ? a : undefined;
      });
      const joinOrWindow = WATERMARKED[query];
      if (joinOrWindow) {
        // `sluice status --json` shows the watermark of each event-time processor (the min over its tasks).
        const st = await waitFor(`${joinOrWindow}'s watermark in sluice status`, 60_000, async () => {
          const r = await cli(['status', appId, '--master', addr, '--json'], dir);
          const j = JSON.parse(r.stdout) as { appMaster?: { watermark?: number; watermarks?: Record<string, number> } };
          return j.appMaster?.watermarks?.[joinOrWindow] !== undefined ? j.appMaster : undefined;
        }, 300);
        expect(st.watermarks![joinOrWindow]).toBeGreaterThan(Date.UTC(2026, 0, 1) - 10_000); // event time of the generated stream
        expect(st.watermark).toBeLessThanOrEqual(st.watermarks![joinOrWindow]!);
      }
      const victim = (before.executors as Array<{ role: string; pid: number }>).find((e) => e.role === 'executor');
      expect(victim, 'an executor to kill').toBeDefined();
      process.kill(victim!.pid, 'SIGKILL');
      const end = await finished(appId, 120_000);
      if (end.status !== 'stopped') failed = true;
      expect(end.status, end.error).toBe('stopped');
      expect(end.epoch).toBeGreaterThan(before.epoch); // the kill forced a restore
      expectReference(query, events, out);
    }, 180_000);
  }
});
