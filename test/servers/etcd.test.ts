// The etcd launcher itself: three members come up, one can be killed and restarted, all can
// be stopped and restarted on the same data, and close() leaves no process or directory.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdLeg, startEtcdCluster, type EtcdClusterHandle } from './etcd.js';

const leg = etcdLeg();
if (!leg.run) {
  if (leg.required) describe('etcd leg (SLUICE_REQUIRE_ETCD=1)', () => it('has etcd installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs etcd', () => undefined));
} else {
  describe('etcd test cluster launcher', () => {
    let etcd: EtcdClusterHandle;
    beforeAll(async () => {
      etcd = await startEtcdCluster();
    });
    afterAll(async () => {
      await etcd?.close();
    });

    const put = async (ep: string, k: string, v: string): Promise<Response> =>
      fetch(`http://${ep}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(k).toString('base64'), value: Buffer.from(v).toString('base64') }), signal: AbortSignal.timeout(3_000) });
    const get = async (ep: string, k: string): Promise<string | undefined> => {
      const r = await fetch(`http://${ep}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(k).toString('base64') }), signal: AbortSignal.timeout(3_000) });
      const b = (await r.json()) as { kvs?: { value: string }[] };
      return b.kvs?.[0] ? Buffer.from(b.kvs[0].value, 'base64').toString() : undefined;
    };

    /** Right after a (re)start the members may still be electing: ask again, bounded in time. */
    const eventually = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> => {
      const deadline = Date.now() + ms;
      let last: unknown;
      for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
        try {
          const v = await fn();
          if (v !== undefined) return v;
        } catch (err) {
          last = err;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`etcd: ${what} did not happen within ${ms} ms${last instanceof Error ? `: ${last.message}` : ''}`);
    };
    const putOk = (ep: string, k: string, v: string): Promise<true> => eventually(`put ${k}=${v} on ${ep}`, async () => ((await put(ep, k, v)).ok ? true : undefined));
    const reads = (ep: string, k: string, v: string): Promise<true> => eventually(`${ep} reading ${k}=${v}`, async () => ((await get(ep, k)) === v ? true : undefined));

    it('starts three healthy members on distinct 127.0.0.1 ports', () => {
      expect(etcd.members).toHaveLength(3);
      expect(new Set(etcd.members.flatMap((m) => [m.clientPort, m.peerPort])).size).toBe(6);
      expect(etcd.members.every((m) => m.pid !== undefined)).toBe(true);
    });

    it('replicates: a put on one member is read on another; a killed member restarts and catches up', { timeout: 60_000 }, async () => {
      await putOk(etcd.endpoints[0]!, 'a', '1');
      await reads(etcd.endpoints[2]!, 'a', '1');
      await etcd.kill(2);
      expect(etcd.members[2]!.pid).toBeUndefined();
      await putOk(etcd.endpoints[0]!, 'a', '2');
      await etcd.startMember(2);
      await etcd.waitHealthy(10_000);
      await reads(etcd.endpoints[2]!, 'a', '2');
      expect(await get(etcd.endpoints[2]!, 'a')).toBe('2');
    });

    it('stops all members and restarts them on the same data', async () => {
      await etcd.stopAll();
      expect(etcd.members.every((m) => m.pid === undefined)).toBe(true);
      await expect(put(etcd.endpoints[0]!, 'a', '3')).rejects.toThrow();
      await etcd.startAll();
      await etcd.waitHealthy(10_000);
      await reads(etcd.endpoints[1]!, 'a', '2');
      expect(await get(etcd.endpoints[1]!, 'a')).toBe('2');
    });

    it('close() stops every PID and removes the directory', async () => {
      const pids = etcd.members.map((m) => m.pid!);
      await etcd.close();
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
      expect(existsSync(etcd.dir)).toBe(false);
    });
  });
}
