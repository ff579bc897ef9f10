import { loadClusterConfig, type LoadedClusterConfig } from '../config/cluster-config.js';
import { localMasterUrl } from '../cluster/local-run-file.js';
import { openSource, type ObservabilitySource } from './sources.js';
import { resolve } from 'node:path';
import { EXIT_CODES, exitCodeOfCode, isEngineError } from '../errors.js';
import { redactMessage, stripControlChars } from '../security/redact.js';
import { resolveToken } from '../security/credentials.js';
import { loadTlsClientCa } from '../security/tls.js';

/** Exit codes of `sluice logs` / `sluice metrics`. */
export const EXIT = { ok: EXIT_CODES.OK, failure: EXIT_CODES.FAILURE, usage: EXIT_CODES.USAGE, notFound: EXIT_CODES.NOT_FOUND } as const;

export interface SourceCliOptions {
  config?: string;
  master?: string;
  tokenFile?: string;
}

export async function openCliSource(appId: string, o: SourceCliOptions): Promise<ObservabilitySource> {
  const loaded = o.config || !o.master ? await loadClusterConfig(o.config) : undefined;
  const config = loaded && !o.master ? await withLocalMaster(loaded) : loaded?.config;
  const master = o.master ?? `${config!.master.host}:${config!.master.port}`;
  const { token } = await resolveToken({ master: master.replace(/^https?:\/\//, ''), ...(loaded ? { loaded } : {}), ...(o.tokenFile ? { tokenFile: o.tokenFile } : {}) });
  // HTTPS masters are verified with the cluster's CA (`master.tls.ca`).
  const tls = loaded?.config.master.tls;
  const ca = tls?.ca ? await loadTlsClientCa({ ca: resolve(loaded!.baseDir, tls.ca) }) : undefined;
  const extra = { ...(token ? { token } : {}), ...(ca ? { ca } : {}) };
  if (o.master) return openSource(appId, { master: ca && !o.master.includes('://') ? `https://${o.master}` : o.master, ...extra });
  return openSource(appId, { config: config!, baseDir: loaded!.baseDir, ...extra });
}

/**
 * master.port 0: the address `sluice local` wrote to its run file. No run file keeps port 0
 * (unreachable), so logs still come from the store; a stale one is an error.
 */
async function withLocalMaster(loaded: LoadedClusterConfig): Promise<LoadedClusterConfig['config']> {
  if (loaded.config.master.port !== 0) return loaded.config;
  let url: URL;
  try {
    url = new URL(await localMasterUrl(loaded));
  } catch (err) {
    if (isEngineError(err, 'MASTER_UNREACHABLE')) return loaded.config;
    throw err;
  }
  return { ...loaded.config, master: { ...loaded.config.master, host: url.hostname, port: Number(url.port) } };
}

/** Prints the error on stderr and maps it to an exit code (the engine's one table, errors.ts). */
export function reportCliError(command: string, err: unknown): number {
  const msg = stripControlChars(redactMessage(err instanceof Error ? err.message : String(err)));
  process.stderr.write(`sluice ${command}: ${msg}\n`);
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? exitCodeOfCode(code) : EXIT.failure;
}

/** Writes to stdout, waiting when the pipe is full so a huge result does not pile up in memory. */
export async function out(text: string): Promise<void> {
  if (!process.stdout.write(text)) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
}
