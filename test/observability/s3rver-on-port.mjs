// Runs s3rver 3.7.1 on a given port and directory so a test can stop it and start it
// again on the same port with the same data (the shared harness always picks a new port
// and a fresh directory). Run with `node --openssl-legacy-provider`. Prints {port, pid}.
//   --dir <path> (required)   --port <n> (0 = any free port)
import S3rver from 's3rver';

const args = process.argv.slice(2);
const dir = args[args.indexOf('--dir') + 1];
const port = Number(args.includes('--port') ? args[args.indexOf('--port') + 1] : 0);
if (args.indexOf('--dir') < 0 || !dir || !Number.isInteger(port)) {
  process.stderr.write('usage: s3rver-on-port.mjs --dir <path> [--port <n>]\n');
  process.exit(2);
}
const s3 = new S3rver({ directory: dir, address: '127.0.0.1', port, silent: true });
const addr = await s3.run(); // resolves with the listening address
process.stdout.write(`${JSON.stringify({ port: addr.port, pid: process.pid })}\n`);
process.on('SIGTERM', () => s3.close().then(() => process.exit(0)));
