import { InvalidArgumentError, type Command } from 'commander';
import { hostSchema, loadClusterConfig } from '../config/cluster-config.js';
import { createWorker, startLocalCluster, startMaster } from '../cluster/local-cluster.js';
import { run, write } from './exit.js';
import { ensureLocalAdmin, workerTokenOf } from '../security/auth-setup.js';
import { noteNodeSupport } from './node-support.js';
import { removeRunFile, runFileOf, writeRunFile } from '../cluster/local-run-file.js';
import type { LoadedClusterConfig } from '../config/cluster-config.js';

function storeModules(loaded: LoadedClusterConfig): string[] {
  const s = loaded.config.storage;
  return [s.default?.module ?? '', ...Object.values(s.routes ?? {}).map((r) => r?.module ?? '')];
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${v}`);
  return n;
};

/** `--host`: the same rule as worker.host in the cluster config. */
const parseHostFlag = (v: string): string => {
  const r = hostSchema.safeParse(v);
  if (!r.success) throw new InvalidArgumentError(r.error.issues[0]?.message ?? 'not a host');
  return r.data;
};

/** `sluice master`, `sluice worker`, `sluice local`: the long-running daemons. */
export function registerClusterCommands(program: Command): void {
  program
    .command('master')
    .description('run the master: control API (JSON over HTTP), app registry (seeds) and worker registry')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .option('--host <host>', 'bind address (default master.host, 127.0.0.1)')
    .option('--port <port>', 'port (default master.port, 7070; 0 = any)', int)
    .action(async (o: { config?: string; host?: string; port?: number }) =>
      run(false, async () => {
        const loaded = await loadClusterConfig(o.config);
        const m = await startMaster(loaded, { ...(o.host ? { host: o.host } : {}), ...(o.port === undefined ? {} : { port: o.port }) });
        write(`master listening on ${m.master.address}`);
        noteNodeSupport(storeModules(loaded));
        await waitForSignal();
        await m.stop();
      }),
    );

  program
    .command('worker')
    .description('run a worker: registers with the master, runs executors as child processes')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .option('--master <host:port,...>', 'master address, or every master with HA (default master.urls, else master.host:master.port)')
    .option('--name <name>', 'worker name (default worker-<pid>)')
    .option('--slots <n>', 'executor slots', int)
    .option('--host <address>', "this host's address, which other hosts connect to (default worker.host, 127.0.0.1)", parseHostFlag)
    .action(async (o: { config?: string; master?: string; name?: string; slots?: number; host?: string }) =>
      run(false, async () => {
        const loaded = await loadClusterConfig(o.config);
        const master = o.master ?? loaded.config.master.urls?.join(',') ?? `${loaded.config.master.host}:${loaded.config.master.port}`;
        const token = await workerTokenOf(loaded);
        const w = createWorker(loaded, master, o.name ?? `worker-${process.pid}`, {
          ...(o.slots === undefined ? {} : { slots: o.slots }),
          ...(o.host === undefined ? {} : { host: o.host }),
          ...(token ? { token } : {}),
        });
        await w.start();
        write(`worker ${w.id} registered with ${master}`);
        noteNodeSupport(storeModules(loaded));
        await waitForSignal();
        await w.stop();
      }),
    );

  program
    .command('local')
    .description('run a master and N workers in one process (executors are still child processes); fs store under ./.sluice by default')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .option('--workers <n>', 'number of workers', int, 2)
    .option('--port <port>', 'master port (default master.port)', int)
    .action(async (o: { config?: string; workers: number; port?: number }) =>
      run(false, async () => {
        const loaded = await loadClusterConfig(o.config);
        // The quick start needs nothing extra: an admin token the CLI finds by itself.
        await ensureLocalAdmin(loaded);
        const c = await startLocalCluster(loaded, { workers: o.workers, ...(o.port === undefined ? {} : { port: o.port }) });
        // With master.port 0 the real address is only known now: clients of this config read it here.
        const runFile = runFileOf(loaded);
        const url = `${loaded.config.master.tls ? 'https' : 'http'}://${c.address}`;
        // Listen before the run file exists: a SIGTERM as soon as it appears must still remove it.
        const stopped = waitForSignal();
        try {
          await writeRunFile(runFile, { pid: process.pid, url, startedAt: Date.now() });
        } catch (err) {
          await c.stop();
          throw err;
        }
        write(`local cluster: master on ${c.address}, ${c.workers.length} workers (Ctrl-C to stop)`);
        write(`run file: ${runFile} (url ${url})`);
        noteNodeSupport(storeModules(loaded));
        await stopped;
        await removeRunFile(runFile);
        await c.stop();
      }),
    );
}
