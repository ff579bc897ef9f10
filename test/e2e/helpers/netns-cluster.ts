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
const MASTER_PORT = 7070;
const NN_PORT = 9870;
const DN_PORT = 9864;

export interface NetDaemon {
  host: string;
  child: ChildProcess;
  log: string;
}

export class NetCluster {
  readonly daemons: NetDaemon[] = [];
  private constructor(readonly net: Network, readonly dir: string, readonly workers: string[]) {}

  /** Hosts `store`, `m1`, `cli` and one per worker name. */
  static create(dir: string, workers: string[]): NetCluster {
    return new NetCluster(createNetwork(['store', 'm1', 'cli', ...workers]), dir, workers);
  }

  addr(host: string): string {
    return this.net.host(host).address;
  }

  get master(): string {
    return `${this.addr('m1')}:${MASTER_PORT}`;
  }

  /** Starts `node args` on `host`, its output in <dir>/<name>.log; resolves once the log shows `ready`. */
  async daemon(host: string, name: string, args: string[], ready: RegExp, timeoutMs = 30_000): Promise<NetDaemon> {
    const log = join(this.dir, `${name}.log`);
    const fd = openSync(log, 'a');
    let child: ChildProcess;
    try {
      child = this.net.spawn(host, process.execPath, args, { cwd: this.dir, stdio: ['ignore', fd, fd], env: { ...process.env, SLUICE_LOG_LEVEL: 'info' } });
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

  /** WebHDFS server on `store`, master on `m1`, one worker per worker host. */
  async start(): Promise<void> {
    await this.daemon('store', 'webhdfs', [WEBHDFS, '--host', this.addr('store'), '--port', String(NN_PORT), '--dn-port', String(DN_PORT), '--data-dir', join(this.dir, 'hdfs')], /"namenode"/);
    writeFileSync(
      join(this.dir, 'cluster.yaml'),
      [
        'storage:',
        '  default:',
        "    module: '@sluice/storage-hdfs'",
        `    options: { url: 'http://${this.addr('store')}:${NN_PORT}', user: sluice, root: /sluice }`,
        'master:',
        `  host: ${this.addr('m1')}`,
        `  port: ${MASTER_PORT}`,
        '  seedFile: ./master/seed.json',
        '  workerTimeoutMs: 2000',
        '  appMasterTimeoutMs: 4000',
        'worker:',
        '  cacheDir: ./workers',
        '  heartbeatMs: 200',
        '',
      ].join('\n'),
    );
    await this.daemon('m1', 'master', [CLI, 'master', '-c', 'cluster.yaml'], /master listening on/);
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
