// Wrong: declares persistent and multiProcess, but its data lives in one process (a named
// in-process volume fools any check made by a second instance in the same process).
import { wrongModule } from './wrap.mjs';

export default wrongModule('wrong-claims-persistent', { persistent: true, multiProcess: true });
