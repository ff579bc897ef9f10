import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadStorageModule, openStorage, type Storage } from '@sluice/storage-api';
import { dropVolume } from '@sluice/storage-api/memory';
import { runConformance, type ConformanceFactory, type ConformanceReport } from '@sluice/storage-api/conformance';

// Each fixture is the reference backend with one contract violation. The suite must
// fail each of them on the case that names the violation (and so cannot be fooled by it).
const here = dirname(fileURLToPath(import.meta.url));
const fixture = (f: string): string => join(here, 'wrong-modules', f);

/** One factory for a fixture module: `place()` gives its options and how to drop its data afterwards. */
function factoryWith(file: string, place: () => { options: Record<string, unknown>; drop: () => void }): ConformanceFactory {
  return async () => {
    const { options, drop } = place();
    const mod = await loadStorageModule(fixture(file));
    const opened: Storage[] = [];
    const open = async (): Promise<Storage> => {
      const s = await openStorage(mod, options);
      opened.push(s);
      return s;
    };
    return {
      storage: await open(),
      reopen: open,
      spec: { module: fixture(file), options, baseDir: here },
      destroy: async () => {
        await Promise.allSettled(opened.map((s) => s.close()));
        drop();
      },
    };
  };
}

/** The memory-volume fixtures: a named in-process volume. */
function factoryFor(file: string): ConformanceFactory {
  return factoryWith(file, () => {
    const volume = `wrong-${randomUUID()}`;
    return { options: { volume }, drop: () => dropVolume(volume) };
  });
}

/** The file-volume modules: data in one file under a fresh directory, shared by every process. */
function fileVolumeFactory(file: string): ConformanceFactory {
  return factoryWith(file, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-file-volume-'));
    return { options: { dir }, drop: () => rmSync(dir, { recursive: true, force: true }) };
  });
}

async function run(file: string, grep: string): Promise<ConformanceReport> {
  return runConformance({ name: file, factory: factoryFor(file), grep });
}

// The cases that claim several processes, by the text of their names.
const CROSS_PROCESS = {
  race: 'writers in four processes racing to commit',
  cas: 'concurrent compare-and-set from three processes',
  follow: 'follow sees records appended by another process',
  blobs: 'another process over the same data sees creates',
  fencing: 'fencing holds across instances (two processes)',
};

function failedNames(r: ConformanceReport): string[] {
  return r.results.filter((x) => x.status === 'failed').map((x) => `${x.group} › ${x.name}`);
}

describe('the conformance suite fails each wrong module', () => {
  it('retention that deletes a part a kept checkpoint still lists', async () => {
    const r = await run('retention-drops-shared-part.mjs', 'retention keeps the bytes');
    expect(r.results).toHaveLength(1);
    expect(r.failed).toBe(1);
    expect(r.results[0]!.error?.message).toMatch(/readPart\(2, "p"\)|STORAGE_CORRUPT/);
  });

  it('retention that deletes parts staged before the oldest kept checkpoint even when a kept one lists them (incremental base)', async () => {
    const r = await run('retention-drops-old-parts.mjs', 'incremental chain: a base part');
    expect(r.results).toHaveLength(1);
    expect(failedNames(r)).toEqual(['checkpoints › incremental chain: a base part shared by every checkpoint stays while one lists it; a part goes once no retained checkpoint lists it']);
    expect(r.results[0]!.error?.message).toMatch(/readPart\(\d+, "base"\)/);
  });

  it('commit that accepts a descriptor whose sha256/size differ from the staged part', async () => {
    const r = await run('commit-trusts-descriptor.mjs', 'commit refuses a part descriptor');
    expect(r.failed).toBe(1);
    expect(r.results[0]!.error?.message).toMatch(/commit\(5, \[.*but it succeeded/);
  });

  it('a handle kept across delete and re-create that acknowledges lost writes', async () => {
    const r = await run('stale-handle-acks-lost-writes.mjs', 'a handle kept across delete');
    expect(r.failed).toBe(1);
    expect(r.results[0]!.error?.message).toMatch(/after deleteAppStorage\(.*\): expected it to fail/);
  });

  it('follow() that misses records appended after the call but before its first read', async () => {
    const r = await run('lazy-follow.mjs', 'follow starts at the call');
    expect(r.failed).toBe(1);
  });

  it('follow() that throws: failed cases and a summary, not a crash', async () => {
    const r = await run('throwing-follow.mjs', 'logs › follow');
    expect(r.results.length).toBeGreaterThanOrEqual(2);
    expect(r.failed).toBeGreaterThanOrEqual(2);
    expect(r.leftOut).toBeGreaterThan(0);
  });

  it('a module that declares boundedJarMemory and holds the jar whole (peak RSS of a separate process)', async () => {
    const r = await run('buffers-jar-whole.mjs', 'bounded memory');
    expect(r.failed).toBe(1);
    expect(r.results[0]!.error?.message).toMatch(/grew a fresh process's RSS by \d+ MiB/);
  }, 240_000);

  it('a module claiming persistent and multiProcess whose data lives in one process', async () => {
    const persistent = await run('claims-persistent.mjs', 'data outlives the instance');
    expect(persistent.failed).toBe(1);
    expect(persistent.results[0]!.error?.message).toMatch(/separate process/);
    const twoProcesses = await run('claims-persistent.mjs', 'fencing holds across instances (two processes)');
    expect(twoProcesses.failed).toBe(1);
    expect(twoProcesses.results[0]!.error?.message).toMatch(/another process/);
  }, 120_000);

  it('a module claiming multiProcess whose data lives in one process fails every cross-process case', async () => {
    for (const [key, grep] of Object.entries(CROSS_PROCESS)) {
      const r = await run('claims-persistent.mjs', grep);
      expect(r.results.map((x) => x.status), key).toEqual(['failed']);
      // The other process does not find the app (or the blob) that this one wrote.
      expect(r.results[0]!.error?.message, key).toMatch(/another process|process \d|found: false|"found":false/);
    }
  }, 120_000);

  it('a module whose data is shared but whose compare-and-set and commit-once hold only inside one process', async () => {
    const race = await runConformance({ name: 'process-local-locks', factory: fileVolumeFactory('process-local-locks.mjs'), grep: CROSS_PROCESS.race });
    expect(race.results.map((x) => x.status)).toEqual(['failed']);
    // Some round of five has several winners (every round's commits overlap within the module's 20 ms round trip).
    expect(race.results[0]!.error?.message).toMatch(/round [1-5]: commit\(\d+, \[x, y\]\) from 4 processes at once: expected exactly one to succeed, got \[.*"ok":true.*"ok":true/);
    const cas = await runConformance({ name: 'process-local-locks', factory: fileVolumeFactory('process-local-locks.mjs'), grep: CROSS_PROCESS.cas });
    expect(cas.results.map((x) => x.status)).toEqual(['failed']);
    expect(cas.results[0]!.error?.message).toMatch(/ifVersion: [1-5] \}\) from 3 processes at once: expected exactly one to succeed, got \[.*"ok":true.*"ok":true/);
  }, 120_000);

  it('the same file volume with a lock every process honours passes the cross-process cases (control)', async () => {
    for (const grep of [CROSS_PROCESS.race, CROSS_PROCESS.cas, CROSS_PROCESS.follow, CROSS_PROCESS.fencing]) {
      const r = await runConformance({ name: 'file-volume-locked', factory: fileVolumeFactory('file-volume-locked.mjs'), grep });
      expect(r.results.map((x) => [x.status, x.error?.message]), grep).toEqual([['passed', undefined]]);
    }
  }, 120_000);

  it('an instance declaring more than its module is refused when opened', async () => {
    const mod = await loadStorageModule(fixture('instance-claims-more.mjs'));
    await expect(openStorage(mod, {})).rejects.toMatchObject({ code: 'STORAGE_CONFIG_INVALID', message: expect.stringMatching(/declares persistent, which its module does not/) });
  });

  it('the reference backend passes every case these fixtures fail', async () => {
    const memory: ConformanceFactory = factoryFor('../../../storage-api/test/wrong-modules/reference.mjs');
    for (const grep of ['retention keeps the bytes', 'commit refuses a part descriptor', 'a handle kept across delete', 'follow starts at the call', 'logs › follow']) {
      const r = await runConformance({ name: 'memory', factory: memory, grep });
      expect(failedNames(r), grep).toEqual([]);
      expect(r.passed + r.skipped, grep).toBeGreaterThan(0);
    }
  });

  it('the summary names capabilities that skipped cases and what each means', async () => {
    const r = await runConformance({ name: 'memory', factory: factoryFor('reference.mjs'), grep: 'two processes' });
    expect(r.skipped).toBe(1);
    expect(r.skippedByCapability.multiProcess).toEqual({ cases: 1, meaning: expect.stringMatching(/several processes/) });
  });
});
