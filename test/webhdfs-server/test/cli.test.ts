// The CLI: `node dist/main.js --port 0` prints one JSON line with both URLs and exits on SIGTERM.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { raw } from './helpers.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe('CLI', () => {
  it('starts, prints {"namenode","datanode"} on one line, serves, and exits on SIGTERM', async () => {
    const child = spawn(process.execPath, [MAIN, '--port', '0', '--ls-limit', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      let out = '';
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          const nl = out.indexOf('\n');
          if (nl >= 0) resolve(out.slice(0, nl));
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
      });
      const info = JSON.parse(line) as { namenode: string; datanode: string; mode: string };
      expect(info.namenode).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(info.datanode).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(info.namenode).not.toBe(info.datanode);
      expect(info.mode).toBe('webhdfs');
      const r = await raw('PUT', `${info.namenode}/webhdfs/v1/cli/d?op=MKDIRS`);
      expect(r.json()).toEqual({ boolean: true });
      const c = await raw('PUT', `${info.namenode}/webhdfs/v1/cli/f?op=CREATE`);
      expect(c.status).toBe(307);
      expect(String(c.headers.location).startsWith(info.datanode)).toBe(true);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code, signal] = (await exited) as [number | null, string | null];
      expect(signal).toBeNull();
      expect(code).toBe(0);
      expect(child.exitCode).toBe(0);
    } finally {
      clearTimeout(killTimer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('--httpfs serves a single port', async () => {
    const child = spawn(process.execPath, [MAIN, '--port', '0', '--httpfs'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          if (out.includes('\n')) resolve(out.split('\n')[0]);
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
      });
      const info = JSON.parse(line) as { namenode: string; datanode: string; mode: string };
      expect(info.mode).toBe('httpfs');
      expect(info.datanode).toBe(info.namenode);
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      clearTimeout(killTimer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
