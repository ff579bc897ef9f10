import type { Command } from 'commander';
import { EngineError } from '../errors.js';
import { callJson, type Endpoint } from '../cluster/http.js';
import { parseDuration } from '../observability/time-args.js';
import { commonOf, masterOf, withCommonOptions, type CommonFlags } from './common.js';
import { run, write, EXIT_CODES } from './exit.js';

/** Statuses an app never leaves, and the exit code `sluice wait` reports for each. */
export const END_EXIT: Readonly<Record<string, number>> = { stopped: EXIT_CODES.OK, failed: EXIT_CODES.FAILURE, killed: EXIT_CODES.FAILURE };

const POLL_MS = 250;
/** A master restart (or a leader change) costs `wait` a few polls, not the wait itself. */
const UNREACHABLE_BUDGET_MS = 30_000;

interface AppState {
  appId: string;
  status: string;
  lastFailure?: { reason?: string };
  error?: string;
  [k: string]: unknown;
}

/**
 * Polls GET /apps/:id until the app is stopped, failed or killed. Unknown app: APP_NOT_FOUND
 * (exit 3). --timeout elapsed: TIMEOUT (exit 1). The master unreachable for longer than
 * UNREACHABLE_BUDGET_MS in a row: MASTER_UNREACHABLE (exit 1).
 */
export async function waitForEnd(master: string | Endpoint, appId: string, timeoutMs: number | undefined, signal?: AbortSignal): Promise<AppState> {
  const started = Date.now();
  let unreachableSince: number | undefined;
  let backoff = POLL_MS;
  let lastError: unknown;
  for (;;) {
    let state: AppState | undefined;
    try {
      state = (await callJson(master, 'GET', `/apps/${encodeURIComponent(appId)}`, undefined, 5_000)) as AppState;
      unreachableSince = undefined;
      lastError = undefined;
      backoff = POLL_MS;
    } catch (err) {
      if (!(err instanceof EngineError && err.code === 'MASTER_UNREACHABLE')) throw err;
      lastError = err;
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > UNREACHABLE_BUDGET_MS) throw err;
      backoff = Math.min(backoff * 2, 2_000);
    }
    if (state && END_EXIT[state.status] !== undefined) return state;
    if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) {
      const where = state ? ` is still ${state.status}` : `: no answer from the master (${(lastError as Error | undefined)?.message ?? 'unknown'})`;
      throw new EngineError('TIMEOUT', `app ${appId}${where} after ${timeoutMs} ms (--timeout)`, { details: { appId, ...(state ? { status: state.status } : {}) } });
    }
    if (signal?.aborted) throw new EngineError('TIMEOUT', `stopped waiting for app ${appId} (interrupted)`);
    const remaining = timeoutMs === undefined ? backoff : Math.max(1, Math.min(backoff, timeoutMs - (Date.now() - started)));
    await new Promise((r) => setTimeout(r, remaining));
  }
}

/** `sluice wait <id>` and `sluice delete <id>`. */
export function registerLifecycleCommands(program: Command): void {
  withCommonOptions(
    program
      .command('wait <appId>')
      .description('block until the app ends; exit 0 stopped, 1 failed or killed (or --timeout elapsed), 3 unknown app')
      .option('--timeout <duration>', 'give up after this long (e.g. 30s, 5m): exit 1 with code TIMEOUT; default: wait forever'),
  ).action(async (id: string, o: CommonFlags & { timeout?: string }) =>
    run(o.json, async () => {
      const timeoutMs = o.timeout === undefined ? undefined : parseDuration(o.timeout, '--timeout');
      const ac = new AbortController();
      const onSignal = (): void => ac.abort();
      process.once('SIGINT', onSignal);
      try {
        const a = await waitForEnd(await masterOf(commonOf(o)), id, timeoutMs, ac.signal);
        if (o.json) write(JSON.stringify(a));
        else write(`${a.appId} ${a.status}${a.status === 'stopped' ? '' : `: ${a.lastFailure?.reason ?? a.error ?? 'no reason recorded'}`}`);
        process.exitCode = END_EXIT[a.status]!;
      } finally {
        process.off('SIGINT', onSignal);
      }
    }),
  );

  withCommonOptions(
    program.command('delete <appId>').description('remove a stopped, failed or killed app, its seed and its store (refused while it runs: exit 1; unknown app: exit 3)'),
  ).action(async (id: string, o: CommonFlags) =>
    run(o.json, async () => {
      const r = (await callJson(await masterOf(commonOf(o)), 'DELETE', `/apps/${encodeURIComponent(id)}`)) as { deleted: string };
      write(o.json ? JSON.stringify(r) : `deleted ${r.deleted}`);
    }),
  );
}
