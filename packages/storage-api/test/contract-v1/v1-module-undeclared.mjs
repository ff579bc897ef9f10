// The same round-1 module, as one written before modules declared a contractVersion.
import v1 from './v1-module.mjs';

const { contractVersion: _declared, ...undeclared } = v1;
export default { ...undeclared, name: 'v1-module-undeclared' };
