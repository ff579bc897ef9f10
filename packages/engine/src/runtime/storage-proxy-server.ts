/**
 * The worker side of an executor's storage proxy: one session per executor connection,
 * answering calls with the worker's own (guarded) Storage after checking each against the
 * executor's scope. The contract's policy runs here, once, in storage-api's guard over the
 * real backend; the session is only transport and the scope check.
 */
import type { Duplex } from 'node:stream';
import { StorageError, type AppStorage, type CheckpointStager, type CheckpointWriter, type OffsetWriter, type Storage } from '@sluice/storage-api';
import type { Logger } from 'pino';
import {
  PROXY_CHUNK_BYTES, ProxyFrameDecoder, UPLOAD_MARK, clientMessageSchema, fromArg, writeFrame, errorFields, type ClientMessage, type Hello, type Target,
} from './storage-proxy-protocol.js';
import { checkAppCall, checkGlobalCall, forbidden, openMode, type HandleMode, type ProxyScope } from './storage-proxy-scope.js';

/** A result stream nobody pulls for this long is closed (a stuck or gone reader must not pin it). */
const STREAM_IDLE_MS = 120_000;
/** An upload whose next chunk does not come for this long fails. */
const UPLOAD_IDLE_MS = 120_000;
/** Concurrent open streams and handles per session: bounds what one executor can pin on its worker. */
const MAX_OPEN = 10_000;

interface AppHandle {
  app: AppStorage;
  mode: HandleMode;
}

interface OpenStream {
  it: AsyncIterator<unknown>;
  abort?: AbortController;
  timer?: NodeJS.Timeout;
  busy: boolean;
}

interface Upload {
  queue: Uint8Array[];
  ended: boolean;
  failed?: Error;
  wake?: () => void;
  timer?: NodeJS.Timeout;
}

export interface ProxySessionOptions {
  storage: Storage;
  logger: Logger;
}

export class StorageProxySession {
  readonly #socket: Duplex;
  readonly #storage: Storage;
  readonly #log: Logger;
  readonly #decoder = new ProxyFrameDecoder();
  #scope: ProxyScope | undefined;
  #closed = false;
  #next = 1;
  readonly #apps = new Map<number, AppHandle>();
  readonly #writers = new Map<number, { kind: 'offsetWriter' | 'checkpointWriter'; writer: OffsetWriter | CheckpointWriter; h: number }>();
  readonly #stagers = new Map<string, CheckpointStager>();
  readonly #streams = new Map<number, OpenStream>();
  readonly #uploads = new Map<number, Upload>();

  constructor(socket: Duplex, opts: ProxySessionOptions) {
    this.#socket = socket;
    this.#storage = opts.storage;
    this.#log = opts.logger;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#log.debug({ err: String(err) }, 'storage proxy socket error'));
    socket.on('close', () => void this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Binds the connection to an app (or to everything, for the proxy's own tests) and greets the client. */
  bind(scope: ProxyScope, extra: { token?: string } = {}): void {
    if (this.#scope) throw new TypeError('storage proxy session is already bound');
    this.#scope = scope;
    const hello: Hello = {
      type: 'hello',
      backend: this.#storage.backend,
      capabilities: { ...this.#storage.capabilities },
      describe: JSON.parse(JSON.stringify(this.#storage.describe?.() ?? {})) as Record<string, unknown>,
      ...(scope.kind === 'app' ? { appId: scope.appId } : {}),
      ...(extra.token ? { token: extra.token } : {}),
    };
    this.#send(hello);
  }

  /** Ends the session: open streams stop, uploads fail, app handles close, the socket goes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    for (const s of this.#streams.values()) {
      clearTimeout(s.timer);
      s.abort?.abort();
      void s.it.return?.().catch(() => undefined);
    }
    this.#streams.clear();
    for (const u of this.#uploads.values()) {
      u.failed = new StorageError('storage proxy: the executor went away during an upload', { code: 'STORAGE_ABORTED' });
      u.wake?.();
    }
    this.#uploads.clear();
    const apps = [...this.#apps.values()];
    this.#apps.clear();
    this.#writers.clear();
    this.#stagers.clear();
    await Promise.allSettled(apps.map((a) => a.app.close()));
  }

  #send(message: object): void {
    if (this.#closed) return;
    try {
      writeFrame(this.#socket, message);
    } catch (err) {
      // A result too large for one frame is answered with its error instead.
      const id = (message as { id?: number }).id;
      if (typeof id === 'number' && (message as { type?: string }).type === 'result') writeFrame(this.#socket, { type: 'error', id, ...errorFields(err) });
      else throw err;
    }
  }

  #onData(chunk: Buffer): void {
    let raw: unknown[];
    try {
      raw = this.#decoder.push(chunk);
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'storage proxy: malformed frame from executor; closing');
      void this.close();
      return;
    }
    for (const r of raw) {
      const p = clientMessageSchema.safeParse(r);
      if (!p.success) {
        this.#log.warn({ issue: p.error.issues[0]?.message }, 'storage proxy: malformed message from executor; closing');
        void this.close();
        return;
      }
      this.#onMessage(p.data);
    }
  }

  #onMessage(msg: ClientMessage): void {
    switch (msg.type) {
      case 'call':
        void this.#call(msg.id, msg.target, msg.args);
        return;
      case 'pull':
        void this.#pull(msg.stream);
        return;
      case 'cancel': {
        const s = this.#streams.get(msg.stream);
        if (!s) return;
        this.#streams.delete(msg.stream);
        clearTimeout(s.timer);
        s.abort?.abort();
        void s.it.return?.().catch(() => undefined);
        return;
      }
      case 'chunk':
      case 'end':
      case 'abortUpload': {
        const u = this.#uploads.get(msg.id);
        if (!u) return;
        if (msg.type === 'chunk') u.queue.push(msg.data);
        else if (msg.type === 'end') u.ended = true;
        else u.failed = new StorageError(`storage proxy: upload aborted by the executor: ${msg.message}`, { code: 'STORAGE_ABORTED' });
        u.wake?.();
        return;
      }
      default: {
        const never: never = msg;
        return never;
      }
    }
  }

  async #call(id: number, target: Target, args: unknown[]): Promise<void> {
    try {
      if (!this.#scope) throw new StorageError('storage proxy: the connection is not bound to an app yet', { code: 'STORAGE_UNAVAILABLE' });
      if (this.#apps.size + this.#streams.size + this.#writers.size > MAX_OPEN) throw new StorageError('storage proxy: too many open handles and streams', { code: 'STORAGE_TOO_LARGE' });
      const value = await this.#dispatch(target, this.#withUpload(id, args));
      this.#send({ type: 'result', id, value });
    } catch (err) {
      this.#send({ type: 'error', id, ...errorFields(err) });
    } finally {
      const u = this.#uploads.get(id);
      if (u) {
        clearTimeout(u.timer);
        this.#uploads.delete(id);
      }
    }
  }

  /** Replaces the upload marker in the arguments by an iterable fed with the executor's chunks (one credit per chunk). */
  #withUpload(id: number, args: unknown[]): unknown[] {
    const at = args.findIndex((a) => a && typeof a === 'object' && (a as { $upload?: unknown }).$upload === UPLOAD_MARK.$upload);
    if (at < 0) return args;
    const u: Upload = { queue: [], ended: false };
    this.#uploads.set(id, u);
    const askMore = (): void => this.#send({ type: 'credit', id });
    async function* body(): AsyncGenerator<Uint8Array> {
      for (;;) {
        if (u.failed) throw u.failed;
        const c = u.queue.shift();
        if (c) {
          yield c;
          continue;
        }
        if (u.ended) return;
        askMore();
        await new Promise<void>((resolve) => {
          u.wake = resolve;
          u.timer = setTimeout(() => {
            u.failed = new StorageError(`storage proxy: no upload chunk for ${UPLOAD_IDLE_MS} ms`, { code: 'STORAGE_TIMEOUT' });
            resolve();
          }, UPLOAD_IDLE_MS);
        });
        clearTimeout(u.timer);
        u.wake = undefined;
      }
    }
    const out = [...args];
    out[at] = body();
    return out;
  }

  #app(h: number): AppHandle {
    const a = this.#apps.get(h);
    if (!a) throw new StorageError(`storage proxy: no open app handle ${h}`, { code: 'STORAGE_CLOSED' });
    return a;
  }

  #openApp(app: AppStorage, mode: HandleMode): { h: number; appId: string; appName: string } {
    const h = this.#next++;
    this.#apps.set(h, { app, mode });
    return { h, appId: app.appId, appName: app.appName };
  }

  #stream(it: AsyncIterator<unknown>, abort?: AbortController): { $stream: number; untimed?: true } {
    const sid = this.#next++;
    const s: OpenStream = { it, busy: false, ...(abort ? { abort } : {}) };
    this.#streams.set(sid, s);
    this.#arm(sid, s);
    return abort ? { $stream: sid, untimed: true } : { $stream: sid };
  }

  #arm(sid: number, s: OpenStream): void {
    clearTimeout(s.timer);
    if (s.abort) return; // a follow is ended by its reader (cancel) or the session, not by idleness
    s.timer = setTimeout(() => {
      if (!this.#streams.has(sid)) return;
      this.#streams.delete(sid);
      s.abort?.abort();
      void s.it.return?.().catch(() => undefined);
    }, STREAM_IDLE_MS);
    s.timer.unref();
  }

  async #pull(sid: number): Promise<void> {
    const s = this.#streams.get(sid);
    if (!s) return this.#send({ type: 'streamError', stream: sid, code: 'STORAGE_CLOSED', message: `storage proxy: stream ${sid} is not open` });
    if (s.busy) return this.#send({ type: 'streamError', stream: sid, code: 'STORAGE_INVALID_ARGUMENT', message: 'storage proxy: one pull at a time' });
    s.busy = true;
    clearTimeout(s.timer);
    try {
      const r = await s.it.next();
      if (!this.#streams.has(sid)) return;
      if (r.done) {
        this.#streams.delete(sid);
        this.#send({ type: 'done', stream: sid });
      } else {
        this.#send({ type: 'item', stream: sid, value: r.value });
        this.#arm(sid, s);
      }
    } catch (err) {
      this.#streams.delete(sid);
      this.#send({ type: 'streamError', stream: sid, ...errorFields(err) });
    } finally {
      s.busy = false;
    }
  }

  async #dispatch(t: Target, args: unknown[]): Promise<unknown> {
    const scope = this.#scope!;
    switch (t.kind) {
      case 'storage': {
        checkGlobalCall(scope, 'storage', t.method, args[0]);
        const s = this.#storage;
        if (t.method === 'getApp') {
          const appId = String(args[0]);
          const mode = openMode(scope, appId);
          const a = await s.getAppStorage(appId);
          return a ? this.#openApp(a, mode) : null;
        }
        if (t.method === 'createApp') return this.#openApp(await s.createAppStorage(args[0] as string, args[1] as string, fromArg(args[2]) as never), 'rw');
        if (t.method === 'listApps') return s.listApps();
        await s.deleteAppStorage(args[0] as string);
        return null;
      }
      case 'blobs': {
        checkGlobalCall(scope, 'blobs', t.method, args[0]);
        const b = this.#storage.blobs;
        if (!b) throw new StorageError('storage proxy: the store has no blobs', { code: 'STORAGE_NOT_SUPPORTED' });
        if (t.method === 'get') {
          const got = await b.get(args[0] as string, fromArg(args[1]) as never);
          return { meta: got.meta, version: got.version, body: this.#stream(chunked(got.body)) };
        }
        return call(b, t.method, args);
      }
      case 'offsetWriter':
      case 'checkpointWriter': {
        const w = this.#writers.get(t.w);
        if (!w || w.kind !== t.kind) throw new StorageError(`storage proxy: no open writer ${t.w}`, { code: 'STORAGE_CLOSED' });
        const a = this.#app(w.h);
        checkAppCall(scope, a.mode, a.app.appId, t.kind, t.method);
        return call(w.writer, t.method, args);
      }
      case 'checkpointStager': {
        const a = this.#app(t.h);
        checkAppCall(scope, a.mode, a.app.appId, t.kind, t.method);
        const key = `${t.h}\u0000${t.store}\u0000${t.numRetained ?? ''}\u0000${t.epoch}`;
        let st = this.#stagers.get(key);
        if (!st) this.#stagers.set(key, (st = a.app.checkpoints(t.store, t.numRetained === undefined ? {} : { numRetained: t.numRetained }).stager(t.epoch)));
        return call(st, 'stage', args);
      }
      default: {
        const a = this.#app(t.h);
        checkAppCall(scope, a.mode, a.app.appId, t.kind, t.method);
        const app = a.app;
        if (t.kind === 'app') {
          if (t.method === 'close') {
            this.#apps.delete(t.h);
            await app.close();
            return null;
          }
          return call(app, t.method, args);
        }
        if (t.kind === 'offsets' || t.kind === 'checkpoints') {
          const st = t.kind === 'offsets' ? app.offsets(t.store) : app.checkpoints(t.store, t.numRetained === undefined ? {} : { numRetained: t.numRetained });
          if (t.method === 'writer') {
            const writer = await (st.writer as (e: number) => Promise<OffsetWriter | CheckpointWriter>)(args[0] as number);
            const w = this.#next++;
            this.#writers.set(w, { kind: t.kind === 'offsets' ? 'offsetWriter' : 'checkpointWriter', writer, h: t.h });
            return { w, epoch: writer.epoch };
          }
          return call(st, t.method, args);
        }
        const sub = app[t.kind];
        if (t.kind === 'jars' && t.method === 'get') return this.#stream(chunked(await app.jars.get(args[0] as string, fromArg(args[1]) as never)));
        if (t.kind === 'logs' && t.method === 'follow') {
          const abort = new AbortController();
          const o = { ...((fromArg(args[1]) as object | undefined) ?? {}), signal: abort.signal };
          return this.#stream(app.logs.follow(args[0] as never, o)[Symbol.asyncIterator](), abort);
        }
        return call(sub, t.method, args);
      }
    }
  }
}

function call(target: object, method: string, args: unknown[]): Promise<unknown> {
  const fn = (target as Record<string, unknown>)[method];
  if (typeof fn !== 'function') throw forbidden(`unknown method ${method}`);
  return Promise.resolve((fn as (...a: unknown[]) => unknown).apply(target, args.map(fromArg)));
}

/** Re-cuts a body into chunks of at most PROXY_CHUNK_BYTES, one per pull. */
async function* chunked(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const c of src) {
    for (let at = 0; at < c.byteLength; at += PROXY_CHUNK_BYTES) yield c.subarray(at, Math.min(c.byteLength, at + PROXY_CHUNK_BYTES));
  }
}
