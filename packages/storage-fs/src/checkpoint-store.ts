import { randomUUID } from 'node:crypto';
import { StorageError, alreadyCommittedError, checkStagedMatches, notStagedError, sameCommit, sha256Hex } from '@sluice/storage-api';
import type { Checkpoint, CheckpointPart, CheckpointStore, CheckpointWriter } from '@sluice/storage-api';
import { type Db, writeTx } from './db.js';
import { mapped, notFound, outOfOrder } from './errors.js';
import { TimeReader } from './time-reader.js';

interface Row {
  t: number;
  epoch: number;
  parts: string;
  meta: string;
  committed_at: number;
}

/**
 * Parts are staged as rows of staged_parts (keyed by a unique ref) in the same database
 * as the manifests, so a commit is one transaction: insert the manifest (create-only on
 * (store, t)) and drop checkpoints beyond numRetained with their parts.
 */
export class FsCheckpointStore extends TimeReader<Checkpoint, Row> implements CheckpointStore {
  constructor(db: Db, name: string, readonly numRetained: number, private readonly now: () => number) {
    super(db, name, 'checkpoints', 'checkpoints', 't, epoch, parts, meta, committed_at');
  }

  protected decode(row: Row): Checkpoint {
    return { t: row.t, epoch: row.epoch, parts: JSON.parse(row.parts) as CheckpointPart[], meta: JSON.parse(row.meta) as Record<string, unknown>, committedAt: row.committed_at };
  }

  async readPart(t: number, part: string): Promise<Uint8Array> {
    return mapped(this.what('readPart'), () => {
      const row = this.db.prepare('SELECT t, epoch, parts, meta, committed_at FROM checkpoints WHERE store = ? AND t = ?').get(this.name, t) as Row | undefined;
      if (!row) throw notFound(`checkpoint ${this.name}@${t} not found`);
      const p = this.decode(row).parts.find((x) => x.name === part);
      if (!p) throw notFound(`checkpoint ${this.name}@${t} has no part ${part}`);
      const data = this.db.prepare('SELECT data FROM staged_parts WHERE ref = ?').pluck().get(p.ref) as Buffer | undefined;
      if (!data) throw new StorageError(`checkpoint ${this.name}@${t} part ${part} is missing its data`, { code: 'STORAGE_CORRUPT' });
      if (data.byteLength !== p.size || sha256Hex(data) !== p.sha256) {
        throw new StorageError(`checkpoint ${this.name}@${t} part ${part} is corrupt`, { code: 'STORAGE_CORRUPT', details: { expected: p.sha256 } });
      }
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    });
  }

  async writer(epoch: number): Promise<CheckpointWriter> {
    await mapped(this.what('writer'), () => writeTx(this.db, () => this.openWriterEpoch(epoch)));
    const db = this.db;
    const name = this.name;
    // A staged part may be listed by several checkpoints (committed at t=1 and again at
    // t=2): its row goes only when no remaining checkpoint lists it. Parts staged for a
    // time before the oldest remaining checkpoint and never committed can no longer be
    // committed (out of order), so they are swept too: the store stays bounded.
    const dropWhere = (cond: string, arg: number): number => {
      const gone = db.prepare(`SELECT parts FROM checkpoints WHERE store = ? AND ${cond}`).pluck().all(name, arg) as string[];
      if (gone.length === 0) return 0;
      const n = db.prepare(`DELETE FROM checkpoints WHERE store = ? AND ${cond}`).run(name, arg).changes;
      const kept = new Set((db.prepare('SELECT parts FROM checkpoints WHERE store = ?').pluck().all(name) as string[]).flatMap((j) => (JSON.parse(j) as CheckpointPart[]).map((p) => p.ref)));
      const delPart = db.prepare('DELETE FROM staged_parts WHERE ref = ?');
      for (const json of gone) for (const p of JSON.parse(json) as CheckpointPart[]) if (!kept.has(p.ref)) delPart.run(p.ref);
      const oldest = db.prepare('SELECT min(t) FROM checkpoints WHERE store = ?').pluck().get(name) as number | null;
      if (oldest !== null) {
        const stale = db.prepare('SELECT ref FROM staged_parts WHERE store = ? AND t < ?').pluck().all(name, oldest) as string[];
        for (const ref of stale) if (!kept.has(ref)) delPart.run(ref);
      }
      return n;
    };
    const writer: CheckpointWriter = {
      epoch,
      stage: (t, part, bytes) =>
        mapped(this.what('stage'), () => {
          const desc: CheckpointPart = { name: part, size: bytes.byteLength, sha256: sha256Hex(bytes), ref: `${t}/${part}/${randomUUID()}` };
          writeTx(db, () => {
            this.checkEpoch(epoch);
            db.prepare('INSERT INTO staged_parts (ref, store, t, name, sha256, size, data) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
              desc.ref, name, t, part, desc.sha256, desc.size, bytes,
            );
          });
          return desc;
        }),
      commit: (t, parts, options = {}) =>
        mapped(this.what('commit'), () =>
          writeTx(db, () => {
            this.checkEpoch(epoch);
            const staged = db.prepare('SELECT sha256, size FROM staged_parts WHERE ref = ? AND store = ?');
            for (const p of parts) {
              const s = staged.get(p.ref, name) as { sha256: string; size: number } | undefined;
              if (!s) throw notStagedError(p);
              checkStagedMatches(p, s);
            }
            const existingRow = db.prepare('SELECT t, epoch, parts, meta, committed_at FROM checkpoints WHERE store = ? AND t = ?').get(name, t) as Row | undefined;
            if (existingRow) {
              const existing = this.decode(existingRow);
              if (sameCommit(existing, epoch, parts)) return existing; // idempotent retry
              throw alreadyCommittedError(name, t);
            }
            const lastT = db.prepare('SELECT t FROM checkpoints WHERE store = ? ORDER BY t DESC LIMIT 1').pluck().get(name) as number | undefined;
            if (lastT !== undefined && t < lastT) throw outOfOrder(name, t, lastT);
            const cp: Checkpoint = { t, epoch, parts: parts.map((p) => ({ name: p.name, size: p.size, sha256: p.sha256, ref: p.ref })), meta: options.meta ?? {}, committedAt: this.now() };
            db.prepare('INSERT INTO checkpoints (store, t, epoch, parts, meta, committed_at) VALUES (?, ?, ?, ?, ?, ?)').run(
              name, t, epoch, JSON.stringify(cp.parts), JSON.stringify(cp.meta), cp.committedAt,
            );
            // Retention: the newest numRetained stay; older manifests and their parts go in the same transaction.
            const keepFrom = db.prepare('SELECT t FROM checkpoints WHERE store = ? ORDER BY t DESC LIMIT 1 OFFSET ?').pluck().get(name, this.numRetained - 1) as number | undefined;
            if (keepFrom !== undefined) dropWhere('t < ?', keepFrom);
            return cp;
          }),
        ),
      append: async (t, bytes) => writer.commit(t, [await writer.stage(t, 'state', bytes)]),
      truncateAfter: (t) => mapped(this.what('truncateAfter'), () => writeTx(db, () => (this.checkEpoch(epoch), dropWhere('t > ?', t)))),
      truncateBefore: (t) => mapped(this.what('truncateBefore'), () => writeTx(db, () => (this.checkEpoch(epoch), dropWhere('t < ?', t)))),
    };
    return writer;
  }
}
