import type { Command } from 'commander';
import { z } from 'zod';
import { postFile } from '../cluster/client.js';
import { callJson, parseReply, type Endpoint } from '../cluster/http.js';
import { ENGINE_ERROR_CODES, EngineError, type EngineErrorCode } from '../errors.js';
import { parseConfigPairs } from './app-config.js';
import { artifactForSubmit } from './bundle.js';
import { commonOf, masterOf, withCommonOptions, type CommonFlags } from './common.js';
import { run, write } from './exit.js';
import { progressBar } from './progress.js';
import { parseParallelism } from './savepoint-commands.js';

/** Stopping with a savepoint moves the app's whole state: give the master time. */
const UPDATE_CALL_MS = 10 * 60_000;
/** How long update/rollback wait for the version to commit its saved state (restart back-offs included). */
const START_WAIT_MS = 180_000;
const POLL_MS = 250;

const spSchema = z.looseObject({ name: z.string(), t: z.number() });
const updateReplySchema = z.looseObject({ appId: z.string(), from: z.number(), version: z.number(), savepoint: spSchema });
const rescaleReplySchema = z.looseObject({ from: z.string(), appId: z.string(), fromVersion: z.number(), version: z.number(), savepoint: spSchema });
const rollbackReplySchema = z.looseObject({ appId: z.string(), from: z.number(), version: z.number(), savepoint: z.string(), t: z.number() });
const statusSchema = z.looseObject({
  status: z.string(),
  error: z.string().optional(),
  appMaster: z.looseObject({ committed: z.number().optional() }).nullable().optional(),
  versions: z.looseObject({
    current: z.number(),
    autoRollback: z.boolean().optional(),
    events: z.array(z.looseObject({ kind: z.string(), to: z.number(), reason: z.string().optional() })),
  }).optional(),
});

function codeOf(reason: string | undefined): { code: EngineErrorCode; message: string } {
  const m = /^\[([A-Z_]+)\] (.*)$/s.exec(reason ?? '');
  if (m && (ENGINE_ERROR_CODES as string[]).includes(m[1]!)) return { code: m[1] as EngineErrorCode, message: m[2]! };
  return { code: 'APP_STATE', message: reason ?? 'failed' };
}

/**
 * Waits until the app runs `version` and committed its saved state. If the master rolled
 * the update back (the version failed), fails with the version's own error code.
 */
async function awaitVersion(master: Endpoint, appId: string, version: number): Promise<number> {
  const until = Date.now() + START_WAIT_MS;
  for (;;) {
    const a = parseReply(statusSchema, await callJson(master, 'GET', `/apps/${encodeURIComponent(appId)}`), 'GET /apps/:id');
    const current = a.versions?.current ?? 1;
    if (current !== version) {
      const back = [...(a.versions?.events ?? [])].reverse().find((e) => e.kind === 'rollback');
      const { code, message } = codeOf(back?.reason);
      throw new EngineError(code, `version ${version} of ${appId} failed and was rolled back to version ${current}: ${message}`, { details: { appId, version, current } });
    }
    if (a.status === 'running' && a.appMaster?.committed !== undefined) return a.appMaster.committed;
    if (a.status === 'stopped') return a.appMaster?.committed ?? 0;
    // Failed with automatic rollback on: the master is about to restart the previous version.
    if (a.status !== 'running' && a.status !== 'pending' && !(a.status === 'failed' && a.versions?.autoRollback)) {
      const { code, message } = codeOf(a.error);
      throw new EngineError(code, `version ${version} of ${appId} is ${a.status}: ${message}`, { details: { appId, status: a.status } });
    }
    if (Date.now() > until) throw new EngineError('TIMEOUT', `version ${version} of ${appId} has not committed its saved state within ${START_WAIT_MS} ms (still ${a.status}); see sluice status ${appId}`, { details: { appId } });
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function rollback(master: Endpoint, id: string, json: boolean | undefined): Promise<void> {
  const r = parseReply(rollbackReplySchema, await callJson(master, 'POST', `/apps/${encodeURIComponent(id)}/rollback`, {}, UPDATE_CALL_MS), 'POST /apps/:id/rollback');
  const t = await awaitVersion(master, r.appId, r.version);
  if (json) return write(JSON.stringify({ ...r, restoredAt: t }));
  write(r.appId);
  process.stderr.write(`${r.appId}: version ${r.from} -> ${r.version} (rolled back) from savepoint ${r.savepoint} (t=${r.t})\n`);
}

/** `sluice update <app> <artifact>`, `sluice rollback <app>` and `sluice rescale <app>`. */
export function registerUpdateCommands(program: Command): void {
  withCommonOptions(
    program
      .command('update <appId> [artifact]')
      .description('stop the app with a savepoint and start a new artifact version from it on the same app id (state matched by uid/name; processors may be added or removed); prints the app id')
      .option('--config <key=value>', 'config keys over the running version\'s config, repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
      .option('--parallelism <proc=n,...>', 'new parallelism per processor, e.g. split=4,count=4')
      .option('--allow-unmatched-state', 'drop saved state of processors the new version does not have (default: refuse, and roll back)')
      .option('--name <name>', 'name of the savepoint taken on the way (default: <appId>-u<time>)')
      .option('--no-auto-rollback', 'leave a failed new version failed (default: the master rolls back to the previous version)')
      .option('--rollback', 'no artifact: restart the version the last update replaced, from the savepoint it took (= sluice rollback)'),
  ).action(async (id: string, artifact: string | undefined, o: CommonFlags & { config: string[]; parallelism?: string; allowUnmatchedState?: boolean; name?: string; autoRollback: boolean; rollback?: boolean }) =>
    run(o.json, async () => {
      const master = await masterOf(commonOf(o));
      if (o.rollback) {
        if (artifact !== undefined || o.config.length > 0 || o.parallelism || o.allowUnmatchedState || o.name) throw new EngineError('BAD_REQUEST', '--rollback takes no artifact and no other option');
        return rollback(master, id, o.json);
      }
      if (artifact === undefined) throw new EngineError('BAD_REQUEST', 'update needs an artifact (or --rollback)');
      // Usage errors before any bundling or upload.
      const options = {
        ...(o.config.length > 0 ? { config: parseConfigPairs(o.config) } : {}),
        ...(o.parallelism ? { parallelism: parseParallelism(o.parallelism) } : {}),
        ...(o.allowUnmatchedState ? { allowUnmatchedState: true } : {}),
        ...(o.name === undefined ? {} : { name: o.name }),
        ...(o.autoRollback ? {} : { autoRollback: false }),
      };
      const art = await artifactForSubmit(artifact);
      const bar = progressBar(process.stderr, 'uploading');
      let body: unknown;
      try {
        body = await postFile(master, `/apps/${encodeURIComponent(id)}/update?options=${encodeURIComponent(JSON.stringify(options))}`, art.file, (d, t) => bar.update(d, t));
      } finally {
        bar.end();
        await art.dispose();
      }
      const r = parseReply(updateReplySchema, body, 'POST /apps/:id/update');
      const t = await awaitVersion(master, r.appId, r.version);
      if (o.json) return write(JSON.stringify({ ...r, restoredAt: t }));
      write(r.appId);
      process.stderr.write(`${r.appId}: version ${r.from} -> ${r.version} from savepoint ${r.savepoint.name} (t=${r.savepoint.t}); sluice rollback ${r.appId} restarts version ${r.from}\n`);
    }),
  );
  withCommonOptions(
    program.command('rollback <appId>').description('restart the version the last `sluice update` replaced, from the savepoint that update took; prints the app id'),
  ).action(async (id: string, o: CommonFlags) => run(o.json, async () => rollback(await masterOf(commonOf(o)), id, o.json)));

  withCommonOptions(
    program
      .command('rescale <appId>')
      .description('stop the app with a savepoint and start its artifact and config again at the new parallelism, on the same app id (a new version: sluice rollback undoes it); prints the app id')
      .requiredOption('--parallelism <proc=n,...>', 'new parallelism per processor, e.g. split=4,count=4')
      .option('--name <name>', 'name of the savepoint taken on the way (default: <appId>-r<time>)'),
  ).action(async (id: string, o: CommonFlags & { parallelism: string; name?: string }) =>
    run(o.json, async () => {
      const parallelism = parseParallelism(o.parallelism);
      const master = await masterOf(commonOf(o));
      const r = parseReply(rescaleReplySchema, await callJson(master, 'POST', `/apps/${encodeURIComponent(id)}/rescale`, { parallelism, ...(o.name === undefined ? {} : { name: o.name }) }, UPDATE_CALL_MS), 'POST /apps/:id/rescale');
      const t = await awaitVersion(master, r.appId, r.version);
      if (o.json) return write(JSON.stringify({ ...r, restoredAt: t }));
      write(r.appId);
      process.stderr.write(`${r.appId} stopped at savepoint ${r.savepoint.name} (t=${r.savepoint.t}) and runs again from it as version ${r.version}\n`);
    }),
  );
}
