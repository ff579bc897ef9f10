import type { Command } from 'commander';
import { z } from 'zod';
import { stat } from 'node:fs/promises';
import type { BlobMeta } from '@sluice/storage-api';
import { callJson, parseReply } from '../cluster/http.js';
import { downloadBlob, uploadBlob } from '../cluster/blob-client.js';
import { EngineError } from '../errors.js';
import { parseAclFlag } from '../security/authorize.js';
import { commonOf, masterOf, withCommonOptions, type CommonFlags } from './common.js';
import { progressBar } from './progress.js';
import { run, write } from './exit.js';

const blobAclReplySchema = z.looseObject({ name: z.string(), owner: z.string(), acl: z.array(z.string()) });

/** Below this a progress bar would only flicker. */
const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;

function intFlag(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new EngineError('BAD_REQUEST', `${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

function metaLine(m: BlobMeta): string {
  return `${m.name}\tv${m.version}\t${m.size} B\tsha256=${m.sha256.slice(0, 16)}…\towner=${m.owner}\tacl=${m.acl.join(',') || '-'}`;
}

function bar(size: number, label: string): { update(d: number, t: number): void; end(): void } {
  return size >= PROGRESS_MIN_BYTES ? progressBar(process.stderr, label) : { update() {}, end() {} };
}

/** `sluice blobs ...`: shared blobs through the master (your identity, the blob's ACL). */
export function registerBlobCommands(program: Command): void {
  const blobs = program.command('blobs').description('shared blobs: versioned files apps map to local names (create, update, get, cat, list, delete, set-acl, get-acl)');

  withCommonOptions(blobs.command('create <name>').description('upload a new blob (version 1); you own it'))
    .requiredOption('--file <path>', 'the content')
    .option('--acl <entries>', 'Storm-style ACL, e.g. u:alice:rwa,o::r (the owner always has rwa)')
    .option('--keep <n>', 'versions kept (default 3)')
    .action(async (name: string, o: CommonFlags & { file: string; acl?: string; keep?: string }) => {
      const c = commonOf(o);
      await run(c.json, async () => {
        const acl = o.acl ? parseAclFlag(o.acl).join(',') : undefined;
        const keep = intFlag(o.keep, '--keep');
        const b = bar(await fileSize(o.file), 'uploading');
        const m = await uploadBlob(await masterOf(c), 'POST', name, o.file, { acl, keep }, (d, t) => b.update(d, t));
        b.end();
        write(c.json ? JSON.stringify(m) : metaLine(m));
      });
    });

  withCommonOptions(blobs.command('update <name>').description('upload a new version of a blob (running apps pick it up)'))
    .requiredOption('--file <path>', 'the content')
    .option('--expected-version <n>', 'fail (exit 1, STORAGE_PRECONDITION_FAILED) unless this is the current version')
    .action(async (name: string, o: CommonFlags & { file: string; expectedVersion?: string }) => {
      const c = commonOf(o);
      await run(c.json, async () => {
        const expectedVersion = intFlag(o.expectedVersion, '--expected-version');
        const b = bar(await fileSize(o.file), 'uploading');
        const m = await uploadBlob(await masterOf(c), 'PUT', name, o.file, { expectedVersion }, (d, t) => b.update(d, t));
        b.end();
        write(c.json ? JSON.stringify(m) : metaLine(m));
      });
    });

  withCommonOptions(blobs.command('get <name>').description('download a blob into a file (digest verified, written atomically)'))
    .requiredOption('--file <path>', 'where to write it')
    .option('--blob-version <n>', 'a retained version (default the newest)')
    .action(async (name: string, o: CommonFlags & { file: string; blobVersion?: string }) => {
      const c = commonOf(o);
      await run(c.json, async () => {
        const version = intFlag(o.blobVersion, '--blob-version');
        let b: ReturnType<typeof bar> | undefined;
        const info = await downloadBlob(await masterOf(c), name, { file: o.file }, version, (d, t) => {
          b ??= bar(t, 'downloading');
          b.update(d, t);
        });
        b?.end();
        write(c.json ? JSON.stringify({ name, file: o.file, ...info }) : `${name}\tv${info.version}\t${info.size} B\t-> ${o.file}`);
      });
    });

  withCommonOptions(blobs.command('cat <name>').description('write a blob to stdout (digest verified; exit 1 on a mismatch)'))
    .option('--blob-version <n>', 'a retained version (default the newest)')
    .action(async (name: string, o: CommonFlags & { blobVersion?: string }) => {
      const c = commonOf(o);
      await run(c.json, async () => {
        await downloadBlob(await masterOf(c), name, { stream: process.stdout }, intFlag(o.blobVersion, '--blob-version'));
      });
    });

  withCommonOptions(blobs.command('list').description('the blobs you may read'))
    .action(async (o: CommonFlags) => {
      const c = commonOf(o);
      await run(c.json, async () => {
        const r = (await callJson(await masterOf(c), 'GET', '/blobs')) as { blobs: BlobMeta[] };
        if (c.json) return write(JSON.stringify(r.blobs));
        if (r.blobs.length === 0) return write('no blobs');
        for (const m of r.blobs) write(metaLine(m));
      });
    });

  withCommonOptions(blobs.command('delete <name>').description('delete a blob and every version (needs a)'))
    .option('--expected-version <n>', 'fail unless this is the current version')
    .action(async (name: string, o: CommonFlags & { expectedVersion?: string }) => {
      const c = commonOf(o);
      await run(c.json, async () => {
        const ev = intFlag(o.expectedVersion, '--expected-version');
        const r = await callJson(await masterOf(c), 'DELETE', `/blobs/${encodeURIComponent(name)}${ev !== undefined ? `?expectedVersion=${ev}` : ''}`);
        write(c.json ? JSON.stringify(r) : `deleted ${name}`);
      });
    });

  withCommonOptions(blobs.command('set-acl <name>').description('replace a blob\'s ACL (needs a)'))
    .requiredOption('--acl <entries>', 'e.g. u:alice:rwa,o::r')
    .action(async (name: string, o: CommonFlags & { acl: string }) => {
      const c = commonOf(o);
      await run(c.json, async () => {
        const r = parseReply(blobAclReplySchema, await callJson(await masterOf(c), 'PUT', `/blobs/${encodeURIComponent(name)}/acl`, { acl: parseAclFlag(o.acl) }), 'PUT /blobs/:name/acl');
        write(c.json ? JSON.stringify(r) : `${r.name}\towner=${r.owner}\tacl=${r.acl.join(',') || '-'}`);
      });
    });

  withCommonOptions(blobs.command('get-acl <name>').description('print a blob\'s owner and ACL (needs r)'))
    .action(async (name: string, o: CommonFlags) => {
      const c = commonOf(o);
      await run(c.json, async () => {
        const r = parseReply(blobAclReplySchema, await callJson(await masterOf(c), 'GET', `/blobs/${encodeURIComponent(name)}/acl`), 'GET /blobs/:name/acl');
        write(c.json ? JSON.stringify(r) : `${r.name}\towner=${r.owner}\tacl=${r.acl.join(',') || '-'}`);
      });
    });
}

function fileSize(file: string): Promise<number> {
  return stat(file).then((s) => s.size, () => 0);
}
