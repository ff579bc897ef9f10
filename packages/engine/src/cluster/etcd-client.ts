import { Etcd3, isRecoverableError } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { EngineError, isEngineError } from '../errors.js';

export interface EtcdClientOptions {
  /** `host:port` or `http(s)://host:port`. */
  endpoints: string[];
  /** Bound on every unary call (txn, range, lease grant); streams (watch, keepalive) are unbounded. */
  requestTimeoutMs: number;
}

/** Tries per call across members: with one of three members dead, a call finds a live one. */
const MAX_ATTEMPTS = 3;
/**
 * A member that failed 3 calls in a row is skipped for this long; short so a restarted etcd
 * is used again within a second (the etcd3 default is 5 s).
 */
const HALF_OPEN_AFTER_MS = 1000;

/**
 * The etcd client the seed store and the election share: every unary call has a deadline
 * (so an unreachable or quorum-less etcd fails within `requestTimeoutMs`, never hangs), and
 * a recoverable failure is retried on another member with a short back-off.
 */
export function createEtcdClient(opts: EtcdClientOptions): Etcd3 {
  const hosts = opts.endpoints.map((e) => (/^https?:\/\//.test(e) ? e : `http://${e}`));
  return new Etcd3({
    hosts,
    dialTimeout: opts.requestTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + opts.requestTimeoutMs }),
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: HALF_OPEN_AFTER_MS, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: MAX_ATTEMPTS, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }) }),
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
    },
  });
}

/** Any failure talking to etcd becomes SEED_STORE_UNAVAILABLE (with the cause); our own typed errors pass through. */
export function etcdUnavailable(what: string, err: unknown): EngineError {
  if (isEngineError(err)) return err;
  return new EngineError('SEED_STORE_UNAVAILABLE', `etcd ${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
