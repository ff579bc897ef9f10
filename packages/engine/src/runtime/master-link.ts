import type { Logger } from 'pino';
import { HttpError, type Endpoint } from '../cluster/http.js';
import { authedMasterClient, type MasterClient } from '../cluster/master-client.js';
import { isEngineError } from '../errors.js';

/** Rounds of the master client's own failover budget (15 s each): bounded at ~2.5 min. */
const MAX_ATTEMPTS = 8;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;

/** The master answered 409: this AppMaster is replaced, or the app ended. */
export class FencedError extends Error {
  override get name(): string {
    return 'FencedError';
  }
}

/**
 * An AppMaster's calls to the master, one at a time. Serialising them is what keeps a
 * heartbeat from racing the AppMaster's own epoch bump: a heartbeat can never be in
 * flight, carrying the old epoch, while a restart moves the app to the next one.
 */
export class MasterLink {
  #queue: Promise<unknown> = Promise.resolve();
  #inFlight = 0;

  readonly #client: MasterClient;

  constructor(masters: readonly string[], auth: Omit<Endpoint, 'url'>, readonly logger: Logger) {
    this.#client = authedMasterClient(masters, auth, { logger });
  }

  get busy(): boolean {
    return this.#inFlight > 0;
  }

  /**
   * Calls the master after every earlier call finished. Connection failures and 5xx
   * are retried with capped exponential back-off (bounded); 409 rejects with FencedError.
   */
  call<T>(method: string, path: string, body: unknown, options: { attempts?: number } = {}): Promise<T> {
    this.#inFlight++;
    const p = this.#queue.then(() => this.#callWithRetry<T>(method, path, body, options.attempts ?? MAX_ATTEMPTS));
    this.#queue = p.then(
      () => void this.#inFlight--,
      () => void this.#inFlight--,
    );
    return p;
  }

  async #callWithRetry<T>(method: string, path: string, body: unknown, attempts: number): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        // The client follows the leader across masters (HA) within its own short budget.
        return await this.#client.call<T>(method, path, body);
      } catch (err) {
        if (err instanceof HttpError && err.status === 409) throw new FencedError(err.message);
        const retryable = isEngineError(err, 'MASTER_UNREACHABLE') || (err instanceof HttpError && err.status >= 500);
        if (!retryable || i >= attempts) throw err;
        const delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (i - 1));
        this.logger.debug({ path, attempt: i, delay, err: String(err) }, 'master call failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

export function isFenced(err: unknown): err is FencedError {
  return err instanceof FencedError;
}
