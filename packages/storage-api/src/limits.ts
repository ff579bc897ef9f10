/** Size limits every backend enforces (through the guard) so behaviour is the same everywhere. */
export const LIMITS = {
  /** One offset value: offsets are small pointers into a source. */
  offsetValueBytes: 64 * 1024,
  /** One checkpoint part is held in memory by the task that writes it. */
  checkpointPartBytes: 256 * 1024 * 1024,
  /** One log message plus its fields, serialised. */
  logRecordBytes: 64 * 1024,
  /** One serialised config value. */
  configValueBytes: 1024 * 1024,
  /** Labels per record / point; keeps label indexes small. */
  maxLabels: 16,
  labelValueLength: 256,
  metricNameLength: 200,
  /** Records or points per append/write call. */
  batchSize: 100_000,
  /** Default and maximum page sizes. */
  defaultLimit: 1000,
  maxLimit: 10_000,
  /** Default number of checkpoints kept. */
  defaultNumRetained: 3,
} as const;

export const LOG_LEVEL_VALUES = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
