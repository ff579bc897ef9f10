import { connect, type Socket } from 'node:net';
import { encodeJson } from './framing.js';
import type { Transport } from './executor-core.js';

/** Above this many queued bytes per peer, producers wait and inbound sockets pause. */
export const HIGH_WATER_BYTES = 4 * 1024 * 1024;

/**
 * One outbound TCP connection per peer executor (frames in order per channel). The
 * bound on queued bytes is the back-pressure signal the source loops and inbound
 * sockets honour.
 */
export class PeerTransport implements Transport {
  readonly #peers = new Map<number, Socket>();
  #waiters: Array<() => void> = [];

  constructor(peers: Array<{ executor: number; host: string; port: number }>, self: number, epoch: number, onLost: (executor: number) => void) {
    for (const p of peers) {
      if (p.executor === self) continue;
      const s = connect({ host: p.host, port: p.port });
      s.setNoDelay(true);
      s.write(encodeJson({ type: 'hello', executor: self, epoch }));
      s.on('drain', () => this.#wake());
      s.on('error', () => {});
      s.on('close', () => onLost(p.executor));
      this.#peers.set(p.executor, s);
    }
  }

  send(executor: number, frame: Buffer): void {
    this.#peers.get(executor)?.write(frame);
  }

  backpressured(): boolean {
    for (const s of this.#peers.values()) if (s.writableLength > HIGH_WATER_BYTES) return true;
    return false;
  }

  whenDrained(): Promise<void> {
    if (!this.backpressured()) return Promise.resolve();
    return new Promise((r) => {
      this.#waiters.push(r);
      // Bounded wait: re-check even if a drain event is missed (e.g. a closed socket).
      setTimeout(() => this.#wake(), 250);
    });
  }

  #wake(): void {
    if (this.backpressured()) return;
    const w = this.#waiters;
    this.#waiters = [];
    for (const r of w) r();
  }

  close(): void {
    for (const s of this.#peers.values()) s.destroy();
  }
}
