import { randomUUID } from 'node:crypto';
import type { Checkpoint, CheckpointBackend, CheckpointCommitState, CheckpointPart, CheckpointPruneState } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapped } from './errors.js';
import { TimeReader } from './time-reader.js';

type PrunePlan = (state: CheckpointPruneState) => { manifests: number[]; refs: string[] };

interface Row {
  t: number;
  epoch: number;
  parts: string;
  meta: string;
  committed_at: number;
}

/**
 * Checkpoints in the app's SQLite database: I/O hooks only (storage-api applies the
 * policy and retention). Parts are staged as rows of staged_parts (keyed by their unique
 * ref) beside the manifests, so each hook is one IMMEDIATE transaction: the state the
 * policy sees and the write it allows are atomic across processes.
 */
export class FsCheckpointStore extends TimeReader<Checkpoint, Row> implements CheckpointBackend {
  constructor(db: Db, name: string, private readonly now: () => number) {
    super(db, name, 'checkpoints', 'checkpoints', 't, epoch, parts, meta, committed_at');
  }

  protected decode(row: Row): Checkpoint {
    return { t: row.t, epoch: row.epoch, parts: JSON.parse(row.parts) as CheckpointPart[], meta: JSON.parse(row.meta) as Record<string, unknown>, committedAt: row.committed_at };
  }

  openEpoch(epoch: number, decide: (current: number) => void): Promise<void> {
    return mapped(this.what('writer'), () => writeTx(this.db, () => this.raiseEpoch(epoch, decide)));
  }

  stage(t: number, part: Omit<CheckpointPart, 'ref'>, bytes: Uint8Array, check: (current: number) => void): Promise<string> {
    const ref = `${t}/${part.name}/${randomUUID()}`;
    return mapped(this.what('stage'), () =>
      writeTx(this.db, () => {
        check(this.epochNow());
        this.db.prepare('INSERT INTO staged_parts (ref, store, t, name, sha256, size, data) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
          ref, this.name, t, part.name, part.sha256, part.size, bytes,
        );
        return ref;
      }),
    );
  }

  readStaged(ref: string): Promise<Uint8Array | undefined> {
    return mapped(this.what('readPart'), () => {
      const data = this.db.prepare('SELECT data FROM staged_parts WHERE ref = ? AND store = ?').pluck().get(ref, this.name) as Buffer | undefined;
      return data && new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    });
  }

  commit(cp: Checkpoint, plan: (state: CheckpointCommitState, now: number) => { store: boolean; checkpoint: Checkpoint }, retain: PrunePlan): Promise<Checkpoint> {
    const db = this.db;
    return mapped(this.what('commit'), () =>
      writeTx(db, () => {
        const q = db.prepare('SELECT sha256, size FROM staged_parts WHERE ref = ? AND store = ?');
        const staged = new Map<string, { size: number; sha256: string }>();
        for (const p of cp.parts) {
          const s = q.get(p.ref, this.name) as { sha256: string; size: number } | undefined;
          if (s) staged.set(p.ref, s);
        }
        const one = (sql: string, ...args: unknown[]): Checkpoint | undefined => {
          const row = db.prepare(`SELECT t, epoch, parts, meta, committed_at FROM checkpoints WHERE store = ? ${sql}`).get(this.name, ...args) as Row | undefined;
          return row && this.decode(row);
        };
        const r = plan({ epoch: this.epochNow(), atT: one('AND t = ?', cp.t), last: one('ORDER BY t DESC LIMIT 1'), staged }, this.now());
        if (r.store) {
          const c = r.checkpoint;
          db.prepare('INSERT INTO checkpoints (store, t, epoch, parts, meta, committed_at) VALUES (?, ?, ?, ?, ?, ?)').run(
            this.name, c.t, c.epoch, JSON.stringify(c.parts), JSON.stringify(c.meta), c.committedAt,
          );
        }
        this.#prune(retain);
        return r.checkpoint;
      }),
    );
  }

  prune(plan: PrunePlan): Promise<number> {
    return mapped(this.what('prune'), () => writeTx(this.db, () => this.#prune(plan)));
  }

  /** Inside a write transaction. */
  #prune(plan: PrunePlan): number {
    const db = this.db;
    const rows = db.prepare('SELECT t, parts FROM checkpoints WHERE store = ?').all(this.name) as Array<{ t: number; parts: string }>;
    const committed = rows.map((r) => ({ t: r.t, refs: (JSON.parse(r.parts) as CheckpointPart[]).map((p) => p.ref) }));
    const staged = db.prepare('SELECT ref, t FROM staged_parts WHERE store = ?').all(this.name) as Array<{ ref: string; t: number }>;
    const r = plan({ epoch: this.epochNow(), committed, staged });
    const delPart = db.prepare('DELETE FROM staged_parts WHERE ref = ? AND store = ?');
    for (const ref of r.refs) delPart.run(ref, this.name);
    const delCp = db.prepare('DELETE FROM checkpoints WHERE store = ? AND t = ?');
    let n = 0;
    for (const t of r.manifests) n += delCp.run(this.name, t).changes;
    return n;
  }
}
