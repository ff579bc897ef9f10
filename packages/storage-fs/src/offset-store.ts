import { bytesEqual } from '@sluice/storage-api';
import type { OffsetStore, OffsetWriter, TimeEntry } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapped, outOfOrder } from './errors.js';
import { TimeReader } from './time-reader.js';

interface Row {
  t: number;
  value: Buffer;
}

export class FsOffsetStore extends TimeReader<TimeEntry, Row> implements OffsetStore {
  readonly #insert;
  readonly #last;

  constructor(db: Db, name: string) {
    super(db, name, 'offsets', 'offsets', 't, value');
    this.#insert = db.prepare('INSERT INTO offsets (store, t, value) VALUES (?, ?, ?)');
    this.#last = db.prepare('SELECT t, value FROM offsets WHERE store = ? ORDER BY t DESC LIMIT 1');
  }

  protected decode(row: Row): TimeEntry {
    return { t: row.t, value: new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength) };
  }

  async writer(epoch: number): Promise<OffsetWriter> {
    await mapped(this.what('writer'), () => writeTx(this.db, () => this.openEpoch(epoch)));
    const appendAll = (entries: TimeEntry[]): Promise<void> =>
      mapped(this.what('append'), () =>
        // Fencing check, ordering check and insert in one IMMEDIATE transaction: two
        // processes racing cannot both pass; the batch is all or nothing.
        writeTx(this.db, () => {
          this.checkEpoch(epoch);
          let last = this.#last.get(this.name) as Row | undefined;
          let lastT = last?.t;
          let added = 0;
          for (const e of entries) {
            if (lastT !== undefined && e.t <= lastT) {
              if (e.t === lastT && added === 0 && last && bytesEqual(e.value, last.value)) continue; // idempotent retry
              throw outOfOrder(this.name, e.t, lastT);
            }
            this.#insert.run(this.name, e.t, e.value);
            lastT = e.t;
            last = undefined;
            added++;
          }
        }),
      );
    const truncate = (op: string, sql: string) => (t: number): Promise<number> =>
      mapped(this.what(op), () =>
        writeTx(this.db, () => {
          this.checkEpoch(epoch);
          return this.db.prepare(sql).run(this.name, t).changes;
        }),
      );
    return {
      epoch,
      append: (t, value) => appendAll([{ t, value }]),
      appendBatch: (entries) => appendAll(entries),
      truncateAfter: truncate('truncateAfter', 'DELETE FROM offsets WHERE store = ? AND t > ?'),
      truncateBefore: truncate('truncateBefore', 'DELETE FROM offsets WHERE store = ? AND t < ?'),
    };
  }
}
