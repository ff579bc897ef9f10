import type { CheckpointPart } from '@sluice/storage-api';

/**
 * The AppMaster <-> executor control channel (framed JSON over TCP). Both directions
 * are discriminated unions: a switch over `type` is checked for exhaustiveness.
 */

export interface PeerAddress {
  executor: number;
  host: string;
  port: number;
}

export interface TaskStatus {
  task: string;
  clock: number;
  pendingMin?: number;
  messages: number;
  /** The task's event-time watermark, when it has a finite one. */
  watermark?: number;
}

/** What one executor's share of a checkpoint cost (summed over executors by the AppMaster). */
export interface StageStats {
  /** Bytes uploaded for this checkpoint. */
  newBytes: number;
  /** Bytes of earlier parts this checkpoint lists again (keyed-state segments). */
  sharedBytes: number;
  /** Longest a task paused to freeze its keyed state (ms). */
  pauseMs: number;
  /** Encoding and upload of the executor's parts (ms). */
  uploadMs: number;
  /** Live keyed-state entries. */
  stateEntries: number;
}

/** Executor -> AppMaster. */
export type ExecutorMessage =
  | { type: 'hello'; executor: number; epoch: number; host: string; dataPort: number; pid: number }
  | { type: 'ready' }
  /** The executor's parts of checkpoint t: its own first, then keyed-state segments (new and shared). */
  | { type: 'staged'; t: number; task: string; parts: CheckpointPart[]; stats: StageStats }
  | { type: 'exhausted'; task: string; lastDataTs: number }
  | { type: 'status'; tasks: TaskStatus[]; blobs?: Record<string, number> }
  /** The newest version of each mapped blob this executor has materialized. */
  | { type: 'blobReady'; versions: Record<string, number> }
  /** Answer to blobPrepare: ok = no local task reached `from`, clocks now held below it. */
  | { type: 'blobPrepared'; id: number; ok: boolean; reason?: string }
  | { type: 'stopped' }
  /** A task or the executor failed: the reason (with its labels) before the executor exits. */
  | { type: 'fatal'; error: string; processor?: string; task?: string; fenced: boolean };

/** AppMaster -> executor. */
export type AppMasterMessage =
  | { type: 'start'; peers: PeerAddress[]; executors: number; intervalMs: number; restoreT?: number; blobs?: Record<string, number> }
  /** Switch mapped blobs to `versions` for every message at or after boundary `from` (two-phase). */
  | { type: 'blobPrepare'; id: number; from: number; versions: Record<string, number> }
  | { type: 'blobRelease'; id: number }
  | { type: 'blobAbort'; id: number }
  | { type: 'go' }
  | { type: 'commit'; t: number }
  | { type: 'stop' }
  | { type: 'exit' };

const EXECUTOR_TYPES = new Set(['hello', 'ready', 'staged', 'exhausted', 'status', 'stopped', 'fatal', 'blobReady', 'blobPrepared']);
const AM_TYPES = new Set(['start', 'go', 'commit', 'stop', 'exit', 'blobPrepare', 'blobRelease', 'blobAbort']);

/** Narrows a decoded frame; unknown types are dropped by the channel (a newer peer). */
export function isExecutorMessage(m: unknown): m is ExecutorMessage {
  return typeof m === 'object' && m !== null && EXECUTOR_TYPES.has((m as { type?: string }).type ?? '');
}

export function isAppMasterMessage(m: unknown): m is AppMasterMessage {
  return typeof m === 'object' && m !== null && AM_TYPES.has((m as { type?: string }).type ?? '');
}
