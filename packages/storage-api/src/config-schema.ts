import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { StorageError } from './errors.js';
import { SUB_STORES, type SubStoreKind } from './types.js';

const retentionRule = z
  .object({
    maxAgeMs: z.number().int().positive().optional(),
    numRetained: z.number().int().positive().optional(),
    maxBytes: z.number().int().positive().optional(),
  })
  .strict();

export const retentionSchema = z
  .object({
    jars: retentionRule.optional(),
    logs: retentionRule.optional(),
    metrics: retentionRule
      .extend({
        /** Per rollup level: how long 1m and 1h rollups are kept. */
        rollups: z.object({ '1m': z.object({ maxAgeMs: z.number().int().positive() }).strict().optional(), '1h': z.object({ maxAgeMs: z.number().int().positive() }).strict().optional() }).strict().optional(),
      })
      .strict()
      .optional(),
    offsets: retentionRule.optional(),
    checkpoints: retentionRule.optional(),
  })
  .strict();

export type RetentionPolicy = z.infer<typeof retentionSchema>;

export const backendRefSchema = z
  .object({
    /** Package name (`@sluice/storage-s3`), a file path (`./my-store.js`) or `memory`. */
    module: z.string().min(1),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export type BackendRef = z.infer<typeof backendRefSchema>;

/** The `storage:` section of cluster config. */
export const storageConfigSchema = z
  .object({
    /** Default backend; the embedded fs store when omitted. */
    default: backendRefSchema.optional(),
    /** Per-sub-store overrides, e.g. checkpoints on S3 and the rest on fs. */
    routes: z
      .object({
        ...(Object.fromEntries(SUB_STORES.map((k) => [k, backendRefSchema.optional()])) as Record<SubStoreKind, z.ZodOptional<typeof backendRefSchema>>),
        /** Shared blobs are cluster-wide (not per app); they may live on their own backend too. */
        blobs: backendRefSchema.optional(),
      })
      .strict()
      .default({} as never),
    retention: retentionSchema.default({}),
  })
  .strict();

export type StorageConfig = z.infer<typeof storageConfigSchema>;

export const DEFAULT_BACKEND: BackendRef = { module: '@sluice/storage-fs', options: { root: './.sluice' } };

/** Formats zod issues as `key.path: message` lines, prefixed by where the section sits. */
export function formatIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, prefix: string[] = []): string[] {
  return issues.map((i) => {
    const path = [...prefix, ...i.path.map(String)].join('.');
    return `${path || '(root)'}: ${i.message}`;
  });
}

/** Validates a parsed `storage:` section; errors name the key path (`storage.routes.jars.module`). */
export function parseStorageConfig(input: unknown, prefix: string[] = ['storage']): StorageConfig {
  const r = storageConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const lines = formatIssues(r.error.issues, prefix);
    throw new StorageError(`invalid storage config:\n  ${lines.join('\n  ')}`, { code: 'STORAGE_CONFIG_INVALID', details: { issues: lines } });
  }
  return r.data;
}

/** Parses YAML text and validates its `storage:` section. */
export function parseStorageConfigYaml(text: string): StorageConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new StorageError(`cluster config is not valid YAML: ${(err as Error).message}`, { code: 'STORAGE_CONFIG_INVALID', cause: err });
  }
  const storage = doc && typeof doc === 'object' ? (doc as Record<string, unknown>).storage : undefined;
  return parseStorageConfig(storage);
}
