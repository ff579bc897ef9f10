import { z, type ZodType } from 'zod';
import { parseAclEntry } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import { safeNameSchema } from '../security/names.js';

/**
 * zod schemas for every request body the master accepts (from users, workers and
 * AppMasters) and for the commands workers accept back. Names and ids are checked
 * here, before anything uses them in a path. Unknown keys are refused (`strict`) on
 * daemon payloads so a typo or a probe fails loudly.
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
const pid = z.number().int().positive().max(2 ** 31);
const timeMs = z.number().int().nonnegative();
export const appIdSchema = safeNameSchema;
export const workerNameSchema = safeNameSchema;
/** host or host:port (IPv6 in brackets); no scheme, no path. */
export const hostPortSchema = z.string().max(300).regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, 'must be host or host:port');
export const executorRoleSchema = z.enum(['appmaster', 'executor']);

export const runningExecutorSchema = z
  .object({
    appId: appIdSchema,
    role: executorRoleSchema,
    executor: executorIndex,
    epoch,
    pid,
    logFile: z.string().max(4096),
    startedAt: timeMs,
  })
  .strict();

export const exitedExecutorSchema = runningExecutorSchema
  .extend({ code: z.number().int().nullable(), signal: z.string().max(32).nullable() })
  .strict();

/** Bound on executors one worker reports (far above any slot count). */
const MAX_EXECUTORS_PER_WORKER = 10_000;

export const workerRegisterSchema = z
  .object({
    name: workerNameSchema.optional(),
    host: hostPortSchema.default('127.0.0.1'),
    slots: z.number().int().positive().max(4096).default(4),
    executors: z.array(runningExecutorSchema).max(MAX_EXECUTORS_PER_WORKER).default([]),
  })
  .strict();

export const workerHeartbeatSchema = z
  .object({
    executors: z.array(runningExecutorSchema).max(MAX_EXECUTORS_PER_WORKER).default([]),
    exited: z.array(exitedExecutorSchema).max(MAX_EXECUTORS_PER_WORKER).default([]),
  })
  .strict();

export const appMasterHeartbeatSchema = z
  .object({
    epoch,
    control: hostPortSchema,
    pid,
    committed: z.number().int().nullable().optional(),
    minClock: z.number().nullable().optional(),
    restarts: z.number().int().nonnegative(),
    commits: z.number().int().nonnegative(),
    executors: z.number().int().nonnegative(),
    connected: z.number().int().nonnegative(),
    messages: z.record(z.string().max(128), z.number()).optional(),
    phase: z.string().max(64),
  })
  .strict();

export const epochBumpSchema = z.object({ epoch }).strict();

export const launchExecutorsSchema = z
  .object({
    epoch,
    executors: z.array(z.number().int().nonnegative().max(100_000)).min(1).max(10_000),
    am: hostPortSchema,
  })
  .strict();

export const finishSchema = z
  .object({
    epoch,
    status: z.enum(['stopped', 'failed']),
    error: z.string().max(64 * 1024).optional(),
  })
  .strict();

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
      appId: appIdSchema,
      role: executorRoleSchema,
      executor: executorIndex,
      epoch,
      jar: z.string().min(1).max(4096),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      am: hostPortSchema.optional(),
      /** Daemon token for this app/epoch/role (set as SLUICE_DAEMON_TOKEN in its environment). */
      token: z.string().max(512).optional(),
    })
    .strict(),
  z.object({ type: z.literal('kill'), appId: appIdSchema, belowEpoch: epoch.optional() }).strict(),
]);

export const heartbeatAnswerSchema = z.object({ commands: z.array(workerCommandSchema).max(10_000) });

export type WorkerRegisterBody = z.infer<typeof workerRegisterSchema>;
export type WorkerHeartbeatBody = z.infer<typeof workerHeartbeatSchema>;
export type AppMasterHeartbeatBody = z.infer<typeof appMasterHeartbeatSchema>;
export type LaunchExecutorsBody = z.infer<typeof launchExecutorsSchema>;
export type FinishBody = z.infer<typeof finishSchema>;
export type AclSetBody = z.infer<typeof aclSetSchema>;
export type WorkerCommandMessage = z.infer<typeof workerCommandSchema>;
