// Same-origin JSON calls; the session cookie rides along, the header proves the dashboard sent it.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const HEADERS = { 'x-sluice-ui': '1' };

export async function api(path, options = {}) {
  const res = await fetch(path, { credentials: 'same-origin', ...options, headers: { ...HEADERS, ...(options.headers || {}) } });
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { error: { code: 'BAD_RESPONSE', message: text.slice(0, 200) } };
  }
  if (!res.ok) {
    const e = body.error || {};
    throw new ApiError(res.status, e.code || String(res.status), e.message || res.statusText);
  }
  return body;
}

export const post = (path, body) =>
  api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}) });

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    for (const item of Array.isArray(v) ? v : [v]) u.append(k, String(item));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** Streams NDJSON lines of a follow request until `signal` aborts; calls onRecord per line. */
export async function follow(path, signal, onRecord) {
  const res = await fetch(path, { credentials: 'same-origin', headers: HEADERS, signal });
  if (!res.ok || !res.body) throw new ApiError(res.status, String(res.status), `follow failed: ${res.status}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line) onRecord(JSON.parse(line));
    }
  }
}

export const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', '') : '—');
export const fmtNum = (n, d = 1) => (n === undefined || n === null ? '—' : Math.abs(n) >= 1000 ? Math.round(n).toLocaleString('en') : Number(n).toFixed(d));
export const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
export const fmtAge = (ms) => {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
};
