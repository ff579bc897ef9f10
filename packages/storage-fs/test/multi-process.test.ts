import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, openFs, removeRoot, tempRoot } from './helpers.js';

const root = tempRoot();
afterAll(() => removeRoot(root));

interface Child {
  lines: string[];
  done: Promise<number>;
  waitFor(pred: (lines: string[]) => boolean, timeoutMs: number): Promise<void>;
}

function run(args: string[]): Child {
  const child = spawn(process.execPath, [join(FIXTURES, 'epoch-writer.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<number>((resolve) =>
    child.on('exit', (code) => {
      for (const w of waiters.splice(0)) w();
      resolve(code ?? -1);
    }),
  ).then((code) => {
    if (code !== 0) throw new Error(`epoch-writer ${args.join(' ')} exited ${code}: ${stderr}`);
    return code;
  });
  const waitFor = async (pred: (l: string[]) => boolean, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!pred(lines)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`condition not reached; lines: ${lines.slice(-5).join(' | ')} ${stderr}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  return { lines, done, waitFor };
}

describe('fs multi-process', () => {
  it('two processes appending to one store with different epochs: the lower one is fenced', async () => {
    const s = await openFs(root);
    await (await s.createAppStorage('demo', 'mp', { owner: 'alice' })).close();
    const low = run([root, 'mp', '1', '100000']);
    await low.waitFor((l) => l.filter((x) => x.startsWith('ACK')).length >= 20, 30_000);
    const high = run([root, 'mp', '2', '200']);
    await Promise.all([low.done, high.done]);
    expect(low.lines).toContain('FENCED');
    expect(high.lines.filter((x) => x.startsWith('ACK'))).toHaveLength(200);
    expect(high.lines).not.toContain('FENCED');

    // Times are contiguous and no epoch-1 entry comes after the first epoch-2 entry.
    const app = (await s.getAppStorage('mp'))!;
    const entries = await app.offsets('src').range(0, Number.MAX_SAFE_INTEGER);
    expect(entries.map((e) => e.t)).toEqual(entries.map((_, i) => i + 1));
    const tags = entries.map((e) => Buffer.from(e.value).toString());
    const firstHigh = tags.indexOf('e2');
    expect(firstHigh).toBeGreaterThan(0);
    expect(tags.slice(firstHigh).every((t) => t === 'e2')).toBe(true);
    // Every acknowledged append of either process is stored with its tag.
    for (const [child, tag] of [[low, 'e1'], [high, 'e2']] as const) {
      for (const l of child.lines.filter((x) => x.startsWith('ACK '))) expect(tags[Number(l.slice(4)) - 1]).toBe(tag);
    }
    expect(await app.offsets('src').currentEpoch()).toBe(2);
    await s.close();
  });
});
