/**
 * The wire protocol of the storage proxy between an executor (client) and its worker
 * (server), over one stream socket per executor (a socketpair the worker hands the child
 * as a file descriptor).
 *
 * Frame: u32 BE length of the rest | u32 BE header length | header (UTF-8 JSON) | binaries.
 * Binary values (offset values, checkpoint parts, jar and blob chunks) travel raw after the
 * header: a Uint8Array in a message is replaced by `{ "$b": i }`, the i-th binary, whose
 * length is in the header's `bins`. Every decoded header is parsed with the zod union below,
 * on both sides.
 */
import { z } from 'zod';
import { STORAGE_ERROR_CODES, StorageError } from '@sluice/storage-api';

/** One frame at most: a checkpoint part (LIMITS.checkpointPartBytes, 256 MiB) plus its header. */
export const MAX_PROXY_FRAME_BYTES = 256 * 1024 * 1024 + 1024 * 1024;
/** Jar and blob bodies are cut in chunks of this size, one frame each (bounded memory both ways). */
export const PROXY_CHUNK_BYTES = 256 * 1024;

const METHODS = {
  storage: ['getApp', 'createApp', 'listApps', 'deleteApp'],
  app: ['meta', 'updateMeta', 'listTimeStores', 'close'],
  jars: ['put', 'get', 'stat', 'list', 'delete'],
  logs: ['append', 'query', 'follow', 'stats', 'deleteBefore'],
  metrics: ['write', 'query', 'listSeries', 'deleteBefore'],
  config: ['get', 'set', 'list', 'delete'],
  offsets: ['get', 'floor', 'lookUp', 'first', 'last', 'range', 'currentEpoch', 'writer'],
  checkpoints: ['get', 'floor', 'lookUp', 'first', 'last', 'range', 'currentEpoch', 'writer', 'readPart'],
  offsetWriter: ['append', 'appendBatch', 'truncateAfter', 'truncateBefore'],
  checkpointWriter: ['stage', 'commit', 'append', 'truncateAfter', 'truncateBefore'],
  checkpointStager: ['stage'],
  blobs: ['list', 'head', 'get', 'create', 'update', 'delete', 'setAcl'],
} as const;

export type TargetKind = keyof typeof METHODS;
export const PROXY_METHODS: { readonly [K in TargetKind]: readonly string[] } = METHODS;

const id = z.number().int().nonnegative();
const handle = { h: id };
const store = { ...handle, store: z.string().max(256) };
const retained = { numRetained: z.number().int().positive().optional() };
const m = <K extends TargetKind>(k: K) => z.enum(METHODS[k] as unknown as [string, ...string[]]);

/** What a call acts on: the storage, an app handle (h) and one of its sub-stores, a writer handle (w), or the blobs. */
export const targetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('storage'), method: m('storage') }).strict(),
  z.object({ kind: z.literal('blobs'), method: m('blobs') }).strict(),
  z.object({ kind: z.literal('app'), method: m('app'), ...handle }).strict(),
  z.object({ kind: z.literal('jars'), method: m('jars'), ...handle }).strict(),
  z.object({ kind: z.literal('logs'), method: m('logs'), ...handle }).strict(),
  z.object({ kind: z.literal('metrics'), method: m('metrics'), ...handle }).strict(),
  z.object({ kind: z.literal('config'), method: m('config'), ...handle }).strict(),
  z.object({ kind: z.literal('offsets'), method: m('offsets'), ...store }).strict(),
  z.object({ kind: z.literal('checkpoints'), method: m('checkpoints'), ...store, ...retained }).strict(),
  z.object({ kind: z.literal('offsetWriter'), method: m('offsetWriter'), w: id }).strict(),
  z.object({ kind: z.literal('checkpointWriter'), method: m('checkpointWriter'), w: id }).strict(),
  z.object({ kind: z.literal('checkpointStager'), method: m('checkpointStager'), ...store, ...retained, epoch: z.number().int().nonnegative() }).strict(),
]);
export type Target = z.infer<typeof targetSchema>;

const errorBody = {
  code: z.enum(STORAGE_ERROR_CODES),
  message: z.string(),
  transient: z.boolean().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
};

/** Executor → worker. Arguments are checked again by the storage-api guard on the worker's store. */
export const clientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('call'), id, target: targetSchema, args: z.array(z.unknown()).max(4) }).strict(),
  /** Asks for the next element of a result stream (one per pull: the reader sets the pace). */
  z.object({ type: z.literal('pull'), stream: id }).strict(),
  z.object({ type: z.literal('cancel'), stream: id }).strict(),
  /** One chunk of the upload of call `id` (sent only after a credit). */
  z.object({ type: z.literal('chunk'), id, data: z.instanceof(Uint8Array) }).strict(),
  z.object({ type: z.literal('end'), id }).strict(),
  z.object({ type: z.literal('abortUpload'), id, message: z.string() }).strict(),
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

export const capabilitiesSchema = z.object({
  persistent: z.boolean(),
  multiProcess: z.boolean(),
  multiWriter: z.boolean(),
  follow: z.boolean(),
  metricsRollups: z.boolean(),
  boundedJarMemory: z.boolean().optional(),
  blobs: z.boolean().optional(),
});

/** Worker → executor. */
export const serverMessageSchema = z.discriminatedUnion('type', [
  /** First message once the worker has bound the connection to an app (a warm standby waits for it). */
  z.object({
    type: z.literal('hello'),
    backend: z.string(),
    capabilities: capabilitiesSchema,
    describe: z.record(z.string(), z.unknown()),
    appId: z.string().optional(),
    /** The AppMaster's app-scoped daemon token (never in the environment). */
    token: z.string().optional(),
  }).strict(),
  z.object({ type: z.literal('result'), id, value: z.unknown().optional() }).strict(),
  z.object({ type: z.literal('error'), id, ...errorBody }).strict(),
  /** Ready for one more chunk of the upload of call `id`. */
  z.object({ type: z.literal('credit'), id }).strict(),
  z.object({ type: z.literal('item'), stream: id, value: z.unknown().optional() }).strict(),
  z.object({ type: z.literal('done'), stream: id }).strict(),
  z.object({ type: z.literal('streamError'), stream: id, ...errorBody }).strict(),
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type Hello = Extract<ServerMessage, { type: 'hello' }>;

/** Markers inside values: a result stream, an upload in an argument list. */
export interface StreamRef {
  $stream: number;
}
export const UPLOAD_MARK = { $upload: true } as const;
/** An argument left out (JSON arrays have no undefined; null is a value, e.g. a config value). */
export const UNDEFINED_MARK = { $undefined: true } as const;

export function toArg(v: unknown): unknown {
  return v === undefined ? UNDEFINED_MARK : v;
}

export function fromArg(v: unknown): unknown {
  return v && typeof v === 'object' && (v as { $undefined?: unknown }).$undefined === true && Object.keys(v).length === 1 ? undefined : v;
}

export function isStreamRef(v: unknown): v is StreamRef {
  return typeof v === 'object' && v !== null && typeof (v as StreamRef).$stream === 'number';
}

// ------------------------------------------------------------------------------ framing

function extract(v: unknown, bins: Uint8Array[]): unknown {
  if (v instanceof Uint8Array) {
    bins.push(v);
    return { $b: bins.length - 1 };
  }
  // JSON has no Infinity (range(0, Infinity) is common) nor NaN.
  if (typeof v === 'number' && !Number.isFinite(v)) return { $num: String(v) };
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : extract(x, bins)));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      // Signals and progress callbacks stay on the caller's side (functions cannot cross).
      if (x === undefined || typeof x === 'function' || k === 'signal') continue;
      out[k] = extract(x, bins);
    }
    return out;
  }
  return v;
}

function restore(v: unknown, bins: readonly Uint8Array[]): unknown {
  if (Array.isArray(v)) return v.map((x) => restore(x, bins));
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && typeof o.$b === 'number') {
      const b = bins[o.$b];
      if (!b) throw new StorageError(`storage proxy: frame refers to a missing binary ${o.$b}`, { code: 'STORAGE_IO_ERROR' });
      return b;
    }
    if (keys.length === 1 && typeof o.$num === 'string') return Number(o.$num);
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = restore(o[k], bins);
    return out;
  }
  return v;
}

/** The buffers of one frame (written one by one: a large binary is not copied into the header's buffer). */
export function encodeFrame(message: object): Buffer[] {
  const bins: Uint8Array[] = [];
  const body = extract(message, bins) as Record<string, unknown>;
  if (bins.length > 0) body.bins = bins.map((b) => b.byteLength);
  const header = Buffer.from(JSON.stringify(body));
  const total = 4 + header.length + bins.reduce((n, b) => n + b.byteLength, 0);
  if (total > MAX_PROXY_FRAME_BYTES) throw new StorageError(`storage proxy: a message of ${total} bytes exceeds ${MAX_PROXY_FRAME_BYTES}`, { code: 'STORAGE_TOO_LARGE' });
  const prefix = Buffer.allocUnsafe(8);
  prefix.writeUInt32BE(total, 0);
  prefix.writeUInt32BE(header.length, 4);
  return [prefix, header, ...bins.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))];
}

/** Frames up to this size are copied into one buffer: one write, one wake-up of the reader. */
const COALESCE_BYTES = 256 * 1024;

/** Writes one frame so that the reader gets it in as few reads as possible (one write, or one writev). */
export function writeFrame(socket: { write(b: Uint8Array): boolean; cork(): void; uncork(): void }, message: object): void {
  const bufs = encodeFrame(message);
  const total = bufs.reduce((n, b) => n + b.length, 0);
  if (total <= COALESCE_BYTES) {
    socket.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs, total));
    return;
  }
  socket.cork();
  for (const b of bufs) socket.write(b);
  socket.uncork();
}

/** Splits a byte stream into decoded (not yet schema-checked) messages. */
export class ProxyFrameDecoder {
  #chunks: Buffer[] = [];
  #have = 0;

  push(chunk: Buffer): unknown[] {
    this.#chunks.push(chunk);
    this.#have += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.#have < 4) return out;
      const head = this.#peek(4);
      const total = head.readUInt32BE(0);
      if (total > MAX_PROXY_FRAME_BYTES || total < 4) throw new StorageError(`storage proxy: bad frame length ${total}`, { code: 'STORAGE_IO_ERROR' });
      if (this.#have < 4 + total) return out;
      const frame = this.#take(4 + total).subarray(4);
      const hlen = frame.readUInt32BE(0);
      if (hlen > frame.length - 4) throw new StorageError('storage proxy: bad header length', { code: 'STORAGE_IO_ERROR' });
      const header = JSON.parse(frame.subarray(4, 4 + hlen).toString('utf8')) as Record<string, unknown>;
      const bins: Uint8Array[] = [];
      let at = 4 + hlen;
      const lens = Array.isArray(header.bins) ? (header.bins as unknown[]) : [];
      for (const n of lens) {
        if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || at + n > frame.length) throw new StorageError('storage proxy: bad binary length', { code: 'STORAGE_IO_ERROR' });
        // A copy: the frame buffer may be a slice of a larger read that must not be kept alive.
        bins.push(Uint8Array.prototype.slice.call(frame, at, at + n));
        at += n;
      }
      delete header.bins;
      out.push(restore(header, bins));
    }
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length >= n) return this.#chunks[0]!;
    return Buffer.concat(this.#chunks).subarray(0, n);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length === n) {
      this.#chunks.shift();
      out = first;
    } else if (first.length > n) {
      out = first.subarray(0, n);
      this.#chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.#chunks);
      out = all.subarray(0, n);
      this.#chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.#have -= n;
    return out;
  }
}

/** An error as it crosses the socket (a StorageError on the other side, with its code). */
export function errorFields(err: unknown): { code: (typeof STORAGE_ERROR_CODES)[number]; message: string; transient?: boolean; details?: Record<string, unknown> } {
  const e = err as { code?: unknown; message?: unknown; transient?: unknown; details?: unknown };
  const code = (STORAGE_ERROR_CODES as readonly string[]).includes(e?.code as string) ? (e.code as (typeof STORAGE_ERROR_CODES)[number]) : 'STORAGE_IO_ERROR';
  return {
    code,
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(typeof e?.transient === 'boolean' ? { transient: e.transient } : {}),
    ...(e?.details && typeof e.details === 'object' ? { details: e.details as Record<string, unknown> } : {}),
  };
}

export function errorOf(f: { code: (typeof STORAGE_ERROR_CODES)[number]; message: string; transient?: boolean; details?: Record<string, unknown> }): StorageError {
  return new StorageError(f.message, { code: f.code, ...(f.transient !== undefined ? { transient: f.transient } : {}), ...(f.details ? { details: f.details } : {}) });
}
