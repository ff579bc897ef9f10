/**
 * The AWS SDK prints an eight-line warning about Node < 22 from every process that builds
 * an S3 client: every CLI command and every executor on an S3 store. Sluice supports
 * Node >= 20.19 (README); the SDK's future requirement matters only to a long-running
 * daemon on an S3 store, so the SDK's warning is turned off here (inherited by executors)
 * and `noteNodeSupport` says it once, in one line, where it matters.
 */
export function quietAwsNodeWarning(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/** One line on stderr for a daemon whose store uses S3 on Node < 22. */
export function noteNodeSupport(modules: readonly string[], stream: NodeJS.WritableStream = process.stderr): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22 || !modules.some((m) => m.includes('storage-s3'))) return;
  stream.write(`note: Node ${process.versions.node}: the AWS SDK (S3 store) will need Node >= 22 for releases after January 2027; Sluice itself supports Node >= 20.19\n`);
}
