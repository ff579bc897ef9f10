#!/usr/bin/env node
// The `sluice` command. Committed (not built) so that `npm install` links
// node_modules/.bin/sluice on a fresh clone: npm skips a bin whose target does not exist
// yet, and dist/ only appears after `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(`sluice: the CLI is not built yet (${fileURLToPath(main)} is missing): run \`npm run build\` in the repository first\n`);
  process.exit(1);
}
await import(main.href);
