import { z } from 'zod';
import { validateBlobName, validateName } from '@sluice/storage-api';
import { EngineError } from '../errors.js';

const safe = (kind: 'blob' | 'localName') => (v: string, ctx: z.RefinementCtx): void => {
  try {
    if (kind === 'blob') validateBlobName(v);
    else validateName('part', v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
};

/**
 * App config `blobs`: blob name → how the executor maps it, e.g.
 * `{"dict":{"localName":"dict.txt","uncompress":false}}`. Local names are plain file
 * names (no separators, no `..`): they are joined under the executor's blob folder.
 */
export const blobMappingSchema = z
  .record(
    z.string().max(128).superRefine(safe('blob')),
    z.object({ localName: z.string().max(128).superRefine(safe('localName')), uncompress: z.boolean().default(false) }).strict(),
  )
  .refine((m) => Object.keys(m).length <= 64, 'at most 64 blobs per app');

export type BlobMapping = z.infer<typeof blobMappingSchema>;

/** The `blobs` key of an app config (object, or its JSON text); undefined when absent. BAD_REQUEST names the key path. */
export function blobMappingOf(config: unknown): BlobMapping | undefined {
  if (config === null || typeof config !== 'object') return undefined;
  let raw = (config as Record<string, unknown>).blobs;
  if (raw === undefined) return undefined;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      throw new EngineError('BAD_REQUEST', 'config blobs: not valid JSON');
    }
  }
  const r = blobMappingSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 5).map((i) => `blobs${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`);
    throw new EngineError('BAD_REQUEST', `invalid app config ${lines.join('; ')}`, { details: { issues: lines } });
  }
  const locals = Object.values(r.data).map((m) => m.localName);
  if (new Set(locals).size !== locals.length) throw new EngineError('BAD_REQUEST', 'config blobs: two blobs map to the same localName');
  return r.data;
}
