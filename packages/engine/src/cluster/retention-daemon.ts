import type { Logger } from 'pino';
import { runGc, type GcReport, type RetentionPolicy, type Storage } from '@sluice/storage-api';

export interface RetentionDaemonOptions {
  storage: Storage;
  /** `storage.retention` of cluster config. */
  policy: RetentionPolicy;
  /** `master.retentionIntervalMs`; 0 disables the daemon. */
  intervalMs: number;
  logger: Logger;
  /** Injectable clock for tests. */
  now?: () => number;
}

/** Default of `master.retentionIntervalMs`: often enough that stores level off, rare enough to cost nothing. */
export const DEFAULT_RETENTION_INTERVAL_MS = 10 * 60_000;

/**
 * Applies the retention policy (storage-api's gc) periodically in the master, so apps that
 * run for months stay bounded without anyone running `sluice storage gc`. Owns its timer:
 * one run at a time (the next is scheduled when the previous ends), and a failing run is
 * logged and retried at the next tick, never thrown out of the loop.
 */
export class RetentionDaemon {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<GcReport | undefined> | undefined;
  #stopped = true;
  runs = 0;

  constructor(private readonly options: RetentionDaemonOptions) {
    if (!Number.isSafeInteger(options.intervalMs) || options.intervalMs < 0) {
      throw new RangeError(`master.retentionIntervalMs must be a non-negative integer, got ${options.intervalMs}`);
    }
  }

  start(): void {
    if (!this.#stopped || this.options.intervalMs === 0) return;
    this.#stopped = false;
    this.#schedule();
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One gc pass over every app; resolves undefined (after logging) if the pass failed. */
  async runOnce(): Promise<GcReport | undefined> {
    if (this.#running) return this.#running;
    this.#running = this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pass(): Promise<GcReport | undefined> {
    const log = this.options.logger;
    this.runs++;
    try {
      const report = await runGc(this.options.storage, this.options.policy, { now: this.options.now?.() });
      for (const a of report.actions) log.info({ appId: a.appId, subStore: a.subStore, target: a.target, count: a.count }, `retention removed ${a.what}`);
      for (const e of report.errors) log.warn({ appId: e.appId, subStore: e.subStore, code: e.code }, `retention failed: ${e.message}`);
      return report;
    } catch (err) {
      log.error({ err }, 'retention pass failed; retrying at the next interval');
      return undefined;
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.runOnce().finally(() => this.#schedule());
    }, this.options.intervalMs);
    // Never keeps a master process alive on its own.
    this.#timer.unref();
  }
}
