import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Task, TaskContext, TaskFactory } from '../dsl/task.js';

interface Pending {
  t: number;
  staged: string;
  final: string;
}

/** `[k, v]` → "k\tv"; strings as-is; anything else as JSON. */
export function formatRecord(v: unknown): string {
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string') return `${v[0]}\t${typeof v[1] === 'string' ? v[1] : JSON.stringify(v[1])}`;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const pad = (t: number): string => String(t).padStart(15, '0');

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some platforms cannot fsync directories; the rename is still atomic.
  }
}

/**
 * Transactional file sink (two-phase): at boundary t the records before t are written
 * to a staged file (fsynced) that the checkpoint state lists; when checkpoint t is
 * committed the staged file is renamed to `part-<t>-<task>.txt`, atomically visible.
 * Recovery at t publishes whatever the restored state lists (all ≤ t, so committed)
 * and deletes every other staged file of the task (uncommitted or from zombies).
 */
export function fileSink(options: { dir: string }): TaskFactory {
  return (): Task => {
    const dir = resolve(options.dir);
    const staging = join(dir, '.staging');
    let buffer: string[] = [];
    let pending: Pending[] = [];
    let epoch = 0;
    const publish = (upTo: number): void => {
      const keep: Pending[] = [];
      for (const p of pending) {
        if (p.t > upTo) {
          keep.push(p);
          continue;
        }
        if (existsSync(p.staged)) renameSync(p.staged, p.final);
      }
      if (keep.length !== pending.length) fsyncDir(dir);
      pending = keep;
    };
    return {
      onStart(ctx: TaskContext) {
        epoch = (ctx as TaskContext & { epoch?: number }).epoch ?? 0;
        mkdirSync(staging, { recursive: true });
      },
      onNext(values) {
        for (let i = 0; i < values.length; i++) buffer.push(formatRecord(values[i]));
      },
      onClock(t, ctx) {
        if (buffer.length === 0) return;
        const staged = join(staging, `part-${pad(t)}-${ctx.taskId}.e${epoch}.txt`);
        const fd = openSync(staged, 'w');
        try {
          writeSync(fd, buffer.join('\n') + '\n');
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        buffer = [];
        pending.push({ t, staged, final: join(dir, `part-${pad(t)}-${ctx.taskId}.txt`) });
      },
      snapshot: () => pending,
      restore(state) {
        pending = (state as Pending[]) ?? [];
      },
      onRecover(t, ctx) {
        mkdirSync(staging, { recursive: true });
        if (t !== undefined) publish(t);
        pending = [];
        const mine = `-${ctx.taskId}.e`;
        for (const f of readdirSync(staging)) if (f.includes(mine)) rmSync(join(staging, f), { force: true });
      },
      onCommit(t) {
        publish(t);
      },
    };
  };
}

/** Reads a file sink's committed output: the last value per key, in checkpoint order. */
export function readCommittedOutput(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  const files = readdirSync(dir).filter((f) => f.startsWith('part-') && f.endsWith('.txt')).sort();
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!line) continue;
      const tab = line.indexOf('\t');
      if (tab < 0) continue;
      out.set(line.slice(0, tab), line.slice(tab + 1));
    }
  }
  return out;
}
