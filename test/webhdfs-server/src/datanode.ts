// The DataNode side of the two-step protocol (WebHdfsHandler + HdfsWriter): it creates or
// appends the file as soon as the request arrives, streams the body to disk, and on a
// client abort closes the file with the bytes that arrived (a partial file stays behind).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedCaller, ServerContext } from './context.js';
import { clientAddress, resolveCaller } from './context.js';
import type { ErrorFlavor } from './errors.js';
import { errors } from './errors.js';
import { afterDrain, sendError, sendJson, sleep } from './http.js';
import type { OpenFile } from './namespace.js';
import {
  boolParam, encodePath, longParam, parseRequestUrl, permissionParam, validateCommonParams,
} from './params.js';
import type { ListenerStats } from './stats.js';
import { countRequest, countStatus } from './stats.js';
import { injectRandomFault } from './random-faults.js';

function writeAt(fd: number, buf: Buffer, pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = () =>
      fs.write(fd, buf, done, buf.length - done, pos + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (done < buf.length) step();
        else resolve();
      });
    step();
  });
}

export interface UploadSpec {
  op: 'CREATE' | 'APPEND';
  path: string;
  params: Map<string, string>;
  caller: ResolvedCaller;
  flavor: ErrorFlavor;
  stats: ListenerStats;
  /** Location header of the 201 (WebHDFS: hdfs://nn-rpc/path; HttpFS: none). */
  createdLocation: string | null;
  /** Write "100 Continue" before touching the namespace. */
  sendContinue: boolean;
  /** Default of `overwrite` (false on WebHDFS, true on HttpFS). */
  overwriteDefault: boolean;
}

/** Step 2 of CREATE/APPEND. Resolves when the response is sent or the socket is gone. */
export async function runUpload(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, u: UploadSpec): Promise<void> {
  const wrap = ctx.faults.httpfsWrapRemoteException;
  // Captured now: ending the body iterator early detaches req.socket.
  const socket = req.socket;
  if (u.sendContinue) res.writeContinue();
  let w: OpenFile;
  let fd: number;
  try {
    if (ctx.faults.standby) throw errors.standby('Operation category WRITE is not supported in state standby. Visit https://s.apache.org/sbnn-error');
    // The NN sees the DataNode's DFSClient as the writer.
    const dnCaller = { user: u.caller.user, clientMachine: ctx.host };
    const holder = ctx.ns.newClientName();
    w = u.op === 'CREATE'
      ? ctx.ns.create(dnCaller, u.path, {
          permission: permissionParam(u.params, 0o644)!,
          overwrite: boolParam(u.params, 'overwrite', u.overwriteDefault),
          createParent: boolParam(u.params, 'createparent', true),
          replication: longParam(u.params, 'replication', null, 1),
          blockSize: longParam(u.params, 'blocksize', null, 1),
        }, holder)
      : ctx.ns.append(dnCaller, u.path, holder);
    // Opened in the same tick as the create, so a concurrent overwrite cannot unlink it first.
    fd = fs.openSync(w.dataFile, 'r+');
  } catch (e) {
    afterDrain(req, res, () => sendError(res, u.stats, e, u.flavor, wrap));
    return;
  }

  let died = false;
  let aborted = false;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      u.stats.bytesIn += chunk.length;
      const delay = ctx.faults.dnDelayMsPerChunk;
      if (delay > 0) await sleep(delay);
      let buf = chunk;
      const dieAt = ctx.faults.dnDieAfterBytes;
      if (dieAt !== null && w.bytes + buf.length >= dieAt) {
        buf = buf.subarray(0, Math.max(0, dieAt - w.bytes));
        died = true;
      }
      // A revoked writer (overwritten/deleted file) keeps reading but its bytes go nowhere.
      if (!w.revoked && buf.length > 0) {
        await writeAt(fd, buf, w.startOffset + w.bytes);
        w.bytes += buf.length;
        ctx.ns.renew(w);
      }
      if (died) break;
    }
  } catch {
    aborted = true;
  } finally {
    fs.closeSync(fd);
  }

  if (died || aborted) {
    ctx.stats.abortedUploads++;
    if (died) socket.destroy();
    if (died && ctx.faults.dnDieKeepsLease) {
      ctx.ns.orphan(w);
      return;
    }
    // HdfsWriter.channelInactive closes the stream: the partial bytes become the file.
    try {
      ctx.ns.complete(w);
    } catch {
      /* lease already lost: nothing to close */
    }
    return;
  }
  try {
    ctx.ns.complete(w);
  } catch (e) {
    sendError(res, u.stats, e, u.flavor, wrap);
    return;
  }
  if (u.op === 'CREATE') {
    const headers: Record<string, string> = { 'Content-Length': '0' };
    if (u.createdLocation) headers.Location = u.createdLocation;
    countStatus(u.stats, 201);
    res.writeHead(201, headers);
  } else {
    countStatus(u.stats, 200);
    res.writeHead(200, { 'Content-Length': '0' });
  }
  res.end();
}

/** Step 2 of OPEN: streams the visible bytes from `offset`; seeking past EOF is a 403. */
export async function runRead(
  ctx: ServerContext, req: IncomingMessage, res: ServerResponse, path: string, params: Map<string, string>,
  caller: ResolvedCaller, flavor: ErrorFlavor, stats: ListenerStats,
): Promise<void> {
  const socket = req.socket;
  let fd: number;
  let count: number;
  let offset: number;
  try {
    if (ctx.faults.standby) throw errors.standby('Operation category READ is not supported in state standby. Visit https://s.apache.org/sbnn-error');
    offset = longParam(params, 'offset', 0, 0)!;
    const length = longParam(params, 'length', null, 0);
    const r = ctx.ns.openForRead(caller, path);
    if (offset > r.length) {
      fs.closeSync(r.fd);
      throw errors.eof('Cannot seek after EOF');
    }
    fd = r.fd;
    count = Math.min(r.length - offset, length ?? Number.MAX_SAFE_INTEGER);
  } catch (e) {
    sendError(res, stats, e, flavor, ctx.faults.httpfsWrapRemoteException);
    return;
  }
  countStatus(stats, 200);
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(count),
    'Access-Control-Allow-Methods': 'GET',
    'Access-Control-Allow-Origin': '*',
    Connection: 'close',
  });
  let sent = 0;
  let closed = false;
  res.on('close', () => (closed = true));
  try {
    if (count > 0) {
      const stream = fs.createReadStream('', { fd, start: offset, end: offset + count - 1, autoClose: false });
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (closed) break;
        const delay = ctx.faults.dnDelayMsPerChunk;
        if (delay > 0) await sleep(delay);
        let buf = chunk;
        const dieAt = ctx.faults.dnDieAfterBytes;
        const die = dieAt !== null && sent + buf.length >= dieAt;
        if (die) buf = buf.subarray(0, Math.max(0, dieAt - sent));
        if (buf.length > 0 && !res.write(buf)) {
          // Remove both listeners whichever fires, so long reads do not pile up 'close' listeners.
          await new Promise<void>((r) => {
            const done = (): void => {
              res.off('drain', done);
              res.off('close', done);
              r();
            };
            res.on('drain', done);
            res.on('close', done);
          });
        }
        sent += buf.length;
        stats.bytesOut += buf.length;
        if (die) {
          await new Promise<void>((r) => setImmediate(r));
          socket.destroy();
          return;
        }
      }
    }
    res.end();
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * MD5-of-MD5-of-CRC32C-shaped checksum. The value is an MD5 over per-block MD5s of the
 * bytes (not real CRCs), so it is stable and block-size dependent like Hadoop's.
 */
export function fileChecksum(ctx: ServerContext, caller: ResolvedCaller, path: string): unknown {
  const n = ctx.ns.checkReadable(caller, path);
  const data = fs.readFileSync(ctx.ns.dataFileFor(n.id)).subarray(0, n.length);
  const blocks = Math.max(1, Math.ceil(n.length / n.blockSize));
  const outer = createHash('md5');
  for (let b = 0; b < blocks; b++) {
    outer.update(createHash('md5').update(data.subarray(b * n.blockSize, (b + 1) * n.blockSize)).digest());
  }
  const crcPerBlock = blocks > 1 ? Math.ceil(n.blockSize / 512) : 0;
  const head = Buffer.alloc(12);
  head.writeInt32BE(512, 0);
  head.writeBigInt64BE(BigInt(crcPerBlock), 4);
  const bytes = Buffer.concat([head, outer.digest()]);
  return {
    FileChecksum: { algorithm: `MD5-of-${crcPerBlock}MD5-of-512CRC32C`, bytes: bytes.toString('hex'), length: bytes.length },
  };
}

/** The DataNode HTTP listener. */
export async function handleDataNode(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const stats = ctx.stats.datanode;
  const method = req.method ?? 'GET';
  let parsed;
  try {
    parsed = parseRequestUrl(req.url ?? '/');
  } catch (e) {
    countRequest(stats, '-');
    afterDrain(req, res, () => sendError(res, stats, e, 'webhdfs', false));
    return;
  }
  if (!parsed) {
    countRequest(stats, '-');
    afterDrain(req, res, () => {
      countStatus(stats, 404);
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': '9' });
      res.end('Not Found');
    });
    return;
  }
  const op = (parsed.params.get('op') ?? '').toUpperCase();
  countRequest(stats, op || 'NULL');
  if (injectRandomFault(ctx, 'datanode', op, req, res, stats, 'webhdfs')) return;
  try {
    validateCommonParams(parsed.params);
    const nnId = parsed.params.get('namenoderpcaddress');
    if (!nnId) throw errors.illegalArgument('namenoderpcaddress is not specified.');
    if (nnId !== ctx.nnRpcAddress) {
      throw errors.connect(`Call From ${ctx.host} to ${nnId} failed on connection exception: java.net.ConnectException: Connection refused`);
    }
    const caller = resolveCaller(ctx, parsed.params, clientAddress(req));
    const path = parsed.path;
    if (op === 'CREATE' && method === 'PUT') {
      await runUpload(ctx, req, res, {
        op: 'CREATE', path, params: parsed.params, caller, flavor: 'webhdfs', stats,
        createdLocation: `hdfs://${nnId}${encodePath(path)}`,
        sendContinue: ctx.dnAlwaysSendContinue || /100-continue/i.test(String(req.headers.expect ?? '')),
        overwriteDefault: false,
      });
    } else if (op === 'APPEND' && method === 'POST') {
      await runUpload(ctx, req, res, {
        op: 'APPEND', path, params: parsed.params, caller, flavor: 'webhdfs', stats, createdLocation: null,
        sendContinue: ctx.dnAlwaysSendContinue || /100-continue/i.test(String(req.headers.expect ?? '')),
        overwriteDefault: false,
      });
    } else if (op === 'OPEN' && method === 'GET') {
      await runRead(ctx, req, res, path, parsed.params, caller, 'webhdfs', stats);
    } else if (op === 'GETFILECHECKSUM' && method === 'GET') {
      if (ctx.faults.standby) throw errors.standby('Operation category READ is not supported in state standby. Visit https://s.apache.org/sbnn-error');
      sendJson(res, stats, 200, fileChecksum(ctx, caller, path));
    } else {
      throw errors.illegalArgument(`Invalid operation ${parsed.params.get('op') ?? 'null'}`);
    }
  } catch (e) {
    afterDrain(req, res, () => sendError(res, stats, e, 'webhdfs', false));
  }
}
