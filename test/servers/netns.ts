/**
 * Hosts for many-host tests, built from Linux network namespaces (iproute2's `ip netns`).
 *
 * One namespace is the switch: it holds a bridge, and every host namespace is wired to it by a
 * veth pair (`eth0` inside the host, `v-<host>` on the bridge). Every address lives inside a
 * namespace this harness made (10.231.0.0/24 by default), nothing is configured in the root
 * namespace, so no test can ever reach or disturb a real network. A partition is a link taken
 * down on the switch side: the host keeps its address and its processes, and sees silence, the
 * way a pulled cable or a dead switch port looks.
 *
 * Processes run as `ip netns exec <ns> <cmd>` (ip execs the command, so the PID is the
 * command's own): the harness keeps every child it started and kills them by PID on close.
 *
 * Missing `ip`, not root, or no permission to create namespaces: `netnsLeg()` reports a loud
 * NOT RUN, or a failure when SLUICE_REQUIRE_NETNS=1 (CI sets it).
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { executable, legOf, type Leg } from './launch-util.js';

export const REQUIRE_NETNS_ENV = 'SLUICE_REQUIRE_NETNS';
export const NETNS_APT_INSTALL = 'apt-get install -y --no-install-recommends iproute2';
const IP_CANDIDATES = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];
/** A SIGTERMed child gets this long before SIGKILL. */
const STOP_GRACE_MS = 5_000;

function ipBinary(): string | undefined {
  return IP_CANDIDATES.find(executable);
}

function ip(args: string[]): string {
  const bin = ipBinary();
  if (!bin) throw new Error(`ip (iproute2) is missing; install: ${NETNS_APT_INSTALL}`);
  return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

/** Can this process create a namespace? Tries one (and removes it); starts nothing else. */
export function netnsAvailable(): { ok: true } | { ok: false; reason: string } {
  if (!ipBinary()) return { ok: false, reason: `ip (iproute2) is missing; install: ${NETNS_APT_INSTALL}` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'creating network namespaces needs root (CAP_SYS_ADMIN)' };
  const probe = `sluice-probe-${process.pid}`;
  try {
    ip(['netns', 'add', probe]);
    ip(['netns', 'del', probe]);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `ip netns add failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** What a test file does without namespaces: a failing test under SLUICE_REQUIRE_NETNS=1, else a named skip. */
export function netnsLeg(): Leg {
  const a = netnsAvailable();
  return legOf('network-namespace leg', REQUIRE_NETNS_ENV, a.ok ? undefined : a.reason);
}

export interface NetHost {
  /** The short name the test gave (`m1`, `w1`, `store`). */
  name: string;
  /** The namespace (`<prefix>-<name>`). */
  ns: string;
  /** This host's only address (on eth0). */
  address: string;
}

export interface Network {
  hosts: Map<string, NetHost>;
  host(name: string): NetHost;
  /** Spawns `cmd args` inside host `name`'s namespace; the child is stopped on close(). */
  spawn(name: string, cmd: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Takes host `name`'s link down on the switch: it can reach nobody, nobody reaches it. */
  isolate(name: string): void;
  /** Brings the link back up. */
  heal(name: string): void;
  /**
   * Cuts hosts a and b apart and nothing else (a blackhole route to each other in both
   * namespaces): new connections fail at once, established ones go silent.
   */
  cut(a: string, b: string): void;
  /** Undoes cut(a, b). */
  mend(a: string, b: string): void;
  /** Is host `name`'s switch port up? */
  linked(name: string): boolean;
  /** Stops every child (TERM, then KILL) and deletes every namespace. Idempotent. */
  close(): Promise<void>;
}

export interface NetworkOptions {
  /** Namespace name prefix; default `sl<pid>` (names stay short: veth names have 15 chars at most). */
  prefix?: string;
  /** The first three octets of the hosts' /24; default 10.231.0. */
  subnet?: string;
}

/** Builds a switch and one namespace per host name; host i gets `<subnet>.<i + 1>`. */
export function createNetwork(names: string[], opts: NetworkOptions = {}): Network {
  const prefix = opts.prefix ?? `sl${process.pid}`;
  const subnet = opts.subnet ?? '10.231.0';
  if (names.length > 250) throw new Error('at most 250 hosts');
  for (const n of names) if (!/^[a-z0-9]{1,8}$/.test(n)) throw new Error(`host name ${JSON.stringify(n)}: 1-8 lowercase letters or digits`);
  const sw = `${prefix}-sw`;
  const hosts = new Map<string, NetHost>();
  const children = new Set<ChildProcess>();
  const created: string[] = [];
  let closed = false;

  const swPort = (name: string): string => `v-${name}`;
  try {
    ip(['netns', 'add', sw]);
    created.push(sw);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    names.forEach((name, i) => {
      const ns = `${prefix}-${name}`;
      ip(['netns', 'add', ns]);
      created.push(ns);
      // Both ends are created inside the switch namespace, then one is moved: nothing ever
      // appears in the root namespace, even for a moment.
      ip(['-n', sw, 'link', 'add', swPort(name), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', sw, 'link', 'set', swPort(name), 'master', 'br0', 'up']);
      const address = `${subnet}.${i + 1}`;
      ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      hosts.set(name, { name, ns, address });
    });
  } catch (err) {
    for (const ns of created.reverse()) {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        /* best effort */
      }
    }
    throw err;
  }

  const host = (name: string): NetHost => {
    const h = hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  };
  const setLink = (name: string, state: 'up' | 'down'): void => {
    host(name);
    ip(['-n', sw, 'link', 'set', swPort(name), state]);
  };

  return {
    hosts,
    host,
    spawn(name, cmd, args, options = {}) {
      const bin = ipBinary()!;
      const child = spawn(bin, ['netns', 'exec', host(name).ns, cmd, ...args], options);
      children.add(child);
      child.once('exit', () => children.delete(child));
      child.on('error', () => undefined); // the caller sees the exit
      return child;
    },
    isolate: (name) => setLink(name, 'down'),
    cut(a, b) {
      ip(['-n', host(a).ns, 'route', 'add', 'blackhole', `${host(b).address}/32`]);
      ip(['-n', host(b).ns, 'route', 'add', 'blackhole', `${host(a).address}/32`]);
    },
    mend(a, b) {
      ip(['-n', host(a).ns, 'route', 'del', 'blackhole', `${host(b).address}/32`]);
      ip(['-n', host(b).ns, 'route', 'del', 'blackhole', `${host(a).address}/32`]);
    },
    heal: (name) => setLink(name, 'up'),
    linked(name) {
      host(name);
      // The admin state is the UP flag in `<BROADCAST,MULTICAST,UP,LOWER_UP>`.
      const flags = /<([^>]*)>/.exec(ip(['-n', sw, '-o', 'link', 'show', swPort(name)]))?.[1]?.split(',') ?? [];
      return flags.includes('UP');
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(
        [...children].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return resolve();
              const t = setTimeout(() => {
                try {
                  process.kill(c.pid!, 'SIGKILL');
                } catch {
                  /* gone */
                }
              }, STOP_GRACE_MS);
              c.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
              try {
                process.kill(c.pid, 'SIGTERM');
              } catch {
                clearTimeout(t);
                resolve();
              }
            }),
        ),
      );
      // Deleting the namespaces removes their veths and the bridge with them.
      for (const ns of created.reverse()) {
        try {
          ip(['netns', 'del', ns]);
        } catch {
          /* already gone */
        }
      }
    },
  };
}
