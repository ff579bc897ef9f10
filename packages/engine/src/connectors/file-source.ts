import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SourceFactory, SourceTask } from '../dsl/task.js';

/**
 * Replayable line source over a file. The position is the byte offset of the next
 * unread line, so replay after recovery starts exactly where checkpoint t left off.
 * With parallelism p, task i reads the lines whose number ≡ i (mod p).
 */
export function fileSource(options: { path: string; chunkBytes?: number; maxLinesPerSec?: number }): SourceFactory {
  return () => new FileSource(options.path, options.chunkBytes ?? 256 * 1024, options.maxLinesPerSec);
}

class FileSource implements SourceTask {
  #fd = -1;
  #size = 0;
  #offset = 0; // byte offset of the first line not yet returned
  #line = 0; // line number at #offset
  #buf = Buffer.alloc(0);
  #bufStart = 0; // file offset of #buf[0]
  #index = 0;
  #parallelism = 1;
  #started = 0;
  #read = 0;
  constructor(private readonly path: string, private readonly chunkBytes: number, private readonly maxLinesPerSec?: number) {}

  open(ctx: { index: number; parallelism: number }, position: unknown): void {
    this.#fd = openSync(resolve(this.path), 'r');
    this.#size = fstatSync(this.#fd).size;
    this.#index = ctx.index;
    this.#parallelism = ctx.parallelism;
    const p = position as { offset?: number; line?: number } | undefined;
    this.#offset = p?.offset ?? 0;
    this.#line = p?.line ?? 0;
    this.#bufStart = this.#offset;
  }

  read(max: number): string[] | null {
    if (this.maxLinesPerSec) {
      // Optional throttle (demos and chaos tests): a token bucket over wall time.
      const now = Date.now();
      if (this.#started === 0) this.#started = now;
      const allowed = Math.floor(((now - this.#started) * this.maxLinesPerSec) / 1000) - this.#read + 1;
      if (allowed <= 0) return [];
      max = Math.min(max, allowed);
    }
    const out: string[] = [];
    while (out.length < max) {
      const rel = this.#offset - this.#bufStart;
      const nl = this.#buf.indexOf(10, rel);
      if (nl >= 0) {
        this.#take(out, this.#buf.toString('utf8', rel, nl), nl + 1);
        continue;
      }
      if (this.#bufStart + this.#buf.length < this.#size && this.#fill() > 0) continue;
      // End of file: a last line without a trailing newline, then exhausted.
      if (rel < this.#buf.length) {
        this.#take(out, this.#buf.toString('utf8', rel, this.#buf.length), this.#buf.length);
        continue;
      }
      return out.length ? out : null;
    }
    return out;
  }

  #take(out: string[], line: string, relEnd: number): void {
    if (this.#line % this.#parallelism === this.#index) out.push(line);
    this.#line++;
    this.#read++;
    this.#offset = this.#bufStart + relEnd;
  }

  #fill(): number {
    const keep = this.#buf.subarray(this.#offset - this.#bufStart);
    const chunk = Buffer.allocUnsafe(Math.max(this.chunkBytes, keep.length * 2));
    keep.copy(chunk, 0);
    const n = readSync(this.#fd, chunk, keep.length, chunk.length - keep.length, this.#offset + keep.length);
    this.#bufStart = this.#offset;
    this.#buf = chunk.subarray(0, keep.length + n);
    if (n === 0) this.#size = this.#bufStart + this.#buf.length; // file shrank: stop at what exists
    return n;
  }

  position(): { offset: number; line: number } {
    return { offset: this.#offset, line: this.#line };
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}
