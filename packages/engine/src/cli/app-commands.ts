import type { Command } from 'commander';
import { z } from 'zod';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_BACKEND, openConfiguredStorage } from '@sluice/storage-api';
import { loadClusterConfig } from '../config/cluster-config.js';
import { EngineError } from '../errors.js';
import { callJson, parseReply } from '../cluster/http.js';
import { parseAclFlag } from '../security/authorize.js';
import { defaultAppName, uploadArtifact } from '../cluster/client.js';
import { artifactForSubmit } from './bundle.js';
import { parseConfigPairs } from './app-config.js';
import { commonOf, masterOf, withCommonOptions, type Common, type CommonFlags } from './common.js';
import { progressBar } from './progress.js';
import { kib } from './output.js';
import { run, write } from './exit.js';
import { registerLifecycleCommands } from './lifecycle-commands.js';
import { awaitStartedFromSaved, startFromConfig, withStartFromOptions, type StartFromFlags } from './savepoint-commands.js';

export { parseConfigPairs } from './app-config.js';

// The master's app view: the CLI relies on `appId` and prints the rest as it comes.
const appViewSchema = z.looseObject({ appId: z.string() });
type AppView = z.infer<typeof appViewSchema>;
const appsReplySchema = z.looseObject({ apps: z.array(appViewSchema) });
const aclReplySchema = z.looseObject({ owner: z.string(), acl: z.array(z.string()) });

/** A field as text: objects as JSON (never `[object Object]`). */
function str(v: unknown): string {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

/** One line per app; absent numbers print as '-' (only here: --json keeps them absent, never a string). */
export function appLine(a: AppView): string {
  const am = a.appMaster as Record<string, unknown> | null | undefined;
  const shown = (v: unknown): string => (v === undefined || v === null ? '-' : str(v));
  const cp = am?.checkpoint as { newBytes?: number; sharedBytes?: number; pauseMs?: number; uploadMs?: number; stateEntries?: number } | undefined;
  const cost = cp ? ` state=${shown(cp.stateEntries)}keys ckpt=${kib(cp.newBytes)}new/${kib(cp.sharedBytes)}shared pause=${shown(cp.pauseMs?.toFixed(1))}ms upload=${shown(cp.uploadMs?.toFixed(0))}ms` : '';
  const extra = am ? ` committed=${shown(am.committed)} phase=${shown(am.phase)}${cost}` : '';
  const restarts = a.restarts ?? am?.restarts;
  const failure = a.lastFailure as { reason?: string } | undefined;
  // After `sluice update`: the version running and the one a rollback would restart.
  const v = a.versions as { current?: number; previous?: { version?: number } } | undefined;
  const version = v?.current === undefined ? '' : ` version=${shown(v.current)}${v.previous?.version === undefined ? '' : ` (previous ${shown(v.previous.version)})`}`;
  return (
    `${a.appId}\t${shown(a.name)}\t${shown(a.status)}\tepoch=${shown(a.epoch)}${version}${restarts === undefined ? '' : ` restarts=${shown(restarts)}`}${extra}` +
    `${a.error ? `\terror=${str(a.error)}` : failure?.reason ? `\tlast failure: ${failure.reason}` : ''}`
  );
}

/**
 * The fs store folder a store-side read would open, when the default backend is the fs
 * module; undefined for other backends. Used so that a read never creates an empty store.
 */
function fsRootOf(loaded: Awaited<ReturnType<typeof loadClusterConfig>>): string | undefined {
  const def = loaded.config.storage.default ?? DEFAULT_BACKEND;
  if (def.module !== '@sluice/storage-fs') return undefined;
  const root = (def.options as { root?: unknown } | undefined)?.root;
  return resolve(loaded.baseDir, typeof root === 'string' ? root : './.sluice');
}

/** Reads the registry from the store when no master answers (e.g. after `sluice demo`). */
async function appsFromStore(o: Common): Promise<{ apps: AppView[]; note: string }> {
  const loaded = await loadClusterConfig(o.config);
  const root = fsRootOf(loaded);
  // Listing must not create ./.sluice (opening the fs store would): no folder, no apps.
  if (root !== undefined && !existsSync(root)) return { apps: [], note: `master not reachable and no store at ${root}` };
  const storage = await openConfiguredStorage(loaded.config.storage, { baseDir: loaded.baseDir });
  try {
    // The store knows no epoch: the field stays absent rather than a placeholder string.
    const apps = (await storage.listApps()).map((m) => ({ appId: m.appId, name: m.appName, status: m.status, source: 'store' }));
    return { apps, note: 'master not reachable: listing from the store' };
  } finally {
    await storage.close();
  }
}

function isUnreachable(err: unknown): boolean {
  return err instanceof EngineError && err.code === 'MASTER_UNREACHABLE';
}

/** `sluice submit | apps | status | kill` (and `wait | delete`, in lifecycle-commands.ts). */
export function registerAppCommands(program: Command): void {
  withStartFromOptions(withCommonOptions(
    program
      .command('submit <artifact>')
      .description('upload an app and start it: an ES module as it is; an app.ts, or a folder with package.json and node_modules, bundled first (see sluice bundle); prints the app id')
      .option('--name <name>', 'app name (default: the file name)')
      .option('--config <key=value>', 'app config, repeatable (e.g. --config input=/data/in.txt --config executors=3)', (v: string, acc: string[]) => [...acc, v], [] as string[])
      .option('--acl <entries>', "who else may use the app, Storm's grammar: u:bob:r,u:carol:rw,o:: (you own it)"),
  )).action(async (artifact: string, o: CommonFlags & StartFromFlags & { name?: string; config: string[]; acl?: string }) =>
    run(o.json, async () => {
      const c = commonOf(o);
      // Usage errors first: a bad --config never costs an upload.
      const cfg = { ...parseConfigPairs(o.config), ...startFromConfig(o) };
      const acl = o.acl === undefined ? undefined : parseAclFlag(o.acl).join(',');
      // Bundled (when it is a folder or .ts) before the master is contacted: a refused import costs no upload.
      const art = await artifactForSubmit(artifact);
      const bar = progressBar(process.stderr, 'uploading');
      let r;
      try {
        r = await uploadArtifact(await masterOf(c), art.file, o.name ?? defaultAppName(artifact.replace(/[\\/]+$/, '')), cfg, (d, t) => bar.update(d, t), acl);
      } finally {
        bar.end();
        await art.dispose();
      }
      // From saved state: done once the app committed it (a refusal fails submit with its code).
      if (cfg.startFrom) await awaitStartedFromSaved(await masterOf(c), r.appId);
      write(o.json ? JSON.stringify(r) : r.appId);
    }),
  );

  withCommonOptions(program.command('apps').description('list apps (from the master, or from the store when no master runs)')).action(async (o: CommonFlags) =>
    run(o.json, async () => {
      const c = commonOf(o);
      let apps: AppView[];
      try {
        apps = parseReply(appsReplySchema, await callJson(await masterOf(c), 'GET', '/apps'), 'GET /apps').apps;
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        const fromStore = await appsFromStore(c);
        apps = fromStore.apps;
        if (!o.json) process.stderr.write(`(${fromStore.note})\n`);
      }
      if (o.json) write(JSON.stringify(apps));
      else if (apps.length === 0) write('no apps');
      else for (const a of apps) write(appLine(a));
    }),
  );

  withCommonOptions(program.command('status <appId>').description('show an app: status, epoch, restarts, last failure, AppMaster progress, executors')).action(
    async (id: string, o: CommonFlags) =>
      run(o.json, async () => {
        const c = commonOf(o);
        let a: AppView;
        try {
          a = parseReply(appViewSchema, await callJson(await masterOf(c), 'GET', `/apps/${encodeURIComponent(id)}`), 'GET /apps/:id');
        } catch (err) {
          if (!isUnreachable(err)) throw err;
          const found = (await appsFromStore(c)).apps.find((x) => x.appId === id);
          if (!found) throw new EngineError('APP_NOT_FOUND', `app ${id} not found (and the master is not reachable)`);
          a = found;
        }
        if (o.json) return write(JSON.stringify(a));
        write(appLine(a));
        const failure = a.lastFailure as { reason?: string; at?: number; epoch?: number } | undefined;
        if (failure?.reason) write(`  last failure: ${failure.reason}${failure.at ? ` at ${new Date(failure.at).toISOString()}` : ''}${failure.epoch === undefined ? '' : ` (epoch ${failure.epoch})`}`);
        if (typeof a.nextAttemptAt === 'number') write(`  next attempt: ${new Date(a.nextAttemptAt).toISOString()}`);
        for (const e of (a.executors ?? []) as Array<Record<string, unknown>>) write(`  ${str(e.role)} ${str(e.executor)} epoch=${str(e.epoch)} pid=${str(e.pid)} worker=${str(e.worker)} log=${str(e.logFile)}`);

        // Mapped blobs: the version switched to (from which event time) and what each executor uses now.
        const blobs = ((a.appMaster as { blobs?: unknown } | null)?.blobs ?? []) as Array<{ name: string; version: number; from?: number; executors: Record<string, number>; refused?: string }>;
        for (const b of blobs) {
          const per = Object.entries(b.executors).map(([e, v]) => `${e}:v${v}`).join(' ');
          write(`  blob ${b.name} v${b.version}${b.from === undefined ? '' : ` from t=${b.from}`} executors ${per || '(none reported)'}${b.refused ? ` (${b.refused})` : ''}`);
        }
      }),
  );

  const acl = program.command('acl').description("show or change an app's ACL (u:<user>:rwa, o::rwa; r = status/logs/metrics, w = kill/config, a = ACL/delete)");
  withCommonOptions(acl.command('get <appId>').description("print the app's owner and ACL")).action(async (id: string, o: CommonFlags) =>
    run(o.json, async () => {
      const a = parseReply(aclReplySchema, await callJson(await masterOf(commonOf(o)), 'GET', `/apps/${encodeURIComponent(id)}/acl`), 'GET /apps/:id/acl');
      write(o.json ? JSON.stringify(a) : `owner=${a.owner}\tacl=${a.acl.join(',') || '(none)'}`);
    }),
  );
  withCommonOptions(acl.command('set <appId> <entries>').description('replace the ACL, e.g. u:bob:r,o:: (needs a on the app)')).action(async (id: string, entries: string, o: CommonFlags) =>
    run(o.json, async () => {
      const a = parseReply(aclReplySchema, await callJson(await masterOf(commonOf(o)), 'PUT', `/apps/${encodeURIComponent(id)}/acl`, { acl: parseAclFlag(entries) }), 'PUT /apps/:id/acl');
      write(o.json ? JSON.stringify(a) : `owner=${a.owner}\tacl=${a.acl.join(',') || '(none)'}`);
    }),
  );

  withCommonOptions(program.command('kill <appId>').description('stop an app and its executors')).action(async (id: string, o: CommonFlags) =>
    run(o.json, async () => {
      const a = await callJson(await masterOf(commonOf(o)), 'POST', `/apps/${encodeURIComponent(id)}/kill`);
      write(o.json ? JSON.stringify(a) : `killed ${id}`);
    }),
  );

  registerLifecycleCommands(program);
}
