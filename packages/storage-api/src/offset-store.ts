/**
 * The public offsets store over a backend's I/O hooks: the contract's policy (fencing,
 * ordering, identical retry) and the checksum of every value are applied here, once, for
 * every backend. Arguments arrive validated (the guard).
 */
import type { LookUpResult, OffsetBackend, OffsetStore, OffsetWriter, OpOptions, TimeEntry } from './types.js';
import { checkOpenEpoch, checkWriterEpoch, planOffsetAppend } from './policy.js';
import { resolveLookUp } from './util/lookup.js';
import { LIMITS } from './limits.js';
import { frameValue, unframeValue } from './util/value-frame.js';
import { checkStoreHooks } from './contract-version.js';

const POLICY_APPLIED = Symbol.for('@sluice/storage-api.offset-policy');

/**
 * The public store over `b`. A composed storage (routing) hands out stores that already
 * apply the policy: those pass through, so values are framed and checked exactly once.
 */
export function offsetStoreOver(b: OffsetBackend | OffsetStore, backend = b.name): OffsetStore {
  if ((b as unknown as Record<symbol, unknown>)[POLICY_APPLIED]) return b as OffsetStore;
  // Before any operation: a module of an older contract has other hooks (refused, not adapted).
  checkStoreHooks('offsets', b, backend);
  return policyOver(b as OffsetBackend);
}

function policyOver(b: OffsetBackend): OffsetStore {
  const what = `offsets ${b.name}`;
  const open = (e: TimeEntry): TimeEntry => ({ t: e.t, value: unframeValue(e.t, e.value, what) });
  const maybe = (e: TimeEntry | undefined): TimeEntry | undefined => e && open(e);
  const lookUp = async (t: number, o?: OpOptions): Promise<LookUpResult<TimeEntry>> => {
    const r = b.lookUp ? await b.lookUp(t, o) : await resolveLookUp(t, () => b.first(o), () => b.last(o), (x) => b.ceiling(x, o));
    if (r.status === 'found') return { status: 'found', entry: open(r.entry) };
    if (r.status === 'underflow') return { status: 'underflow', min: open(r.min) };
    if (r.status === 'overflow') return { status: 'overflow', max: open(r.max) };
    return r;
  };
  const store: OffsetStore = {
    name: b.name,
    get: async (t, o) => maybe(await b.get(t, o)),
    floor: async (t, o) => maybe(await b.floor(t, o)),
    lookUp,
    first: async (o) => maybe(await b.first(o)),
    last: async (o) => maybe(await b.last(o)),
    // The guard always passes a capped limit; the cap again for callers that skip the guard (tests).
    range: async (from, to, o = {}) => (await b.range(from, to, { ...o, limit: o.limit ?? LIMITS.maxLimit })).map(open),
    currentEpoch: (o) => b.currentEpoch(o),
    writer: async (epoch, o) => {
      await b.openEpoch(epoch, (current) => checkOpenEpoch(b.name, epoch, current), o);
      const appendAll = (entries: TimeEntry[], o2?: OpOptions): Promise<void> => {
        const framed = entries.map((e) => ({ t: e.t, value: frameValue(e.t, e.value) }));
        return b.append(framed[0]!.t, (state) => planOffsetAppend(b.name, epoch, framed, state), o2);
      };
      const check = (current: number): void => checkWriterEpoch(b.name, epoch, current);
      const w: OffsetWriter = {
        epoch,
        append: (t, value, o2) => appendAll([{ t, value }], o2),
        appendBatch: (entries, o2) => appendAll(entries, o2),
        truncateAfter: (t, o2) => b.truncate('after', t, check, o2),
        truncateBefore: (t, o2) => b.truncate('before', t, check, o2),
      };
      return w;
    },
  };
  return markPolicyApplied(store);
}

/** Marks a store (or a guard around one) as applying the policy already. */
export function markPolicyApplied<T extends OffsetStore>(store: T): T {
  Object.defineProperty(store, POLICY_APPLIED, { value: true });
  return store;
}
