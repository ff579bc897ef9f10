import { z } from 'zod';

/** Options of `module: '@sluice/storage-s3'`. Strict: a misspelt key is a config error. */
export const s3OptionsSchema = z
  .object({
    bucket: z.string().min(3),
    /** Key prefix for everything this store writes; '' for the bucket root. */
    prefix: z.string().default(''),
    endpoint: z.string().url().optional(),
    region: z.string().default('us-east-1'),
    forcePathStyle: z.boolean().default(false),
    /** Omitted: the SDK default credential chain (env, profile, instance role ...). */
    credentials: z
      .object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1), sessionToken: z.string().optional() })
      .strict()
      .optional(),
    /** Promise that only one writer touches this store: allows endpoints without conditional writes. */
    singleWriter: z.boolean().default(false),
    multipartThreshold: z.number().int().min(5 * 1024 * 1024).default(16 * 1024 * 1024),
    partSize: z.number().int().min(5 * 1024 * 1024).default(8 * 1024 * 1024),
    queueSize: z.number().int().min(1).max(64).default(4),
    requestTimeoutMs: z.number().int().min(100).default(30_000),
    maxAttempts: z.number().int().min(1).max(20).default(6),
    /** Create the bucket at open if missing (tests, dev). */
    createBucket: z.boolean().default(false),
    checksums: z.enum(['WHEN_REQUIRED', 'WHEN_SUPPORTED']).default('WHEN_SUPPORTED'),
  })
  .strict();

export type S3StorageOptions = z.input<typeof s3OptionsSchema>;
export type ResolvedS3Options = z.output<typeof s3OptionsSchema>;
