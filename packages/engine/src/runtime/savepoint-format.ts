import { EngineError } from '../errors.js';
import { decodeState } from './state-codec.js';

/**
 * A savepoint's bytes: one self-contained file, independent of the storage backend and of
 * the app's checkpoint parts (nothing is shared with them, so retention of the app can
 * never break it). Layout: `SLSP`, u16 format version, u32 header length, the header
 * (JSON), then the blocks the header points at, back to back.
 *
 * Keyed state is kept per key group (one encoded segment per group, the state codec's
 * own format), so a restore at any parallelism picks whole groups for each task.
 * Operator state (snapshot()) is kept per task index as the state codec encoded it.
 */
export const SAVEPOINT_FORMAT_VERSION = 1;
const MAGIC = Buffer.from('SLSP');

export interface SavepointProcessor {
  parallelism: number;
  /** The processor's uid when it had one (its state identity; else the name is). */
  uid?: string;
  source: boolean;
  /** Sources: the position each task index had at t (what its offset store recorded). */
  offsets?: unknown[];
  /** Per task index: snapshot() at t, state-codec encoded; absent = the task recorded nothing. */
  operator: Array<Uint8Array | undefined>;
  /** Keyed state: table names and one encoded segment per non-empty key group. */
  keyed?: { tables: string[]; groups: Map<number, Uint8Array>; entries: number };
}

export interface SavepointData {
  /** The app and checkpoint time it was taken from. */
  app: { appId: string; appName: string };
  t: number;
  createdAt: number;
  /** Key groups of the keyed state (absent when the app keeps none). */
  maxParallelism?: number;
  processors: Map<string, SavepointProcessor>;
}

interface Header {
  v: number;
  app: { appId: string; appName: string };
  t: number;
  createdAt: number;
  maxParallelism?: number;
  processors: Record<string, {
    parallelism: number;
    uid?: string;
    source: boolean;
    offsets?: unknown[];
    operator: Array<number | null>;
    keyed?: { tables: string[]; entries: number; groups: Array<[number, number]> };
  }>;
  /** Byte length of each block, in file order. */
  blocks: number[];
}

/** True when an operator-state record holds nothing (snapshot() returned undefined or null). */
export function isEmptyOperatorState(bytes: Uint8Array | undefined): boolean {
  if (bytes === undefined) return true;
  if (bytes[0] !== 0) return false;
  const v = decodeState(bytes);
  return v === null || (Array.isArray(v) && v.length === 0);
}

export function encodeSavepoint(sp: SavepointData): Buffer {
  const blocks: Uint8Array[] = [];
  const add = (b: Uint8Array): number => blocks.push(b) - 1;
  const processors: Header['processors'] = {};
  for (const [name, p] of sp.processors) {
    processors[name] = {
      parallelism: p.parallelism,
      ...(p.uid === undefined ? {} : { uid: p.uid }),
      source: p.source,
      ...(p.offsets ? { offsets: p.offsets } : {}),
      operator: p.operator.map((b) => (b === undefined ? null : add(b))),
      ...(p.keyed ? { keyed: { tables: p.keyed.tables, entries: p.keyed.entries, groups: [...p.keyed.groups].sort((a, b) => a[0] - b[0]).map(([kg, b]): [number, number] => [kg, add(b)]) } } : {}),
    };
  }
  const header: Header = {
    v: SAVEPOINT_FORMAT_VERSION, app: sp.app, t: sp.t, createdAt: sp.createdAt,
    ...(sp.maxParallelism === undefined ? {} : { maxParallelism: sp.maxParallelism }),
    processors, blocks: blocks.map((b) => b.byteLength),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.allocUnsafe(10);
  MAGIC.copy(head, 0);
  head.writeUInt16BE(SAVEPOINT_FORMAT_VERSION, 4);
  head.writeUInt32BE(json.length, 6);
  return Buffer.concat([head, json, ...blocks]);
}

function invalid(why: string): EngineError {
  return new EngineError('SAVEPOINT_INVALID', `not a readable savepoint: ${why}`);
}

export function decodeSavepoint(bytes: Uint8Array): SavepointData {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 10 || !b.subarray(0, 4).equals(MAGIC)) throw invalid('bad magic');
  const v = b.readUInt16BE(4);
  if (v !== SAVEPOINT_FORMAT_VERSION) throw invalid(`format version ${v}, this engine reads ${SAVEPOINT_FORMAT_VERSION}`);
  const hl = b.readUInt32BE(6);
  if (10 + hl > b.length) throw invalid('truncated header');
  let h: Header;
  try {
    h = JSON.parse(b.toString('utf8', 10, 10 + hl)) as Header;
  } catch {
    throw invalid('header is not JSON');
  }
  if (!Array.isArray(h.blocks) || typeof h.processors !== 'object' || typeof h.t !== 'number') throw invalid('bad header');
  const blocks: Uint8Array[] = [];
  let off = 10 + hl;
  for (const n of h.blocks) {
    if (!Number.isSafeInteger(n) || n < 0 || off + n > b.length) throw invalid('truncated block');
    blocks.push(b.subarray(off, off + n));
    off += n;
  }
  if (off !== b.length) throw invalid('trailing bytes');
  const block = (i: number): Uint8Array => {
    const x = blocks[i];
    if (x === undefined) throw invalid(`block ${i} is missing`);
    return x;
  };
  const processors = new Map<string, SavepointProcessor>();
  for (const [name, p] of Object.entries(h.processors)) {
    processors.set(name, {
      parallelism: p.parallelism,
      ...(typeof p.uid === 'string' ? { uid: p.uid } : {}),
      source: p.source,
      ...(p.offsets ? { offsets: p.offsets } : {}),
      operator: p.operator.map((i) => (i === null ? undefined : block(i))),
      ...(p.keyed ? { keyed: { tables: p.keyed.tables, entries: p.keyed.entries, groups: new Map(p.keyed.groups.map(([kg, i]) => [kg, block(i)])) } } : {}),
    });
  }
  return { app: h.app, t: h.t, createdAt: h.createdAt, ...(h.maxParallelism === undefined ? {} : { maxParallelism: h.maxParallelism }), processors };
}
