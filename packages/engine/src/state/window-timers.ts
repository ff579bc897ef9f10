import type { StateKey } from './key-groups.js';

/**
 * Event-time timers of a window task: a binary min-heap of (time, key). Not checkpointed:
 * it is rebuilt from the window state after a restore, so the state stays the only truth.
 * A key may be queued more than once; a timer that finds nothing due is a no-op.
 */
export class TimerHeap {
  readonly #t: number[] = [];
  readonly #k: StateKey[] = [];

  get size(): number {
    return this.#t.length;
  }

  peek(): number {
    return this.#t.length ? this.#t[0]! : Infinity;
  }

  push(time: number, key: StateKey): void {
    const t = this.#t;
    const k = this.#k;
    let i = t.length;
    t.push(time);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p]! <= time) break;
      t[i] = t[p]!;
      k[i] = k[p]!;
      i = p;
    }
    t[i] = time;
    k[i] = key;
  }

  /** Removes and returns the key of the earliest timer. */
  pop(): StateKey | undefined {
    const t = this.#t;
    const k = this.#k;
    if (t.length === 0) return undefined;
    const top = k[0];
    const lt = t.pop()!;
    const lk = k.pop()!;
    const n = t.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const c = l + 1 < n && t[l + 1]! < t[l]! ? l + 1 : l;
        if (t[c]! >= lt) break;
        t[i] = t[c]!;
        k[i] = k[c]!;
        i = c;
      }
      t[i] = lt;
      k[i] = lk;
    }
    return top;
  }

  clear(): void {
    this.#t.length = 0;
    this.#k.length = 0;
  }
}
