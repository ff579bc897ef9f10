import type { Checkpoint, FsckHookFinding, JarInfo } from '@sluice/storage-api';
import type { FileStatus } from './client.js';
import { TMP_MAX_AGE_MS } from './epochs.js';
import { committed, isTmp, readJson, removeQuietly, type FileOps } from './files.js';

const MANIFEST_RE = /^\d{20}$/;

/**
 * fsck's hook for one app directory: staged parts no manifest lists and that can no longer
 * be committed (before the store's last commit), jar blobs no name points at, and temp
 * files of dead writers (older than an hour). `repair` deletes them.
 */
export async function fsckHdfsApp(ops: FileOps, appDir: string, repair: boolean, jars: () => Promise<JarInfo[]>, now: number): Promise<FsckHookFinding[]> {
  const out: FsckHookFinding[] = [];
  const list = async (p: string): Promise<FileStatus[]> => (await ops.client.list(p)) ?? [];
  const orphan = async (subStore: FsckHookFinding['subStore'], path: string, message: string): Promise<void> => {
    if (repair) await removeQuietly(ops, path, true);
    out.push({ subStore, target: path.slice(appDir.length + 1), kind: 'orphan', message, repaired: repair });
  };
  for (const s of await list(`${appDir}/checkpoints`)) {
    if (s.type !== 'DIRECTORY') continue;
    const dir = `${appDir}/checkpoints/${s.pathSuffix}`;
    const manifests = committed(await list(`${dir}/_commits`)).filter((f) => MANIFEST_RE.test(f.pathSuffix));
    const lastT = Math.max(-1, ...manifests.map((m) => Number(m.pathSuffix)));
    const listed = new Set<string>();
    for (const m of manifests) {
      const cp = await readJson<Checkpoint>(ops.client, `${dir}/_commits/${m.pathSuffix}`).catch(() => undefined);
      for (const p of cp?.parts ?? []) listed.add(p.ref);
    }
    for (const d of await list(`${dir}/parts`)) {
      if (Number(d.pathSuffix) >= lastT) continue;
      const files = await list(`${dir}/parts/${d.pathSuffix}`);
      const keep = files.filter((f) => listed.has(`${d.pathSuffix}/${f.pathSuffix}`));
      if (keep.length === 0) {
        await orphan('checkpoints', `${dir}/parts/${d.pathSuffix}`, `staged parts of t=${Number(d.pathSuffix)}: none committed, before the last commit`);
        continue;
      }
      for (const f of files) if (!listed.has(`${d.pathSuffix}/${f.pathSuffix}`)) await orphan('checkpoints', `${dir}/parts/${d.pathSuffix}/${f.pathSuffix}`, 'staged part never committed, before the last commit');
    }
    for (const f of await list(dir)) if (isTmp(f.pathSuffix) && now - f.modificationTime > TMP_MAX_AGE_MS) await orphan('checkpoints', `${dir}/${f.pathSuffix}`, 'temp file of a dead writer');
  }
  const shas = new Set((await jars()).map((j) => j.sha256));
  for (const b of await list(`${appDir}/jars/blobs`)) {
    if (isTmp(b.pathSuffix)) {
      if (now - b.modificationTime > TMP_MAX_AGE_MS) await orphan('jars', `${appDir}/jars/blobs/${b.pathSuffix}`, 'temp file of a dead upload');
    } else if (!shas.has(b.pathSuffix)) await orphan('jars', `${appDir}/jars/blobs/${b.pathSuffix}`, 'blob no jar name points at');
  }
  return out;
}
