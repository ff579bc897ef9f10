export { EngineError, isEngineError, type EngineErrorCode } from './errors.js';
export { dag, Dag, Stream, KeyedStream, validateDag, topoOrder, MAX_PARALLELISM, type ProcessorSpec, type EdgeSpec, type Partition, type ProcessorOptions } from './dsl/dag.js';
export type { Task, TaskContext, TaskLogger, SourceTask, TaskFactory, SourceFactory } from './dsl/task.js';
export * as connectors from './connectors/index.js';
export { fileSource, generatorSource, generatedLine, fileSink, logSink, readCommittedOutput, formatRecord } from './connectors/index.js';
export { FrameDecoder, FrameKind, encodeData, encodeClock, encodeJson, MAX_FRAME_BYTES, type Frame } from './runtime/framing.js';
export { ClockService } from './runtime/clock-service.js';
export { CheckpointCoordinator } from './runtime/checkpoint-coordinator.js';
export { Committer } from './runtime/committer.js';
export { ExecutionPlan, hashKey, type PlannedTask } from './runtime/plan.js';
export { ExecutorCore, type Transport, type CoreOptions } from './runtime/executor-core.js';
export { InProcessApp, type InProcessOptions } from './runtime/in-process.js';
export { clusterConfigSchema, parseClusterConfig, loadClusterConfig, type ClusterConfig, type LoadedClusterConfig } from './config/cluster-config.js';
// master HA on etcd (issue 11)
export { EtcdSeedStore, type EtcdSeedStoreOptions, type LeaderFence, type SeedWriteFence } from './cluster/etcd-seed-store.js';
export { LeaderElection, type LeaderElectionOptions, type LeadershipChange, type MasterRole } from './cluster/leader-election.js';
export { createEtcdClient, type EtcdClientOptions } from './cluster/etcd-client.js';
export { appSeedSchema, parseSeed, type AppSeed, type SeedStore, type VersionedSeed } from './cluster/seed-store.js';
export { MasterClient, DEFAULT_MASTER_RETRY, type MasterClientOptions, type MasterClientRetry, type CallFn } from './cluster/master-client.js';
