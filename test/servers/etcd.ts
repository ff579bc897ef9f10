/**
 * Our own launcher of a throw-away etcd cluster (Debian `etcd-server`, 3.4.x) for Sluice's HA
 * tests: N members (default 3) on 127.0.0.1, free ports, a fresh mkdtemp directory, fast
 * heartbeat/election flags. Every process is ours by PID: a member can be SIGKILLed,
 * stopped (TERM), paused (STOP/CONT) and restarted on the same ports and data directory.
 *
 * Missing binary: `etcdAvailable()` says so; `etcdLeg()` turns that into a loud NOT RUN, or a
 * failure when SLUICE_REQUIRE_ETCD=1 (CI sets it), as the Ceph leg does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fastTmpParent, findBinary, freePort, legOf, logTail, type Leg } from './launch-util.js';

export const ETCD_APT_INSTALL = 'apt-get install -y --no-install-recommends etcd-server etcd-client';
export const ETCD_BINARIES = ['etcd'] as const;
/** CI sets this: a missing etcd is then a failing test, never a skip. */
export const REQUIRE_ETCD_ENV = 'SLUICE_REQUIRE_ETCD';

/** Raft timing for tests: 10x faster than etcd's defaults (100 ms / 1000 ms) so a member loss heals in < 1 s. */
const DEFAULT_HEARTBEAT_MS = 50;
const DEFAULT_ELECTION_MS = 500;
/** A three-member cluster starts in about 1 s here; a loaded CI box gets 20x that. */
const DEFAULT_START_TIMEOUT_MS = 20_000;
/** TERM, then KILL after this long: etcd flushes its WAL on TERM in a few ms. */
const STOP_GRACE_MS = 5_000;
const HEALTH_POLL_MS = 100;

export interface EtcdAvailability {
  ok: boolean;
  missing: string[];
}

/** Is the etcd binary installed? Synchronous, starts nothing. */
export function etcdAvailable(): EtcdAvailability {
  const missing = ETCD_BINARIES.filter((b) => findBinary(b) === undefined);
  return { ok: missing.length === 0, missing: [...missing] };
}

/**
 * What a test file does about a missing etcd: `run` true when it is installed; otherwise the
 * caller registers `notRun` (a failing test under SLUICE_REQUIRE_ETCD=1, a visibly named skip
 * otherwise). Prints the NOT RUN line on stderr so it can never pass silently.
 */
export function etcdLeg(): Leg {
  const avail = etcdAvailable();
  return legOf('etcd leg', REQUIRE_ETCD_ENV, avail.ok ? undefined : `missing ${avail.missing.join(', ')} (install: ${ETCD_APT_INSTALL})`);
}

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  /** `127.0.0.1:port`, the form `etcd3` hosts and cluster config take. */
  endpoint: string;
  dataDir: string;
  logFile: string;
  /** PID of the running process, undefined while stopped. */
  readonly pid: number | undefined;
}

export interface EtcdClusterHandle {
  dir: string;
  members: EtcdMember[];
  /** Every member's `127.0.0.1:port`. */
  endpoints: string[];
  startupMs: number;
  /** Sends `signal` (default SIGKILL) to member i and waits for it to exit; data stays. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** TERM, then KILL after a grace period; data stays. */
  stopMember(i: number): Promise<void>;
  /** Restarts member i on the same ports and data directory. */
  startMember(i: number): Promise<void>;
  /** SIGSTOP / SIGCONT member i (a hung, not a dead, member). */
  pause(i: number): void;
  resume(i: number): void;
  /** TERM each member in turn (graceful: waits for open client connections, up to the grace). */
  stopAll(): Promise<void>;
  /** SIGKILL every member: an outage, not a shutdown. */
  killAll(): Promise<void>;
  startAll(): Promise<void>;
  /** Resolves when every running member answers /health true; rejects after timeoutMs. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every member and removes the directory. Idempotent. */
  close(): Promise<void>;
}

export interface StartEtcdOptions {
  members?: number;
  heartbeatMs?: number;
  electionMs?: number;
  startTimeoutMs?: number;
  tmpParent?: string;
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  // bounded: each call returns a port the kernel just considered free; collisions are rare
  for (let i = 0; out.size < n && i < n * 10; i++) out.add(await freePort());
  if (out.size < n) throw new Error(`etcd launcher: could not find ${n} free ports`);
  return [...out];
}

async function memberHealthy(m: EtcdMember): Promise<boolean> {
  try {
    const r = await fetch(`http://${m.endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = (await r.json()) as { health?: string };
    return r.ok && body.health === 'true';
  } catch {
    return false;
  }
}

class Member implements EtcdMember {
  child: ChildProcess | undefined;
  constructor(
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    readonly logFile: string,
    readonly args: string[],
    readonly bin: string,
  ) {}
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }
  start(): void {
    if (this.pid !== undefined) return;
    const fd = openSync(this.logFile, 'a');
    try {
      this.child = spawn(this.bin, this.args, { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.child.on('error', () => undefined); // surfaced by waitHealthy with the log tail
  }
  async signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.child;
    if (!child || this.pid === undefined) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(child.pid!, sig);
    if (sig === 'SIGKILL') return exited;
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Starts the cluster; resolves once every member answers /health. Rejects (after cleanup) with the log tails. */
export async function startEtcdCluster(opts: StartEtcdOptions = {}): Promise<EtcdClusterHandle> {
  const bin = findBinary('etcd');
  if (!bin) throw new Error(`etcd binary missing (install: ${ETCD_APT_INSTALL})`);
  // a port that looked free can be taken before etcd binds it: try again with new ports
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

async function startOnce(bin: string, opts: StartEtcdOptions): Promise<EtcdClusterHandle> {
  const n = opts.members ?? 3;
  const t0 = performance.now();
  // Raft fsyncs every write: on the suite's loaded disk one fsync can stall an election for
  // seconds; /dev/shm keeps etcd real (same binary, same protocol) with steady latency.
  const dir = mkdtempSync(join(opts.tmpParent ?? fastTmpParent(), 'sluice-etcd-'));
  const ports = await distinctFreePorts(2 * n);
  const token = `sluice-${process.pid}-${Date.now()}`;
  const initialCluster = Array.from({ length: n }, (_, i) => `e${i + 1}=http://127.0.0.1:${ports[n + i]}`).join(',');
  const members = Array.from({ length: n }, (_, i) => {
    const name = `e${i + 1}`;
    const client = ports[i]!;
    const peer = ports[n + i]!;
    const dataDir = join(dir, name);
    const args = [
      '--name', name, '--data-dir', dataDir,
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      '--heartbeat-interval', String(opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS),
      '--election-timeout', String(opts.electionMs ?? DEFAULT_ELECTION_MS),
      // no metrics/pprof chatter; logs to our file
      '--logger', 'zap', '--log-outputs', 'stderr',
    ];
    return new Member(name, client, peer, dataDir, join(dir, `${name}.log`), args, bin);
  });

  // last resort if the test process dies without close(): kill our PIDs, synchronously
  const onExit = (): void => {
    for (const m of members) {
      const pid = m.pid;
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const waitHealthy = async (timeoutMs = DEFAULT_START_TIMEOUT_MS): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = members.filter((m) => m.pid !== undefined);
      const dead = members.filter((m) => m.child && m.pid === undefined && m.child.exitCode !== null && m.child.exitCode !== 0);
      if (dead.length > 0) throw new Error(`etcd member ${dead[0]!.name} exited with ${dead[0]!.child!.exitCode}:\n${logTail(dead[0]!.logFile)}`);
      const ok = await Promise.all(running.map(memberHealthy));
      if (running.length > 0 && ok.every(Boolean)) return;
      if (Date.now() > deadline) {
        const bad = running.filter((_, i) => !ok[i]);
        throw new Error(`etcd not healthy within ${timeoutMs} ms (${bad.map((m) => m.name).join(', ')}):\n${bad.map((m) => `--- ${m.name} ---\n${logTail(m.logFile)}`).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, HEALTH_POLL_MS));
    }
  };

  let closing: Promise<void> | undefined;
  const stopAll = async (): Promise<void> => {
    // one by one: TERMed at once, the members wait on each other (a leader transfer to a
    // peer that is itself stopping) until the KILL grace; one by one each exits in ~10 ms
    for (const m of members) await m.signal('SIGTERM', STOP_GRACE_MS);
  };
  const handle: EtcdClusterHandle = {
    dir,
    members,
    endpoints: members.map((m) => m.endpoint),
    startupMs: 0,
    kill: (i, signal = 'SIGKILL') => members[i]!.signal(signal, STOP_GRACE_MS),
    stopMember: (i) => members[i]!.signal('SIGTERM', STOP_GRACE_MS),
    startMember: async (i) => {
      members[i]!.start();
    },
    pause: (i) => {
      const pid = members[i]!.pid;
      if (pid !== undefined) process.kill(pid, 'SIGSTOP');
    },
    resume: (i) => {
      const pid = members[i]!.pid;
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
    },
    stopAll,
    killAll: async () => {
      await Promise.all(members.map((m) => m.signal('SIGKILL', 0)));
    },
    startAll: async () => {
      for (const m of members) m.start();
    },
    waitHealthy,
    close: () =>
      (closing ??= (async () => {
        // KILL: the data is being removed, and a graceful stop waits for connected clients
        await Promise.all(members.map((m) => m.signal('SIGKILL', 0)));
        process.removeListener('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
  try {
    for (const m of members) m.start();
    await waitHealthy(opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  handle.startupMs = Math.round(performance.now() - t0);
  return handle;
}
