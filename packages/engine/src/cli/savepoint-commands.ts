import type { Command } from 'commander';
import { z } from 'zod';
import { callJson, parseReply, type Endpoint } from '../cluster/http.js';
import { ENGINE_ERROR_CODES, EngineError, type EngineErrorCode } from '../errors.js';
import { commonOf, masterOf, withCommonOptions, type CommonFlags } from './common.js';
import { run, write } from './exit.js';
import { kib } from './output.js';

/** Reading and writing a savepoint moves the app's whole state: give the master time. */
const SAVEPOINT_CALL_MS = 10 * 60_000;
/** How long submit waits for a new app to commit the saved state as its first checkpoint. */
const START_WAIT_MS = 120_000;
const POLL_MS = 250;

const infoSchema = z.looseObject({ name: z.string(), appId: z.string(), t: z.number(), size: z.number(), createdAt: z.number() });
const listSchema = z.looseObject({ savepoints: z.array(infoSchema) });
const appSchema = z.looseObject({ status: z.string(), error: z.string().optional(), appMaster: z.looseObject({ committed: z.number().optional() }).nullable().optional() });

export interface StartFromFlags {
  fromSavepoint?: string;
  fromCheckpoint?: string;
  fromTime?: string;
  fromApp?: string;
  allowUnmatchedState?: boolean;
}

/** The submit flags that start an app from saved state. */
export function withStartFromOptions(cmd: Command): Command {
  return cmd
    .option('--from-savepoint <name>', 'start with the state and source offsets of a savepoint')
    .option('--from-checkpoint <app@t>', "start from a retained checkpoint of another app, e.g. word-count-x1@1733300000000")
    .option('--from-time <ISO|ms>', 'with --from-app: start from the newest retained checkpoint at or before this time')
    .option('--from-app <appId>', 'the app whose checkpoints --from-time picks from')
    .option('--allow-unmatched-state', 'drop saved state of processors the new app does not have (default: refuse)');
}

function usage(msg: string): EngineError {
  return new EngineError('BAD_REQUEST', msg);
}

/** Parses the flags into the config keys `startFrom` / `allowUnmatchedState` (usage errors exit 2). */
export function startFromConfig(o: StartFromFlags): Record<string, unknown> {
  const given = [o.fromSavepoint, o.fromCheckpoint, o.fromTime].filter((x) => x !== undefined).length;
  if (given > 1) throw usage('give one of --from-savepoint, --from-checkpoint, --from-time');
  if (o.fromApp !== undefined && o.fromTime === undefined) throw usage('--from-app goes with --from-time');
  if (given === 0) {
    if (o.allowUnmatchedState) throw usage('--allow-unmatched-state needs --from-savepoint, --from-checkpoint or --from-time');
    return {};
  }
  const extra = o.allowUnmatchedState ? { allowUnmatchedState: true } : {};
  if (o.fromSavepoint !== undefined) return { startFrom: { savepoint: o.fromSavepoint }, ...extra };
  if (o.fromCheckpoint !== undefined) {
    const at = o.fromCheckpoint.lastIndexOf('@');
    const t = Number(o.fromCheckpoint.slice(at + 1));
    if (at <= 0 || !/^\d+$/.test(o.fromCheckpoint.slice(at + 1)) || !Number.isSafeInteger(t)) throw usage(`--from-checkpoint ${JSON.stringify(o.fromCheckpoint)}: expected <appId>@<checkpoint time in ms>`);
    return { startFrom: { app: o.fromCheckpoint.slice(0, at), t }, ...extra };
  }
  if (o.fromApp === undefined) throw usage('--from-time needs --from-app <appId> (whose checkpoints to pick from)');
  const s = o.fromTime!;
  const time = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isSafeInteger(time) || time < 0) throw usage(`--from-time ${JSON.stringify(s)}: expected an ISO time (2026-12-04T17:00:00Z) or epoch milliseconds`);
  return { startFrom: { app: o.fromApp, time }, ...extra };
}

/**
 * Waits until a new app committed the saved state as its first checkpoint, so a refusal
 * (STATE_UNMATCHED, STATE_INCOMPATIBLE, ...) fails the command with its own code.
 */
export async function awaitStartedFromSaved(master: Endpoint, appId: string, timeoutMs = START_WAIT_MS): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const a = parseReply(appSchema, await callJson(master, 'GET', `/apps/${encodeURIComponent(appId)}`), 'GET /apps/:id');
    if (a.appMaster?.committed !== undefined) return a.appMaster.committed;
    if (a.status !== 'running' && a.status !== 'pending') {
      const m = /^\[([A-Z_]+)\] (.*)$/s.exec(a.error ?? '');
      const code = m && (ENGINE_ERROR_CODES as string[]).includes(m[1]!) ? (m[1] as EngineErrorCode) : 'APP_STATE';
      throw new EngineError(code, `app ${appId} did not start from the saved state: ${m ? m[2] : (a.error ?? a.status)}`, { details: { appId, status: a.status } });
    }
    if (Date.now() > until) throw new EngineError('TIMEOUT', `app ${appId} has not committed its saved state within ${timeoutMs} ms (still ${a.status}); see sluice status ${appId}`, { details: { appId } });
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Parses `proc=N[,proc=M]`. */
export function parseParallelism(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^=]+)=(\d+)$/.exec(item);
    if (!m) throw usage(`--parallelism: ${JSON.stringify(item)} is not <processor>=<n>`);
    out[m[1]!] = Number(m[2]);
  }
  if (Object.keys(out).length === 0) throw usage('--parallelism needs at least one <processor>=<n>');
  return out;
}

const when = (ms: number): string => new Date(ms).toISOString();

/** `sluice savepoint`, `sluice savepoints list|delete` (rescale, update and rollback: update-commands.ts). */
export function registerSavepointCommands(program: Command): void {
  withCommonOptions(
    program
      .command('savepoint <appId>')
      .description("snapshot an app's state and source offsets at its newest committed checkpoint into a self-contained savepoint (never removed by retention); prints its name")
      .option('--name <name>', 'savepoint name (default: <appId>-s<time>)')
      .option('--stop', 'stop the app first: the savepoint holds its last committed output, nothing after it'),
  ).action(async (id: string, o: CommonFlags & { name?: string; stop?: boolean }) =>
    run(o.json, async () => {
      const body = { ...(o.name === undefined ? {} : { name: o.name }), ...(o.stop ? { stop: true } : {}) };
      const r = parseReply(infoSchema, await callJson(await masterOf(commonOf(o)), 'POST', `/apps/${encodeURIComponent(id)}/savepoints`, body, SAVEPOINT_CALL_MS), 'POST /apps/:id/savepoints');
      if (o.json) return write(JSON.stringify(r));
      write(r.name);
      process.stderr.write(`savepoint ${r.name} of ${r.appId} at t=${r.t} (${when(r.t)}), ${kib(r.size)}${r.stopped ? '; app stopped' : ''}\n`);
    }),
  );

  const sps = program.command('savepoints').description('list or delete savepoints');
  withCommonOptions(sps.command('list').description('savepoints you may read: name, app, time, size')).action(async (o: CommonFlags) =>
    run(o.json, async () => {
      const r = parseReply(listSchema, await callJson(await masterOf(commonOf(o)), 'GET', '/savepoints'), 'GET /savepoints');
      if (o.json) return write(JSON.stringify(r.savepoints));
      if (r.savepoints.length === 0) return write('no savepoints');
      for (const s of r.savepoints) write(`${s.name}\t${s.appId}\tt=${s.t} (${when(s.t)})\t${kib(s.size)}\tcreated ${when(s.createdAt)}`);
    }),
  );
  withCommonOptions(sps.command('delete <name>').description('delete a savepoint (needs a on it; owned like the app it came from)')).action(async (name: string, o: CommonFlags) =>
    run(o.json, async () => {
      const r = await callJson(await masterOf(commonOf(o)), 'DELETE', `/savepoints/${encodeURIComponent(name)}`);
      write(o.json ? JSON.stringify(r) : `deleted ${name}`);
    }),
  );
}
