import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** Owner-only: apps may hold credentials in config and jars. */
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export function mkdirPrivate(path: string): void {
  mkdirSync(path, { recursive: true, mode: DIR_MODE });
}

/** Makes a rename/link/unlink in `dir` durable (the entry lives in the directory). */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
