import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeRoot, tempRoot } from './helpers.js';

const PACKAGES = resolve(import.meta.dirname, '..', '..');
const work = tempRoot('sluice-pack-');
afterAll(() => removeRoot(work));

/** Runs a command, resolving with its output; rejects with the output on a non-zero exit. */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out.slice(-4000)}`));
    });
  });
}

const PROBE = `
import { openStorage, collectBytes } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';
const s = await openStorage(fsModule, { root: './data' });
const app = await s.createAppStorage('probe', 'probe-1', { owner: 'ci' });
const w = await app.offsets('src').writer(1);
await w.append(42, new Uint8Array([1, 2, 3]));
const off = await app.offsets('src').get(42);
const jar = await app.jars.put('probe.jar', Buffer.from('packed and installed'));
const back = (await collectBytes(await app.jars.get('probe.jar'))).toString();
await s.close();
process.stdout.write(JSON.stringify({ t: off.t, value: [...off.value], sha: jar.sha256, back }) + '\\n');
`;

describe('fs package', () => {
  // npm install compiles better-sqlite3 from source on this machine (no prebuilt download): minutes.
  it('packs, installs from tarballs into an empty project (no workspace links) and works', { timeout: 900_000 }, async () => {
    const tgz = join(work, 'tgz');
    const proj = join(work, 'proj');
    mkdirSync(tgz);
    mkdirSync(proj);
    for (const pkg of ['storage-api', 'storage-fs']) await run('npm', ['pack', '--pack-destination', tgz], join(PACKAGES, pkg), 120_000);
    const tarballs = readdirSync(tgz).sort();
    expect(tarballs).toEqual(['sluice-storage-api-0.1.0.tgz', 'sluice-storage-fs-0.1.0.tgz']);
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'pack-probe', private: true, type: 'module', allowScripts: { 'better-sqlite3': true } }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs.map((t) => join(tgz, t))], proj, 840_000);
    // Installed copies, not links into the monorepo.
    expect(readdirSync(join(proj, 'node_modules', '@sluice')).sort()).toEqual(['storage-api', 'storage-fs']);
    writeFileSync(join(proj, 'probe.mjs'), PROBE);
    const out = await run(process.execPath, ['probe.mjs'], proj, 60_000);
    const r = JSON.parse(out.trim().split('\n').pop()!) as { t: number; value: number[]; sha: string; back: string };
    expect(r).toEqual({ t: 42, value: [1, 2, 3], sha: expect.stringMatching(/^[0-9a-f]{64}$/), back: 'packed and installed' });
  });
});
