import { StorageError, checkWriterEpoch, fencedError } from '@sluice/storage-api';
import type { S3Io } from './io.js';

interface EpochDoc {
  epoch: number;
}

/**
 * The epoch record of one offsets/checkpoints store: raised with CAS (If-Match, or
 * If-None-Match for the first), read again before every write so a lower epoch is fenced.
 */
export class EpochRecord {
  constructor(private readonly io: S3Io, private readonly key: string, private readonly store: string) {}

  async current(signal?: AbortSignal): Promise<{ epoch: number; etag?: string }> {
    const r = await this.io.getJson<EpochDoc>(this.key, signal);
    return r ? { epoch: r.value.epoch, etag: r.etag } : { epoch: 0 };
  }

  /** Opens a writer at `epoch`: `decide` sees the current epoch (the policy refuses a lower one), then the record is raised with CAS. */
  async open(epoch: number, decide: (current: number) => void = (c) => this.#refuseLower(epoch, c), signal?: AbortSignal): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const cur = await this.current(signal);
      decide(cur.epoch);
      if (epoch < cur.epoch) return;
      // Written even at an equal epoch when absent, so the store shows up in listTimeStores.
      if (epoch === cur.epoch && cur.etag !== undefined) return;
      const ok = await this.io.putIfMatch(this.key, JSON.stringify({ epoch } satisfies EpochDoc), cur.etag, signal);
      if (ok !== false) return;
      // Lost the race (or our own earlier attempt landed): read again and decide.
    }
    throw new StorageError(`store ${this.store}: could not raise the epoch (too much contention)`, { code: 'STORAGE_UNAVAILABLE' });
  }

  /** Throws STORAGE_FENCED if a higher epoch has opened, STORAGE_NOT_FOUND if the store was wiped (app deleted). One GET. */
  async check(epoch: number, signal?: AbortSignal): Promise<void> {
    checkWriterEpoch(this.store, epoch, (await this.current(signal)).epoch);
  }

  #refuseLower(mine: number, current: number): void {
    if (mine < current) throw this.fenced(mine, current);
  }

  fenced(mine: number, current: number): StorageError {
    return fencedError(this.store, mine, current);
  }
}
