// Types for the plain-JavaScript example, so TypeScript code can import it.
import type { StorageModule } from '@sluice/storage-api';

export interface JsonDirStoreOptions {
  /** Where the data lives; relative paths resolve against the config file's folder. */
  dir: string;
}

declare const jsonDirStore: StorageModule<JsonDirStoreOptions> & {
  readonly testHooks: NonNullable<StorageModule['testHooks']>;
};
export default jsonDirStore;
