import { describe, expect, it } from 'vitest';
import { pollForNew, StorageError } from '@sluice/storage-api';

describe('pollForNew', () => {
  it('yields each round, survives transient failures, and ends quietly on abort', async () => {
    const ac = new AbortController();
    const warnings: string[] = [];
    const noop = (): void => {};
    const logger = { debug: noop, info: noop, error: noop, warn: (o: object | string) => void warnings.push(JSON.stringify(o)) };
    let calls = 0;
    const got: number[] = [];
    for await (const x of pollForNew(async () => {
      calls++;
      if (calls === 2) throw new StorageError('503', { code: 'STORAGE_UNAVAILABLE' });
      return [calls];
    }, { signal: ac.signal, pollIntervalMs: 1, logger })) {
      got.push(x);
      if (got.length === 3) ac.abort();
    }
    expect(got).toEqual([1, 3, 4]);
    expect(warnings).toHaveLength(1);
  });

  it('throws what is not transient', async () => {
    const it = pollForNew(async () => {
      throw new StorageError('bad', { code: 'STORAGE_CORRUPT' });
    }, { pollIntervalMs: 1 });
    await expect((async () => {
      for await (const _ of it) void _;
    })()).rejects.toMatchObject({ code: 'STORAGE_CORRUPT' });
  });
});
