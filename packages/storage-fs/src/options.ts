import { z } from 'zod';

/** Options of `@sluice/storage-fs`; unknown keys are rejected so typos fail loudly. */
export const fsOptionsSchema = z
  .object({
    /** Data directory; relative paths resolve against the config file's folder (context.baseDir; the cwd without a config). */
    root: z.string().min(1).default('./.sluice'),
    /** How long a writer waits for another process's SQLite write lock before STORAGE_UNAVAILABLE. */
    busyTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
    /**
     * SQLite synchronous mode. FULL fsyncs the WAL on every commit (survives power loss);
     * NORMAL survives kill -9 but may lose the last commits on power loss.
     */
    synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
    /** Leftover temp files (from killed writers) older than this are removed when an app opens. */
    staleTempMs: z.number().int().min(0).default(3_600_000),
  })
  .strict();

export type FsStorageOptions = z.input<typeof fsOptionsSchema>;
export type ResolvedFsOptions = z.output<typeof fsOptionsSchema>;
