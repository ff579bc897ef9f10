// The app of bench/latency.bench.mjs: a source stamps each record with the wall time at
// which it enters the engine (sub-ms: timeOrigin + performance.now(), comparable across
// processes on one machine); the sink, on another executor, records now - stamp.
// Config: out (file for the sink's summary), rate (records/s, 0 = as fast as the engine
// takes them), durationMs, warmupMs, checkpointIntervalMs.
import { writeFileSync } from 'node:fs';

const wallMs = () => performance.timeOrigin + performance.now();
const END = -1;

function pacedSource(rate, durationMs) {
  return () => {
    let t0 = 0;
    let produced = 0;
    let done = false;
    return {
      open() {
        t0 = wallMs();
      },
      read(max) {
        if (done) return null;
        const now = wallMs();
        if (now - t0 >= durationMs) {
          done = true;
          return [END];
        }
        const due = rate > 0 ? Math.floor(((now - t0) * rate) / 1000) - produced : max;
        const n = Math.min(max, due);
        if (n <= 0) return [];
        produced += n;
        const out = new Array(n);
        const stamp = wallMs();
        for (let i = 0; i < n; i++) out[i] = stamp;
        return out;
      },
      position: () => produced,
    };
  };
}

function latencySink(outFile, warmupMs) {
  return () => {
    const samples = new Float64Array(4_000_000);
    let n = 0;
    let seen = 0;
    let first = 0;
    let measuredFrom = 0;
    let last = 0;
    // Where the slow records are: start (ms since the first record) of each 100 ms window
    // holding a record over 10 ms, so the report can say what the tail lines up with.
    const slowWindows = new Set();
    return {
      onNext(values) {
        const now = wallMs();
        if (first === 0) {
          first = now;
          measuredFrom = now + warmupMs;
        }
        for (const v of values) {
          if (v === END) {
            const lat = Array.from(samples.subarray(0, n)).sort((a, b) => a - b);
            const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null);
            writeFileSync(outFile, JSON.stringify({ count: n, received: seen, ratePerSec: last > measuredFrom ? (n * 1000) / (last - measuredFrom) : 0, p50: q(0.5), p99: q(0.99), max: lat.length ? lat[lat.length - 1] : null, slowWindowsMs: [...slowWindows] }));
            continue;
          }
          seen++;
          if (now < measuredFrom) continue;
          last = now;
          if (n < samples.length) samples[n++] = now - v;
          if (now - v > 10 && slowWindows.size < 200) slowWindows.add(Math.floor((now - first) / 100) * 100);
        }
      },
    };
  };
}

export default function latencyApp(sluice, config) {
  const { dag } = sluice;
  if (!config.out) throw new Error('latency app needs --config out=<file>');
  const d = dag('latency', { checkpointIntervalMs: Number(config.checkpointIntervalMs ?? 1000) });
  d.processor({ name: 'stamps', kind: 'source', parallelism: 1, source: pacedSource(Number(config.rate ?? 0), Number(config.durationMs ?? 8000)) });
  // Task i runs on executor i % executors: the source is on executor 0, so every record
  // goes to sink task 1 (executor 1), across processes. The key 0 hashes to task 1 of 2
  // (FNV-1a of "0" is odd); task 0 stays idle.
  d.processor({ name: 'latency', kind: 'task', parallelism: 2, task: latencySink(config.out, Number(config.warmupMs ?? 2000)) });
  return d.edge('stamps', 'latency', { key: () => 0 });
}
