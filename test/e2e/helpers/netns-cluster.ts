// A Sluice cluster spread over network-namespace hosts (test/servers/netns.ts): the WebHDFS
// test server on its own host, a master, workers each on its own host, and a client host the
// CLI runs on. The test process itself sits in the root namespace and never talks to a host
// address directly: every call goes through a process started inside a namespace.
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createNetwork, type Network } from '../../servers/netns.js';
import { CLI, REPO, credentials, type TestJson } from './engine-cluster.js';

const WEBHDFS = resolve(REPO, 'test/webhdfs-server/dist/main.js');
const ETCD_BIN = '/usr/bin/etcd';
const MASTER_PORT = 7070;
const NN_PORT = 9870;
const DN_PORT = 9864;
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;

export interface NetClusterOptions {
  workers: string[];
  /** Masters, each on its own host m1..mN; with more than one, master HA on etcd. */
  masters?: number;
}

export interface NetDaemon {
  host: string;
  child: ChildProcess;
  log: string;
}

export class NetCluster {
  readonly daemons: NetDaemon[] = [];
  private constructor(readonly net: Network, readonly dir: string, readonly workers: string[], readonly masterHosts: string[]) {}

  /**
   * Hosts `store`, `cli`, `m1`..`mN` and one per worker name. With N > 1 every master host
   * also runs an etcd member (a host lost takes its master and its member with it).
   */
  static create(dir: string, opts: NetClusterOptions): NetCluster {
    const masters = Array.from({ length: opts.masters ?? 1 }, (_, i) => `m${i + 1}`);
    return new NetCluster(createNetwork(['store', 'cli', ...masters, ...opts.workers]), dir, opts.workers, masters);
  }

  get ha(): boolean {
    return this.masterHosts.length > 1;
  }

  addr(host: string): string {
    return this.net.host(host).address;
  }

  /** What `--master` takes: every master's URL. */
  get master(): string {
    return this.masterHosts.map((m) => `http://${this.addr(m)}:${MASTER_PORT}`).join(',');
  }

  /** The master host whose master leads (`sluice masters --json` from the client host). */
  async leader(): Promise<string | undefined> {
    const r = await this.cli(['masters', '-c', 'cluster.yaml', '--json'], 20_000);
    if (r.code !== 0) return undefined;
    const url = (JSON.parse(r.stdout) as { leader?: string }).leader;
    return this.masterHosts.find((m) => url === `http://${this.addr(m)}:${MASTER_PORT}`);
  }

  /** Starts `node args` on `host`, its output in <dir>/<name>.log; resolves once the log shows `ready`. */
  async daemon(host: string, name: string, args: string[], ready: RegExp, timeoutMs = 30_000, bin = process.execPath): Promise<NetDaemon> {
    const log = join(this.dir, `${name}.log`);
    const fd = openSync(log, 'a');
    let child: ChildProcess;
    try {
      child = this.net.spawn(host, bin, args, { cwd: this.dir, stdio: ['ignore', fd, fd], env: { ...process.env, SLUICE_LOG_LEVEL: 'info' } });
    } finally {
      closeSync(fd);
    }
    const d = { host, child, log };
    this.daemons.push(d);
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const text = readFileSync(log, 'utf8');
      if (ready.test(text)) return d;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${name} on ${host} did not become ready:\n${text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${name}: not ready`);
  }

  /** WebHDFS server on `store`; etcd members (HA only) and masters on `m1`..`mN`. */
  async start(): Promise<void> {
    await this.daemon('store', 'webhdfs', [WEBHDFS, '--host', this.addr('store'), '--port', String(NN_PORT), '--dn-port', String(DN_PORT), '--data-dir', join(this.dir, 'hdfs')], /"namenode"/);
    if (this.ha) await this.startEtcd();
    const ha = this.ha
      ? [
          `  urls: [${this.master.split(',').map((u) => `'${u}'`).join(', ')}]`,
          '  ha:',
          `    etcd: { endpoints: [${this.masterHosts.map((m) => `'${this.addr(m)}:${ETCD_CLIENT_PORT}'`).join(', ')}], prefix: /sluice-netns/, leaseTtlMs: 2000, requestTimeoutMs: 1000 }`,
        ]
      : [];
    writeFileSync(
      join(this.dir, 'cluster.yaml'),
      [
        'storage:',
        '  default:',
        "    module: '@sluice/storage-hdfs'",
        `    options: { url: 'http://${this.addr('store')}:${NN_PORT}', user: sluice, root: /sluice }`,
        'master:',
        '  host: 127.0.0.1',
        `  port: ${MASTER_PORT}`,
        '  seedFile: ./master/seed.json',
        '  workerTimeoutMs: 2000',
        '  appMasterTimeoutMs: 4000',
        ...ha,
        'worker:',
        '  cacheDir: ./workers',
        '  heartbeatMs: 200',
        '',
      ].join('\n'),
    );
    // Masters bind their own host's address (--host); the config names them all (master.urls).
    for (const m of this.masterHosts) {
      await this.daemon(m, `master-${m}`, [CLI, 'master', '-c', 'cluster.yaml', '--host', this.addr(m), '--port', String(MASTER_PORT)], /master listening on/);
    }
  }

  /** One etcd member per master host (Debian etcd-server), Raft timing 10x etcd's defaults. */
  async startEtcd(): Promise<void> {
    const peers = this.masterHosts.map((m) => `${m}=http://${this.addr(m)}:${ETCD_PEER_PORT}`).join(',');
    await Promise.all(
      this.masterHosts.map((m) => {
        const a = this.addr(m);
        const args = ['--name', m, '--data-dir', join(this.dir, `etcd-${m}`), '--listen-client-urls', `http://${a}:${ETCD_CLIENT_PORT}`, '--advertise-client-urls', `http://${a}:${ETCD_CLIENT_PORT}`,
          '--listen-peer-urls', `http://${a}:${ETCD_PEER_PORT}`, '--initial-advertise-peer-urls', `http://${a}:${ETCD_PEER_PORT}`, '--initial-cluster', peers,
          '--initial-cluster-state', 'new', '--initial-cluster-token', 'sluice-netns', '--heartbeat-interval', '50', '--election-timeout', '500'];
        return this.daemon(m, `etcd-${m}`, args, /ready to serve client requests/, 60_000, ETCD_BIN);
      }),
    );
  }

  async startWorkers(): Promise<void> {
    for (const w of this.workers) {
      await this.daemon(w, `worker-${w}`, [CLI, 'worker', '-c', 'cluster.yaml', '--name', w, '--host', this.addr(w), '--master', this.master], /registered/);
    }
  }

  /** Runs the CLI on the client host to completion (bounded). */
  async cli(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env = { ...process.env, SLUICE_LOG_LEVEL: 'warn', ...(credentials.token ? { SLUICE_TOKEN: credentials.token } : {}) };
    const child = this.net.spawn('cli', process.execPath, [CLI, ...args], { cwd: this.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  /** `sluice status <app> --json` from the client host. */
  async status(appId: string): Promise<TestJson> {
    const r = await this.cli(['status', appId, '--master', this.master, '--json'], 30_000);
    if (r.code !== 0) throw new Error(`status ${appId}: exit ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as TestJson;
  }

  /** The last lines of every daemon's log (for a failure message). */
  logs(bytes = 2500): string {
    return this.daemons.map((d) => `--- ${d.log}\n${readFileSync(d.log, 'utf8').slice(-bytes)}`).join('\n');
  }

  async close(): Promise<void> {
    await this.net.close();
  }
}
