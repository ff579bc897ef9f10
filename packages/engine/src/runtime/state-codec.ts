/**
 * How task state travels into checkpoints: one value per task (JSON, or raw bytes with a
 * tag byte), and one combined part per executor holding all of its tasks' states.
 */

/** The checkpoint part name of an executor's combined state. */
export const executorPart = (executor: number): string => `exec-${executor}`;

export function encodeState(state: unknown): Uint8Array {
  if (state instanceof Uint8Array) {
    const out = new Uint8Array(state.length + 1);
    out[0] = 1;
    out.set(state, 1);
    return out;
  }
  const json = Buffer.from(JSON.stringify(state ?? null), 'utf8');
  const out = new Uint8Array(json.length + 1);
  out[0] = 0;
  out.set(json, 1);
  return out;
}

export function decodeState(bytes: Uint8Array): unknown {
  if (bytes[0] === 1) return bytes.subarray(1);
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 1, bytes.length - 1).toString('utf8'));
}

/** One checkpoint part per executor: the states of all its tasks (fewer store writes). */
export function encodeParts(parts: Map<string, Uint8Array>): Uint8Array {
  let n = 4;
  const names = [...parts.keys()].map((k) => Buffer.from(k, 'utf8'));
  for (const [i, v] of [...parts.values()].entries()) n += 2 + names[i]!.length + 4 + v.length;
  const out = Buffer.allocUnsafe(n);
  out.writeUInt32BE(parts.size, 0);
  let off = 4;
  for (const [i, v] of [...parts.values()].entries()) {
    const name = names[i]!;
    out.writeUInt16BE(name.length, off);
    name.copy(out, off + 2);
    off += 2 + name.length;
    out.writeUInt32BE(v.length, off);
    out.set(v, off + 4);
    off += 4 + v.length;
  }
  return out;
}

export function decodeParts(bytes: Uint8Array): Map<string, Uint8Array> {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = new Map<string, Uint8Array>();
  let off = 4;
  for (let i = 0, n = b.readUInt32BE(0); i < n; i++) {
    const len = b.readUInt16BE(off);
    const name = b.toString('utf8', off + 2, off + 2 + len);
    off += 2 + len;
    const size = b.readUInt32BE(off);
    out.set(name, b.subarray(off + 4, off + 4 + size));
    off += 4 + size;
  }
  return out;
}
