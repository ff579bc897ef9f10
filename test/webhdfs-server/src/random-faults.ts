// The probability-based failure injector applied at the top of every API request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from './context.js';
import type { ErrorFlavor } from './errors.js';
import { errors } from './errors.js';
import { afterDrain, sendError } from './http.js';
import type { ListenerStats } from './stats.js';

/** Returns true when the request was failed (answered or dropped) by the injector. */
export function injectRandomFault(
  ctx: ServerContext, listener: 'namenode' | 'datanode', op: string, req: IncomingMessage, res: ServerResponse,
  stats: ListenerStats, flavor: ErrorFlavor,
): boolean {
  const kind = ctx.injector.draw(listener, op);
  if (!kind) return false;
  ctx.stats.injectedFaults++;
  if (kind === 'drop') {
    req.socket.destroy();
    return true;
  }
  const err = kind === 'retriable'
    ? errors.retriable('org.apache.hadoop.hdfs.server.namenode.SafeModeException: Server is busy (injected fault). Retry.')
    : errors.runtime('java.lang.NullPointerException (injected fault)');
  afterDrain(req, res, () => sendError(res, stats, err, flavor, false));
  return true;
}
