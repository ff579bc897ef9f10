// Public API: start a WebHDFS (NameNode + DataNode) or HttpFS test server on 127.0.0.1.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerContext } from './context.js';
import { handleDataNode } from './datanode.js';
import { FaultInjector } from './faults.js';
import type { Faults } from './faults.js';
import { handleNameNode } from './namenode.js';
import { Namespace } from './namespace.js';
import { createStats } from './stats.js';
import type { ServerStats } from './stats.js';
import { TokenStore } from './tokens.js';

export type { Faults, RandomFailureKind } from './faults.js';
export type { ListenerStats, ServerStats } from './stats.js';
export { compareNames } from './namespace.js';

export interface WebHdfsServerOptions {
  /** Bind address (default 127.0.0.1). */
  host?: string;
  /** NameNode HTTP port (0 = any free port). In HttpFS mode, the single gateway port. */
  nnPort?: number;
  /** DataNode HTTP port (0 = any free port). Unused in HttpFS mode. */
  dnPort?: number;
  /** Where file bytes live. Default: a temp dir, removed by stop(). */
  dataDir?: string;
  /** dfs.ls.limit: LISTSTATUS_BATCH page size (default 1000). */
  lsLimit?: number;
  /** 'webhdfs' (NN + DN, default) or 'httpfs' (single port gateway). */
  mode?: 'webhdfs' | 'httpfs';
  /** Check owner/group/other bits (dfs.permissions.enabled). Default false. */
  enforcePermissions?: boolean;
  /** The HDFS superuser (bypasses permission checks). Default 'hdfs'. */
  superuser?: string;
  /** Members of this group are superusers too. Default 'supergroup'. */
  supergroup?: string;
  /** Extra group memberships per user (every user is in a group named like itself). */
  groups?: Record<string, string[]>;
  /** hadoop.http.staticuser.user: the user when no user.name is given. Default 'dr.who'. */
  defaultUser?: string;
  /** Host name written into redirect Locations (e.g. 'datanode.invalid'). */
  dnHostAlias?: string;
  /** The NameNode RPC address the NN puts in namenoderpcaddress. Default '<host>:8020'. */
  nnRpcAddress?: string;
  /** Lease soft limit for an orphaned lease (a dead writer). Default 60000. */
  softLeaseMs?: number;
  /** Lease hard limit: the NN closes an orphaned file itself. Default 1200000. */
  hardLeaseMs?: number;
  /** How long a non-block-boundary TRUNCATE keeps the file in recovery. Default 0. */
  truncateRecoveryMs?: number;
  /** dfs.blocksize default (134217728). */
  blockSize?: number;
  /** dfs.replication default (1, as on a one-DataNode cluster). */
  replication?: number;
  /** Permission of "/" (default 0o755, owned by the superuser). */
  rootPermission?: number;
  /** Users allowed to use doas ('*' = anyone; default ['*']). */
  proxyUsers?: string[];
  /** Reject `delegation=` tokens this server did not mint (default false: opaque tokens pass). */
  strictTokens?: boolean;
  /**
   * Hadoop's DataNode writes "100 Continue" on every CREATE/APPEND, asked for or not
   * (WebHdfsHandler.writeContinueHeader). Default true. Note: undici/fetch rejects an
   * unsolicited 100 with "bad response"; set false to only answer Expect: 100-continue.
   */
  dnAlwaysSendContinue?: boolean;
  /** Initial fault switches. */
  faults?: Partial<Faults>;
}

export interface WebHdfsServer {
  /** http://host:port of the NameNode (HttpFS: of the gateway). */
  readonly nnUrl: string;
  /** http://host:port of the DataNode (HttpFS: same as nnUrl). */
  readonly dnUrl: string;
  readonly nnPort: number;
  readonly dnPort: number;
  /** Live fault switches: assign fields at any time. */
  readonly faults: Faults;
  /** Live request counters. */
  readonly stats: ServerStats;
  readonly dataDir: string;
  readonly mode: 'webhdfs' | 'httpfs';
  setSafeMode(on: boolean): void;
  setStandby(on: boolean): void;
  /** Resets every fault switch to its default. */
  resetFaults(): void;
  /** Closes both listeners (dropping open connections) and removes a temp dataDir. */
  stop(): Promise<void>;
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** A port that was free a moment ago and that nothing listens on (dnUnreachable). */
async function reserveDeadPort(host: string): Promise<number> {
  const s = http.createServer();
  const port = await listen(s, 0, host);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function makeServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
): http.Server {
  // requestTimeout 0: a slow or huge upload must not be cut by Node's 300 s default.
  const server = http.createServer({ requestTimeout: 0, keepAliveTimeout: 5000 });
  const run = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handler(req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('internal test-server error');
      } else res.destroy();
    });
  };
  server.on('request', run);
  // Handling checkContinue ourselves lets the handler decide when "100 Continue" goes out.
  server.on('checkContinue', run);
  server.on('clientError', (_err, socket) => socket.destroy());
  return server;
}

export async function startWebHdfsServer(options: WebHdfsServerOptions = {}): Promise<WebHdfsServer> {
  const host = options.host ?? '127.0.0.1';
  const mode = options.mode ?? 'webhdfs';
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? fs.mkdtempSync(join(tmpdir(), 'webhdfs-test-'));
  fs.mkdirSync(dataDir, { recursive: true });
  const superuser = options.superuser ?? 'hdfs';
  const injector = new FaultInjector();
  if (options.faults) injector.update(options.faults as Record<string, unknown>);
  const faults = injector.faults;
  const stats = createStats();
  const ns = new Namespace({
    dataDir,
    blockSize: options.blockSize ?? 134217728,
    replication: options.replication ?? 1,
    superuser,
    supergroup: options.supergroup ?? 'supergroup',
    enforcePermissions: options.enforcePermissions ?? false,
    groups: options.groups ?? {},
    softLeaseMs: options.softLeaseMs ?? 60_000,
    hardLeaseMs: options.hardLeaseMs ?? 1_200_000,
    truncateRecoveryMs: options.truncateRecoveryMs ?? 0,
    rootPermission: options.rootPermission ?? 0o755,
    nnHostName: options.dnHostAlias ?? host,
  });
  ns.safeModeProbe = () => faults.safeMode;

  const ctx: ServerContext = {
    ns, injector, faults, stats, tokens: new TokenStore(), mode, host,
    nnPort: 0, dnPort: 0, deadPort: await reserveDeadPort(host),
    nnRpcAddress: options.nnRpcAddress ?? `${host}:8020`,
    dnHostAlias: options.dnHostAlias,
    defaultUser: options.defaultUser ?? 'dr.who',
    proxyUsers: options.proxyUsers ?? ['*'],
    strictTokens: options.strictTokens ?? false,
    lsLimit: options.lsLimit ?? 1000,
    dnAlwaysSendContinue: options.dnAlwaysSendContinue ?? true,
  };

  const servers: http.Server[] = [];
  const nn = makeServer((req, res) => handleNameNode(ctx, req, res, mode === 'httpfs' ? 'httpfs' : 'webhdfs'));
  servers.push(nn);
  ctx.nnPort = await listen(nn, options.nnPort ?? 0, host);
  if (mode === 'webhdfs') {
    const dn = makeServer((req, res) => handleDataNode(ctx, req, res));
    servers.push(dn);
    try {
      ctx.dnPort = await listen(dn, options.dnPort ?? 0, host);
    } catch (e) {
      nn.closeAllConnections();
      await new Promise<void>((r) => nn.close(() => r()));
      throw e;
    }
  } else {
    ctx.dnPort = ctx.nnPort;
  }

  let stopped = false;
  return {
    nnUrl: `http://${host}:${ctx.nnPort}`,
    dnUrl: `http://${host}:${ctx.dnPort}`,
    nnPort: ctx.nnPort,
    dnPort: ctx.dnPort,
    faults,
    stats,
    dataDir,
    mode,
    setSafeMode(on: boolean) {
      faults.safeMode = on;
    },
    setStandby(on: boolean) {
      faults.standby = on;
    },
    resetFaults() {
      injector.reset();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((r) => {
              s.close(() => r());
              s.closeAllConnections();
            }),
        ),
      );
      if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
