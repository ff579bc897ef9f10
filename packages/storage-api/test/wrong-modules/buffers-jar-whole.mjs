// Wrong: declares boundedJarMemory but holds every jar whole in memory (the memory
// backend's jar store keeps the bytes in the process).
import { wrongModule } from './wrap.mjs';

export default wrongModule('wrong-buffers-jar-whole', { boundedJarMemory: true });
