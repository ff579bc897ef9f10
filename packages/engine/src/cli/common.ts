import type { Command } from 'commander';
import { loadClusterConfig, type LoadedClusterConfig } from '../config/cluster-config.js';
import type { Endpoint } from '../cluster/http.js';
import { cliEndpoint } from '../security/credentials.js';
import { localMasterUrl } from '../cluster/local-run-file.js';

/** Options every app command takes: where the master is, and --json. */
export interface Common {
  config?: string;
  master?: string;
  json?: boolean;
  tokenFile?: string;
}

export interface CommonFlags {
  clusterConfig?: string;
  master?: string;
  json?: boolean;
  tokenFile?: string;
}

export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('-c, --cluster-config <file>', 'cluster config (YAML): master address and store')
    .option('--master <host:port>', 'master address (default from the config, 127.0.0.1:7070)')
    .option('--token-file <file>', 'file holding your API token (else SLUICE_TOKEN, ~/.config/sluice/credentials, <config folder>/admin.token)')
    .option('--json', 'machine-readable output');
}

export function commonOf(o: CommonFlags): Common {
  return { ...(o.clusterConfig ? { config: o.clusterConfig } : {}), ...(o.master ? { master: o.master } : {}), ...(o.json ? { json: true } : {}), ...(o.tokenFile ? { tokenFile: o.tokenFile } : {}) };
}

/** The master to call, with the caller's token (and CA for HTTPS): see security/credentials. */
export async function masterOf(o: Common): Promise<Endpoint> {
  // The config is read only when given (or for the default address): never created.
  const loaded = o.config || !o.master ? await loadClusterConfig(o.config) : undefined;
  const master = o.master ?? loaded!.config.master.urls?.join(',') ?? (await configuredMaster(loaded!));
  return cliEndpoint(master, loaded, o.tokenFile);
}

/** master.host:master.port; port 0 means "wherever `sluice local` bound": its run file says. */
export async function configuredMaster(loaded: LoadedClusterConfig): Promise<string> {
  const m = loaded.config.master;
  return m.port === 0 ? localMasterUrl(loaded) : `${m.host}:${m.port}`;
}
