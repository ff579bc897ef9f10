import type { LookUpResult } from '@sluice/storage-api';
import type { Db } from './db.js';
import { fenced, mapped } from './errors.js';

export type TimeKind = 'offsets' | 'checkpoints';

/** Read side shared by offsets and checkpoints: every probe is one index seek on (store, t). */
export abstract class TimeReader<E extends { t: number }, Row> {
  readonly #q;

  constructor(protected readonly db: Db, readonly name: string, protected readonly kind: TimeKind, table: string, columns: string) {
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      get: p(`SELECT ${columns} FROM ${table} WHERE store = ? AND t = ?`),
      floor: p(`SELECT ${columns} FROM ${table} WHERE store = ? AND t <= ? ORDER BY t DESC LIMIT 1`),
      ceilingBelow: p(`SELECT ${columns}, EXISTS (SELECT 1 FROM ${table} WHERE store = ? AND t < ?) AS below FROM ${table} WHERE store = ? AND t >= ? ORDER BY t ASC LIMIT 1`),
      first: p(`SELECT ${columns} FROM ${table} WHERE store = ? ORDER BY t ASC LIMIT 1`),
      last: p(`SELECT ${columns} FROM ${table} WHERE store = ? ORDER BY t DESC LIMIT 1`),
      range: p(`SELECT ${columns} FROM ${table} WHERE store = ? AND t >= ? AND t < ? ORDER BY t ASC LIMIT ?`),
      epoch: p(`SELECT epoch FROM epochs WHERE kind = ? AND store = ?`),
    };
  }

  protected abstract decode(row: Row): E;

  #one(row: unknown): E | undefined {
    return row === undefined ? undefined : this.decode(row as Row);
  }

  protected what(op: string): string {
    return `${this.kind} ${this.name} ${op}`;
  }

  get(t: number): Promise<E | undefined> {
    return mapped(this.what('get'), () => this.#one(this.#q.get.get(this.name, t)));
  }
  floor(t: number): Promise<E | undefined> {
    return mapped(this.what('floor'), () => this.#one(this.#q.floor.get(this.name, t)));
  }
  first(): Promise<E | undefined> {
    return mapped(this.what('first'), () => this.#one(this.#q.first.get(this.name)));
  }
  last(): Promise<E | undefined> {
    return mapped(this.what('last'), () => this.#one(this.#q.last.get(this.name)));
  }
  lookUp(t: number): Promise<LookUpResult<E>> {
    // resolveLookUp's probes folded into one statement for the common case: the ceiling
    // row plus whether anything lies below t (if not, t is before the first entry).
    return mapped(this.what('lookUp'), (): LookUpResult<E> => {
      // Two statements only when nothing is ≥ t; an append racing in between shows as a
      // last entry ≥ t, and the probe is simply repeated (bounded).
      for (let attempt = 0; ; attempt++) {
        const row = this.#q.ceilingBelow.get(this.name, t, this.name, t) as (Row & { below: number }) | undefined;
        if (row) {
          const e = this.decode(row);
          return row.below || e.t === t ? { status: 'found', entry: e } : { status: 'underflow', min: e };
        }
        const last = this.#one(this.#q.last.get(this.name));
        if (last === undefined) return { status: 'empty' };
        if (last.t < t || attempt >= 3) return { status: 'overflow', max: last };
      }
    });
  }
  range(from: number, to: number, options: { limit?: number } = {}): Promise<E[]> {
    const hi = Number.isFinite(to) ? to : Number.MAX_SAFE_INTEGER;
    return mapped(this.what('range'), () => this.#q.range.all(this.name, from, hi, options.limit ?? 10_000).map((r) => this.decode(r as Row)));
  }
  currentEpoch(): Promise<number> {
    return mapped(this.what('currentEpoch'), () => this.epochNow());
  }

  protected epochNow(): number {
    const row = this.#q.epoch.get(this.kind, this.name) as { epoch: number } | undefined;
    return row?.epoch ?? 0;
  }

  /** Inside a write transaction: fails if a higher epoch has opened since. */
  protected checkEpoch(epoch: number): void {
    const cur = this.epochNow();
    if (cur > epoch) throw fenced(this.name, epoch, cur);
  }

  /** Opens a writer: lower than the current epoch is fenced; otherwise it becomes current. */
  protected openWriterEpoch(epoch: number): void {
    this.raiseEpoch(epoch, (cur) => {
      if (epoch < cur) throw fenced(this.name, epoch, cur);
    });
  }

  /** Inside a write transaction: `decide` sees the current epoch (and may refuse), then `epoch` becomes current if higher. */
  protected raiseEpoch(epoch: number, decide: (current: number) => void): void {
    const cur = this.epochNow();
    decide(cur);
    if (epoch < cur) return;
    this.db.prepare(`INSERT INTO epochs (kind, store, epoch) VALUES (?, ?, ?) ON CONFLICT (kind, store) DO UPDATE SET epoch = excluded.epoch`).run(this.kind, this.name, epoch);
  }
}
