// MasterClient against real HTTP servers on 127.0.0.1 playing masters with the engine's own
// JsonRouter: NOT_LEADER (421) followed via the follower's /health, connection failures
// skipped, a failover mid-call waited out, the budget bounded and typed, other errors final.
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineError, MasterClient } from '@sluice/engine';
import { JsonRouter } from '../../src/cluster/http.js';

interface FakeMaster {
  url: string;
  hits: string[];
  role: { leader: boolean; leaderUrl?: string };
  server: Server;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function master(role: { leader: boolean; leaderUrl?: string }): Promise<FakeMaster> {
  const hits: string[] = [];
  const r = new JsonRouter();
  const m = { url: '', hits, role } as FakeMaster;
  r.add('GET', '/health', async () => ({ ok: true, role: m.role.leader ? 'leader' : 'follower', leader: m.role.leader ? m.url : m.role.leaderUrl }));
  r.add('POST', '/apps/:id/kill', async (_req, p) => {
    hits.push(`kill ${p.id}`);
    if (!m.role.leader) throw new EngineError('NOT_LEADER', 'follower', m.role.leaderUrl ? { details: { leader: m.role.leaderUrl } } : {});
    if (p.id === 'missing') throw new EngineError('APP_NOT_FOUND', 'no such app');
    return { killed: p.id, by: m.url };
  });
  m.server = await r.listen('127.0.0.1', 0);
  servers.push(m.server);
  const a = m.server.address();
  m.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  return m;
}

/** A URL nothing listens on: a server bound then closed. */
async function deadUrl(): Promise<string> {
  const m = await master({ leader: false });
  servers.splice(servers.indexOf(m.server), 1);
  await new Promise((r) => m.server.close(r));
  return m.url;
}

describe('MasterClient', () => {
  it('follows NOT_LEADER to the leader named by the follower, then goes to the leader first', async () => {
    const leader = await master({ leader: true });
    const follower = await master({ leader: false, leaderUrl: leader.url });
    const c = new MasterClient({ urls: [follower.url, leader.url] });
    expect(await c.call('POST', '/apps/a1/kill')).toEqual({ killed: 'a1', by: leader.url });
    expect(c.leader).toBe(leader.url);
    expect(await c.call('POST', '/apps/a2/kill')).toEqual({ killed: 'a2', by: leader.url });
    expect(follower.hits).toEqual(['kill a1']); // the second call went straight to the leader
    expect(leader.hits).toEqual(['kill a1', 'kill a2']);
  });

  it('skips a master that refuses connections', async () => {
    const leader = await master({ leader: true });
    const c = new MasterClient({ urls: [await deadUrl(), leader.url] });
    expect(await c.call('POST', '/apps/b/kill')).toEqual({ killed: 'b', by: leader.url });
  });

  it('waits out a failover: no leader for a while, then one; the call lands on it', async () => {
    const a = await master({ leader: false });
    const b = await master({ leader: false });
    setTimeout(() => (b.role.leader = true), 600);
    const c = new MasterClient({ urls: [a.url, b.url], retry: { baseDelayMs: 50, maxDelayMs: 200, budgetMs: 5_000 } });
    expect(await c.call('POST', '/apps/x/kill')).toEqual({ killed: 'x', by: b.url });
    expect(b.hits.filter((h) => h === 'kill x').length).toBeGreaterThanOrEqual(1);
    expect(a.hits.length).toBeGreaterThan(1); // it really retried
  });

  it('gives up with MASTER_UNREACHABLE naming every master once the time budget is spent', async () => {
    const urls = [await deadUrl(), await deadUrl()];
    const c = new MasterClient({ urls, retry: { baseDelayMs: 50, maxDelayMs: 200, budgetMs: 800, maxAttempts: 1000 } });
    const t0 = Date.now();
    const err = (await c.call('POST', '/apps/y/kill').catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.code).toBe('MASTER_UNREACHABLE');
    expect(err.message).toContain(urls[0]!);
    expect(err.message).toContain(urls[1]!);
    // the budget, plus one attempt in flight and a loaded CI machine; 1000 attempts would take far longer
    expect(Date.now() - t0).toBeLessThan(800 + 1500);
  });

  it('is bounded by attempts as well as time', async () => {
    const f = await master({ leader: false });
    const c = new MasterClient({ urls: [f.url], retry: { baseDelayMs: 1, maxDelayMs: 1, budgetMs: 60_000, maxAttempts: 5 } });
    await expect(c.call('POST', '/apps/z/kill')).rejects.toMatchObject({ code: 'MASTER_UNREACHABLE' });
    expect(f.hits).toHaveLength(5);
  });

  it('returns any other error at once, without retrying', async () => {
    const leader = await master({ leader: true });
    const c = new MasterClient({ urls: [leader.url] });
    await expect(c.call('POST', '/apps/missing/kill')).rejects.toMatchObject({ code: 'APP_NOT_FOUND', status: 404 });
    expect(leader.hits).toEqual(['kill missing']);
  });

  it('health() reports every master, unreachable ones included', async () => {
    const leader = await master({ leader: true });
    const dead = await deadUrl();
    const h = await new MasterClient({ urls: [leader.url, dead] }).health();
    expect(h[0]).toMatchObject({ url: leader.url, ok: true, health: { role: 'leader', leader: leader.url } });
    expect(h[1]).toMatchObject({ url: dead, ok: false });
  });
});
