// Runtime fault switches. Tests flip them on the returned server object; another process
// can flip them through PUT /_control/faults. The random injector uses a seeded PRNG so a
// failing test replays the same sequence of faults.

export type RandomFailureKind = 'retriable' | 'server-error' | 'drop';

export interface Faults {
  /** 307/noredirect Locations point at a closed port. */
  dnUnreachable: boolean;
  /** Slow DataNode: delay before each body chunk it reads or writes. */
  dnDelayMsPerChunk: number;
  /** DataNode dies after this many body bytes of one request (socket destroyed); null = off. */
  dnDieAfterBytes: number | null;
  /**
   * When the DN dies, leave the file under construction with an orphaned lease (a real
   * crash) instead of closing it with the partial bytes. Soft/hard lease limits then apply.
   */
  dnDieKeepsLease: boolean;
  /** Host name for redirect Locations (overrides the dnHostAlias option); null = default. */
  redirectHost: string | null;
  /** NameNode in safe mode: writes fail with 403 SafeModeException. */
  safeMode: boolean;
  /** Standby NameNode: every op fails with 403 StandbyException. */
  standby: boolean;
  /** Probability (0..1) that an API request fails at random. */
  failRate: number;
  /** Seed of the random injector; setting it restarts the sequence. */
  failSeed: number;
  /** Which random failures to draw from. */
  failKinds: RandomFailureKind[];
  /** Limit random failures to these ops (upper case); null = all ops. */
  failOps: string[] | null;
  /** Which listeners the random injector acts on. */
  failListeners: ('namenode' | 'datanode')[];
  /** HttpFS mode: report lease/other IOExceptions as exception "RemoteException". */
  httpfsWrapRemoteException: boolean;
}

export function defaultFaults(): Faults {
  return {
    dnUnreachable: false,
    dnDelayMsPerChunk: 0,
    dnDieAfterBytes: null,
    dnDieKeepsLease: false,
    redirectHost: null,
    safeMode: false,
    standby: false,
    failRate: 0,
    failSeed: 1,
    failKinds: ['retriable', 'server-error', 'drop'],
    failOps: null,
    failListeners: ['namenode', 'datanode'],
    httpfsWrapRemoteException: false,
  };
}

/** mulberry32: tiny, deterministic, good enough to spread faults. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Wraps the switches in a proxy-free object: reading `faults.x` is plain, and assigning
 * `failSeed` reseeds the PRNG (done in `draw` by comparing the last seed used).
 */
export class FaultInjector {
  readonly faults: Faults = defaultFaults();
  private rng = mulberry32(1);
  private seededWith = 1;
  injected = 0;

  /** Merges a partial update (control endpoint); unknown keys are rejected. */
  update(patch: Record<string, unknown>): void {
    const d = defaultFaults() as unknown as Record<string, unknown>;
    const f = this.faults as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(patch)) {
      if (!(k in d)) throw new Error(`unknown fault switch: ${k}`);
      f[k] = v === null && d[k] !== null ? d[k] : v;
    }
  }

  reset(): void {
    Object.assign(this.faults, defaultFaults());
  }

  /** Decides whether this request fails at random, and how. */
  draw(listener: 'namenode' | 'datanode', op: string): RandomFailureKind | null {
    const f = this.faults;
    if (f.failRate <= 0 || f.failKinds.length === 0) return null;
    if (!f.failListeners.includes(listener)) return null;
    if (f.failOps && !f.failOps.includes(op)) return null;
    if (f.failSeed !== this.seededWith) {
      this.rng = mulberry32(f.failSeed);
      this.seededWith = f.failSeed;
    }
    const hit = this.rng() < f.failRate;
    const pick = this.rng();
    if (!hit) return null;
    this.injected++;
    return f.failKinds[Math.floor(pick * f.failKinds.length)];
  }

  /** Re-arms the PRNG at the current seed (so a test can replay from the start). */
  reseed(): void {
    this.rng = mulberry32(this.faults.failSeed);
    this.seededWith = this.faults.failSeed;
  }
}
