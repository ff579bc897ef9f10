import type { AppMeta, StorageLogger } from '@sluice/storage-api';
import type { WebHdfsClient } from './client.js';
import type { FileOps } from './files.js';

/** What every sub-store of one app needs. */
export interface HdfsCtx extends FileOps {
  client: WebHdfsClient;
  logger: StorageLogger;
  now: () => number;
  /** The app's directory on HDFS. */
  appDir: string;
  /** Meta lookup for "jar in use" checks. */
  appMeta: () => Promise<Pick<AppMeta, 'status' | 'jar' | 'appId'>>;
}
