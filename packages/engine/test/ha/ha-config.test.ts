// master.ha.etcd and master.urls: defaults, and errors that name the key path.
import { describe, expect, it } from 'vitest';
import { parseClusterConfig } from '@sluice/engine';

const msg = (input: unknown): string => {
  try {
    parseClusterConfig(input);
    return 'OK';
  } catch (err) {
    return (err as Error).message;
  }
};

describe('master HA config', () => {
  it('fills prefix, lease and request timeout defaults; no ha section means the single master', () => {
    const c = parseClusterConfig({ master: { urls: ['http://127.0.0.1:7070', 'http://127.0.0.1:7071'], ha: { etcd: { endpoints: ['127.0.0.1:2379'] } } } });
    expect(c.master.ha?.etcd).toEqual({ endpoints: ['127.0.0.1:2379'], prefix: '/sluice/', leaseTtlMs: 2000, requestTimeoutMs: 3000 });
    expect(parseClusterConfig({}).master.ha).toBeUndefined();
  });

  it('names the key path of every bad value', () => {
    expect(msg({ master: { ha: { etcd: { endpoints: ['127.0.0.1:2379'], leaseTtlMs: 1500 } } } })).toMatch(/master\.ha\.etcd\.leaseTtlMs.*whole number of seconds/);
    expect(msg({ master: { ha: { etcd: { endpoints: [] } } } })).toMatch(/master\.ha\.etcd\.endpoints/);
    expect(msg({ master: { ha: { etcd: { endpoints: ['no-port'] } } } })).toMatch(/master\.ha\.etcd\.endpoints\.0/);
    expect(msg({ master: { ha: { etcd: { endpoints: ['a:1'], prefix: 'sluice' } } } })).toMatch(/master\.ha\.etcd\.prefix/);
    expect(msg({ master: { ha: { etcd: { endpoints: ['a:1'], ttl: 2 } } } })).toMatch(/master\.ha\.etcd/);
    expect(msg({ master: { urls: ['ftp://x'] } })).toMatch(/master\.urls\.0/);
  });
});
