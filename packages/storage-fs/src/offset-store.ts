import type { OffsetBackend, OffsetState, TimeEntry } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapped } from './errors.js';
import { TimeReader } from './time-reader.js';

interface Row {
  t: number;
  value: Buffer;
}

/**
 * Offsets in the app's SQLite database: I/O hooks only (storage-api applies the policy).
 * Each write hook runs in one IMMEDIATE transaction, so the state the policy sees and the
 * write it allows are atomic across processes.
 */
export class FsOffsetStore extends TimeReader<TimeEntry, Row> implements OffsetBackend {
  readonly #insert;
  readonly #last;
  readonly #ceiling;

  constructor(db: Db, name: string) {
    super(db, name, 'offsets', 'offsets', 't, value');
    this.#insert = db.prepare('INSERT INTO offsets (store, t, value) VALUES (?, ?, ?)');
    this.#last = db.prepare('SELECT t, value FROM offsets WHERE store = ? ORDER BY t DESC LIMIT 1');
    this.#ceiling = db.prepare('SELECT t, value FROM offsets WHERE store = ? AND t >= ? ORDER BY t ASC LIMIT 1');
  }

  protected decode(row: Row): TimeEntry {
    return { t: row.t, value: new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength) };
  }

  ceiling(t: number): Promise<TimeEntry | undefined> {
    return mapped(this.what('ceiling'), () => {
      const row = this.#ceiling.get(this.name, t) as Row | undefined;
      return row && this.decode(row);
    });
  }

  openEpoch(epoch: number, decide: (current: number) => void): Promise<void> {
    return mapped(this.what('writer'), () => writeTx(this.db, () => this.raiseEpoch(epoch, decide)));
  }

  append(_firstT: number, plan: (state: OffsetState) => TimeEntry[]): Promise<void> {
    return mapped(this.what('append'), () =>
      writeTx(this.db, () => {
        const row = this.#last.get(this.name) as Row | undefined;
        for (const e of plan({ epoch: this.epochNow(), last: row && this.decode(row) })) this.#insert.run(this.name, e.t, e.value);
      }),
    );
  }

  truncate(side: 'before' | 'after', t: number, check: (current: number) => void): Promise<number> {
    const sql = `DELETE FROM offsets WHERE store = ? AND t ${side === 'after' ? '>' : '<'} ?`;
    return mapped(this.what(`truncate${side === 'after' ? 'After' : 'Before'}`), () =>
      writeTx(this.db, () => {
        check(this.epochNow());
        return this.db.prepare(sql).run(this.name, t).changes;
      }),
    );
  }
}
