#!/usr/bin/env node
// CLI: start the server, print one JSON line with the URLs, stop on SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { startWebHdfsServer } from './index.js';

const USAGE = `usage: webhdfs-test-server [--port <nn-port>] [--dn-port <p>] [--host <h>] [--data-dir <dir>]
  [--ls-limit <n>] [--httpfs] [--enforce-permissions] [--dn-host-alias <name>] [--superuser <u>]
  [--default-user <u>] [--no-always-continue]
Prints {"namenode":"http://…","datanode":"http://…","mode":"…","dataDir":"…","pid":…} on one line.
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'dn-port': { type: 'string', default: '0' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'ls-limit': { type: 'string' },
      httpfs: { type: 'boolean', default: false },
      'enforce-permissions': { type: 'boolean', default: false },
      'dn-host-alias': { type: 'string' },
      superuser: { type: 'string' },
      'default-user': { type: 'string' },
      'no-always-continue': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
    return n;
  };
  // Handlers go in before the URL line is printed, so a signal right after it is handled.
  let stopping = false;
  let server: Awaited<ReturnType<typeof startWebHdfsServer>> | undefined;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (!server) process.exit(0);
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  server = await startWebHdfsServer({
    host: values.host,
    nnPort: num(values.port, 'port'),
    dnPort: num(values['dn-port'], 'dn-port'),
    dataDir: values['data-dir'],
    lsLimit: num(values['ls-limit'], 'ls-limit'),
    mode: values.httpfs ? 'httpfs' : 'webhdfs',
    enforcePermissions: values['enforce-permissions'],
    dnHostAlias: values['dn-host-alias'],
    superuser: values.superuser,
    defaultUser: values['default-user'],
    dnAlwaysSendContinue: !values['no-always-continue'],
  });
  process.stdout.write(
    JSON.stringify({
      namenode: server.nnUrl, datanode: server.dnUrl, mode: server.mode, dataDir: server.dataDir, pid: process.pid,
    }) + '\n',
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`webhdfs-test-server: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
  process.exit(2);
});
