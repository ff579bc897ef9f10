// Control for process-local-locks.mjs: the same file volume with its read-decide-write
// held under a lock every process honours. It passes the cross-process cases.
import { fileVolumeModule } from './file-volume.mjs';

export default fileVolumeModule('file-volume-locked', { crossProcessLock: true });
