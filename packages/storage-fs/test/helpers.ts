import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '@sluice/storage-api';
import type { Storage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';

/** A fresh root under the OS temp dir; remove it with `rm(root, { recursive: true })`. */
export function tempRoot(prefix = 'sluice-fs-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function openFs(root: string, extra: Record<string, unknown> = {}): Promise<Storage> {
  return openStorage(fsModule, { root, ...extra });
}

export async function removeRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

/** Directory of the child-process fixtures (plain .mjs importing the built packages). */
export const FIXTURES = join(import.meta.dirname, 'fixtures');
