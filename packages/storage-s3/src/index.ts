import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { StorageError, isStorageError, type StorageContext, type StorageLogger, type StorageModule } from '@sluice/storage-api';
import { S3Io } from './io.js';
import { rootPrefix } from './keys.js';
import { s3OptionsSchema, type ResolvedS3Options, type S3StorageOptions } from './options.js';
import { runProbe } from './probe.js';
import { S3Storage, S3_CAPABILITIES } from './storage.js';
import { corrupt } from './test-hooks.js';

export { S3Storage, S3AppStorage, S3_CAPABILITIES } from './storage.js';
export { s3OptionsSchema, type S3StorageOptions, type ResolvedS3Options } from './options.js';
export { describeProbe, runProbe, type ProbeReport } from './probe.js';
export { mapS3Error } from './errors.js';
export { S3Io, compareKeys, type CommitStrategy } from './io.js';

const noop = (): void => {};
const silent: StorageLogger = { debug: noop, info: noop, warn: noop, error: noop };

function clientFor(o: ResolvedS3Options, maxAttempts: number): S3Client {
  return new S3Client({
    region: o.region,
    endpoint: o.endpoint,
    forcePathStyle: o.forcePathStyle,
    credentials: o.credentials,
    maxAttempts,
    requestChecksumCalculation: o.checksums,
    responseChecksumValidation: o.checksums,
    requestHandler: { requestTimeout: o.requestTimeoutMs, connectionTimeout: Math.min(o.requestTimeoutMs, 10_000) },
  });
}

/**
 * Programmatic entry: like the module's create(), and accepts a prebuilt S3Client (then
 * its retry and checksum settings are the caller's; ours still wrap every request).
 */
export async function createS3Storage(options: S3StorageOptions & { client?: S3Client }, context: Partial<StorageContext> = {}): Promise<S3Storage> {
  const { client: injected, ...rest } = options;
  const parsed = s3OptionsSchema.safeParse(rest);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new StorageError(`invalid options for @sluice/storage-s3: ${lines.join('; ')}`, { code: 'STORAGE_CONFIG_INVALID', details: { issues: lines } });
  }
  const o = parsed.data;
  const ctx: StorageContext = { logger: context.logger ?? silent, now: context.now ?? Date.now, baseDir: context.baseDir ?? process.cwd() };
  // Our own retry loop owns retries, so the request client does one attempt each;
  // multipart parts are buffers the SDK may replay, so the upload client retries itself.
  const owned: S3Client[] = [];
  const client = injected ?? clientFor(o, 1);
  const uploadClient = injected ?? clientFor(o, o.maxAttempts);
  if (!injected) owned.push(client, uploadClient);
  const io = new S3Io(client, { bucket: o.bucket, requestTimeoutMs: o.requestTimeoutMs, maxAttempts: o.maxAttempts, logger: ctx.logger });
  try {
    if (o.createBucket) await ensureBucket(io);
    const root = rootPrefix(o.prefix);
    const probe = await runProbe(io, root);
    io.strategy = probe.strategy;
    const storage = new S3Storage(io, probe, {
      root, singleWriter: o.singleWriter, ownedClients: owned, endpointLabel: `${o.endpoint ?? 'aws'}/${o.bucket}`,
      jars: { multipartThreshold: o.multipartThreshold, partSize: o.partSize, queueSize: o.queueSize, uploadClient, graceMs: 60 * 60_000 },
    }, ctx);
    ctx.logger.info({ bucket: o.bucket, prefix: root, probe, multiWriter: storage.capabilities.multiWriter }, 's3 storage opened');
    if (!probe.multiWriterSafe) {
      ctx.logger.warn({ missing: probe.missing, singleWriter: o.singleWriter }, o.singleWriter
        ? 's3 endpoint lacks conditional writes: running in single-writer mode'
        : 's3 endpoint lacks conditional writes: writers, commits and CAS are refused until singleWriter is set');
    }
    return storage;
  } catch (err) {
    for (const c of owned) c.destroy();
    throw err;
  }
}

async function ensureBucket(io: S3Io): Promise<void> {
  try {
    await io.sendOnce<unknown>(new CreateBucketCommand({ Bucket: io.bucket }), `create bucket ${io.bucket}`);
  } catch (err) {
    const code = isStorageError(err) ? err.details?.s3Code : undefined;
    if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
  }
}

const s3Module: StorageModule<ResolvedS3Options> = {
  name: '@sluice/storage-s3',
  capabilities: S3_CAPABILITIES,
  // The contract shape this module implements (a literal: it must not follow a bump).
  contractVersion: 2,
  optionsSchema: s3OptionsSchema,
  create: (options: ResolvedS3Options, context: StorageContext) => createS3Storage(options, context),
  testHooks: { corrupt },
};

export default s3Module;
export { s3Module };
