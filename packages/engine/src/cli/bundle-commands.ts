import type { Command } from 'commander';
import { basename, extname, resolve } from 'node:path';
import { bundleApp } from './bundle.js';
import { run, write } from './exit.js';

/** The default output: `<app name>.bundle.mjs` in the current folder (never beside, or over, the sources). */
function defaultOutput(input: string): string {
  const base = basename(resolve(input));
  return `${basename(base, extname(base)) || 'app'}.bundle.mjs`;
}

/** `sluice bundle`: the artifact `submit` would upload, built without a cluster (for CI pipelines). */
export function registerBundleCommand(program: Command): void {
  program
    .command('bundle <app>')
    .description('bundle an app (a folder with package.json and node_modules, or an app.ts/app.mjs) and its pure-JS dependencies into one ES module; prints file, size and sha256')
    .option('-o, --output <file>', 'where to write the bundle (default: ./<name>.bundle.mjs)')
    .option('--json', 'machine-readable output: {file, sha256, size, entry, packages}')
    .action(async (app: string, o: { output?: string; json?: boolean }) =>
      run(o.json, async () => {
        const r = await bundleApp(app, o.output ?? defaultOutput(app));
        write(o.json ? JSON.stringify(r) : `${r.file}\t${r.size} bytes\tsha256:${r.sha256}\t${r.packages.length} packages`);
      }),
    );
}
