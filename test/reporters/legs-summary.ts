import type { Reporter } from 'vitest/reporters';
import { cephAvailable } from '../servers/ceph-rgw/rgw.js';
import { ETCD_APT_INSTALL, etcdAvailable } from '../servers/etcd.js';
import { netnsAvailable } from '../servers/netns.js';
import { POSTGRES_APT_INSTALL, postgresAvailable } from '../servers/postgres.js';
import { REDIS_APT_INSTALL, redisAvailable } from '../servers/redis.js';

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
    const etcd = etcdAvailable();
    const etcdLine = etcd.ok
      ? 'etcd leg: RUN (HA seed store, leader election, failover against a 3-member etcd)'
      : `etcd leg: NOT RUN — missing ${etcd.missing.join(', ')}; install: ${ETCD_APT_INSTALL}`;
    process.stdout.write(`${etcd.ok ? '' : '!!! '}${etcdLine}\n`);
    const netns = netnsAvailable();
    const netnsLine = netns.ok ? 'network-namespace leg: RUN (a cluster over separate hosts, partitions)' : `network-namespace leg: NOT RUN — ${netns.reason}`;
    process.stdout.write(`${netns.ok ? '' : '!!! '}${netnsLine}\n`);
    const pgAvail = postgresAvailable();
    const pgLine = pgAvail.ok
      ? 'PostgreSQL leg: RUN (postgres sink exactly-once, restarts and poison rows against a real server)'
      : `PostgreSQL leg: NOT RUN — missing ${pgAvail.missing.join(', ')}; install: ${POSTGRES_APT_INSTALL}`;
    process.stdout.write(`${pgAvail.ok ? '' : '!!! '}${pgLine}\n`);
    const redisAvail = redisAvailable();
    const redisLine = redisAvail.ok
      ? 'Redis leg: RUN (Redis Streams source: replay, trimming, server kills, word count through executor kills)'
      : `Redis leg: NOT RUN — missing ${redisAvail.missing.join(', ')}; install: ${REDIS_APT_INSTALL}`;
    process.stdout.write(`${redisAvail.ok ? '' : '!!! '}${redisLine}\n`);
  }
}
