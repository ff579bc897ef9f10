import { z, type ZodType } from 'zod';
import { parseAclEntry } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import { safeNameSchema } from '../security/names.js';

/**
 * The user-facing request schemas (submit query, ACL changes), the commands workers
 * accept back from the master, and the one `parseBody`. Daemon request bodies live
 * with their message types in protocol.ts.
 */

/** Parses `input` or throws BAD_REQUEST naming the first bad field (`executors.0.pid: Expected number`). */
export function parseBody<T>(schema: ZodType<T>, input: unknown, what = 'request body'): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new EngineError('BAD_REQUEST', `invalid ${what}: ${lines.join('; ')}`, { details: { issues: lines } });
}

const epoch = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const executorIndex = z.number().int().min(-1).max(100_000);
const hostPortSchema = z.string().max(300).regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, 'must be host or host:port');

/** One ACL entry in storage-api's grammar (`u:bob:r`, `o::r`). */
export const aclEntrySchema = z.string().max(256).superRefine((v, ctx) => {
  try {
    parseAclEntry(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

export const aclSetSchema = z.object({ acl: z.array(aclEntrySchema).max(1000) }).strict();

/** `POST /apps?name=&config=&acl=`: the query of a submit (the body is the artifact stream). */
export const submitQuerySchema = z
  .object({
    name: safeNameSchema,
    config: z.record(z.string(), z.unknown()).default({}),
    acl: z.array(aclEntrySchema).max(1000).default([]),
  })
  .strict();

/** Reads the submit query: `config` must be a JSON object (not null, not an array). */
export function parseSubmitQuery(url: URL): z.infer<typeof submitQuerySchema> {
  const raw: Record<string, unknown> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const v = url.searchParams.get(key)!;
    if (key === 'config') {
      try {
        raw.config = JSON.parse(v) as unknown;
      } catch {
        throw new EngineError('BAD_REQUEST', 'config must be a JSON object');
      }
    } else if (key === 'acl') {
      raw.acl = v.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (s.endsWith(':') ? `${s}-` : s));
    } else raw[key] = v;
  }
  return parseBody(submitQuerySchema, raw, 'submit query');
}

/** What the master sends workers in heartbeat answers; workers parse it before acting. */
export const workerCommandSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('launch'),
      appId: safeNameSchema,
      role: z.enum(['appmaster', 'executor']),
      executor: executorIndex,
      epoch,
      jar: z.string().min(1).max(4096),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      am: hostPortSchema.optional(),
      /** Daemon token for this app/epoch/role (set as SLUICE_DAEMON_TOKEN in its environment). */
      token: z.string().max(512).optional(),
    })
    .strict(),
  z.object({ type: z.literal('kill'), appId: safeNameSchema, belowEpoch: epoch.optional(), role: z.enum(['appmaster', 'executor']).optional() }).strict(),
]);

export const heartbeatAnswerSchema = z.object({ commands: z.array(workerCommandSchema).max(10_000) });

export type AclSetBody = z.infer<typeof aclSetSchema>;
export type WorkerCommandMessage = z.infer<typeof workerCommandSchema>;
