/**
 * Messages between master, workers and AppMasters (JSON over HTTP). Every request body
 * is parsed with one of these schemas before the master acts on it: ids and names are
 * checked here, before anything can turn them into a path.
 */
import { z } from 'zod';
import { safeNameSchema } from '../security/names.js';

export type ExecutorRole = 'appmaster' | 'executor';

/** App ids and worker names: they end up in file names (logs, caches). */
export const idSchema = safeNameSchema;
const roleSchema = z.enum(['appmaster', 'executor']);
const epochSchema = z.number().int().nonnegative();
/** Executor slot in the app's plan; -1 for the AppMaster. */
const slotSchema = z.number().int().min(-1).max(100_000);
const hostPortSchema = z.string().max(300).regex(/^[A-Za-z0-9.:[\]_-]+:\d{1,5}$/, 'host:port');

export interface LaunchCommand {
  type: 'launch';
  appId: string;
  role: ExecutorRole;
  executor: number;
  epoch: number;
  jar: string;
  sha256: string;
  /** host:port of the AppMaster's control server (executors only). */
  am?: string;
  /** Daemon token scoped to this app, epoch and role (absent with auth off). */
  token?: string;
}

export interface KillCommand {
  type: 'kill';
  appId: string;
  /** Only processes below this epoch (zombies); all of the app's processes if absent. */
  belowEpoch?: number;
  /** Limit a kill to one role (e.g. the executors of a replaced plan, not the AppMaster). */
  role?: ExecutorRole;
}

export type WorkerCommand = LaunchCommand | KillCommand;

export const runningExecutorSchema = z.object({
  appId: idSchema,
  role: roleSchema,
  executor: slotSchema,
  epoch: epochSchema,
  pid: z.number().int().positive(),
  logFile: z.string().max(4096),
  startedAt: z.number(),
});
export type RunningExecutor = z.infer<typeof runningExecutorSchema>;

export const exitedExecutorSchema = runningExecutorSchema.extend({
  code: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
});
export type ExitedExecutor = z.infer<typeof exitedExecutorSchema>;

export const workerRegisterSchema = z.strictObject({
  name: idSchema.optional(),
  host: z.string().min(1).max(255).regex(/^[A-Za-z0-9.:[\]_-]+$/).default('127.0.0.1'),
  slots: z.number().int().min(1).max(1024).default(4),
  executors: z.array(runningExecutorSchema).max(2048).default([]),
  version: z.string().max(64).optional(),
});

export const workerHeartbeatSchema = z.strictObject({
  executors: z.array(runningExecutorSchema).max(2048).default([]),
  exited: z.array(exitedExecutorSchema).max(2048).default([]),
  /** Warm executor processes booted and waiting (worker.standbys is the target). */
  standbys: z.strictObject({ ready: z.number().int().nonnegative().max(64), target: z.number().int().nonnegative().max(64) }).optional(),
});

export const appMasterStatusSchema = z.object({
  /** The app's current epoch as this AppMaster knows it. */
  epoch: epochSchema,
  /** The epoch this AppMaster was launched with: its identity across its own epoch bumps. */
  amEpoch: epochSchema,
  control: z.string().max(300),
  pid: z.number().int().positive(),
  committed: z.number().optional(),
  minClock: z.number().optional(),
  /** Event time: the app's watermark and each processor's (the min over its tasks that have a finite one). */
  watermark: z.number().optional(),
  watermarks: z.record(z.string().max(300), z.number()).optional(),
  restarts: z.number().int().nonnegative(),
  commits: z.number().int().nonnegative(),
  executors: z.number().int().nonnegative(),
  connected: z.number().int().nonnegative(),
  messages: z.record(z.string().max(300), z.number()).optional(),
  phase: z.string().max(32),
  /** When this epoch's executors were told to go (ms since 1970): processing resumed. */
  runningSince: z.number().optional(),
  /** The last committed checkpoint's cost (keyed state: new vs shared bytes, pause, upload). */
  checkpoint: z.object({
    t: z.number(),
    newBytes: z.number().nonnegative(),
    sharedBytes: z.number().nonnegative(),
    pauseMs: z.number().nonnegative(),
    uploadMs: z.number().nonnegative(),
    stateEntries: z.number().int().nonnegative(),
    /** Boundary passed (first stage seen) → committed, ms. */
    commitMs: z.number().nonnegative(),
  }).optional(),
  /** Why the AppMaster waits (e.g. for free slots). */
  waiting: z.string().max(1000).optional(),
  /** Mapped blobs: the version switched to (from event time `from`) and what each executor uses. */
  blobs: z.array(z.object({
    name: z.string().max(128),
    version: z.number().int().nonnegative(),
    from: z.number().optional(),
    executors: z.record(z.string().max(12), z.number().int().nonnegative()),
    refused: z.string().max(1000).optional(),
  })).max(64).optional(),
});
export type AppMasterStatus = z.infer<typeof appMasterStatusSchema>;

/** What an AppMaster learns from its heartbeat: its executors' processes as workers report them. */
export interface ExecutorReport {
  executor: number;
  epoch: number;
  state: 'running' | 'exited';
  worker: string;
  pid: number;
  startedAt: number;
  code?: number | null;
  signal?: string | null;
}

export interface AmHeartbeatReply {
  ok: true;
  executors: ExecutorReport[];
}

const amCallBase = { epoch: epochSchema, amEpoch: epochSchema };

export const executorsRequestSchema = z.object({
  ...amCallBase,
  executors: z.array(z.number().int().min(0).max(100_000)).min(1).max(100_000),
  am: hostPortSchema,
});

export interface ExecutorsReply {
  /** Empty while the app waits for free slots (`waiting` says why). */
  placed: Array<{ executor: number; worker: string }>;
  waiting?: string;
}

/** `progressed`: the failing epoch committed a checkpoint, so the restart needs no back-off. */
export const restartRequestSchema = z.object({ ...amCallBase, reason: z.string().max(8000), progressed: z.boolean().default(false) });

/** AppMaster -> master before a blob switch: may the app's owner still read these blobs? */
export const blobsCheckRequestSchema = z.object({ ...amCallBase, blobs: z.array(z.string().max(128)).min(1).max(64) });

export interface RestartReply {
  epoch: number;
  /** The backed-off time the next attempt may start (ms since the epoch). */
  notBefore: number;
}

export const finishRequestSchema = z.object({
  ...amCallBase,
  status: z.enum(['stopped', 'failed']),
  error: z.string().max(8000).optional(),
});

/** Well-known app config keys, checked at submit against the cluster's limits. */
export const appConfigSchema = z
  .object({
    executors: z.number().int().min(1).optional(),
    checkpointIntervalMs: z.number().int().min(10).max(3_600_000).optional(),
    maxRestarts: z.number().int().min(0).max(100_000).optional(),
    restartWindowMs: z.number().int().min(1000).optional(),
    restartBackoffMs: z.number().int().min(0).max(600_000).optional(),
    restartBackoffMaxMs: z.number().int().min(0).max(3_600_000).optional(),
  })
  .passthrough();
