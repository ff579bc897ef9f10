import type { Logger } from 'pino';
import { EngineError } from '../errors.js';
import { callJson, HttpError } from './http.js';

/** The transport: callJson's signature, so a wrapper adding headers (auth) can be passed in. */
export type CallFn = (base: string, method: string, path: string, body?: unknown, timeoutMs?: number) => Promise<unknown>;

export interface MasterClientRetry {
  /** Tries in all, across every master. */
  maxAttempts: number;
  /** First back-off after a full round of masters failed; doubles up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Wall-clock budget for one call, back-offs included. */
  budgetMs: number;
  /** Bound on each HTTP request. */
  requestTimeoutMs: number;
}

/**
 * Defaults sized for a failover: a 2 s lease plus an election and the new leader's rebuild
 * fit in the 15 s budget with room for a loaded machine.
 */
export const DEFAULT_MASTER_RETRY: MasterClientRetry = { maxAttempts: 40, baseDelayMs: 100, maxDelayMs: 1000, budgetMs: 15_000, requestTimeoutMs: 5_000 };

export interface MasterClientOptions {
  /** Every master's base URL (`master.urls`, `--master a,b,c`). */
  urls: string[];
  retry?: Partial<MasterClientRetry>;
  call?: CallFn;
  logger?: Logger;
  /** Test seam for the back-off sleeps. */
  sleep?: (ms: number) => Promise<void>;
}

/** Outcomes that mean "ask another master (or the same one later)", not "the call failed". */
function failoverReason(err: unknown): { leader?: string; why: string } | undefined {
  if (err instanceof EngineError && err.code === 'MASTER_UNREACHABLE') return { why: err.message };
  if (err instanceof HttpError || err instanceof EngineError) {
    const code = err.code;
    const status = err instanceof HttpError ? err.status : undefined;
    if (code === 'NOT_LEADER' || status === 421) {
      const leader = (err as { details?: { leader?: unknown } }).details?.leader;
      return { leader: typeof leader === 'string' ? leader : undefined, why: 'not the leader' };
    }
    // no leader yet / etcd unreachable from that master: the election settles, try again
    if (code === 'SEED_STORE_UNAVAILABLE' || code === 'MASTER_UNREACHABLE' || status === 503) return { why: err.message };
  }
  return undefined;
}

/**
 * A client for a LIST of masters, for the CLI, workers, AppMasters and executors. It tries
 * the leader it last saw first, follows NOT_LEADER (HTTP 421, `details.leader` when the
 * transport carries it, else the follower's `/health` names the leader) and connection
 * failures to the next master, and backs off exponentially after each full round, bounded
 * by attempts AND time. Any other error is the call's answer and is returned at once.
 *
 * A call is never dropped silently: it resolves, rejects with the server's typed error, or
 * rejects MASTER_UNREACHABLE naming every master and the last reason once the budget is
 * spent, so the caller (a worker's exit report, a launch) keeps it and sends it again.
 * Writes the master accepts must be idempotent (keyed by app id and epoch), because a
 * request whose answer was lost in a failover is sent again.
 */
export class MasterClient {
  readonly urls: string[];
  readonly #retry: MasterClientRetry;
  readonly #call: CallFn;
  readonly #log: Logger | undefined;
  readonly #sleep: (ms: number) => Promise<void>;
  #leader: string | undefined;

  constructor(opts: MasterClientOptions) {
    if (opts.urls.length === 0) throw new EngineError('CONFIG_INVALID', 'master client needs at least one master URL (master.urls or --master)');
    this.urls = [...new Set(opts.urls.map(normalize))];
    this.#retry = { ...DEFAULT_MASTER_RETRY, ...opts.retry };
    this.#call = opts.call ?? callJson;
    this.#log = opts.logger;
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The master that answered last (the leader, as far as this client knows). */
  get leader(): string | undefined {
    return this.#leader;
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const { maxAttempts, baseDelayMs, maxDelayMs, budgetMs, requestTimeoutMs } = this.#retry;
    const deadline = Date.now() + budgetMs;
    let delay = baseDelayMs;
    let lastWhy = 'no attempt made';
    let hint: string | undefined;
    let tried = new Set<string>();
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const target = this.#next(hint, tried);
      tried.add(target);
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const res = (await this.#call(target, method, path, body, Math.min(requestTimeoutMs, left))) as T;
        this.#leader = target;
        return res;
      } catch (err) {
        const f = failoverReason(err);
        if (!f) throw err;
        lastWhy = `${target}: ${f.why}`;
        if (this.#leader === target) this.#leader = undefined;
        hint = f.leader ? normalize(f.leader) : f.why === 'not the leader' ? await this.#askLeader(target) : undefined;
        this.#log?.debug({ target, attempt, why: f.why, hint }, 'master call failing over');
      }
      // back off once every master was tried this round (a leader hint skips the wait)
      if (hint === undefined && tried.size >= this.urls.length) {
        tried = new Set();
        const wait = Math.min(delay, Math.max(0, deadline - Date.now()));
        if (wait > 0) await this.#sleep(wait);
        delay = Math.min(maxDelayMs, delay * 2);
      }
    }
    throw new EngineError('MASTER_UNREACHABLE', `${method} ${path}: no master accepted the call within ${budgetMs} ms / ${maxAttempts} attempts (masters ${this.urls.join(', ')}; last: ${lastWhy})`, {
      details: { masters: this.urls, last: lastWhy },
    });
  }

  /** Every master's `/health` (role, leader), unreachable ones included; for `sluice masters`. */
  async health(timeoutMs = 2000): Promise<Array<{ url: string; ok: boolean; health?: Record<string, unknown>; error?: string }>> {
    return Promise.all(
      this.urls.map(async (url) => {
        try {
          return { url, ok: true, health: (await this.#call(url, 'GET', '/health', undefined, timeoutMs)) as Record<string, unknown> };
        } catch (err) {
          return { url, ok: false, error: (err as Error).message };
        }
      }),
    );
  }

  /** The known leader first, then the rest in order, skipping those tried this round. */
  #next(hint: string | undefined, tried: Set<string>): string {
    if (hint) return hint;
    if (this.#leader && !tried.has(this.#leader)) return this.#leader;
    return this.urls.find((u) => !tried.has(u)) ?? this.urls[0]!;
  }

  /** A follower's /health names the leader; undefined if it does not know or cannot answer. */
  async #askLeader(follower: string): Promise<string | undefined> {
    try {
      const h = (await this.#call(follower, 'GET', '/health', undefined, Math.min(2000, this.#retry.requestTimeoutMs))) as { leader?: unknown };
      return typeof h.leader === 'string' && normalize(h.leader) !== follower ? normalize(h.leader) : undefined;
    } catch {
      return undefined;
    }
  }
}

function normalize(url: string): string {
  const u = url.startsWith('http://') || url.startsWith('https://') ? url : `http://${url}`;
  return u.replace(/\/+$/, '');
}

/** Splits `a,b,c` (the `--master` flag, SLUICE_MASTER) into base URLs. */
export function masterUrls(list: string | readonly string[]): string[] {
  const items = typeof list === 'string' ? list.split(',') : [...list];
  return items.map((u) => u.trim()).filter((u) => u.length > 0).map(normalize);
}

/** A MasterClient whose calls carry a bearer token and verify HTTPS masters with a CA. */
export function authedMasterClient(urls: string | readonly string[], auth: { token?: string; ca?: Buffer | string }, options: Omit<MasterClientOptions, 'urls' | 'call'> = {}): MasterClient {
  return new MasterClient({
    ...options,
    urls: masterUrls(urls),
    call: (base, method, path, body, timeoutMs) => callJson({ url: base, ...auth }, method, path, body, timeoutMs),
  });
}
