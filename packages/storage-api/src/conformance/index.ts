/**
 * The conformance suite: the executable definition of the storage contract. One entry
 * point for every backend (ours and users'), runner-agnostic: vitest through
 * registerConformance, anything else (the `sluice storage conformance` CLI) through
 * runConformance. Cases skip only from the instance's declared capabilities.
 */
import { appCases } from './cases/apps.js';
import { jarCases } from './cases/jars.js';
import { offsetCases } from './cases/offsets.js';
import { checkpointCases } from './cases/checkpoints.js';
import { checkpointSweepCases } from './cases/checkpoint-sweep.js';
import { sharedPartCases } from './cases/shared-parts.js';
import { logCases } from './cases/logs.js';
import { metricCases } from './cases/metrics.js';
import { configCases } from './cases/config.js';
import { lifecycleCases } from './cases/lifecycle.js';
import { faultCases } from './cases/faults.js';
import { gcCases } from './cases/gc.js';
import { fsckCases } from './cases/fsck.js';
import { blobCases } from './cases/blobs.js';
import { runCase, type Capability, type ConformanceCase, type ConformanceFactory } from './harness.js';
import { CAPABILITY_MEANINGS } from '../loader.js';

export type { ConformanceCase, ConformanceFactory, ConformanceInstance, CaseContext, CorruptTarget, Capability } from './harness.js';
export { rejectsWith, inChild } from './harness.js';
export type { ChildSpec, ChildCommand } from './harness.js';
export { ChildSession } from './child-session.js';
export { withFaults, faultPlan, type FaultRule, type FaultPlan } from './faults.js';

export const conformanceCases: readonly ConformanceCase[] = [
  ...appCases,
  ...jarCases,
  ...offsetCases,
  ...checkpointCases,
  ...checkpointSweepCases,
  ...sharedPartCases,
  ...logCases,
  ...metricCases,
  ...configCases,
  ...lifecycleCases,
  ...faultCases,
  ...gcCases,
  ...fsckCases,
  ...blobCases,
];

export interface ConformanceOptions {
  /** Shown in titles and reports. */
  name: string;
  factory: ConformanceFactory;
  /** Only cases whose "group › name" contains this text. */
  grep?: string;
}

// Suite options that look like capabilities are refused: capabilities come from the instance.
function protect(options: object): void {
  for (const k of ['capabilities', 'skip', 'multiWriter', 'persistent', 'follow']) {
    if (k in options) throw new TypeError(`conformance option "${k}" is not accepted: skips come only from storage.capabilities`);
  }
}

function selected(grep?: string): ConformanceCase[] {
  return conformanceCases.filter((c) => !grep || `${c.group} › ${c.name}`.includes(grep));
}

interface VitestLike {
  describe: (name: string, fn: () => void) => unknown;
  it: (name: string, fn: (ctx: { skip: (note?: string) => void }) => Promise<void>, timeout?: number) => unknown;
}

/** Registers every case with a vitest/jest-style runner (`describe`, `it` with a context that has skip()). */
export function registerConformance(runner: VitestLike, options: ConformanceOptions & { timeoutMs?: number }): void {
  protect(options);
  runner.describe(`storage conformance: ${options.name}`, () => {
    for (const c of selected(options.grep)) {
      runner.it(
        `${c.group} › ${c.name}`,
        async (ctx) => {
          const r = await runCase(c, options.factory);
          if (r.status === 'skipped') ctx.skip(r.reason);
        },
        (c.timeoutMs ?? 30_000) + 30_000,
      );
    }
  });
}

export interface ConformanceResult {
  group: string;
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  error?: { message: string; code?: string };
  reason?: string;
}

export interface ConformanceReport {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
  /** Cases --grep left out (not run, not counted above). */
  leftOut: number;
  /** Per missing capability: how many cases it skipped and what it means in production. */
  skippedByCapability: Partial<Record<Capability, { cases: number; meaning: string }>>;
  results: ConformanceResult[];
}

/** Runs the suite sequentially and returns a report (used by the CLI). */
export async function runConformance(
  options: ConformanceOptions & { onResult?: (r: ConformanceResult) => void },
): Promise<ConformanceReport> {
  protect(options);
  const cases = selected(options.grep);
  const report: ConformanceReport = {
    name: options.name, passed: 0, failed: 0, skipped: 0, leftOut: conformanceCases.length - cases.length, skippedByCapability: {}, results: [],
  };
  // A module's background promise that rejects unobserved (e.g. a throwing follow) fails
  // the case it happened in; it must not end the run without a summary.
  const stray: unknown[] = [];
  const onStray = (err: unknown): void => void stray.push(err);
  process.on('unhandledRejection', onStray);
  try {
    for (const c of cases) await runOne(c);
  } finally {
    process.off('unhandledRejection', onStray);
  }
  return report;

  async function runOne(c: ConformanceCase): Promise<void> {
    const start = performance.now();
    stray.length = 0;
    let result: ConformanceResult;
    try {
      const r = await runCase(c, options.factory);
      result = { group: c.group, name: c.name, status: r.status, reason: r.reason, ms: 0 };
      if (r.status === 'skipped') {
        for (const cap of r.missing ?? []) {
          const e = (report.skippedByCapability[cap] ??= { cases: 0, meaning: CAPABILITY_MEANINGS[cap] });
          e.cases++;
        }
      }
    } catch (err) {
      const e = err as { message?: string; code?: string };
      result = { group: c.group, name: c.name, status: 'failed', ms: 0, error: { message: e?.message ?? String(err), code: e?.code } };
    }
    await new Promise((r) => setImmediate(r));
    if (stray.length > 0 && result.status !== 'failed') {
      const e = stray[0] as { message?: string; code?: string } | undefined;
      result = { ...result, status: 'failed', error: { message: `a promise of the module rejected unobserved during the case: ${e?.message ?? String(stray[0])}`, code: e?.code } };
    }
    result.ms = Math.round(performance.now() - start);
    report[result.status]++;
    report.results.push(result);
    options.onResult?.(result);
  }
}
