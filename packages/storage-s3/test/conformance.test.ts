/**
 * The whole conformance suite against s3rver, twice:
 *  (a) plain s3rver, `singleWriter: true`: it ignores conditional writes, so the instance
 *      declares multiWriter:false and the suite skips the multi-writer cases;
 *  (b) s3rver behind the shim (test/servers/s3/launcher.mjs --shim): create-only PUTs,
 *      If-Match CAS and per-key atomicity come from the SHIM, not from s3rver, so the
 *      multi-writer cases run.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { registerConformance } from '@sluice/storage-api/conformance';
import { startS3rver, type S3rverHandle } from '../../../test/servers/s3rver.js';
import { s3ConformanceFactory, type S3Target } from '../../../test/servers/s3/factories.js';

let plain: S3rverHandle | undefined;
let shimmed: S3rverHandle | undefined;

beforeAll(async () => {
  [plain, shimmed] = await Promise.all([startS3rver(), startS3rver({ shim: true })]);
});
afterAll(async () => {
  await Promise.allSettled([plain?.stop(), shimmed?.stop()]);
});

function lazy(get: () => S3rverHandle | undefined, singleWriter: boolean) {
  // The server starts in beforeAll; the factory runs later, inside each case.
  return () => {
    const h = get();
    if (!h) throw new Error('s3rver not started');
    const target: S3Target = { ...h, bucket: 'sluice-conf', singleWriter };
    return s3ConformanceFactory(target)();
  };
}

registerConformance({ describe, it }, { name: 's3rver (singleWriter)', factory: lazy(() => plain, true) });
registerConformance({ describe, it }, { name: 's3rver + conditional-write shim', factory: lazy(() => shimmed, false) });
