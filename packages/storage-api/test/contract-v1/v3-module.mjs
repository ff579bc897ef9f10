// A module that declares a contract newer than this storage-api knows.
import v1 from './v1-module.mjs';

export default { ...v1, name: 'v3-module', contractVersion: 3 };
