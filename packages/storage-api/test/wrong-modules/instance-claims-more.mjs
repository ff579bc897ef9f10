// Wrong: the module declares what the reference backend declares; its instances claim
// persistent on top.
import memoryModule, { MEMORY_CAPABILITIES } from '@sluice/storage-api/memory';

export default {
  name: 'wrong-instance-claims-more',
  capabilities: MEMORY_CAPABILITIES,
  optionsSchema: memoryModule.optionsSchema,
  async create(options, context) {
    const raw = await memoryModule.create(options, context);
    raw.capabilities = { ...MEMORY_CAPABILITIES, persistent: true };
    return raw;
  },
};
