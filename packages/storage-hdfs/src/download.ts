// Step 2 of OPEN: the body comes from the DataNode over node:http. A DataNode answers a
// read and closes the connection; undici 7 asserts (an uncatchable crash, nodejs/undici#5360,
// fixed only in undici 8, which needs Node 22) when that FIN arrives while the response body
// is paused by a slow reader. node:http handles back-pressure and FIN together.
import * as http from 'node:http';
import * as https from 'node:https';

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/** GET `url`; resolves with the response (its body unread) once the headers arrived. */
export function getBody(url: string, options: { signal?: AbortSignal; timeoutMs: number }): Promise<http.IncomingMessage> {
  return new Promise<http.IncomingMessage>((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method: 'GET', agent: u.protocol === 'https:' ? agents.https : agents.http });
    const onAbort = (): void => void req.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // Time to the headers is bounded; the body then streams at the reader's pace.
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer in ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' })), options.timeoutMs);
    req.on('response', (res) => {
      clearTimeout(timer);
      res.once('close', () => options.signal?.removeEventListener('abort', onAbort));
      resolve(res);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    req.end();
  });
}

export async function readText(res: http.IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of res) s += (c as Buffer).toString('utf8');
  return s;
}
