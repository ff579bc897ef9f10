// Child-process host for s3rver 3.7.1. Run with `node --openssl-legacy-provider` (s3rver's
// continuation tokens use DES). Prints one JSON line {port, pid} once listening.
//   --dir <path>   data directory (required)
//   --port <n>     port to listen on (default 0: any free port; a restart reuses the old one)
//   --shim         enforce conditional writes in front of s3rver (it ignores them), serialise
//                  requests per key and make PUTs atomic (bodies buffered before s3rver sees them)
//                  (config rgwIfMatch=true: accept only bare ETags in If-Match, like Ceph RGW)
// Every request is counted; GET /_shim/stats, POST /_shim/reset, POST /_shim/config?conflictRate=0.1
import http from 'node:http';
import S3rver from 's3rver';

const args = process.argv.slice(2);
const dir = args[args.indexOf('--dir') + 1];
const shim = args.includes('--shim');
const port = Number(args.includes('--port') ? args[args.indexOf('--port') + 1] : 0);
if (!dir || args.indexOf('--dir') < 0 || !Number.isInteger(port)) {
  process.stderr.write('usage: launcher.mjs --dir <path> [--port <n>] [--shim]\n');
  process.exit(2);
}

const s3 = new S3rver({ directory: dir, silent: true });
const app = s3.callback();
const store = s3.store;

const stats = { total: 0, byOp: {} };
let conflictRate = 0;
// Mimic Ceph RGW: If-Match only matches the bare (unquoted) ETag.
let rgwIfMatch = false;
// Seeded PRNG (mulberry32) so injected 409s are reproducible.
let seed = 0x5eed;
function rand() {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function opOf(method, url, key) {
  const q = url.searchParams;
  if (!key) return method === 'GET' ? 'ListObjects' : method === 'POST' && q.has('delete') ? 'DeleteObjects' : `${method}Bucket`;
  if (method === 'PUT') return q.has('uploadId') ? 'UploadPart' : 'PutObject';
  if (method === 'POST') return q.has('uploadId') ? 'CompleteMultipartUpload' : q.has('uploads') ? 'CreateMultipartUpload' : 'PostObject';
  if (method === 'DELETE') return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
  return method === 'HEAD' ? 'HeadObject' : 'GetObject';
}

// Per-key mutex: the shim's checks and s3rver's in-place writes become atomic per key.
const locks = new Map();
async function withLock(key, fn) {
  const prev = locks.get(key) ?? Promise.resolve();
  let release;
  const mine = new Promise((r) => (release = r));
  const tail = prev.then(() => mine);
  locks.set(key, tail);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (locks.get(key) === tail) locks.delete(key);
  }
}

const unquote = (s) => String(s).replace(/^W\//, '').replace(/^"|"$/g, '');

function fail(req, res, status, code, message) {
  return new Promise((resolve) => {
    req.resume();
    const send = () => {
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body, resolve);
    };
    if (req.readableEnded) send();
    else req.on('end', send);
  });
}

// Buffers a request body; undefined if the client went away before the end. s3rver
// writes objects in place as bytes arrive, so a killed client would leave a torn object;
// real S3 stores nothing from an incomplete PUT.
function buffered(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let done = false;
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('close', () => done || resolve(undefined));
    req.on('error', () => resolve(undefined));
  });
}

// A complete copy of the request for s3rver to read.
function replay(req, body) {
  const fake = new http.IncomingMessage(req.socket);
  Object.assign(fake, { method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders });
  Object.assign(fake, { httpVersion: req.httpVersion, httpVersionMajor: req.httpVersionMajor, httpVersionMinor: req.httpVersionMinor });
  fake.complete = true; // else IncomingMessage destroys the shared socket when it ends
  fake.push(body);
  fake.push(null);
  return fake;
}

function passThrough(req, res) {
  return new Promise((resolve) => {
    res.on('close', resolve);
    app(req, res);
  });
}

async function conditional(req, res, bucket, key) {
  const inm = req.headers['if-none-match'];
  const im = req.headers['if-match'];
  if (conflictRate > 0 && rand() < conflictRate) {
    return fail(req, res, 409, 'ConditionalRequestConflict', 'A conflicting conditional operation is currently in progress (injected by the shim)');
  }
  const meta = await store.getMetadata(bucket, key).catch(() => undefined);
  if (inm !== undefined && inm.trim() === '*' && meta) {
    return fail(req, res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold (If-None-Match, shim)');
  }
  if (im !== undefined) {
    // AWS answers 404 NoSuchKey for If-Match on a missing key; quoted and bare ETags both match.
    if (!meta) return fail(req, res, 404, 'NoSuchKey', 'The specified key does not exist (If-Match, shim)');
    const quoted = im.trim().startsWith('"');
    if (im.trim() !== '*' && (unquote(im.trim()) !== unquote(meta.etag) || (rgwIfMatch && quoted))) {
      return fail(req, res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold (If-Match, shim)');
    }
  }
  return passThrough(req, res);
}

function admin(req, res, url) {
  if (url.pathname === '/_shim/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ ...stats, conflictRate, rgwIfMatch, shim }));
  }
  if (url.pathname === '/_shim/reset') {
    stats.total = 0;
    stats.byOp = {};
  } else if (url.pathname === '/_shim/config') {
    if (url.searchParams.has('conflictRate')) conflictRate = Number(url.searchParams.get('conflictRate'));
    if (url.searchParams.has('seed')) seed = Number(url.searchParams.get('seed'));
    if (url.searchParams.has('rgwIfMatch')) rgwIfMatch = url.searchParams.get('rgwIfMatch') === 'true';
  }
  res.writeHead(204);
  res.end();
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname.startsWith('/_shim/')) return admin(req, res, url);
  const parts = url.pathname.split('/');
  const bucket = decodeURIComponent(parts[1] ?? '');
  const key = parts.slice(2).map(decodeURIComponent).join('/');
  const op = opOf(req.method, url, key);
  stats.total++;
  stats.byOp[op] = (stats.byOp[op] ?? 0) + 1;
  if (!shim || !key) return void app(req, res);
  const isWrite = op === 'PutObject' || op === 'CompleteMultipartUpload';
  const hasCondition = req.headers['if-none-match'] !== undefined || req.headers['if-match'] !== undefined;
  void withLock(`${bucket}/${key}`, async () => {
    let r = req;
    if (req.method === 'PUT' || req.method === 'POST') {
      const body = await buffered(req);
      if (body === undefined) return; // the client died mid-body: store nothing
      r = replay(req, body);
    }
    return isWrite && hasCondition ? conditional(r, res, bucket, key) : passThrough(r, res);
  });
});
server.keepAliveTimeout = 30_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, pid: process.pid, shim })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
