import pg from 'pg';
import type { TaskLogger } from '../dsl/task.js';
import { EngineError } from '../errors.js';
import { classifyPgError, describePgError, sqlStateOf } from './postgres-errors.js';

export interface RetryPolicy {
  /** First back-off delay; doubles per attempt up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Total time one operation may spend failing over transient errors before it fails the task. */
  budgetMs: number;
}

export interface SessionOptions {
  url: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  retry: RetryPolicy;
  applicationName: string;
}

/** A retry loop needs a hard stop besides the time budget (a zero-delay policy would spin). */
const MAX_ATTEMPTS = 10_000;

/** `host:port/db` of a connection URL: what messages name (never the user or password). */
export function serverOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return '(unparsable url)';
  }
}

/**
 * One connection to PostgreSQL for one sink task, used by one caller at a time (the sink
 * serialises its work). `run(op, fn)` gives fn a connected client; when fn fails with a
 * transient error (a dead or restarting server, a timeout) the connection is dropped and
 * fn runs again on a new one, backing off exponentially within the time budget. So fn must
 * be safe to repeat as a whole: the sink's transaction is, because it re-reads its progress
 * row first. Other failures become typed EngineErrors at once.
 */
export class PgSession {
  #client: pg.Client | undefined;
  #broken = false;
  readonly server: string;

  constructor(private readonly o: SessionOptions, private readonly logger: TaskLogger, private readonly what: string) {
    this.server = serverOf(o.url);
  }

  async run<T>(op: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const started = Date.now();
    let delay = this.o.retry.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const client = await this.#connected();
        const out = await fn(client);
        if (attempt > 1) this.logger.info({ op, attempts: attempt, server: this.server }, `${this.what}: ${op} succeeded after ${attempt} attempts`);
        return out;
      } catch (err) {
        // Whatever state the connection is in (mid-transaction, hung), a new one is cleaner.
        this.#drop();
        if (err instanceof EngineError) throw err;
        const kind = classifyPgError(err);
        if (kind !== 'transient') throw toEngineError(kind, err, `${this.what}: ${op}`, this.server);
        const elapsed = Date.now() - started;
        // Equal jitter: half fixed, half random, so tasks that failed together spread out.
        const wait = Math.round(delay / 2 + (Math.random() * delay) / 2);
        if (elapsed + wait > this.o.retry.budgetMs || attempt >= MAX_ATTEMPTS) {
          throw new EngineError('SINK_UNAVAILABLE', `SINK_UNAVAILABLE: ${this.what}: ${op} failed for ${elapsed} ms over ${attempt} attempts (retry budget ${this.o.retry.budgetMs} ms) at ${this.server}: ${describePgError(err)}`, {
            cause: err, details: { server: this.server, attempts: attempt, elapsedMs: elapsed, ...(sqlStateOf(err) ? { sqlState: sqlStateOf(err) } : {}) },
          });
        }
        // Logged at the first failure and then every 10th, so an outage is visible but not a flood.
        if (attempt === 1 || attempt % 10 === 0) this.logger.warn({ op, attempt, waitMs: wait, server: this.server, err: describePgError(err) }, `${this.what}: ${op} failed (transient); retrying`);
        await new Promise((r) => setTimeout(r, wait));
        delay = Math.min(this.o.retry.maxDelayMs, delay * 2);
      }
    }
  }

  async #connected(): Promise<pg.Client> {
    if (this.#client && !this.#broken) return this.#client;
    this.#drop();
    const client = new pg.Client({
      connectionString: this.o.url,
      connectionTimeoutMillis: this.o.connectTimeoutMs,
      // server side: a statement over this is cancelled (57014); client side: a server that
      // stops answering (hung, partitioned) fails the query a little later
      statement_timeout: this.o.statementTimeoutMs,
      query_timeout: this.o.statementTimeoutMs + this.o.connectTimeoutMs,
      keepAlive: true,
      application_name: this.o.applicationName,
    });
    // An idle connection the server closes (a restart) emits 'error': the next run reconnects.
    client.on('error', (err) => {
      if (this.#client === client) this.#broken = true;
      this.logger.debug({ err: describePgError(err), server: this.server }, `${this.what}: connection lost`);
    });
    this.#client = client;
    this.#broken = false;
    await client.connect();
    return client;
  }

  #drop(): void {
    const c = this.#client;
    this.#client = undefined;
    if (!c) return;
    // Not end(): a hung server would never answer the goodbye. Closing the socket aborts any
    // open transaction on the server side.
    c.connection.stream.destroy();
  }

  async close(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (!c) return;
    await Promise.race([c.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
    c.connection.stream.destroy();
  }
}

/** A non-transient failure as the task reports it. */
export function toEngineError(kind: 'auth' | 'schema' | 'poison' | 'other', err: unknown, where: string, server: string): EngineError {
  const state = sqlStateOf(err);
  const details = { server, ...(state ? { sqlState: state } : {}) };
  const msg = describePgError(err);
  switch (kind) {
    case 'auth':
      return new EngineError('SINK_AUTH_FAILED', `SINK_AUTH_FAILED: ${where}: PostgreSQL at ${server} refused the credentials or the privilege: ${msg}`, { cause: err, details });
    case 'schema':
      return new EngineError('SINK_SCHEMA', `SINK_SCHEMA: ${where}: the table does not match the sink's columns or key: ${msg}`, { cause: err, details });
    case 'poison':
      return new EngineError('SINK_POISON_ROW', `SINK_POISON_ROW: ${where}: a row was refused: ${msg}`, { cause: err, details });
    default:
      return new EngineError('SINK_REJECTED', `SINK_REJECTED: ${where}: PostgreSQL at ${server} refused: ${msg}`, { cause: err, details });
  }
}
