import type { Command } from 'commander';
import { loadClusterConfig } from '../config/cluster-config.js';

/** Options every app command takes: where the master is, and --json. */
export interface Common {
  config?: string;
  master?: string;
  json?: boolean;
}

export interface CommonFlags {
  clusterConfig?: string;
  master?: string;
  json?: boolean;
}

export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('-c, --cluster-config <file>', 'cluster config (YAML): master address and store')
    .option('--master <host:port>', 'master address (default from the config, 127.0.0.1:7070)')
    .option('--json', 'machine-readable output');
}

export function commonOf(o: CommonFlags): Common {
  return { ...(o.clusterConfig ? { config: o.clusterConfig } : {}), ...(o.master ? { master: o.master } : {}), ...(o.json ? { json: true } : {}) };
}

export async function masterOf(o: Common): Promise<string> {
  if (o.master) return o.master.startsWith('http') ? o.master : `http://${o.master}`;
  const { config } = await loadClusterConfig(o.config);
  return `http://${config.master.host}:${config.master.port}`;
}
