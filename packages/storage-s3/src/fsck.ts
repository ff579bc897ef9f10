import type { Checkpoint, FsckHookFinding } from '@sluice/storage-api';
import type { Shared } from './shared.js';
import { mapLimit } from './keys.js';

const PART_T_RE = /^parts\/(\d{20})\//;
const MANIFEST_RE = /^_commits\/(\d{20})\.json$/;

/**
 * fsck's hook for one app's data folder: staged parts no manifest lists and that can no
 * longer be committed (before the store's last commit), and jar data objects no name
 * points at. `repair` deletes them; a manifest listing a part is read before anything goes.
 */
export async function fsckS3App(sh: Shared, data: string, repair: boolean, jarGarbage: (dryRun: boolean) => Promise<string[]>): Promise<FsckHookFinding[]> {
  const out: FsckHookFinding[] = [];
  const cpDir = `${data}checkpoints/`;
  const { prefixes } = await sh.io.list(cpDir, { delimiter: '/' });
  for (const base of prefixes) {
    const name = base.slice(cpDir.length, -1);
    const keys = await sh.io.listKeys(base);
    const manifests = keys.map((k) => MANIFEST_RE.exec(k.slice(base.length))).filter((m): m is RegExpExecArray => m !== null);
    const lastT = Math.max(-1, ...manifests.map((m) => Number(m[1])));
    const cps = await mapLimit(manifests, 8, async (m) => (await sh.io.getJson<Checkpoint>(`${base}${m[0]}`))?.value);
    const listed = new Set(cps.flatMap((c) => c?.parts.map((p) => `${base}${p.ref}`) ?? []));
    const doomed = keys.filter((k) => {
      const m = PART_T_RE.exec(k.slice(base.length));
      return m !== null && !listed.has(k) && Number(m[1]) < lastT;
    });
    if (repair) await sh.io.deleteMany(doomed);
    for (const k of doomed) out.push({ subStore: 'checkpoints', target: `${name}/${k.slice(base.length)}`, kind: 'orphan', message: `staged part never committed, before the last commit (t=${lastT})`, repaired: repair });
  }
  for (const k of await jarGarbage(!repair)) {
    out.push({ subStore: 'jars', target: k.slice(data.length), kind: 'orphan', message: 'jar content no name points at', repaired: repair });
  }
  return out;
}
