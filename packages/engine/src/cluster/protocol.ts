/** Messages between master, workers and AppMasters (JSON over HTTP). */
export type ExecutorRole = 'appmaster' | 'executor';

export interface LaunchCommand {
  type: 'launch';
  appId: string;
  role: ExecutorRole;
  /** Executor slot in the app's plan; -1 for the AppMaster. */
  executor: number;
  epoch: number;
  jar: string;
  sha256: string;
  /** host:port of the AppMaster's control server (executors only). */
  am?: string;
}

export interface KillCommand {
  type: 'kill';
  appId: string;
  /** Only executors below this epoch (zombies); all of the app's executors if absent. */
  belowEpoch?: number;
}

export type WorkerCommand = LaunchCommand | KillCommand;

export interface RunningExecutor {
  appId: string;
  role: ExecutorRole;
  executor: number;
  epoch: number;
  pid: number;
  logFile: string;
  startedAt: number;
}

export interface ExitedExecutor extends RunningExecutor {
  code: number | null;
  signal: string | null;
}

export interface AppMasterStatus {
  epoch: number;
  control: string;
  pid: number;
  committed?: number;
  minClock?: number;
  restarts: number;
  commits: number;
  executors: number;
  connected: number;
  messages?: Record<string, number>;
  phase: string;
}
