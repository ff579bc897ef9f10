import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    // Backends spawn servers and child processes; forks isolate native modules (better-sqlite3).
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // Daemon logs to files (printed for a failing test only): see the file.
    setupFiles: ['./test/setup/daemon-logs.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/reporters/legs-summary.ts'],
  },
});
