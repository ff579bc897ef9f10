#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerStorageCommands } from './storage-commands.js';
import { registerObservabilityCommands } from './logs-commands.js';
import { registerClusterCommands } from './cluster-commands.js';
import { registerAppCommands } from './app-commands.js';
import { registerDemoCommand } from './demo.js';
import { registerAuthCommands } from './auth-commands.js';
import { registerMastersCommand } from './masters-commands.js';
import { registerBlobCommands } from './blobs-commands.js';
import { registerSavepointCommands } from './savepoint-commands.js';
import { registerUpdateCommands } from './update-commands.js';
import { registerNexmarkCommands } from './nexmark-commands.js';
import { registerBundleCommand } from './bundle-commands.js';
import { exitQuietlyOnClosedPipe } from './pipe.js';
import { quietAwsNodeWarning } from './node-support.js';

/**
 * The `sluice` CLI. Each command group lives in its own file and registers itself here.
 * Exit codes (errors.ts decides per error code): 0 ok, 1 failure, 2 usage/config error, 3 not found.
 */
export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Sluice: a streaming engine on a pluggable storage framework')
    .version('0.1.0')
    .showHelpAfterError()
    // Usage errors exit 2 (commander's default is 1); --help and --version exit 0.
    .exitOverride();
  registerStorageCommands(program);
  registerObservabilityCommands(program);
  registerClusterCommands(program);
  registerAppCommands(program);
  registerDemoCommand(program);
  registerAuthCommands(program);
  registerMastersCommand(program);
  registerBlobCommands(program);
  registerSavepointCommands(program);
  registerUpdateCommands(program);
  registerNexmarkCommands(program);
  registerBundleCommand(program);
  return program;
}

exitQuietlyOnClosedPipe();
quietAwsNodeWarning();
try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  process.exitCode = err.exitCode === 0 ? 0 : 2;
}
