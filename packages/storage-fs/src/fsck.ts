import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointPart, FsckHookFinding } from '@sluice/storage-api';
import { writeTx, type Db } from './db.js';

/**
 * What only the fs backend sees in one app (fsck's hook): SQLite's integrity check, staged
 * parts no manifest lists and that can no longer be committed (older than the store's
 * last commit), blob files no jar name points at, and temp files older than `staleTempMs`.
 * `repair` removes the orphans, never a row or file something references.
 */
export function fsckFsApp(dir: string, db: Db, options: { repair: boolean; staleTempMs: number; now: number }): FsckHookFinding[] {
  const out: FsckHookFinding[] = [];
  const integrity = db.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>;
  const problems = integrity.map((r) => r.integrity_check).filter((m) => m !== 'ok');
  if (problems.length) out.push({ subStore: 'offsets', target: 'store.db', kind: 'damage', message: `SQLite integrity check: ${problems.slice(0, 5).join('; ')}` });

  // Staged parts: unreferenced and before the last commit of their store.
  const referenced = new Set<string>();
  const lastT = new Map<string, number>();
  for (const r of db.prepare('SELECT store, t, parts FROM checkpoints').all() as Array<{ store: string; t: number; parts: string }>) {
    for (const p of JSON.parse(r.parts) as CheckpointPart[]) referenced.add(p.ref);
    lastT.set(r.store, Math.max(lastT.get(r.store) ?? -1, r.t));
  }
  const staged = db.prepare('SELECT ref, store, t FROM staged_parts').all() as Array<{ ref: string; store: string; t: number }>;
  const doomed = staged.filter((s) => !referenced.has(s.ref) && s.t < (lastT.get(s.store) ?? -1));
  if (options.repair && doomed.length) {
    writeTx(db, () => {
      // Re-checked under the write lock: a commit may have listed one meanwhile.
      const still = new Set<string>();
      for (const r of db.prepare('SELECT parts FROM checkpoints').pluck().all() as string[]) for (const p of JSON.parse(r) as CheckpointPart[]) still.add(p.ref);
      const del = db.prepare('DELETE FROM staged_parts WHERE ref = ?');
      for (const s of doomed) if (!still.has(s.ref)) del.run(s.ref);
    });
  }
  for (const s of doomed) out.push({ subStore: 'checkpoints', target: `${s.store}/${s.ref}`, kind: 'orphan', message: `staged part ${s.ref} of ${s.store}@${s.t}: never committed, before the last commit`, repaired: options.repair });

  // Blobs no jar name points at.
  const jarShas = new Set(db.prepare('SELECT sha256 FROM jars').pluck().all() as string[]);
  for (const f of safeList(join(dir, 'blobs'))) {
    if (jarShas.has(f)) continue;
    if (options.repair && !(db.prepare('SELECT 1 FROM jars WHERE sha256 = ?').pluck().get(f) as number | undefined)) unlinkSync(join(dir, 'blobs', f));
    out.push({ subStore: 'jars', target: `blobs/${f}`, kind: 'orphan', message: `blob ${f}: no jar name points at it`, repaired: options.repair });
  }

  // Temp files of writers that died.
  for (const f of safeList(join(dir, 'tmp'))) {
    const p = join(dir, 'tmp', f);
    let age: number;
    try {
      age = options.now - statSync(p).mtimeMs;
    } catch {
      continue;
    }
    if (age < options.staleTempMs) continue;
    if (options.repair) unlinkSync(p);
    out.push({ subStore: 'jars', target: `tmp/${f}`, kind: 'orphan', message: `temp file ${f}, ${Math.round(age / 1000)} s old`, repaired: options.repair });
  }
  return out;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
