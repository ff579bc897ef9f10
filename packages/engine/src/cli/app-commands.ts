import type { Command } from 'commander';
import { openConfiguredStorage } from '@sluice/storage-api';
import { loadClusterConfig } from '../config/cluster-config.js';
import { EngineError } from '../errors.js';
import { callJson, type Endpoint } from '../cluster/http.js';
import { cliEndpoint } from '../security/credentials.js';
import { parseAclFlag } from '../security/authorize.js';
import { defaultAppName, resolveArtifact, uploadArtifact } from '../cluster/client.js';
import { progressBar } from './progress.js';
import { run, write } from './exit.js';

interface Common {
  config?: string;
  master?: string;
  json?: boolean;
  tokenFile?: string;
}

/** The master to call, with the caller's token (and CA for HTTPS): see security/credentials. */
async function masterOf(o: Common): Promise<Endpoint> {
  // The config is read only when given (or for the default address): never created.
  const loaded = o.config || !o.master ? await loadClusterConfig(o.config) : undefined;
  const master = o.master ?? loaded!.config.master.urls?.join(',') ?? `${loaded!.config.master.host}:${loaded!.config.master.port}`;
  return cliEndpoint(master, loaded, o.tokenFile);
}

/** `--config k=v` values: JSON when they parse (numbers, booleans, objects), else strings. */
export function parseConfigPairs(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new EngineError('BAD_REQUEST', `--config expects key=value, got ${JSON.stringify(p)}`);
    const v = p.slice(i + 1);
    try {
      out[p.slice(0, i)] = JSON.parse(v);
    } catch {
      out[p.slice(0, i)] = v;
    }
  }
  return out;
}

function common(cmd: Command): Command {
  return cmd
    .option('-c, --cluster-config <file>', 'cluster config (YAML): master address and store')
    .option('--master <host:port>', 'master address (default from the config, 127.0.0.1:7070)')
    .option('--token-file <file>', 'file holding your API token (else SLUICE_TOKEN, ~/.config/sluice/credentials, <config folder>/admin.token)')
    .option('--json', 'machine-readable output');
}

function opts(o: { clusterConfig?: string; master?: string; json?: boolean; tokenFile?: string }): Common {
  return { ...(o.clusterConfig ? { config: o.clusterConfig } : {}), ...(o.master ? { master: o.master } : {}), ...(o.json ? { json: true } : {}), ...(o.tokenFile ? { tokenFile: o.tokenFile } : {}) };
}

function line(a: Record<string, any>): string {
  const am = a.appMaster as Record<string, any> | null;
  const extra = am ? ` committed=${am.committed ?? '-'} restarts=${am.restarts} phase=${am.phase}` : '';
  return `${a.appId}\t${a.name}\t${a.status}\tepoch=${a.epoch}${extra}${a.error ? `\terror=${a.error}` : ''}`;
}

/** Reads the registry from the store when no master answers (e.g. after `sluice demo`). */
async function appsFromStore(o: Common): Promise<Array<Record<string, unknown>>> {
  const loaded = await loadClusterConfig(o.config);
  const storage = await openConfiguredStorage(loaded.config.storage, { baseDir: loaded.baseDir });
  try {
    return (await storage.listApps()).map((m) => ({ appId: m.appId, name: m.appName, status: m.status, epoch: '-', source: 'store' }));
  } finally {
    await storage.close();
  }
}

/** `sluice submit | apps | status | kill`. */
export function registerAppCommands(program: Command): void {
  common(
    program
      .command('submit <artifact>')
      .description('upload an app (an ES module, or a folder with one entry module) and start it; prints the app id')
      .option('--name <name>', 'app name (default: the file name)')
      .option('--config <key=value>', 'app config, repeatable (e.g. --config input=/data/in.txt --config executors=3)', (v: string, acc: string[]) => [...acc, v], [] as string[])
      .option('--acl <entries>', "who else may use the app, Storm's grammar: u:bob:r,u:carol:rw,o:: (you own it)"),
  ).action(async (artifact: string, o: { name?: string; config: string[]; acl?: string; clusterConfig?: string; master?: string; json?: boolean; tokenFile?: string }) =>
    run(o.json, async () => {
      const c = opts(o);
      const file = resolveArtifact(artifact);
      const cfg = parseConfigPairs(o.config);
      const bar = progressBar(process.stderr, 'uploading');
      const acl = o.acl === undefined ? undefined : parseAclFlag(o.acl).join(',');
      const r = await uploadArtifact(await masterOf(c), file, o.name ?? defaultAppName(artifact.replace(/[\\/]+$/, '')), cfg, (d, t) => bar.update(d, t), acl);
      bar.end();
      write(o.json ? JSON.stringify(r) : r.appId);
    }),
  );

  common(program.command('apps').description('list apps (from the master, or from the store when no master runs)')).action(
    async (o: { clusterConfig?: string; master?: string; json?: boolean; tokenFile?: string }) =>
      run(o.json, async () => {
        const c = opts(o);
        let apps: Array<Record<string, unknown>>;
        try {
          apps = (await callJson(await masterOf(c), 'GET', '/apps')).apps;
        } catch (err) {
          if (!(err instanceof EngineError && err.code === 'MASTER_UNREACHABLE')) throw err;
          apps = await appsFromStore(c);
          if (!o.json) process.stderr.write('(master not reachable: listing from the store)\n');
        }
        if (o.json) write(JSON.stringify(apps));
        else if (apps.length === 0) write('no apps');
        else for (const a of apps) write(line(a));
      }),
  );

  common(program.command('status <appId>').description('show an app: status, epoch, AppMaster progress, executors')).action(
    async (id: string, o: { clusterConfig?: string; master?: string; json?: boolean; tokenFile?: string }) =>
      run(o.json, async () => {
        const c = opts(o);
        let a: Record<string, any>;
        try {
          a = await callJson(await masterOf(c), 'GET', `/apps/${encodeURIComponent(id)}`);
        } catch (err) {
          if (!(err instanceof EngineError && err.code === 'MASTER_UNREACHABLE')) throw err;
          const found = (await appsFromStore(c)).find((x) => x.appId === id);
          if (!found) throw new EngineError('APP_NOT_FOUND', `app ${id} not found`);
          a = found;
        }
        if (o.json) return write(JSON.stringify(a));
        write(line(a));
        for (const e of (a.executors ?? []) as Array<Record<string, any>>) write(`  ${e.role} ${e.executor} epoch=${e.epoch} pid=${e.pid} worker=${e.worker} log=${e.logFile}`);
      }),
  );

  const acl = program.command('acl').description("show or change an app's ACL (u:<user>:rwa, o::rwa; r = status/logs/metrics, w = kill/config, a = ACL/delete)");
  common(acl.command('get <appId>').description("print the app's owner and ACL")).action(
    async (id: string, o: { clusterConfig?: string; master?: string; json?: boolean; tokenFile?: string }) =>
      run(o.json, async () => {
        const a = await callJson(await masterOf(opts(o)), 'GET', `/apps/${encodeURIComponent(id)}/acl`);
        write(o.json ? JSON.stringify(a) : `owner=${a.owner}\tacl=${(a.acl as string[]).join(',') || '(none)'}`);
      }),
  );
  common(acl.command('set <appId> <entries>').description('replace the ACL, e.g. u:bob:r,o:: (needs a on the app)')).action(
    async (id: string, entries: string, o: { clusterConfig?: string; master?: string; json?: boolean; tokenFile?: string }) =>
      run(o.json, async () => {
        const a = await callJson(await masterOf(opts(o)), 'PUT', `/apps/${encodeURIComponent(id)}/acl`, { acl: parseAclFlag(entries) });
        write(o.json ? JSON.stringify(a) : `owner=${a.owner}\tacl=${(a.acl as string[]).join(',') || '(none)'}`);
      }),
  );

  common(program.command('kill <appId>').description('stop an app and its executors')).action(
    async (id: string, o: { clusterConfig?: string; master?: string; json?: boolean; tokenFile?: string }) =>
      run(o.json, async () => {
        const a = await callJson(await masterOf(opts(o)), 'POST', `/apps/${encodeURIComponent(id)}/kill`);
        write(o.json ? JSON.stringify(a) : `killed ${id}`);
      }),
  );
}
