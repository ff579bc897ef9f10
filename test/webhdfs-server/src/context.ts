// State shared by the listeners of one server instance, plus user resolution and the
// redirect URL builder (both must agree between the NN, DN and HttpFS handlers).
import type { IncomingMessage } from 'node:http';
import { errors } from './errors.js';
import type { FaultInjector, Faults } from './faults.js';
import type { Caller, Namespace } from './namespace.js';
import { encodePath, encodeQueryValue, userNameParam } from './params.js';
import type { ServerStats } from './stats.js';
import type { TokenStore } from './tokens.js';

export interface ServerContext {
  ns: Namespace;
  injector: FaultInjector;
  faults: Faults;
  stats: ServerStats;
  tokens: TokenStore;
  mode: 'webhdfs' | 'httpfs';
  host: string;
  nnPort: number;
  dnPort: number;
  /** A port nothing listens on (for the dnUnreachable fault). */
  deadPort: number;
  nnRpcAddress: string;
  dnHostAlias: string | undefined;
  defaultUser: string;
  /** Users allowed to impersonate via doas ("*" = anyone). */
  proxyUsers: string[];
  strictTokens: boolean;
  lsLimit: number;
  /** Hadoop's DN writes "100 Continue" on CREATE/APPEND whether asked or not. */
  dnAlwaysSendContinue: boolean;
}

export interface ResolvedCaller extends Caller {
  /** The parameters as sent (forwarded in redirects). */
  userName: string | undefined;
  delegation: string | undefined;
  doas: string | undefined;
}

export function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '127.0.0.1';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** user.name / delegation / doas, with the static web user (dr.who) as fallback. */
export function resolveCaller(ctx: ServerContext, params: Map<string, string>, clientMachine: string): ResolvedCaller {
  const userName = userNameParam(params, 'user.name');
  const doas = userNameParam(params, 'doas');
  const delegation = params.get('delegation') || undefined;
  let real = userName ?? ctx.defaultUser;
  if (delegation !== undefined) {
    const owner = ctx.tokens.ownerOf(delegation);
    if (owner !== undefined) real = owner;
    else if (ctx.strictTokens) {
      throw errors.invalidToken(`token (${delegation.slice(0, 24)}…) can't be found in cache`);
    }
  }
  let user = real;
  if (doas !== undefined && doas !== real) {
    if (!ctx.proxyUsers.includes('*') && !ctx.proxyUsers.includes(real)) {
      throw errors.authorization(`User: ${real} is not allowed to impersonate ${doas}`);
    }
    user = doas;
  }
  return { user, clientMachine, userName, delegation, doas };
}

/** The host name redirects carry: fault override, then dnHostAlias, then the bind host. */
export function redirectHost(ctx: ServerContext): string {
  return ctx.faults.redirectHost ?? ctx.dnHostAlias ?? ctx.host;
}

/**
 * NamenodeWebHdfsMethods.redirectURI: op, then user.name (or delegation), doas, then
 * namenoderpcaddress, then the op's forwarded parameters sorted by name.
 */
export function buildDnLocation(
  ctx: ServerContext, op: string, path: string, caller: ResolvedCaller, forwarded: [string, string][],
): string {
  const q: string[] = [`op=${op}`];
  if (caller.delegation !== undefined) {
    // Security-on branch: "&" + delegation, and doas is not forwarded.
    q.push(`delegation=${caller.delegation}`);
  } else {
    // Security-off branch: Param.toSortedString("&", doAsUser, username), so doas sorts first
    // and user.name appears only when the client sent it.
    if (caller.doas !== undefined) q.push(`doas=${encodeQueryValue(caller.doas)}`);
    if (caller.userName !== undefined) q.push(`user.name=${encodeQueryValue(caller.userName)}`);
  }
  q.push(`namenoderpcaddress=${ctx.nnRpcAddress}`); // Param.toString(): not URL-encoded
  for (const [k, v] of [...forwarded].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    q.push(`${k}=${encodeQueryValue(v)}`);
  }
  const port = ctx.faults.dnUnreachable ? ctx.deadPort : ctx.dnPort;
  return `http://${redirectHost(ctx)}:${port}/webhdfs/v1${encodePath(path)}?${q.join('&')}`;
}
