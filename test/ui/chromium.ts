// Finding Debian's chromium for playwright-core (no browser download), loudly.
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumMissing = !existsSync(CHROMIUM);
export const requireChromium = process.env.SLUICE_REQUIRE_CHROMIUM === '1' || process.env.CI === 'true';

/** Flags for a headless chromium under root in a container (see docs/control-plane.md). */
export const CHROMIUM_ARGS = [
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
  '--disable-dev-shm-usage',
  '--disable-gpu',
];

/** Call at module top level: prints NOT RUN (never a silent skip) or throws under CI. */
export function reportChromium(suite: string): boolean {
  if (!chromiumMissing) return true;
  const msg = `${suite} NOT RUN: chromium missing at ${CHROMIUM} (apt-get install -y --no-install-recommends chromium)`;
  if (requireChromium) throw new Error(`${msg}; SLUICE_REQUIRE_CHROMIUM=1 makes this a failure`);
  process.stderr.write(`\n*** ${msg} ***\n\n`);
  return false;
}
