import { describe, expect, it } from 'vitest';
import { openConfiguredStorage, openStorage, requireCapabilities, parseStorageConfig } from '@sluice/storage-api';
import memoryModule from '@sluice/storage-api/memory';

describe('capabilities the caller needs', () => {
  it('the reference backend is neither persistent nor multi-process', async () => {
    const s = await openStorage(memoryModule, { volume: 'caps-ref' });
    expect(s.capabilities).toMatchObject({ persistent: false, multiProcess: false, multiWriter: true });
    await s.close();
  });

  it('openConfiguredStorage refuses a store lacking a required capability, naming it, its meaning and the config key', async () => {
    const config = parseStorageConfig({ default: { module: 'memory' } });
    await expect(openConfiguredStorage(config, { require: ['multiProcess'] })).rejects.toMatchObject({
      code: 'STORAGE_CONFIG_INVALID',
      message: expect.stringMatching(/^memory \(storage\.default\) does not declare multiProcess \(several processes .*\), which is required here$/),
      details: { missing: ['multiProcess'] },
    });
    const s = await openConfiguredStorage(config, { require: ['multiWriter'] });
    await s.close();
  });

  it('requireCapabilities passes when everything is declared and lists every missing one otherwise', () => {
    const storage = { backend: 'x', capabilities: { persistent: true, multiProcess: false, multiWriter: false, follow: true, metricsRollups: true } };
    expect(() => requireCapabilities(storage, ['persistent', 'follow'])).not.toThrow();
    expect(() => requireCapabilities(storage, ['multiProcess', 'multiWriter'])).toThrow(/multiProcess .*multiWriter/);
  });
});
