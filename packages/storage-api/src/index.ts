export * from './types.js';
export * from './errors.js';
export { validateName, validateTime, validateEpoch, isValidName, MAX_NAME_LENGTH, type NameKind } from './names.js';
export { LIMITS, LOG_LEVEL_VALUES } from './limits.js';
export { parseAclEntry, validateAclEntries, hasAccess, assertAccess, type AclEntry, type Permission, type AccessOptions } from './acl.js';
export {
  storageConfigSchema, retentionSchema, backendRefSchema, parseStorageConfig, parseStorageConfigYaml, formatIssues, DEFAULT_BACKEND,
  type StorageConfig, type RetentionPolicy, type BackendRef,
} from './config-schema.js';
export { loadStorageModule, openStorage, defaultContext, requireCapabilities, CAPABILITY_MEANINGS, STORAGE_API_VERSION, satisfiesCaret } from './loader.js';
export { STORAGE_CONTRACT_VERSION, CONTRACT_HOOKS, CONTRACT_GUIDE, checkDeclaredContract, checkStoreHooks, type ContractStore } from './contract-version.js';
export { openConfiguredStorage, storagePlan, RoutingStorage, type PlanRow } from './routing.js';
export { guardStorage, unwrapStorage } from './guard.js';
export { runGc, type GcReport, type GcAction } from './gc.js';
export { runFsck, describeCheckpoints, type FsckReport, type FsckFinding, type FsckOptions, type FsckCheckpoint } from './fsck.js';
export {
  fencedError, outOfOrderError, checkWriterEpoch, checkAliveBefore, newAppMeta, damagedAppMeta, alreadyCommittedError, notStagedError,
  checkStagedMatches, sameCommit, checkOpenEpoch, planOffsetAppend, checkConfigVersion, appExistsError, appNotFoundError, appDeletedError,
  checkAppDeletable, nextAppMeta, checkJarReplaceable, checkJarDigest, jarNotFoundError,
} from './policy.js';
export { offsetStoreOver } from './offset-store.js';
export { checkpointStoreOver, planCheckpointCommit, planCheckpointPrune, planCheckpointSweep } from './checkpoint-store.js';
export { configStoreOver } from './config-store.js';
export { frameValue, unframeValue, FRAME_OVERHEAD } from './util/value-frame.js';
export { withRetry, sleep, type RetryPolicy } from './util/retry.js';
export { HashingCounter, iterateBytes, verifyingStream, sha256Hex, bytesEqual, collectBytes } from './util/bytes.js';
export { resolveLookUp, lowerBound } from './util/lookup.js';
export {
  matchesLogQuery, logPage, levelValue, isLogLevel, effectiveLimit, encodeCursor, decodeCursor, afterCursor, compareSeq, type LogCursor,
} from './util/logs.js';
export {
  Aggregator, chooseResolution, seriesKey, labelsMatch, RESOLUTION_MS, ROLLUP_RESOLUTIONS, emptyPartial, addValue, mergePartial,
  finishPartial, needsValues, bucketOf, groupLabels, type PartialAgg as MetricPartial,
} from './util/metrics.js';
export { seededRandom } from './util/random.js';
export { intercept, type Around, type InterceptedCall } from './intercept.js';
export { pollForNew, type PollOptions } from './util/follow.js';
export {
  validateBlobName, DEFAULT_BLOB_KEEP, MAX_BLOB_KEEP, type BlobStore, type BlobBackend, type BlobMeta, type BlobVersionInfo, type BlobCreateOptions,
  type BlobUpdateOptions, type BlobReadOptions, type BlobWriteOptions,
} from './blobs.js';
export { BlobStoreCore, blobContentRef, type BlobCoreOptions } from './blob-core.js';
export { blobBackendOf } from './blob-guard.js';
export { atomicWriteFile } from './util/atomic-file.js';
