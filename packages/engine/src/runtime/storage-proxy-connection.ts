/**
 * The executor side of the storage proxy's wire: calls with bounded timeouts, uploads paced
 * by the worker's credits, result streams pulled one element at a time.
 */
import type { Duplex } from 'node:stream';
import { StorageError } from '@sluice/storage-api';
import {
  PROXY_CHUNK_BYTES, ProxyFrameDecoder, writeFrame, errorOf, isStreamRef, serverMessageSchema, toArg, type Hello, type ServerMessage, type Target,
} from './storage-proxy-protocol.js';

/** A call (or an upload chunk, or a stream element) that gets no answer for this long fails with STORAGE_TIMEOUT. */
export const DEFAULT_PROXY_TIMEOUT_MS = 120_000;
/** The worker greets a bound connection at once; a launch hands the executor an already bound one. */
const HELLO_TIMEOUT_MS = 30_000;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
  /** Set while an upload waits for the worker's next credit. */
  credit?: (ok: boolean) => void;
  /** Credits that came before the upload asked (it was still reading its source). */
  credits: number;
}

type StreamEvent = { type: 'item'; value: unknown } | { type: 'done' } | { type: 'error'; error: Error };

export interface CallOptions {
  upload?: AsyncIterable<Uint8Array>;
  onUploaded?: (bytes: number) => void;
}

export class ProxyConnection {
  readonly #socket: Duplex;
  readonly #decoder = new ProxyFrameDecoder();
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #streams = new Map<number, (e: StreamEvent) => void>();
  #next = 1;
  #closed: Error | undefined;
  readonly hello: Promise<Hello>;

  constructor(socket: Duplex, options: { timeoutMs?: number } = {}) {
    this.#socket = socket;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_PROXY_TIMEOUT_MS;
    let gotHello: (h: Hello) => void = () => undefined;
    let noHello: (e: Error) => void = () => undefined;
    this.hello = new Promise<Hello>((resolve, reject) => {
      gotHello = resolve;
      noHello = reject;
    });
    const t = setTimeout(() => noHello(new StorageError(`storage proxy: no greeting from the worker within ${HELLO_TIMEOUT_MS} ms`, { code: 'STORAGE_TIMEOUT' })), HELLO_TIMEOUT_MS);
    t.unref();
    void this.hello.then(() => clearTimeout(t), () => clearTimeout(t));
    socket.on('data', (chunk: Buffer) => {
      let raw: unknown[];
      try {
        raw = this.#decoder.push(chunk);
      } catch (err) {
        this.#fail(err as Error);
        return;
      }
      for (const r of raw) {
        const p = serverMessageSchema.safeParse(r);
        if (!p.success) {
          this.#fail(new StorageError(`storage proxy: malformed message from the worker: ${p.error.issues[0]?.message ?? ''}`, { code: 'STORAGE_IO_ERROR' }));
          return;
        }
        if (p.data.type === 'hello') gotHello(p.data);
        else this.#onMessage(p.data);
      }
    });
    socket.on('error', (err) => this.#fail(new StorageError(`storage proxy: connection to the worker failed: ${err.message}`, { code: 'STORAGE_UNAVAILABLE', cause: err })));
    socket.on('close', () => {
      const e = new StorageError('storage proxy: the worker closed the connection', { code: 'STORAGE_UNAVAILABLE' });
      noHello(e);
      this.#fail(e);
    });
  }

  close(): void {
    this.#fail(new StorageError('storage proxy: closed', { code: 'STORAGE_CLOSED' }));
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    this.#socket.destroy();
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.credit?.(false);
      p.reject(err);
    }
    this.#pending.clear();
    for (const s of this.#streams.values()) s({ type: 'error', error: err });
    this.#streams.clear();
  }

  #send(message: object): void {
    if (this.#closed) throw this.#closed;
    writeFrame(this.#socket, message);
  }

  #arm(id: number, p: Pending): void {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      this.#pending.delete(id);
      p.credit?.(false);
      p.reject(new StorageError(`storage proxy: no answer from the worker within ${this.#timeoutMs} ms`, { code: 'STORAGE_TIMEOUT' }));
    }, this.#timeoutMs);
  }

  #onMessage(m: Exclude<ServerMessage, { type: 'hello' }>): void {
    switch (m.type) {
      case 'result':
      case 'error': {
        const p = this.#pending.get(m.id);
        if (!p) return;
        this.#pending.delete(m.id);
        clearTimeout(p.timer);
        p.credit?.(false); // settled without asking for more (refused, failed): the upload stops
        if (m.type === 'result') p.resolve(this.#revive(m.value));
        else p.reject(errorOf(m));
        return;
      }
      case 'credit': {
        const p = this.#pending.get(m.id);
        if (!p) return;
        this.#arm(m.id, p);
        const c = p.credit;
        p.credit = undefined;
        if (c) c(true);
        else p.credits++;
        return;
      }
      case 'item':
        this.#streams.get(m.stream)?.({ type: 'item', value: m.value });
        return;
      case 'done':
        this.#streams.get(m.stream)?.({ type: 'done' });
        return;
      case 'streamError':
        this.#streams.get(m.stream)?.({ type: 'error', error: errorOf(m) });
        return;
      default: {
        const never: never = m;
        return never;
      }
    }
  }

  /** Turns stream references in a result into pulled async iterables. */
  #revive(v: unknown): unknown {
    // A follow waits for records as long as its reader does: its pulls have no timeout.
    if (isStreamRef(v)) return this.stream(v.$stream, (v as { untimed?: unknown }).untimed !== true);
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      const o = v as Record<string, unknown>;
      if (isStreamRef(o.body)) return { ...o, body: this.stream(o.body.$stream, true) };
    }
    return v;
  }

  /** One call; resolves with the worker's answer. */
  call(target: Target, args: unknown[], options: CallOptions = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#next++;
    while (args.length > 0 && args[args.length - 1] === undefined) args = args.slice(0, -1);
    const wire = args.map(toArg);
    // The caller puts UPLOAD_MARK where the body goes; the worker reads it as the chunks that follow.
    const upload = options.upload;
    const done = new Promise<unknown>((resolve, reject) => {
      const p: Pending = { resolve, reject, credits: 0 };
      this.#pending.set(id, p);
      this.#arm(id, p);
    });
    try {
      this.#send({ type: 'call', id, target, args: wire });
    } catch (err) {
      this.#pending.delete(id);
      return Promise.reject(err as Error);
    }
    if (upload) {
      void this.#pump(id, upload, options.onUploaded).catch((err: unknown) => {
        const p = this.#pending.get(id);
        if (!p) return;
        try {
          this.#send({ type: 'abortUpload', id, message: (err as Error)?.message ?? String(err) });
        } catch {
          // the connection is gone: the call fails with it
        }
      });
    }
    return done;
  }

  async #pump(id: number, source: AsyncIterable<Uint8Array>, onUploaded?: (bytes: number) => void): Promise<void> {
    let sent = 0;
    const credit = (): Promise<boolean> =>
      new Promise<boolean>((resolve) => {
        const p = this.#pending.get(id);
        if (!p) return resolve(false);
        if (p.credits > 0) {
          p.credits--;
          return resolve(true);
        }
        p.credit = resolve;
      });
    for await (const c of source) {
      for (let at = 0; at < c.byteLength; at += PROXY_CHUNK_BYTES) {
        if (!(await credit())) return;
        const piece = c.subarray(at, Math.min(c.byteLength, at + PROXY_CHUNK_BYTES));
        this.#send({ type: 'chunk', id, data: piece });
        sent += piece.byteLength;
        onUploaded?.(sent);
      }
    }
    if (await credit()) this.#send({ type: 'end', id });
  }

  /** A result stream: each next() pulls one element (the reader sets the pace); return() cancels it. */
  stream(sid: number, timed: boolean, signal?: AbortSignal): AsyncIterable<unknown> {
    let finished = false;
    const cancel = (): void => {
      if (finished) return;
      finished = true;
      this.#streams.delete(sid);
      try {
        this.#send({ type: 'cancel', stream: sid });
      } catch {
        // connection gone
      }
    };
    const next = (): Promise<IteratorResult<unknown>> => {
      if (finished) return Promise.resolve({ done: true, value: undefined });
      if (signal?.aborted) {
        cancel();
        return Promise.resolve({ done: true, value: undefined });
      }
      if (this.#closed) return Promise.reject(this.#closed);
      return new Promise<IteratorResult<unknown>>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const onAbort = (): void => {
          clearTimeout(timer);
          cancel();
          resolve({ done: true, value: undefined });
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const settle = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        if (timed) {
          timer = setTimeout(() => {
            cancel();
            reject(new StorageError(`storage proxy: stream stalled for ${this.#timeoutMs} ms`, { code: 'STORAGE_TIMEOUT' }));
          }, this.#timeoutMs);
        }
        this.#streams.set(sid, (e) => {
          settle();
          if (e.type === 'item') return resolve({ done: false, value: e.value });
          finished = true;
          this.#streams.delete(sid);
          if (e.type === 'done') resolve({ done: true, value: undefined });
          else reject(e.error);
        });
        try {
          this.#send({ type: 'pull', stream: sid });
        } catch (err) {
          settle();
          reject(err as Error);
        }
      });
    };
    return {
      [Symbol.asyncIterator]: () => ({
        next,
        return: () => {
          cancel();
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
  }
}
