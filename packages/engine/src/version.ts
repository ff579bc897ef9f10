import { readFileSync } from 'node:fs';

/** The engine package's version (reported by workers and masters, shown in `sluice` output). */
export const ENGINE_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
