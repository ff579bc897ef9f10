import type { Logger } from 'pino';
import type { AppMasterMessage } from './control-protocol.js';
import type { BlobVersions } from './executor-blobs.js';
import { boundary } from './task-runner.js';

export interface BlobSwitcherHost {
  executors: number;
  intervalMs: number;
  /** Sends to every connected executor. */
  broadcast(m: AppMasterMessage): void;
  /** The largest clock any task reported (the switch boundary is chosen beyond it). */
  maxClock(): number;
  /** The master re-checks that the app's owner still has `r` on these blobs (throws FORBIDDEN). */
  checkReadable(names: string[]): Promise<void>;
  running(): boolean;
  logger: Logger;
}

/** How far past the newest clock the first proposal lands; doubled after a refusal (bounded). */
const FIRST_MARGIN = 2;
const MAX_MARGIN = 64;
/** A refused re-check (the owner lost r) is asked again this often, not on every tick. */
const RECHECK_MS = 10_000;

/**
 * The AppMaster's side of live blob updates. Executors report the versions they have
 * materialized; once every executor has a newer version, the master re-checks the owner's
 * `r`, then a two-phase switch: blobPrepare(B) to all (each holds its clocks below B), and
 * blobRelease when all accepted (every task switches at B), else blobAbort and a later B.
 */
export class BlobSwitcher {
  inUse: BlobVersions = {};
  /** Boundary of the last switch (undefined: the versions in use since the start). */
  from: number | undefined;
  /** Why the newest versions are not used (e.g. the owner lost r). */
  refused: string | undefined;
  readonly perExecutor = new Map<number, BlobVersions>();
  #ready = new Map<number, BlobVersions>();
  #inflight: { id: number; from: number; versions: BlobVersions; acks: Set<number> } | undefined;
  #nextId = 1;
  #margin = FIRST_MARGIN;
  #checking = false;
  #recheckAt = 0;

  constructor(readonly host: BlobSwitcherHost) {}

  /** A new attempt (restart): versions restored from the checkpoint; nothing in flight. */
  reset(initial: BlobVersions): void {
    this.inUse = { ...initial };
    this.from = undefined;
    this.#ready = new Map();
    this.perExecutor.clear();
    this.#inflight = undefined;
    this.#margin = FIRST_MARGIN;
  }

  onReady(executor: number, versions: BlobVersions): void {
    this.#ready.set(executor, { ...versions });
    void this.tick();
  }

  onPrepared(executor: number, id: number, ok: boolean, reason?: string): void {
    const f = this.#inflight;
    if (!f || f.id !== id) return;
    if (!ok) {
      this.host.logger.info({ from: f.from, executor, reason }, 'blob switch boundary already reached; retrying later');
      this.host.broadcast({ type: 'blobAbort', id });
      this.#inflight = undefined;
      this.#margin = Math.min(MAX_MARGIN, this.#margin * 2);
      return;
    }
    f.acks.add(executor);
    if (f.acks.size < this.host.executors) return;
    this.host.broadcast({ type: 'blobRelease', id });
    this.#inflight = undefined;
    this.inUse = { ...this.inUse, ...f.versions };
    this.from = f.from;
    this.refused = undefined;
    this.host.logger.info({ from: f.from, versions: f.versions }, 'blob switch released');
  }

  /** Proposes a switch when every executor has a newer version (called on reports and every second). */
  async tick(): Promise<void> {
    if (this.#inflight || this.#checking || !this.host.running()) return;
    const next: BlobVersions = {};
    for (const [name, cur] of Object.entries(this.inUse)) {
      let min = Infinity;
      for (let e = 0; e < this.host.executors; e++) min = Math.min(min, this.#ready.get(e)?.[name] ?? 0);
      if (min > cur && min !== Infinity) next[name] = min;
    }
    if (Object.keys(next).length === 0 || Date.now() < this.#recheckAt) return;
    this.#checking = true;
    try {
      // The submitter's r is re-checked by the master at every update (fail closed).
      await this.host.checkReadable(Object.keys(next));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.refused = `update to ${JSON.stringify(next)} refused: ${typeof code === 'string' ? `${code}: ` : ''}${(err as Error).message}`;
      this.#recheckAt = Date.now() + RECHECK_MS;
      this.host.logger.warn({ versions: next, err: (err as Error).message }, 'blob update not applied: the owner may no longer read it');
      return;
    } finally {
      this.#checking = false;
    }
    if (this.#inflight || !this.host.running()) return;
    const from = boundary(this.host.maxClock(), this.host.intervalMs) + this.#margin * this.host.intervalMs;
    const id = this.#nextId++;
    this.#inflight = { id, from, versions: next, acks: new Set() };
    this.host.broadcast({ type: 'blobPrepare', id, from, versions: next });
  }

  /** Executors dropped (recovery): a switch in flight is void. */
  cancel(): void {
    this.#inflight = undefined;
  }
}
