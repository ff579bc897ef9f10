/**
 * PostgreSQL log sequence numbers (`X/Y`, two 32-bit hex halves) as bigints, for comparing and
 * stepping them: strings compare wrong ('0/A' > '0/10').
 */

export function isLsn(s: string): boolean {
  return /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(s);
}

export function lsnToBig(s: string): bigint {
  const [hi, lo] = s.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

export function bigToLsn(v: bigint): string {
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function compareLsn(a: string, b: string): number {
  const x = lsnToBig(a);
  const y = lsnToBig(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function maxLsn(a: string, b: string): string {
  return compareLsn(a, b) >= 0 ? a : b;
}

/** One byte before (pg-logical-replication's acknowledge(lsn) reports lsn + 1 as flushed). */
export function lsnBefore(s: string): string {
  const v = lsnToBig(s);
  return bigToLsn(v > 0n ? v - 1n : 0n);
}
