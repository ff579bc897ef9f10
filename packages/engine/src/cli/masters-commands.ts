import type { Command } from 'commander';
import { loadClusterConfig } from '../config/cluster-config.js';
import { MasterClient } from '../cluster/master-client.js';
import { createEtcdClient } from '../cluster/etcd-client.js';
import { EngineError } from '../errors.js';
import { exitSoon, run, write } from './exit.js';
import { table } from './output.js';

/** Bound on each probe (a master's /health, an etcd member's /health and status). */
const PROBE_TIMEOUT_MS = 2000;

export interface MastersReport {
  masters: Array<{ url: string; reachable: boolean; role?: string; leader?: string; error?: string }>;
  /** The leader as the masters report it, else as the election keys in etcd name it. */
  leader?: string;
  etcd?: {
    prefix: string;
    electionLeader?: string;
    /** Every master campaigning in the election, oldest (the leader) first: masters missing from master.urls show here. */
    candidates?: string[];
    members: Array<{ endpoint: string; healthy: boolean; version?: string; isRaftLeader?: boolean; error?: string }>;
  };
}

async function etcdMember(endpoint: string): Promise<{ endpoint: string; healthy: boolean; version?: string; isRaftLeader?: boolean; error?: string }> {
  const base = /^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
  try {
    const h = (await (await fetch(`${base}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })).json()) as { health?: string };
    const s = (await (await fetch(`${base}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })).json()) as {
      version?: string;
      leader?: string;
      header?: { member_id?: string };
    };
    return { endpoint, healthy: h.health === 'true', version: s.version, isRaftLeader: s.leader !== undefined && s.leader === s.header?.member_id };
  } catch (err) {
    return { endpoint, healthy: false, error: (err as Error).message };
  }
}

/** Every master's role and leader, and (with `master.ha`) every etcd member's health. */
export async function mastersReport(urls: string[], ha: { endpoints: string[]; prefix: string } | undefined): Promise<MastersReport> {
  const health = await new MasterClient({ urls }).health(PROBE_TIMEOUT_MS);
  const masters = health.map((h) => {
    const role = typeof h.health?.role === 'string' ? h.health.role : undefined;
    const leader = typeof h.health?.leader === 'string' ? h.health.leader : undefined;
    return { url: h.url, reachable: h.ok, ...(role ? { role } : {}), ...(leader ? { leader } : {}), ...(h.error ? { error: h.error } : {}) };
  });
  const report: MastersReport = { masters };
  // A reachable master that says it leads, else the election in etcd (it decides), else what a
  // follower last heard: a follower may still name a leader that has just been cut off.
  const serving = masters.find((m) => m.reachable && m.role === 'leader')?.url;
  if (ha) {
    const members = await Promise.all(ha.endpoints.map(etcdMember));
    let electionLeader: string | undefined;
    let candidates: string[] | undefined;
    if (members.some((m) => m.healthy)) {
      const client = createEtcdClient({ endpoints: ha.endpoints, requestTimeoutMs: PROBE_TIMEOUT_MS });
      try {
        const all = await client.getAll().prefix(`${ha.prefix}election/`).sort('Create', 'Ascend').limit(64).exec();
        candidates = all.kvs.map((kv) => kv.value.toString());
        electionLeader = candidates[0];
      } catch {
        /* reported through the members' health */
      } finally {
        client.close();
      }
    }
    report.etcd = { prefix: ha.prefix, ...(electionLeader ? { electionLeader } : {}), ...(candidates ? { candidates } : {}), members };
    report.leader = serving ?? electionLeader;
  }
  report.leader ??= serving ?? masters.find((m) => m.leader)?.leader;
  return report;
}

/** `sluice masters`: who leads, who follows, and whether etcd is healthy. */
export function registerMastersCommand(program: Command): void {
  program
    .command('masters')
    .description('every master, its role and the leader; with master.ha, the etcd members\' health and the election leader')
    .option('-c, --config <file>', 'cluster config (YAML): master.urls, master.ha.etcd')
    .option('--master <urls>', 'comma-separated master URLs (default master.urls, else master.host:master.port)')
    .option('--json', 'print JSON')
    .action(async (o: { config?: string; master?: string; json?: boolean }) =>
      run(o.json, async () => {
        const { config } = await loadClusterConfig(o.config);
        const urls = o.master
          ? o.master.split(',').map((s) => s.trim()).filter(Boolean)
          : (config.master.urls ?? [`http://${config.master.host}:${config.master.port}`]);
        if (urls.length === 0) throw new EngineError('BAD_REQUEST', '--master names no URL', { details: { exit: 2 } });
        const etcd = config.master.ha?.etcd;
        const report = await mastersReport(urls, etcd ? { endpoints: etcd.endpoints, prefix: etcd.prefix } : undefined);
        if (o.json) write(JSON.stringify(report, null, 2));
        else {
          write(table([['MASTER', 'ROLE', 'LEADER'], ...report.masters.map((m) => [m.url, m.reachable ? (m.role ?? '?') : 'unreachable', m.leader ?? (m.error ? m.error.slice(0, 60) : '-')])]));
          write(`leader: ${report.leader ?? 'none'}`);
          if (report.etcd) {
            write('');
            write(table([['ETCD', 'HEALTH', 'VERSION', 'RAFT'], ...report.etcd.members.map((m) => [m.endpoint, m.healthy ? 'healthy' : `unhealthy${m.error ? ` (${m.error.slice(0, 40)})` : ''}`, m.version ?? '-', m.isRaftLeader ? 'leader' : '-'])]));
            write(`election leader in etcd (${report.etcd.prefix}election/): ${report.etcd.electionLeader ?? 'none'}`);
            const unlisted = (report.etcd.candidates ?? []).filter((c) => !report.masters.some((m) => m.url === c));
            if (unlisted.length > 0) write(`campaigning but not in master.urls: ${unlisted.join(', ')}`);
          }
        }
        // no leader anywhere: the control plane cannot take writes, say so in the exit code
        if (!report.leader) process.exitCode = 1;
      }).finally(() => exitSoon()),
    );
}
