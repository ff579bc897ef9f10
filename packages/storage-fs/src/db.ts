import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { statSync } from 'node:fs';
import { StorageError } from '@sluice/storage-api';

export type { Db };

/** Bumped when the schema changes; migrations run in one IMMEDIATE transaction. */
const SCHEMA_VERSION = 1;

// Time-keyed rows are clustered by (store, t) (WITHOUT ROWID): floor/lookUp are one seek.
// Metric points are clustered by (series_id, ts): ~7x faster to aggregate than a plain index
// (baselines.md); `n` keeps points that share a timestamp, as the reference backend does.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS app_meta (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jars (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epochs (kind TEXT NOT NULL, store TEXT NOT NULL, epoch INTEGER NOT NULL, PRIMARY KEY (kind, store)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offsets (store TEXT NOT NULL, t INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
  store TEXT NOT NULL, t INTEGER NOT NULL, epoch INTEGER NOT NULL, parts TEXT NOT NULL, meta TEXT NOT NULL, committed_at INTEGER NOT NULL,
  PRIMARY KEY (store, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staged_parts (
  ref TEXT PRIMARY KEY, store TEXT NOT NULL, t INTEGER NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS staged_parts_store_t ON staged_parts (store, t);
CREATE TABLE IF NOT EXISTS logs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, level INTEGER NOT NULL, msg TEXT NOT NULL, labels TEXT NOT NULL,
  fields TEXT, bytes INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS logs_ts ON logs (ts);
CREATE INDEX IF NOT EXISTS logs_level_ts ON logs (level, ts);
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL, labels TEXT NOT NULL, kind TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS series_name ON series (name);
CREATE TABLE IF NOT EXISTS points (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, n INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (series_id, ts, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_1m (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL,
  max REAL NOT NULL, last REAL NOT NULL, last_ts INTEGER NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_1h (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL,
  max REAL NOT NULL, last REAL NOT NULL, last_ts INTEGER NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS config (processor_id TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
`;

/** Page cache per connection, KiB. */
const CACHE_KIB = 32 * 1024;

export interface DbOptions {
  busyTimeoutMs: number;
  synchronous: 'FULL' | 'NORMAL';
  create?: boolean;
}

/**
 * Opens one app's database. WAL lets readers in other processes run beside the one
 * writer; busy_timeout makes writers queue instead of failing at once. The first
 * statement reads the header, so a file that is not a database fails here (NOTADB).
 */
export function openDb(file: string, options: DbOptions): Db {
  const db = new Database(file, { fileMustExist: !options.create, timeout: options.busyTimeoutMs });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous}`);
    // SQLite's default page cache is 2 MiB: too small for B-tree inserts into a 1M-row
    // points or logs table. Pages are allocated as used, so small stores pay nothing.
    db.pragma(`cache_size = -${CACHE_KIB}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version < SCHEMA_VERSION) {
      db.transaction(() => {
        db.exec(SCHEMA);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    }
    inodes.set(db, fileId(file));
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * The file each database was opened on (inode and birth time: a re-created app's file
 * can reuse the inode number): a handle kept across delete and re-create is detected by it.
 */
const inodes = new WeakMap<Db, string>();

function fileId(file: string): string {
  const st = statSync(file, { bigint: true });
  return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
}

function assertSameFile(db: Db): void {
  const ino = inodes.get(db);
  if (ino === undefined) return;
  let now: string | undefined;
  try {
    now = fileId(db.name);
  } catch {
    now = undefined;
  }
  if (now !== ino) throw new StorageError(`the app behind ${db.name} was deleted`, { code: 'STORAGE_NOT_FOUND' });
}

/** Runs fn in a BEGIN IMMEDIATE transaction: takes the write lock first, so checks and writes are one atomic step across processes. */
export function writeTx<T>(db: Db, fn: () => T): T {
  // Checked under the write lock: a write through a handle whose app was deleted fails
  // instead of being acknowledged into an unlinked file (or the re-created app's).
  // Checked before too: SQLite fails with an I/O error on a deleted app's missing WAL.
  assertSameFile(db);
  return db.transaction(() => (assertSameFile(db), fn())).immediate();
}
