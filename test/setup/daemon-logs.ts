// Quiet tests: the daemons a test file starts in-process (masters, workers) and the CLI
// processes it spawns log JSON lines; they go to test-results/daemon-logs/<test file>.log
// instead of the terminal (children inherit SLUICE_LOG_FILE), and a failing test prints the
// tail of that file so the failure still shows what the daemons said.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, expect } from 'vitest';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TAIL_LINES = 80;

const testPath = expect.getState().testPath;
// A test that chose its own log file (or a developer who set one) keeps it.
if (testPath && !process.env.SLUICE_LOG_FILE) {
  const file = join(REPO, 'test-results', 'daemon-logs', `${relative(REPO, testPath).replace(/[\\/]/g, '__')}.log`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, '');
  process.env.SLUICE_LOG_FILE = file;
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      if (!existsSync(file)) return;
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      if (lines.length === 0) return;
      process.stderr.write(`--- daemon log ${relative(REPO, file)} (last ${Math.min(TAIL_LINES, lines.length)} of ${lines.length} lines)\n${lines.slice(-TAIL_LINES).join('\n')}\n`);
    });
  });
}
