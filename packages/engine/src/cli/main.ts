#!/usr/bin/env node
import { Command } from 'commander';
import { registerStorageCommands } from './storage-commands.js';

/**
 * The `sluice` CLI. Each command group lives in its own file and registers itself here.
 * Exit codes: 0 ok, 1 failure (e.g. conformance failed), 2 usage/config error, 3 not found.
 */
export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Sluice: a streaming engine on a pluggable storage framework')
    .version('0.1.0')
    .showHelpAfterError();
  registerStorageCommands(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
