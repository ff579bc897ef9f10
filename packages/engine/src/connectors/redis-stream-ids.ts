/**
 * Redis stream entry ids (`<ms>-<seq>`, both unsigned 64-bit decimals): comparison and the
 * time → id mapping, pure so the offset store's `--from-time` and the tests share them.
 */

const ID = /^(\d{1,20})-(\d{1,20})$/;
/** The largest sequence number of a millisecond: the id just before `<ms+1>-0`. */
const MAX_SEQ = '18446744073709551615';

export function isStreamId(id: string): boolean {
  return ID.test(id);
}

function cmpDecimal(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Orders two entry ids as Redis does (-1, 0, 1); a bare `<ms>` counts as `<ms>-0`. */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  return cmpDecimal(am, bm) || cmpDecimal(as, bs);
}

/**
 * The first entry id at or after wall time `ms` (epoch milliseconds): `<ms>-0`. Redis's
 * auto ids are `<server time ms>-<seq>`, so this is where `fromTime` starts a stream.
 */
export function redisStreamIdAtTime(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`fromTime must be a non-negative integer of ms, got ${ms}`);
  return `${ms}-0`;
}

/** The id just before `id` (XREAD returns entries strictly after the id it is given). */
export function streamIdBefore(id: string): string {
  const m = ID.exec(id);
  if (!m) throw new RangeError(`not a stream entry id: ${JSON.stringify(id)}`);
  const ms = BigInt(m[1]!);
  const seq = BigInt(m[2]!);
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  if (ms > 0n) return `${ms - 1n}-${MAX_SEQ}`;
  return '0-0';
}
