// A tiny JSON control endpoint (/_control/...) so another process (a benchmark, the CLI's
// user) can flip fault switches and read counters without the programmatic API.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from './context.js';

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 1024 * 1024) throw new Error('control body too large');
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
  return v as Record<string, unknown>;
}

/**
 * GET|PUT /_control/faults, GET|DELETE /_control/stats, PUT /_control/safemode {"on":b},
 * PUT /_control/standby {"on":b}, POST /_control/reset (faults and counters).
 */
export async function handleControl(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  const method = req.method ?? 'GET';
  try {
    if (path === '/_control/faults') {
      if (method === 'PUT' || method === 'POST') ctx.injector.update(await readJson(req));
      else if (method === 'DELETE') ctx.injector.reset();
      if (ctx.faults.failRate > 0 && (method === 'PUT' || method === 'POST')) ctx.injector.reseed();
      return reply(res, 200, ctx.faults);
    }
    if (path === '/_control/stats') {
      if (method === 'DELETE') ctx.stats.reset();
      return reply(res, 200, ctx.stats);
    }
    if (path === '/_control/safemode' || path === '/_control/standby') {
      if (method === 'PUT' || method === 'POST') {
        const on = (await readJson(req)).on === true;
        if (path === '/_control/safemode') ctx.faults.safeMode = on;
        else ctx.faults.standby = on;
      }
      return reply(res, 200, { safeMode: ctx.faults.safeMode, standby: ctx.faults.standby });
    }
    if (path === '/_control/reset' && method === 'POST') {
      ctx.injector.reset();
      ctx.stats.reset();
      return reply(res, 200, { ok: true });
    }
    reply(res, 404, { error: `unknown control path ${path}` });
  } catch (e) {
    reply(res, 400, { error: e instanceof Error ? e.message : String(e) });
  }
}
