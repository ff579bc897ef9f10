/**
 * kill -9 loop: a writer process (fixtures/writer.mjs) appends offsets, commits
 * checkpoints and puts jars (some multipart) against s3rver + shim; it is SIGKILLed 30
 * times at seeded random moments. After each kill a fresh reader checks: nothing
 * acknowledged is lost, no partial batch, checkpoint or jar is visible
 * (test/servers/s3/scenarios.ts, which takes any endpoint).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type S3rverHandle } from '../../../test/servers/s3rver.js';
import { killLoop } from '../../../test/servers/s3/scenarios.js';

const KILLS = 30;
let server: S3rverHandle;
beforeAll(async () => {
  server = await startS3rver({ shim: true });
});
afterAll(async () => {
  await server?.stop();
});

describe('kill -9 of an S3 writer', () => {
  it(`${KILLS} kills: nothing acknowledged lost, nothing partial visible`, async () => {
    const acks = await killLoop({ ...server, bucket: 'sluice-kill', singleWriter: false }, { prefix: 'kill/', kills: KILLS, seed: 9 });
    process.stderr.write(`\n[kill -9] ${KILLS} kills; acknowledged: offsets up to ${acks.offsets}, ${acks.ckpts.length} checkpoints, ${acks.jars.length} jars\n`);
    expect(acks.offsets).toBeGreaterThan(0);
    expect(acks.ckpts.length).toBeGreaterThan(0);
    expect(acks.jars.length).toBeGreaterThan(0);
  }, 600_000);
});
