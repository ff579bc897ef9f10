import { mkdir, readdir, readFile, stat, unlink, appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogRecord } from '@sluice/storage-api';

/**
 * Local append-only NDJSON spool: where the appender parks records while the log store is
 * unreachable. Files `spool-<n>.ndjson` are written in order and shipped oldest first; a
 * file is read only once it is no longer written to (rotated), so readers see immutable
 * bytes. `spool-<n>.pos` records how many lines of file n were shipped, so a restart does
 * not re-send a whole file (the appender's de-duplication catches the rest).
 */
export interface SpoolOptions {
  /** Total bytes on disk before new records are refused (and counted as dropped). */
  maxBytes: number;
  /** Rotate the write file at this size; also bounds what is read into memory at once. */
  fileBytes: number;
}

export interface SpoolBatch {
  records: LogRecord[];
  /** Marks the batch shipped: advances the read position, deletes finished files. */
  commit(): Promise<void>;
}

const FILE_RE = /^spool-(\d{12})\.ndjson$/;
const name = (n: number): string => `spool-${String(n).padStart(12, '0')}.ndjson`;

export class Spool {
  private files: number[] = [];
  private sizes = new Map<number, number>();
  private writeFile?: number;
  private totalBytes = 0;
  /** Read cache: lines of the file being drained and the next line index. */
  private reading?: { n: number; lines: string[]; next: number };

  private constructor(readonly dir: string, private readonly options: SpoolOptions) {}

  /** Opens (creating) the folder and picks up files left by an earlier process. */
  static async open(dir: string, options: SpoolOptions): Promise<Spool> {
    const s = new Spool(dir, options);
    await mkdir(dir, { recursive: true });
    for (const f of await readdir(dir)) {
      const m = FILE_RE.exec(f);
      if (!m) continue;
      const n = Number(m[1]);
      const size = (await stat(join(dir, f))).size;
      s.files.push(n);
      s.sizes.set(n, size);
      s.totalBytes += size;
    }
    s.files.sort((a, b) => a - b);
    return s;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get isEmpty(): boolean {
    return this.files.length === 0;
  }

  /** Appends in order; returns how many records fitted (the rest did not and were not written). */
  async append(records: LogRecord[]): Promise<number> {
    let chunk = '';
    let n = 0;
    for (const r of records) {
      const line = JSON.stringify(r) + '\n';
      if (this.totalBytes + chunk.length + line.length > this.options.maxBytes) break;
      chunk += line;
      n++;
    }
    if (n === 0) return 0;
    let w = this.writeFile;
    if (w === undefined || (this.sizes.get(w) ?? 0) >= this.options.fileBytes) {
      w = (this.files[this.files.length - 1] ?? 0) + 1;
      this.files.push(w);
      this.sizes.set(w, 0);
      this.writeFile = w;
    }
    await appendFile(join(this.dir, name(w)), chunk);
    const bytes = Buffer.byteLength(chunk);
    this.sizes.set(w, (this.sizes.get(w) ?? 0) + bytes);
    this.totalBytes += bytes;
    return n;
  }

  /** The oldest unshipped records, at most `max`; undefined when the spool is empty. */
  async read(max: number): Promise<SpoolBatch | undefined> {
    while (this.files.length > 0) {
      const n = this.files[0]!;
      if (n === this.writeFile) this.writeFile = undefined; // rotate: never read a file still written
      if (!this.reading || this.reading.n !== n) {
        const text = await readFile(join(this.dir, name(n)), 'utf8').catch(() => '');
        const lines = text.split('\n').filter((l) => l.length > 0);
        const pos = Number(await readFile(join(this.dir, name(n) + '.pos'), 'utf8').catch(() => '0')) || 0;
        this.reading = { n, lines, next: Math.min(pos, lines.length) };
      }
      const rd = this.reading;
      if (rd.next >= rd.lines.length) {
        await this.dropFile(n);
        continue;
      }
      const end = Math.min(rd.lines.length, rd.next + max);
      const records: LogRecord[] = [];
      for (let i = rd.next; i < end; i++) {
        try {
          records.push(JSON.parse(rd.lines[i]!) as LogRecord);
        } catch {
          // A torn last line after a crash: skip it rather than wedge the spool.
        }
      }
      return {
        records,
        commit: async () => {
          rd.next = end;
          if (rd.next >= rd.lines.length) await this.dropFile(n);
          else await writeFile(join(this.dir, name(n) + '.pos'), String(rd.next));
        },
      };
    }
    return undefined;
  }

  private async dropFile(n: number): Promise<void> {
    await unlink(join(this.dir, name(n))).catch(() => {});
    await unlink(join(this.dir, name(n) + '.pos')).catch(() => {});
    this.totalBytes -= this.sizes.get(n) ?? 0;
    this.sizes.delete(n);
    this.files = this.files.filter((f) => f !== n);
    if (this.reading?.n === n) this.reading = undefined;
    if (this.writeFile === n) this.writeFile = undefined;
  }
}
