// WebHDFS request parsing: path decoding, op enums per HTTP method, typed parameter domains.
// Hadoop lower-cases parameter names (ParamFilter), compares op values and booleans
// case-insensitively, ignores unknown parameters and answers 400 for bad values.
import { errors } from './errors.js';

export const WEBHDFS_PREFIX = '/webhdfs/v1';

/** Op enums per method, as in GetOpParam/PutOpParam/PostOpParam/DeleteOpParam. */
export const OPS_BY_METHOD: Record<string, readonly string[]> = {
  GET: [
    'OPEN', 'GETFILESTATUS', 'LISTSTATUS', 'LISTSTATUS_BATCH', 'GETCONTENTSUMMARY', 'GETQUOTAUSAGE',
    'GETFILECHECKSUM', 'GETHOMEDIRECTORY', 'GETDELEGATIONTOKEN', 'GETTRASHROOT', 'CHECKACCESS',
    'GETSERVERDEFAULTS', 'GETXATTRS', 'LISTXATTRS', 'GETACLSTATUS', 'GETSTORAGEPOLICY',
    'GETALLSTORAGEPOLICY', 'GETSNAPSHOTDIFF', 'GETSNAPSHOTTABLEDIRECTORYLIST', 'GETFILEBLOCKLOCATIONS',
    'GET_BLOCK_LOCATIONS', 'GETECPOLICY', 'GETSTATUS', 'NULL',
  ],
  PUT: [
    'CREATE', 'MKDIRS', 'CREATESYMLINK', 'RENAME', 'SETREPLICATION', 'SETOWNER', 'SETPERMISSION',
    'SETTIMES', 'RENEWDELEGATIONTOKEN', 'CANCELDELEGATIONTOKEN', 'MODIFYACLENTRIES',
    'REMOVEACLENTRIES', 'REMOVEDEFAULTACL', 'REMOVEACL', 'SETACL', 'SETXATTR', 'REMOVEXATTR',
    'ALLOWSNAPSHOT', 'DISALLOWSNAPSHOT', 'CREATESNAPSHOT', 'RENAMESNAPSHOT', 'SETSTORAGEPOLICY',
    'SATISFYSTORAGEPOLICY', 'ENABLEECPOLICY', 'DISABLEECPOLICY', 'SETECPOLICY', 'NULL',
  ],
  POST: ['APPEND', 'CONCAT', 'TRUNCATE', 'UNSETSTORAGEPOLICY', 'UNSETECPOLICY', 'NULL'],
  DELETE: ['DELETE', 'DELETESNAPSHOT', 'NULL'],
};

const ENUM_CLASS: Record<string, string> = {
  GET: 'GetOpParam', PUT: 'PutOpParam', POST: 'PostOpParam', DELETE: 'DeleteOpParam',
};

/** dfs.webhdfs.user.provider.user.pattern default. */
export const USER_PATTERN = /^[A-Za-z_][A-Za-z0-9._-]*[$]?$/;
const USER_PATTERN_TEXT = '^[A-Za-z_][A-Za-z0-9._-]*[$]?$';

export interface ParsedRequest {
  /** Decoded absolute path, normalised ("/" for the root). */
  path: string;
  /** Parameter names lower-cased; the first value wins. */
  params: Map<string, string>;
  rawQuery: string;
}

function invalid(name: string, detail: string): Error {
  return errors.illegalArgument(`Invalid value for webhdfs parameter "${name}": ${detail}`);
}

/**
 * Decodes the path with decodeURIComponent (so "+" stays "+", and %2F becomes a separator
 * as it does in Jersey) and rejects "." / ".." / ":" components like DFSUtil.isValidName.
 */
export function decodeHdfsPath(rawPath: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw errors.illegalArgument(`URLDecoder: Illegal hex characters in escape (%) pattern: ${rawPath}`);
  }
  const parts = decoded.split('/').filter((p) => p !== '');
  for (const p of parts) {
    if (p === '.' || p === '..' || p.includes(':')) {
      throw errors.invalidPath(`Invalid path name Invalid file name: ${decoded}`);
    }
  }
  return '/' + parts.join('/');
}

/** Splits a request URL; returns null when it is not under /webhdfs/v1. */
export function parseRequestUrl(url: string): ParsedRequest | null {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  if (rawPath !== WEBHDFS_PREFIX && !rawPath.startsWith(WEBHDFS_PREFIX + '/')) return null;
  const path = decodeHdfsPath(rawPath.slice(WEBHDFS_PREFIX.length));
  const params = new Map<string, string>();
  // Query values are form-decoded ("+" is a space), as Jersey and Netty's QueryStringDecoder do.
  for (const [k, v] of new URLSearchParams(rawQuery)) {
    const name = k.toLowerCase();
    if (!params.has(name)) params.set(name, v);
  }
  return { path, params, rawQuery };
}

/** Resolves `op` against the method's enum; the wrong method is a 400 like in Jersey. */
export function parseOp(method: string, params: Map<string, string>): string {
  const allowed = OPS_BY_METHOD[method];
  if (!allowed) throw errors.unsupported(`HTTP method ${method} is not supported`);
  const raw = params.get('op');
  if (raw === undefined || raw === '') return 'NULL';
  const op = raw.toUpperCase();
  if (!allowed.includes(op)) {
    throw invalid('op', `No enum constant org.apache.hadoop.hdfs.web.resources.${ENUM_CLASS[method]}.Op.${op}`);
  }
  return op;
}

export function requireParam(params: Map<string, string>, name: string, op: string): string {
  const v = params.get(name);
  if (v === undefined || v === '') {
    throw errors.illegalArgument(`Required param ${name} for op: ${op} is null or empty`);
  }
  return v;
}

export function boolParam(params: Map<string, string>, name: string, dflt: boolean): boolean {
  const v = params.get(name);
  if (v === undefined || v === '') return dflt;
  if (v.toLowerCase() === 'true') return true;
  if (v.toLowerCase() === 'false') return false;
  throw invalid(name, `Failed to parse "${v}" to Boolean.`);
}

export function longParam(
  params: Map<string, string>,
  name: string,
  dflt: number | null,
  min: number,
): number | null {
  const v = params.get(name);
  if (v === undefined || v === '' || v.toLowerCase() === 'null') return dflt;
  if (!/^-?\d+$/.test(v)) throw invalid(name, `Failed to parse "${v}" as a radix-10 long integer.`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw invalid(name, `Failed to parse "${v}" as a radix-10 long integer.`);
  if (n < min) throw invalid(name, `Invalid parameter range: ${name} = ${v} < ${min}`);
  return n;
}

/** Octal permission, "[0-1]?[0-7]{1,3}" (sticky bit allowed). */
export function permissionParam(params: Map<string, string>, dflt: number | null): number | null {
  const v = params.get('permission');
  if (v === undefined || v === '' || v.toLowerCase() === 'null') return dflt;
  if (!/^[0-1]?[0-7]{1,3}$/.test(v)) {
    throw invalid('permission', `Invalid value: "${v}" does not belong to the domain ^[0-1]?[0-7]?[0-7]?[0-7]$`);
  }
  return parseInt(v, 8);
}

export function userNameParam(params: Map<string, string>, name: 'user.name' | 'doas'): string | undefined {
  const v = params.get(name);
  if (v === undefined || v === '') return undefined;
  if (!USER_PATTERN.test(v)) {
    throw invalid(name, `Invalid value: "${v}" does not belong to the domain ${USER_PATTERN_TEXT}`);
  }
  return v;
}

/** Rejects bad values of common parameters regardless of op, as Jersey parses them all. */
export function validateCommonParams(params: Map<string, string>): void {
  for (const b of ['overwrite', 'createparent', 'recursive', 'noredirect', 'data']) boolParam(params, b, false);
  longParam(params, 'offset', 0, 0);
  longParam(params, 'length', null, 0);
  longParam(params, 'blocksize', null, 1);
  longParam(params, 'buffersize', null, 1);
  longParam(params, 'replication', null, 1);
  longParam(params, 'modificationtime', -1, -1);
  longParam(params, 'accesstime', -1, -1);
  longParam(params, 'newlength', null, Number.MIN_SAFE_INTEGER);
  permissionParam(params, null);
  const fsaction = params.get('fsaction');
  if (fsaction !== undefined && fsaction !== '' && !/^[r-][w-][x-]$/.test(fsaction)) {
    throw invalid('fsaction', `Invalid value: "${fsaction}" does not belong to the domain [r-][w-][x-]`);
  }
  const dest = params.get('destination');
  if (dest !== undefined && dest !== '' && !dest.startsWith('/')) {
    throw errors.illegalArgument(`Invalid parameter value: destination = "${dest}" is not an absolute path.`);
  }
  renameOptionsParam(params);
}

export type RenameOption = 'NONE' | 'OVERWRITE' | 'TO_TRASH';

/** `renameoptions` is a comma-separated EnumSet; absent means rename/2. */
export function renameOptionsParam(params: Map<string, string>): Set<RenameOption> | null {
  const v = params.get('renameoptions');
  if (v === undefined || v === '') return null;
  const out = new Set<RenameOption>();
  for (const part of v.split(',')) {
    const o = part.trim().toUpperCase();
    if (o !== 'NONE' && o !== 'OVERWRITE' && o !== 'TO_TRASH') {
      throw invalid('renameoptions', `No enum constant org.apache.hadoop.fs.Options.Rename.${o}`);
    }
    out.add(o);
  }
  return out;
}

/** Percent-encodes one path segment the way java.net.URI quotes a path (keeps sub-delims). */
export function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/%(21|24|26|27|28|29|2A|2B|2C|3B|3D|3A|40)/g, (m) =>
    decodeURIComponent(m),
  );
}

export function encodePath(path: string): string {
  return path === '/' ? '/' : path.split('/').map(encodeSegment).join('/');
}

/** java.net.URLEncoder-style encoding for query values. */
export function encodeQueryValue(v: string): string {
  return encodeURIComponent(v).replace(/%20/g, '+').replace(/[!'()~]/g, (c) =>
    '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  ).replace(/%2A/g, '*');
}
