// HDFS checkpoints beyond the contract: staging directories do not pile up (retention
// and the writer-open sweep delete them whole, also when another process staged into
// them), and parts staged by an older version (no digest in the name) still commit.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex, type CheckpointPart, type Storage } from '@sluice/storage-api';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { freshRoot, openHdfs, rawClient } from './helpers.js';

let server: WebHdfsServer;
const opened: Storage[] = [];
beforeAll(async () => {
  server = await startWebHdfsServer({ lsLimit: 2 });
});
afterAll(async () => {
  for (const s of opened) await s.close();
  await server?.stop();
});

async function open(root: string): Promise<Storage> {
  const s = await openHdfs(server, root);
  opened.push(s);
  return s;
}

const pad = (t: number): string => String(t).padStart(20, '0');

describe('HDFS checkpoints', () => {
  it('staging directories go whole: retention drops parts another process staged there; a new writer sweeps the rest', async () => {
    const root = freshRoot();
    const a = await open(root);
    const b = await open(root);
    await a.createAppStorage('a', 'app1', { owner: 'alice' });
    const cps = (await a.getAppStorage('app1'))!.checkpoints('cp', { numRetained: 2 });
    const other = (await b.getAppStorage('app1'))!.checkpoints('cp', { numRetained: 2 });
    const w = await cps.writer(1);
    const w2 = await other.writer(1); // another process, same epoch: may stage
    await w2.stage(1, 'lost', Buffer.from('crashed before its commit'));
    for (let t = 1; t <= 6; t++) await w.append(t, Buffer.from(`s${t}`));
    const client = rawClient(server);
    const dirs = async (): Promise<string[]> => ((await client.list(`${root}/apps/app1/checkpoints/cp/parts`)) ?? []).map((s) => s.pathSuffix).sort();
    // Directory 1 held t=1's part and the other process's part: gone in one DELETE.
    expect(await dirs()).toEqual([pad(5), pad(6)]);
    await w2.stage(4, 'late', Buffer.from('staged for a time already passed'));
    expect(await dirs()).toEqual([pad(4), pad(5), pad(6)]);
    await cps.writer(2); // the writer-open sweep: t=4 < newest commit 6, listed by no manifest
    expect(await dirs()).toEqual([pad(5), pad(6)]);
    expect((await cps.range(0, 100)).map((c) => c.t)).toEqual([5, 6]);
    expect(Buffer.from(await cps.readPart(6, 'state')).toString()).toBe('s6');
    await client.close();
  });

  it('a part staged by an older version (no digest in its name) is checked at commit and reads back; a forged ref is not staged', async () => {
    const root = freshRoot();
    const s = await open(root);
    const app = await s.createAppStorage('a', 'app1', { owner: 'alice' });
    const cps = app.checkpoints('legacy');
    const w = await cps.writer(1);
    await w.append(1, Buffer.from('s1'));
    const bytes = Buffer.from('staged before digests were in names');
    const ref = `${pad(2)}/state.${randomUUID()}`;
    const client = rawClient(server);
    await client.create(`${root}/apps/app1/checkpoints/legacy/parts/${ref}`, bytes, { overwrite: false, permission: '600' });
    await client.close();
    const part: CheckpointPart = { name: 'state', size: bytes.length, sha256: sha256Hex(bytes), ref };
    await expect(w.commit(2, [{ ...part, sha256: sha256Hex(Buffer.from('other bytes')) }])).rejects.toMatchObject({ code: 'STORAGE_INVALID_ARGUMENT' });
    await expect(w.commit(2, [{ ...part, ref: `${pad(2)}/../../../jars/x` }])).rejects.toMatchObject({ code: 'STORAGE_INVALID_ARGUMENT' });
    expect((await w.commit(2, [part])).parts[0]!.ref).toBe(ref);
    expect(Buffer.from(await cps.readPart(2, 'state')).toString()).toBe(bytes.toString());
  });
});
