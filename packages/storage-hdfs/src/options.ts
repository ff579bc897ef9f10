import { z } from 'zod';

const octal = z.string().regex(/^[0-7]{3,4}$/, 'must be an octal permission such as 700');

/** Options of `@sluice/storage-hdfs` (strict: unknown keys are configuration mistakes). */
export const hdfsOptionsSchema = z
  .object({
    /** NameNode (or HttpFS) base URL, e.g. http://nn:9870. */
    url: z.string().url().optional(),
    /** Several NameNodes (HA): fail over to the next one on StandbyException or connection errors. */
    urls: z.array(z.string().url()).min(1).optional(),
    /** `user.name` sent with every request (security off). */
    user: z.string().regex(/^[A-Za-z_][A-Za-z0-9._-]*[$]?$/).default('sluice'),
    /** Base path of the store on HDFS. */
    // eslint-disable-next-line no-control-regex -- control characters are what this refuses
    root: z.string().regex(/^\/[^\u0000-\u001f]*$/, 'must be an absolute path').default('/sluice'),
    /** Delegation token (sent as `delegation`, instead of user.name). */
    token: z.string().min(1).optional(),
    /** Rewrites DataNode hosts in redirect Locations: "host" or "host:port" → "host" or "host:port". */
    dataNodeHostMap: z.record(z.string(), z.string()).default({}),
    /** Per-request timeout for metadata requests, and idle timeout for data transfers. */
    timeoutMs: z.number().int().positive().default(30_000),
    /** Attempts for idempotent requests on transient errors (including the first). */
    maxAttempts: z.number().int().min(1).max(20).default(4),
    /** Send `Expect: 100-continue` on uploads to the DataNode. */
    expectContinue: z.boolean().default(false),
    permission: z
      .object({
        /** Permission of directories the backend creates (the root, app directories). */
        dir: octal.default('700'),
        /** Permission of files the backend creates. */
        file: octal.default('600'),
        /** Set the owner of an app directory to the app owner: 'auto' tries and logs a refusal, 'never' skips, 'always' fails on refusal. */
        setOwner: z.enum(['auto', 'always', 'never']).default('auto'),
      })
      .strict()
      .default({ dir: '700', file: '600', setOwner: 'auto' }),
  })
  .strict()
  .refine((o) => o.url !== undefined || o.urls !== undefined, { message: 'url or urls is required', path: ['url'] });

export type HdfsOptions = z.infer<typeof hdfsOptionsSchema>;
export type HdfsOptionsInput = z.input<typeof hdfsOptionsSchema>;
