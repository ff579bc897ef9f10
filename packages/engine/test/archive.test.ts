// Blob archives (`uncompress: true`): real .tar.gz and .zip files, built byte by byte here so
// the malicious ones are exactly what an attacker could upload.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterEach, describe, expect, it } from 'vitest';
import { archiveKindOf, safeEntryPath, unpackArchive } from '../src/runtime/archive.js';
import { isEngineError } from '../src/errors.js';

interface TarEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  body?: Buffer;
  linkpath?: string;
  /** Declared size when it differs from the body (a lying header). */
  size?: number;
}

function tarGz(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.body ?? Buffer.alloc(0);
    const h = new Header({ path: e.path, mode: 0o644, size: e.size ?? body.length, type: e.type ?? 'File', mtime: new Date(0), ...(e.linkpath ? { linkpath: e.linkpath } : {}) });
    const block = Buffer.alloc(512);
    h.encode(block, 0);
    blocks.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

interface ZipEntry {
  name: string;
  body: Buffer;
  /** Unix mode in the external attributes (e.g. 0o120777 for a symlink). */
  mode?: number;
  /** Declared uncompressed size when it differs (a lying bomb). */
  declared?: number;
}

function zip(entries: ZipEntry[]): Buffer {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const data = deflateRawSync(e.body);
    const crc = crc32(e.body);
    const size = e.declared ?? e.body.length;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0x800, 6); lh.writeUInt16LE(8, 8);
    lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(data.length, 18); lh.writeUInt32LE(size, 22); lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(0x031e, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(0x800, 8); ch.writeUInt16LE(8, 10);
    ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(data.length, 20); ch.writeUInt32LE(size, 24); ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(((e.mode ?? 0o100644) << 16) >>> 0, 38); ch.writeUInt32LE(offset, 42);
    local.push(lh, name, data);
    central.push(ch, name);
    offset += lh.length + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...local, cd, end]);
}

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function fixture(name: string, bytes: Buffer): { file: string; target: string; root: string } {
  dir = mkdtempSync(join(tmpdir(), 'sluice-archive-'));
  const file = join(dir, name);
  writeFileSync(file, bytes);
  return { file, target: join(dir, 'out', 'dict'), root: dir };
}

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(isEngineError(err, 'ARCHIVE_UNSAFE'), String(err)).toBe(true);
  expect((err as Error).message).toMatch(pattern);
}

const LIMITS = { maxBytes: 1024 * 1024, maxEntries: 10 };

describe('blob archives', () => {
  it('unpacks a .tar.gz and a .zip with folders into the target', async () => {
    const tgz = tarGz([{ path: 'rules/', type: 'Directory' }, { path: 'rules/a.txt', body: Buffer.from('alpha') }, { path: 'top.txt', body: Buffer.from('top') }]);
    const t = fixture('d.tar.gz', tgz);
    expect(archiveKindOf(tgz)).toBe('tar.gz');
    await unpackArchive(t.file, 'tar.gz', t.target, LIMITS);
    expect(readFileSync(join(t.target, 'rules/a.txt'), 'utf8')).toBe('alpha');
    expect(readFileSync(join(t.target, 'top.txt'), 'utf8')).toBe('top');
    rmSync(t.root, { recursive: true, force: true });

    const z = zip([{ name: 'rules/', body: Buffer.alloc(0), mode: 0o040755 }, { name: 'rules/b.txt', body: Buffer.from('beta'.repeat(1000)) }]);
    const zf = fixture('d.zip', z);
    expect(archiveKindOf(z)).toBe('zip');
    await unpackArchive(zf.file, 'zip', zf.target, LIMITS);
    expect(readFileSync(join(zf.target, 'rules/b.txt'), 'utf8')).toBe('beta'.repeat(1000));
  });

  it('refuses traversal and absolute entries in a .tar.gz, writing nothing', async () => {
    for (const path of ['../escape.txt', 'ok/../../escape.txt', '/etc/evil.txt']) {
      const t = fixture('bad.tar.gz', tarGz([{ path: 'fine.txt', body: Buffer.from('x') }, { path, body: Buffer.from('pwned') }]));
      await refused(unpackArchive(t.file, 'tar.gz', t.target, LIMITS), /leaves the target|absolute/);
      expect(existsSync(t.target)).toBe(false);
      expect(existsSync(join(t.root, 'escape.txt'))).toBe(false);
      expect(readdirSync(t.root).sort()).toEqual(['bad.tar.gz', 'out']);
      expect(readdirSync(join(t.root, 'out'))).toEqual([]);
      rmSync(t.root, { recursive: true, force: true });
    }
  });

  it('refuses symlinks and hard links in a .tar.gz (a link could point out of the target)', async () => {
    const s = fixture('link.tar.gz', tarGz([{ path: 'l', type: 'SymbolicLink', linkpath: '/etc/passwd' }]));
    await refused(unpackArchive(s.file, 'tar.gz', s.target, LIMITS), /SymbolicLink/);
    rmSync(s.root, { recursive: true, force: true });
    const h = fixture('hard.tar.gz', tarGz([{ path: 'h', type: 'Link', linkpath: '../../outside' }]));
    await refused(unpackArchive(h.file, 'tar.gz', h.target, LIMITS), /Link/);
  });

  it('refuses a .tar.gz bomb (size limit) and too many entries', async () => {
    // 8 MiB of zeros gzips to a few KiB: refused at the header, before it is inflated.
    const t = fixture('bomb.tar.gz', tarGz([{ path: 'zeros', body: Buffer.alloc(8 * 1024 * 1024) }]));
    expect(readFileSync(t.file).length).toBeLessThan(64 * 1024);
    await refused(unpackArchive(t.file, 'tar.gz', t.target, LIMITS), /bytes unpacked/);
    rmSync(t.root, { recursive: true, force: true });
    const many = fixture('many.tar.gz', tarGz([...Array(11).keys()].map((i) => ({ path: `f${i}`, body: Buffer.from('x') }))));
    await refused(unpackArchive(many.file, 'tar.gz', many.target, LIMITS), /entries/);
  });

  it('refuses traversal, absolute and symlink entries in a .zip', async () => {
    for (const e of [{ name: '../escape.txt', body: Buffer.from('pwned') }, { name: '/abs.txt', body: Buffer.from('pwned') }, { name: 'link', body: Buffer.from('/etc/passwd'), mode: 0o120777 }]) {
      const z = fixture('bad.zip', zip([e]));
      await refused(unpackArchive(z.file, 'zip', z.target, LIMITS), /relative|absolute|leaves|not a file/);
      expect(existsSync(z.target)).toBe(false);
      expect(existsSync(join(z.root, 'escape.txt'))).toBe(false);
      rmSync(z.root, { recursive: true, force: true });
    }
  });

  it('refuses a .zip bomb: honest sizes past the limit, and sizes that lie', async () => {
    const honest = fixture('bomb.zip', zip([{ name: 'a', body: Buffer.alloc(600 * 1024) }, { name: 'b', body: Buffer.alloc(600 * 1024) }]));
    await refused(unpackArchive(honest.file, 'zip', honest.target, LIMITS), /bytes unpacked/);
    rmSync(honest.root, { recursive: true, force: true });
    // Declares 10 bytes, inflates to 8 MiB: yauzl stops at the declared size.
    const lying = fixture('liar.zip', zip([{ name: 'a', body: Buffer.alloc(8 * 1024 * 1024), declared: 10 }]));
    await refused(unpackArchive(lying.file, 'zip', lying.target, LIMITS), /size|bytes/);
    expect(existsSync(lying.target)).toBe(false);
  });

  it('validates entry paths before anything is written', () => {
    expect(safeEntryPath('./a/b.txt')).toBe('a/b.txt');
    for (const p of ['..', 'a/../../b', 'C:/x', 'a\\..\\b', 'a\0b']) expect(() => safeEntryPath(p)).toThrow(/archive refused/);
  });
});
