/**
 * Under ~10% injected faults (seeded: 500, 503 SlowDown, reset before forwarding,
 * response cut mid-body after the write took effect, stall past the request timeout),
 * 1000 appends and 20 checkpoint commits lose nothing acknowledged and never show a
 * partial commit. Server: s3rver + conditional-write shim behind test/servers/s3/fault-proxy.ts;
 * the scenario itself (test/servers/s3/scenarios.ts) takes any endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type S3rverHandle } from '../../../test/servers/s3rver.js';
import { faultScenario } from '../../../test/servers/s3/scenarios.js';

let server: S3rverHandle;
beforeAll(async () => {
  server = await startS3rver({ shim: true });
});
afterAll(async () => {
  await server?.stop();
});

describe('S3 backend under injected faults', () => {
  it('1000 appends and 20 commits: nothing acknowledged lost, no partial commit visible', async () => {
    const r = await faultScenario({ ...server, bucket: 'sluice-faults', singleWriter: false }, { prefix: 'faults/', seed: 42, rate: 0.1 });
    process.stderr.write(`\n[faults] ${r.requests} requests, injected ${JSON.stringify(r.faults)}\n`);
    for (const k of ['500', '503', 'reset', 'cut', 'stall'] as const) expect(r.faults[k], k).toBeGreaterThan(0);
    expect(r.appends).toBe(1000);
    expect(r.commits).toBe(20);
  }, 300_000);
});
