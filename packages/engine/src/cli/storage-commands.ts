import type { Command } from 'commander';

export function registerStorageCommands(program: Command): void {
  program.command('storage').description('inspect and test the configured storage');
}
