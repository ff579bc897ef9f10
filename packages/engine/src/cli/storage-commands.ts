import type { Command } from 'commander';

import {
  DEFAULT_BACKEND, loadStorageModule, openConfiguredStorage, openStorage, runFsck, runGc, storagePlan, StorageError, unwrapStorage,
  type FsckCheckpoint, type Storage, type StorageModule,
} from '@sluice/storage-api';
import { redactSecrets } from '../security/redact.js';
import { runConformance, type ChildSpec, type ConformanceInstance, type ConformanceReport, type ConformanceResult } from '@sluice/storage-api/conformance';
import { loadClusterConfig, type LoadedClusterConfig } from '../config/cluster-config.js';
import { EXIT, fail, kib, out, printJson, table } from './output.js';

interface CommonOpts {
  config?: string;
  json?: boolean;
}

export function registerStorageCommands(program: Command): void {
  const storage = program.command('storage').description('inspect, test and clean the configured storage');

  storage
    .command('plan')
    .description('print the effective routing of each sub-store to its backend')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .option('--json', 'machine-readable output')
    .action(async (o: CommonOpts) => {
      try {
        const { config } = await loadClusterConfig(o.config);
        // Options may hold credentials (secretAccessKey, user:pass@ in URLs): never print them.
        const plan = redactSecrets(storagePlan(config.storage));
        if (o.json) return printJson({ routes: plan, retention: config.storage.retention });
        out(table([['SUB-STORE', 'MODULE', 'FROM', 'OPTIONS'], ...plan.map((r) => [r.subStore, r.module, r.source, JSON.stringify(r.options)])]));
      } catch (err) {
        fail(err, o.json);
      }
    });

  storage
    .command('conformance')
    .description('run the storage conformance suite against the configured backend or a module file')
    .option('-c, --config <file>', 'cluster config (YAML): test its configured (live) storage')
    .option('-m, --module <spec>', 'test this module (package name or ./file.js) instead')
    .option('--options <json>', 'options for --module, as JSON', '{}')
    .option('--grep <text>', 'only cases whose name contains this text')
    .option('--json', 'print the report as JSON')
    .action(async (o: CommonOpts & { module?: string; options: string; grep?: string }) => {
      try {
        const loaded = await loadClusterConfig(o.config);
        const target = o.module ? await moduleTarget(o.module, o.options, loaded.baseDir) : await configTarget(loaded);
        const probe = await target.open();
        const facts = { backend: probe.backend, capabilities: probe.capabilities, ...(probe.describe?.() ?? {}) };
        await probe.close();
        if (!o.json) {
          out(`conformance: ${target.name}`);
          out(`backend facts: ${JSON.stringify(facts)}`);
        }
        const report = await runConformance({
          name: target.name,
          grep: o.grep,
          factory: () => instanceFor(target),
          onResult: o.json ? undefined : printResult,
        });
        if (o.json) printJson({ ...report, facts });
        else printSummary(report);
        process.exitCode = report.failed > 0 || report.passed === 0 ? EXIT.FAILURE : EXIT.OK;
      } catch (err) {
        fail(err, o.json);
      }
    });

  storage
    .command('fsck')
    .description('verify jar digests, checkpoint parts, offsets and indexes; list orphans (exit 0 clean, 1 damage or orphans found)')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .option('--app <id>', 'only this app')
    .option('--repair', 'remove orphans (never anything committed data or a jar name references)')
    .option('--parts', 'list the parts each retained checkpoint needs')
    .option('--json', 'machine-readable output')
    .action(async (o: CommonOpts & { app?: string; repair?: boolean; parts?: boolean }) => {
      try {
        const { config, baseDir } = await loadClusterConfig(o.config);
        const s = await openConfiguredStorage(config.storage, { baseDir });
        try {
          const report = await runFsck(s, { appIds: o.app ? [o.app] : undefined, repair: o.repair ?? false });
          if (o.json) printJson(report);
          else {
            if (report.checkpoints.length > 0) out(checkpointTable(report.checkpoints, o.parts ?? false));
            if (report.findings.length > 0) {
              out(table([['APP', 'SUB-STORE', 'TARGET', 'KIND', 'REPAIRED', 'WHAT'], ...report.findings.map((f) => [f.appId, f.subStore, f.target, f.kind, f.repaired ? 'yes' : '', f.message])]));
            }
            out(`${report.apps} app(s) checked: ${report.damage} damaged, ${report.orphans} orphan(s)${report.repair ? `, ${report.repaired} removed` : ''}${report.orphanScan ? '' : ' (this backend has no orphan scan)'}`);
          }
          // Orphans removed by --repair leave a clean store; damage is never repaired.
          const open = report.damage + report.orphans - report.repaired;
          process.exitCode = open > 0 ? EXIT.FAILURE : EXIT.OK;
        } finally {
          await s.close();
        }
      } catch (err) {
        fail(err, o.json);
      }
    });

  storage
    .command('gc')
    .description('apply the retention policy (storage.retention) to every app')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .option('--dry-run', 'report what would be deleted, delete nothing')
    .option('--json', 'machine-readable output')
    .action(async (o: CommonOpts & { dryRun?: boolean }) => {
      try {
        const { config, baseDir } = await loadClusterConfig(o.config);
        const s = await openConfiguredStorage(config.storage, { baseDir });
        try {
          const report = await runGc(s, config.storage.retention, { dryRun: o.dryRun ?? false });
          if (o.json) printJson(report);
          else {
            out(report.actions.length === 0 ? 'nothing to collect' : table([['APP', 'SUB-STORE', 'TARGET', o.dryRun ? 'WOULD DELETE' : 'DELETED', 'COUNT'], ...report.actions.map((a) => [a.appId, a.subStore, a.target, a.what, String(a.count ?? '?')])]));
            for (const e of report.errors) process.stderr.write(`error: ${e.appId} ${e.subStore}: ${e.message} [${e.code}]\n`);
          }
          process.exitCode = report.errors.length ? EXIT.FAILURE : EXIT.OK;
        } finally {
          await s.close();
        }
      } catch (err) {
        fail(err, o.json);
      }
    });
}

/**
 * Which retained checkpoints stand alone and which lean on others (FLIP-193's question:
 * is this incremental checkpoint safe to delete or copy by itself?).
 */
function checkpointTable(cps: FsckCheckpoint[], parts: boolean): string {
  const rows = [['APP', 'STORE', 'T', 'PARTS', 'NEW', 'SHARED', 'SELF-CONTAINED', 'SHARES WITH']];
  for (const c of cps) {
    rows.push([c.appId, c.store, String(c.t), String(c.parts.length), kib(c.newBytes), kib(c.sharedBytes), c.selfContained ? 'yes' : 'no', c.sharesWith.join(',') || '-']);
    if (parts) for (const p of c.parts) rows.push(['', '', '', `  ${p.name}`, kib(p.size), '', '', p.ref]);
  }
  return table(rows);
}

interface Target {
  name: string;
  open(): Promise<Storage>;
  corrupt?: StorageModule['testHooks'];
  /** How the suite's child processes open the same store. */
  spec: ChildSpec;
}

async function configTarget(loaded: LoadedClusterConfig): Promise<Target> {
  const s = loaded.config.storage;
  const def = s.default ?? DEFAULT_BACKEND;
  // Test hooks need one backend; with routes to several there is none to corrupt through.
  const single = Object.values(s.routes ?? {}).every((r) => !r || JSON.stringify(r) === JSON.stringify(def));
  return {
    name: loaded.path ?? 'default storage (fs under ./.sluice)',
    open: () => openConfiguredStorage(s, { baseDir: loaded.baseDir }),
    spec: { storage: s, baseDir: loaded.baseDir },
    corrupt: single ? (await loadStorageModule(def.module, { baseDir: loaded.baseDir })).testHooks : undefined,
  };
}

async function moduleTarget(spec: string, optionsJson: string, baseDir: string): Promise<Target> {
  let options: Record<string, unknown>;
  try {
    options = JSON.parse(optionsJson) as Record<string, unknown>;
  } catch (err) {
    throw new StorageError(`--options is not valid JSON: ${(err as Error).message}`, { code: 'STORAGE_CONFIG_INVALID', cause: err });
  }
  const mod = await loadStorageModule(spec, { baseDir });
  return {
    name: `${mod.name} (${spec})`, open: () => openStorage(mod, options, { baseDir }, ['--options']), corrupt: mod.testHooks,
    spec: { module: spec, options, baseDir },
  };
}

/**
 * A live backend is shared with real apps: each case works on apps with fresh ids, and
 * destroy() deletes exactly the apps the case created.
 */
async function instanceFor(target: Target): Promise<ConformanceInstance> {
  const storage = await target.open();
  const before = new Set((await storage.listApps()).map((a) => a.appId));
  const opened: Storage[] = [];
  const instance: ConformanceInstance = {
    storage,
    spec: target.spec,
    reopen: async () => {
      const s = await target.open();
      opened.push(s);
      return s;
    },
    destroy: async () => {
      const cleaner = await target.open();
      try {
        for (const a of await cleaner.listApps()) {
          if (before.has(a.appId)) continue;
          const app = await cleaner.getAppStorage(a.appId);
          await app?.updateMeta({ status: 'stopped' });
          await app?.close();
          await cleaner.deleteAppStorage(a.appId);
        }
      } finally {
        await Promise.allSettled([cleaner.close(), storage.close(), ...opened.map((s) => s.close())]);
      }
    },
  };
  const hooks = target.corrupt;
  if (hooks) instance.corrupt = (t) => hooks.corrupt(unwrapStorage(storage), t);
  return instance;
}

function printResult(r: ConformanceResult): void {
  const mark = r.status === 'passed' ? '✓' : r.status === 'skipped' ? '-' : '✗';
  const tail = r.status === 'failed' ? `\n    ${r.error?.message.split('\n').join('\n    ')}` : r.status === 'skipped' ? ` (${r.reason})` : '';
  out(`  ${mark} ${r.group} › ${r.name} ${r.ms}ms${tail}`);
}


/** Counts, what --grep left out, and what each capability that skipped cases means in production. */
function printSummary(r: ConformanceReport): void {
  out(`\n${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${r.leftOut ? `, ${r.leftOut} left out by --grep` : ''}`);
  const caps = Object.entries(r.skippedByCapability);
  if (caps.length === 0) return;
  out('skipped because the backend does not declare:');
  for (const [cap, e] of caps) out(`  ${cap} (${e!.cases} case${e!.cases === 1 ? '' : 's'}): ${e!.meaning}`);
}
