import { describe, expect, it } from 'vitest';
import { appLine } from '../src/cli/app-commands.js';

describe('sluice status: one line per app', () => {
  it('shows the last checkpoint\'s keyed-state cost when the AppMaster reports one', () => {
    const line = appLine({
      appId: 'wc-1', name: 'wc', status: 'running', epoch: 2,
      appMaster: { committed: 40_000, phase: 'running', checkpoint: { stateEntries: 2_000_000, newBytes: 310 * 1024, sharedBytes: 43 << 20, pauseMs: 0.12, uploadMs: 87.4 } },
    });
    expect(line).toContain('committed=40000 phase=running');
    expect(line).toContain('state=2000000keys ckpt=310KiBnew/43.0MiBshared pause=0.1ms upload=87ms');
  });

  it('prints - for a cost field the AppMaster did not report, and no cost without a checkpoint', () => {
    expect(appLine({ appId: 'a', appMaster: { committed: 1, checkpoint: { newBytes: 2048 } } })).toContain('state=-keys ckpt=2KiBnew/-shared pause=-ms upload=-ms');
    expect(appLine({ appId: 'a', appMaster: { committed: 1 } })).not.toContain('ckpt=');
  });
});
