// Shared by every bench file: each figure is reported beside its raw baseline measured
// in the same process run, so the ratio is meaningful on any machine.

/**
 * Prints one result line that bench/run.mjs collects.
 * higherIsBetter: throughput (true) vs latency/memory (false); ratio is always
 * "ours relative to baseline" expressed so that > 1 means better than the baseline
 * for throughput, and value/baseline for costs (documented per figure via `goal`).
 */
export function report({ name, value, unit, baseline, baselineValue, higherIsBetter = true, goal, notes }) {
  let ratio = null;
  if (typeof baselineValue === 'number' && baselineValue > 0 && typeof value === 'number') {
    ratio = higherIsBetter ? value / baselineValue : baselineValue / value;
    ratio = Math.round(ratio * 1000) / 1000;
  }
  const line = { name, value: round(value), unit, baseline: baseline ?? null, baselineValue: round(baselineValue), ratio, goal: goal ?? null, notes: notes ?? null };
  process.stdout.write(`BENCH ${JSON.stringify(line)}\n`);
  return line;
}

function round(v) {
  return typeof v === 'number' ? Math.round(v * 1000) / 1000 : v ?? null;
}

/** Runs fn repeatedly for at least `ms` (and at least `min` times); returns ops/s. */
export async function opsPerSec(fn, { ms = 1000, min = 1, max = 1e9 } = {}) {
  const start = performance.now();
  let n = 0;
  while ((n < min || performance.now() - start < ms) && n < max) {
    await fn(n);
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

/** Median of `runs` timings of fn (ms). */
export async function medianMs(fn, runs = 5) {
  const t = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn(i);
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}
