import type { Command } from 'commander';
import { registerMetricsCommands } from './metrics-commands.js';
import { EXIT, ObservabilityError, formatLogLine, openCliSource, out, reportCliError, resolveLogFilter, type LogFilter, type ObservabilitySource } from '../observability/index.js';

interface LogsOptions extends LogFilter {
  follow?: boolean;
  json?: boolean;
  config?: string;
  master?: string;
  tokenFile?: string;
}

/** Both command groups of central logs and metrics: `sluice logs` and `sluice metrics`. */
export function registerObservabilityCommands(program: Command): void {
  registerLogsCommands(program);
  registerMetricsCommands(program);
}

/** Commander exits 1 on usage errors; Sluice's CLI uses 2 (help and version stay 0). */
function usageExit(err: { exitCode: number }): never {
  process.exit(err.exitCode === 0 ? 0 : EXIT.usage);
}

/** `sluice logs <appId>`: an app's logs from the master, or from the store when no master runs. */
export function registerLogsCommands(program: Command): void {
  program
    .command('logs')
    .description("show an app's logs (through the master, or straight from the store with -c when no master runs)")
    .argument('<appId>', 'app id')
    .option('--since <time>', 'from this time: a duration ago (10m), epoch ms or ISO date (default: the newest --limit lines)')
    .option('--until <time>', 'up to this time (exclusive)')
    .option('--level <level>', 'minimum level: trace, debug, info, warn, error, fatal')
    .option('--grep <text>', 'message contains this text (case-insensitive)')
    .option('--processor <id>', 'only this processor')
    .option('--task <id>', 'only this task')
    .option('--executor <id>', 'only this executor')
    .option('--limit <n>', 'at most this many lines (default 1000)')
    .option('-f, --follow', 'keep printing new lines as they arrive')
    .option('--json', 'one JSON record per line (NDJSON)')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .option('--token-file <file>', 'file holding your API token (else SLUICE_TOKEN, credentials file, <config folder>/admin.token)')
    .option('--master <host:port>', 'master to ask')
    .exitOverride(usageExit)
    .action(async (appId: string, opts: LogsOptions) => {
      process.exitCode = await runLogs(appId, opts);
    });
}

export async function runLogs(appId: string, o: LogsOptions): Promise<number> {
  const filter: LogFilter = { since: o.since, until: o.until, level: o.level, grep: o.grep, processor: o.processor, task: o.task, executor: o.executor, limit: o.limit };
  let source: ObservabilitySource | undefined;
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Piped into `head`: stop quietly.
  process.stdout.on('error', onSignal);
  try {
    resolveLogFilter(filter); // bad filters are usage errors, before any connection
    if (o.follow && o.until !== undefined) throw new ObservabilityError('INVALID_ARGUMENT', '-f follows new lines: it cannot be combined with --until');
    source = await openCliSource(appId, o);
    const color = !o.json && process.stdout.isTTY === true;
    const line = (r: Parameters<typeof formatLogLine>[0]): string => (o.json ? JSON.stringify(r) : formatLogLine(r, { color })) + '\n';
    if (o.follow) {
      for await (const r of source.followLogs(filter, ac.signal)) {
        if (ac.signal.aborted) break;
        await out(line(r));
      }
    } else {
      const records = await source.readLogs(filter);
      let chunk = '';
      for (const r of records) {
        chunk += line(r);
        if (chunk.length > 64 * 1024) {
          await out(chunk);
          chunk = '';
        }
      }
      await out(chunk);
    }
    return EXIT.ok;
  } catch (err) {
    if (ac.signal.aborted) return EXIT.ok;
    return reportCliError('logs', err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', onSignal);
    await source?.close().catch(() => {});
  }
}
