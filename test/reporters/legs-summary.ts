import type { Reporter } from 'vitest/reporters';
import { cephAvailable } from '../servers/ceph-rgw/rgw.js';

/**
 * Prints, at the very end of `npm test`, which optional legs did not run, so a missing
 * Ceph install can never pass as a silent skip.
 */
export default class LegsSummaryReporter implements Reporter {
  onFinished(): void {
    const ceph = cephAvailable();
    const line = ceph.ok
      ? 'Ceph RGW leg: RUN (S3 conformance, faults and kill -9 against radosgw)'
      : `Ceph RGW leg: NOT RUN — missing ${ceph.missing.join(', ')}; install: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common`;
    process.stdout.write(`\n${ceph.ok ? '' : '!!! '}${line}\n`);
  }
}
