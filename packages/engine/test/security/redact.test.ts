import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { PINO_REDACT, redactSecrets, redactUrlCredentials, stripControlChars } from '../../dist/security/redact.js';

const SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';

describe('redaction', () => {
  it('redactSecrets replaces credential-looking keys at any depth and URL passwords in strings', () => {
    const plan = [
      { subStore: 'checkpoints', module: '@sluice/storage-s3', options: { bucket: 'b', credentials: { accessKeyId: 'AKIA', secretAccessKey: SECRET }, endpoint: `http://minio:${SECRET}@10.0.0.1:9000/` } },
      { subStore: 'logs', options: { url: `webhdfs://hdfs:${SECRET}@nn:9870`, password: SECRET, session_token: SECRET, 'api-key': SECRET } },
    ];
    const out = redactSecrets(plan);
    expect(JSON.stringify(out)).not.toContain(SECRET);
    expect(out[0]!.options.bucket).toBe('b');
    expect(out[0]!.options.endpoint).toBe('http://minio:[REDACTED]@10.0.0.1:9000/');
    // The input is not modified.
    expect(plan[1]!.options.password).toBe(SECRET);
  });

  it('survives cycles and errors', () => {
    const a: Record<string, unknown> = { token: SECRET };
    a.self = a;
    const e = Object.assign(new Error(`connect http://u:${SECRET}@h failed`), { secret: SECRET });
    const out = JSON.stringify(redactSecrets({ a, e }));
    expect(out).not.toContain(SECRET);
    expect(out).toContain('[Circular]');
  });

  it('redactUrlCredentials keeps the user and the host', () => {
    expect(redactUrlCredentials('s3://key:sec@host/b and https://x:y@z')).toBe('s3://key:[REDACTED]@host/b and https://x:[REDACTED]@z');
    expect(redactUrlCredentials('mail me at a@b.c')).toBe('mail me at a@b.c');
  });

  it('stripControlChars removes terminal escapes and keeps newlines and tabs', () => {
    expect(stripControlChars('ok\u001b[2J\u001b]0;pwned\u0007\r\tline\n\u009bx')).toBe('ok]0;pwned\tline\nx');
  });

  it('a pino logger with the shared redact config never writes a credential', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const log = pino({ redact: PINO_REDACT }, sink);
    log.info({ token: SECRET, options: { secretAccessKey: SECRET, bucket: 'b' }, req: { headers: { authorization: `Bearer ${SECRET}` } }, storage: { default: { options: { password: SECRET } } } }, 'started');
    const text = lines.join('');
    expect(text).not.toContain(SECRET);
    expect(text).toContain('"bucket":"b"');
  });
});
