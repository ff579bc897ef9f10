// Wrong: claims multiProcess and multiWriter, and its data is shared through a file, but
// its compare-and-set, commit-once and fencing checks are atomic only inside one process
// (a promise chain): two processes read the same state, both decide they win, both write.
import { fileVolumeModule } from './file-volume.mjs';

export default fileVolumeModule('wrong-process-local-locks', { crossProcessLock: false });
