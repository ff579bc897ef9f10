import type { Command } from 'commander';
import { loadClusterConfig } from '../config/cluster-config.js';
import { authPathsOf } from '../security/auth-setup.js';
import { addUser, issueToken, revokeTokens } from '../security/users-file.js';
import { run, write } from './exit.js';

/**
 * `sluice auth add-user|token|revoke`: manage the users file named by the cluster
 * config (`auth.usersFile`). Works on the file directly (the master re-reads it), so
 * it needs file access on the master's host, like an admin keytab.
 */
export function registerAuthCommands(program: Command): void {
  const auth = program.command('auth').description('users and API tokens (the users file of the cluster config)');

  auth
    .command('add-user <name>')
    .description('add a user (no token yet: see `sluice auth token`)')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .option('--admin', 'cluster administrator: every permission on every app')
    .action(async (name: string, o: { config?: string; admin?: boolean }) =>
      run(false, async () => {
        const file = authPathsOf(await loadClusterConfig(o.config)).usersFile;
        await addUser(file, name, { admin: o.admin === true });
        write(`added ${o.admin ? 'admin ' : ''}user ${name} to ${file}`);
      }),
    );

  auth
    .command('token <name>')
    .description('issue a new token for a user and print it once (only its scrypt hash is stored)')
    .option('-c, --config <file>', 'cluster config (YAML)')
    .action(async (name: string, o: { config?: string }) =>
      run(false, async () => {
        const file = authPathsOf(await loadClusterConfig(o.config)).usersFile;
        // Only the token on stdout, so `sluice auth token bob > bob.token` works.
        write(await issueToken(file, name));
      }),
    );

  auth
    .command('revoke <name>')
    .description("revoke every token of a user (takes effect on the master within a second)")
    .option('-c, --config <file>', 'cluster config (YAML)')
    .action(async (name: string, o: { config?: string }) =>
      run(false, async () => {
        const file = authPathsOf(await loadClusterConfig(o.config)).usersFile;
        const n = await revokeTokens(file, name);
        write(`revoked ${n} token(s) of ${name}`);
      }),
    );
}
