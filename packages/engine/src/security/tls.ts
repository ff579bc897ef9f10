import { readFile } from 'node:fs/promises';
import { EngineError } from '../errors.js';

/** `master.tls` in cluster config: PEM file paths (relative to the config's folder). */
export interface TlsPaths {
  cert: string;
  key: string;
  /** CA that signed `cert`: clients (CLI, workers, AppMasters) verify the master with it. */
  ca?: string;
}

export interface TlsServerMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

async function readPem(path: string, key: string): Promise<Buffer> {
  try {
    const b = await readFile(path);
    if (!b.includes('-----BEGIN ')) throw new Error('not a PEM file');
    return b;
  } catch (err) {
    throw new EngineError('CONFIG_INVALID', `master.tls.${key}: cannot read ${path}: ${(err as Error).message}`, { cause: err, details: { key: `master.tls.${key}` } });
  }
}

/** Loads the server's certificate and key (and CA) for `https.createServer`. */
export async function loadTlsServer(paths: TlsPaths): Promise<TlsServerMaterial> {
  const out: TlsServerMaterial = { cert: await readPem(paths.cert, 'cert'), key: await readPem(paths.key, 'key') };
  if (paths.ca) out.ca = await readPem(paths.ca, 'ca');
  return out;
}

/** Loads the CA a client verifies the master with. */
export async function loadTlsClientCa(paths: Pick<TlsPaths, 'ca'>): Promise<Buffer | undefined> {
  return paths.ca ? readPem(paths.ca, 'ca') : undefined;
}
