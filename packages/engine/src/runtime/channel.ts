import type { Socket } from 'node:net';
import { encodeJson, FrameDecoder, FrameKind } from './framing.js';

/** JSON messages over a framed TCP socket (the control channel). */
export class ControlChannel {
  readonly #decoder = new FrameDecoder();
  constructor(readonly socket: Socket, onMessage: (m: any) => void, onClose: (err?: Error) => void) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.#decoder.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const f of frames) if (f.kind === FrameKind.JSON) onMessage(f.message);
    });
    let closed = false;
    const close = (err?: Error): void => {
      if (closed) return;
      closed = true;
      onClose(err);
    };
    socket.on('error', (err) => close(err));
    socket.on('close', () => close());
  }

  send(m: unknown): void {
    if (!this.socket.destroyed) this.socket.write(encodeJson(m));
  }

  /** Resolves once the message is handed to the OS (before a process exits). */
  flushSend(m: unknown): Promise<void> {
    return new Promise((r) => {
      if (this.socket.destroyed) return r();
      this.socket.write(encodeJson(m), () => r());
    });
  }
}
