// The NameNode REST handler (NamenodeWebHdfsMethods). In HttpFS mode the same handler serves
// the single gateway port: uploads 307 to itself with data=true and reads are streamed here.
import { randomInt } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedCaller, ServerContext } from './context.js';
import { buildDnLocation, clientAddress, redirectHost, resolveCaller } from './context.js';
import { handleControl } from './control.js';
import { fileChecksum, runRead, runUpload } from './datanode.js';
import type { ErrorFlavor } from './errors.js';
import { errors } from './errors.js';
import { afterDrain, hasBody, sendEmpty, sendError, sendJettyError, sendJson } from './http.js';
import {
  boolParam, decodeHdfsPath, longParam, parseOp, parseRequestUrl, permissionParam, renameOptionsParam,
  requireParam, validateCommonParams,
} from './params.js';
import type { ParsedRequest } from './params.js';
import { injectRandomFault } from './random-faults.js';
import { countRequest, countStatus } from './stats.js';

const WRITE_OPS = new Set([
  'CREATE', 'MKDIRS', 'RENAME', 'DELETE', 'APPEND', 'CONCAT', 'TRUNCATE', 'SETPERMISSION', 'SETOWNER', 'SETTIMES',
  'SETREPLICATION', 'GETDELEGATIONTOKEN', 'RENEWDELEGATIONTOKEN', 'CANCELDELEGATIONTOKEN', 'CREATESYMLINK',
]);

/** A path given as a parameter (destination, sources): already decoded, just normalised. */
function paramPath(p: string): string {
  return decodeHdfsPath(p.replace(/%/g, '%25'));
}

function expects100(req: IncomingMessage): boolean {
  return /100-continue/i.test(String(req.headers.expect ?? ''));
}

export async function handleNameNode(
  ctx: ServerContext, req: IncomingMessage, res: ServerResponse, flavor: ErrorFlavor,
): Promise<void> {
  if ((req.url ?? '').startsWith('/_control/')) {
    if (expects100(req)) res.writeContinue();
    return handleControl(ctx, req, res);
  }
  const stats = ctx.stats.namenode;
  const wrap = ctx.faults.httpfsWrapRemoteException;
  let parsed: ParsedRequest | null;
  try {
    parsed = parseRequestUrl(req.url ?? '/');
  } catch (e) {
    countRequest(stats, '-');
    afterDrain(req, res, () => sendError(res, stats, e, flavor, wrap));
    return;
  }
  if (!parsed) {
    countRequest(stats, '-');
    afterDrain(req, res, () => sendJettyError(res, stats, 404, 'default', 'Not Found'));
    return;
  }
  const opName = (parsed.params.get('op') ?? 'NULL').toUpperCase() || 'NULL';
  countRequest(stats, opName);
  if (injectRandomFault(ctx, 'namenode', opName, req, res, stats, flavor)) return;
  try {
    const method = req.method ?? 'GET';
    const op = parseOp(method, parsed.params);
    validateCommonParams(parsed.params);
    if (ctx.faults.standby) {
      const cat = WRITE_OPS.has(op) ? 'WRITE' : 'READ';
      throw errors.standby(`Operation category ${cat} is not supported in state standby. Visit https://s.apache.org/sbnn-error`);
    }
    ctx.ns.expireLeases();
    const caller = resolveCaller(ctx, parsed.params, clientAddress(req));
    await dispatch(ctx, req, res, parsed, op, caller, flavor);
  } catch (e) {
    afterDrain(req, res, () => sendError(res, stats, e, flavor, wrap));
  }
}

async function dispatch(
  ctx: ServerContext, req: IncomingMessage, res: ServerResponse, pr: ParsedRequest, op: string,
  caller: ResolvedCaller, flavor: ErrorFlavor,
): Promise<void> {
  const { ns } = ctx;
  const stats = ctx.stats.namenode;
  const p = pr.params;
  const path = pr.path;
  const json = (body: unknown) => afterDrain(req, res, () => sendJson(res, stats, 200, body));
  const empty = () => afterDrain(req, res, () => sendEmpty(res, stats));

  switch (op) {
    case 'CREATE':
    case 'APPEND': {
      if (flavor === 'httpfs' && boolParam(p, 'data', false)) {
        // CheckUploadContentTypeFilter answers with a servlet error page, not JSON.
        const ct = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        if (ct !== 'application/octet-stream') {
          afterDrain(req, res, () =>
            sendJettyError(res, stats, 400, 'webservices-driver',
              "Data upload requests must have content-type set to 'application/octet-stream'"),
          );
          return;
        }
        await runUpload(ctx, req, res, {
          op, path, params: p, caller, flavor, stats, createdLocation: null, sendContinue: expects100(req),
          overwriteDefault: true, // HttpFS's OverwriteParam defaults to true
        });
        return;
      }
      if (hasBody(req) && !expects100(req)) {
        // The data must go to the DataNode; a body here is a client bug worth failing loudly.
        ctx.stats.nnBodyRejected++;
        throw errors.illegalArgument(
          `Data sent to the NameNode on ${op} (test-server check): send the body only to the DataNode named in the 307 Location`,
        );
      }
      let location: string;
      if (flavor === 'httpfs') {
        const q = pr.rawQuery.split('&').filter((kv) => kv !== '' && kv.split('=')[0].toLowerCase() !== 'data');
        q.push('data=true');
        const port = ctx.faults.dnUnreachable ? ctx.deadPort : ctx.nnPort;
        location = `http://${redirectHost(ctx)}:${port}${(req.url ?? '').split('?')[0]}?${q.join('&')}`;
      } else {
        const fwd: [string, string][] = [];
        if (op === 'CREATE') {
          fwd.push(['createflag', p.get('createflag') ?? '']);
          fwd.push(['createparent', String(boolParam(p, 'createparent', true))]);
          fwd.push(['overwrite', String(boolParam(p, 'overwrite', false))]);
          for (const k of ['blocksize', 'replication', 'unmaskedpermission']) {
            const v = p.get(k);
            if (v) fwd.push([k, v]);
          }
          const perm = permissionParam(p, null);
          if (perm !== null) fwd.push(['permission', perm.toString(8)]);
        }
        const bs = p.get('buffersize');
        if (bs) fwd.push(['buffersize', bs]);
        location = buildDnLocation(ctx, op, path, caller, fwd);
      }
      redirect(req, res, stats, location, boolParam(p, 'noredirect', false));
      return;
    }
    case 'OPEN': {
      if (flavor === 'httpfs') {
        await runRead(ctx, req, res, path, p, caller, flavor, stats);
        return;
      }
      ns.checkReadable(caller, path);
      const fwd: [string, string][] = [['offset', String(longParam(p, 'offset', 0, 0))]];
      const len = longParam(p, 'length', null, 0);
      if (len !== null) fwd.push(['length', String(len)]);
      const bs = p.get('buffersize');
      if (bs) fwd.push(['buffersize', bs]);
      redirect(req, res, stats, buildDnLocation(ctx, op, path, caller, fwd), boolParam(p, 'noredirect', false));
      return;
    }
    case 'GETFILECHECKSUM': {
      if (flavor === 'httpfs') return json(fileChecksum(ctx, caller, path));
      ns.checkReadable(caller, path);
      redirect(req, res, stats, buildDnLocation(ctx, op, path, caller, []), boolParam(p, 'noredirect', false));
      return;
    }
    case 'GETFILESTATUS':
      return json({ FileStatus: ns.getFileStatus(caller, path) });
    case 'LISTSTATUS':
      return json({ FileStatuses: { FileStatus: ns.list(caller, path, null, null).entries } });
    case 'LISTSTATUS_BATCH': {
      const r = ns.list(caller, path, p.get('startafter') ?? null, ctx.lsLimit);
      return json({
        DirectoryListing: { partialListing: { FileStatuses: { FileStatus: r.entries } }, remainingEntries: r.remaining },
      });
    }
    case 'GETCONTENTSUMMARY':
      return json({ ContentSummary: ns.contentSummary(caller, path) });
    case 'GETHOMEDIRECTORY':
      return json({ Path: `/user/${caller.user}` });
    case 'GETTRASHROOT':
      return json({ Path: `/user/${caller.user}/.Trash` });
    case 'GETSERVERDEFAULTS':
      return json({
        FsServerDefaults: {
          blockSize: ns.cfg.blockSize, bytesPerChecksum: 512, checksumType: 'CRC32C', defaultStoragePolicyId: 7,
          encryptDataTransfer: false, fileBufferSize: 4096, keyProviderUri: '', replication: ns.cfg.replication,
          trashInterval: 0, writePacketSize: 65536,
        },
      });
    case 'CHECKACCESS':
      ns.checkAccess(caller, path, requireParam(p, 'fsaction', op));
      return empty();
    case 'GETDELEGATIONTOKEN': {
      if (p.get('delegation')) throw errors.illegalArgument('delegation parameter is not null.');
      ns.assertNotSafeMode('Cannot issue delegation token');
      return json({ Token: { urlString: ctx.tokens.mint(caller.user, p.get('renewer') || undefined) } });
    }
    case 'RENEWDELEGATIONTOKEN':
      return json({ long: ctx.tokens.renew(requireParam(p, 'token', op), caller.user) });
    case 'CANCELDELEGATIONTOKEN':
      ctx.tokens.cancel(requireParam(p, 'token', op), caller.user);
      return empty();
    case 'MKDIRS':
      return json({ boolean: ns.mkdirs(caller, path, permissionParam(p, 0o755)!) });
    case 'RENAME': {
      const dst = paramPath(requireParam(p, 'destination', op));
      const opts = renameOptionsParam(p);
      if (opts === null) return json({ boolean: ns.rename2(caller, path, dst) });
      ns.rename3(caller, path, dst, opts);
      return empty();
    }
    case 'DELETE':
      return json({ boolean: ns.delete(caller, path, boolParam(p, 'recursive', false)) });
    case 'TRUNCATE': {
      const newLength = longParam(p, 'newlength', null, Number.MIN_SAFE_INTEGER);
      if (newLength === null) throw errors.illegalArgument(`Required param newlength for op: ${op} is null or empty`);
      // Every REST truncate is its own DFSClient.
      const holder = `DFSClient_${randomInt(2 ** 47)}`;
      return json({ boolean: ns.truncate(caller, path, newLength, holder) });
    }
    case 'CONCAT': {
      const sources = requireParam(p, 'sources', op).split(',').filter((s) => s !== '').map(paramPath);
      ns.concat(caller, path, sources);
      return empty();
    }
    case 'SETPERMISSION':
      ns.setPermission(caller, path, permissionParam(p, 0o755)!);
      return empty();
    case 'SETOWNER': {
      const owner = p.get('owner') || undefined;
      const group = p.get('group') || undefined;
      if (owner === undefined && group === undefined) throw errors.illegalArgument('Both owner and group are empty.');
      ns.setOwner(caller, path, owner, group);
      return empty();
    }
    case 'SETTIMES':
      ns.setTimes(caller, path, longParam(p, 'modificationtime', -1, -1)!, longParam(p, 'accesstime', -1, -1)!);
      return empty();
    case 'SETREPLICATION':
      return json({ boolean: ns.setReplication(caller, path, longParam(p, 'replication', null, 1)) });
    default:
      throw errors.unsupported(`op=${op} is not supported`);
  }
}

function redirect(
  req: IncomingMessage, res: ServerResponse, stats: ServerStatsListener, location: string, noredirect: boolean,
): void {
  afterDrain(req, res, () => {
    if (noredirect) {
      sendJson(res, stats, 200, { Location: location });
      return;
    }
    countStatus(stats, 307);
    res.writeHead(307, { Location: location, 'Content-Type': 'application/octet-stream', 'Content-Length': '0' });
    res.end();
  });
}

type ServerStatsListener = ServerContext['stats']['namenode'];
