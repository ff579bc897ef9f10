// The Redis launcher itself: the server comes up on 127.0.0.1, a SIGKILLed server restarts on the
// same port with its acknowledged writes (AOF), a password is enforced, and close() leaves no
// process or directory.
import { existsSync } from 'node:fs';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisLeg, startRedis, type RedisHandle } from './redis.js';

const leg = redisLeg();
if (!leg.run) {
  if (leg.required) describe('Redis leg (SLUICE_REQUIRE_REDIS=1)', () => it('has redis-server installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs redis-server', () => undefined));
} else {
  describe('redis-server test launcher', () => {
    let redis: RedisHandle;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.close();
    });

    const withClient = async <T>(url: string, fn: (c: ReturnType<typeof createClient>) => Promise<T>): Promise<T> => {
      const c = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 3_000 } });
      c.on('error', () => undefined);
      await c.connect();
      try {
        return await fn(c);
      } finally {
        c.destroy();
      }
    };

    it('serves on 127.0.0.1 and keeps acknowledged writes through a SIGKILL and restart on the same port', { timeout: 30_000 }, async () => {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      const pid = redis.pid;
      expect(pid).toBeGreaterThan(0);
      await withClient(redis.url, async (c) => {
        for (let i = 0; i < 100; i++) await c.xAdd('s', '*', { n: String(i) });
      });
      await redis.kill();
      expect(redis.pid).toBeUndefined();
      await redis.start();
      expect(redis.pid).not.toBe(pid);
      expect(await withClient(redis.url, (c) => c.xLen('s'))).toBe(100);
    });

    it('enforces a password and removes its directory on close', { timeout: 30_000 }, async () => {
      const secured = await startRedis({ password: 'pa:ss' });
      try {
        expect(secured.url).toContain(':pa%3Ass@');
        expect(await withClient(secured.url, (c) => c.ping())).toBe('PONG');
        await expect(withClient(`redis://:wrong@127.0.0.1:${secured.port}`, (c) => c.ping())).rejects.toThrow(/WRONGPASS|invalid/i);
      } finally {
        await secured.close();
      }
      expect(secured.pid).toBeUndefined();
      expect(existsSync(secured.dir)).toBe(false);
    });
  });
}
