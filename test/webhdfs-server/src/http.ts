// Small response helpers shared by the NameNode, DataNode and HttpFS handlers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorJson, statusFor, toHdfsError } from './errors.js';
import type { ErrorFlavor } from './errors.js';
import type { ListenerStats } from './stats.js';
import { countStatus } from './stats.js';

export function sendJson(res: ServerResponse, l: ListenerStats, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  countStatus(l, status);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache',
  });
  res.end(text);
}

/** 200 with an empty body: the NN declares application/octet-stream for these. */
export function sendEmpty(res: ServerResponse, l: ListenerStats, status = 200, headers: Record<string, string> = {}): void {
  countStatus(l, status);
  res.writeHead(status, { 'Content-Type': 'application/octet-stream', 'Content-Length': '0', ...headers });
  res.end();
}

export function sendError(
  res: ServerResponse, l: ListenerStats, e: unknown, flavor: ErrorFlavor, wrapRemote: boolean,
): void {
  if (res.headersSent) {
    // Too late for a status (LISTSTATUS streams in Hadoop too): cut the connection.
    res.destroy();
    return;
  }
  const err = toHdfsError(e);
  const status = statusFor(err, flavor);
  const text = errorJson(err, flavor, wrapRemote);
  countStatus(l, status);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** A Jetty-style HTML error page (servlet filters answer with sendError, not JSON). */
export function sendJettyError(res: ServerResponse, l: ListenerStats, status: number, reason: string, msg: string): void {
  const html =
    `<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n` +
    `<title>Error ${status} ${msg}</title>\n</head>\n<body><h2>HTTP ERROR ${status} ${msg}</h2>\n` +
    `<table>\n<tr><th>URI:</th><td>${res.req?.url ?? ''}</td></tr>\n<tr><th>STATUS:</th><td>${status}</td></tr>\n` +
    `<tr><th>MESSAGE:</th><td>${msg}</td></tr>\n<tr><th>SERVLET:</th><td>${reason}</td></tr>\n</table>\n\n</body>\n</html>\n`;
  countStatus(l, status);
  res.writeHead(status, { 'Content-Type': 'text/html;charset=iso-8859-1', 'Content-Length': Buffer.byteLength(html) });
  res.end(html);
}

/**
 * Runs `fn` once the request body is fully read (and discarded), so an error answer does
 * not race a client that is still sending. Bodies above `cap` bytes get the socket cut.
 */
export function afterDrain(
  req: IncomingMessage, res: ServerResponse, fn: () => void, cap = 64 * 1024 * 1024,
): void {
  if (req.complete) {
    fn();
    return;
  }
  // A client waiting for "100 Continue" that never came will not send its body: answer now
  // and close, as a server that rejects an Expect request does.
  if (/100-continue/i.test(String(req.headers.expect ?? '')) && !(res as ServerResponse & { _sent100?: boolean })._sent100) {
    res.shouldKeepAlive = false;
    fn();
    return;
  }
  let seen = 0;
  let done = false;
  const finish = () => {
    if (!done) {
      done = true;
      fn();
    }
  };
  req.on('data', (c: Buffer) => {
    seen += c.length;
    if (seen > cap) req.socket.destroy();
  });
  req.on('end', finish);
  req.on('error', () => undefined);
  req.resume();
}

/** True when the request announces a body (Content-Length > 0 or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined && Number(cl) > 0) return true;
  return /chunked/i.test(String(req.headers['transfer-encoding'] ?? ''));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
