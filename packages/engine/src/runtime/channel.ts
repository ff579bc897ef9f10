import type { Socket } from 'node:net';
import { encodeJson, FrameDecoder, FrameKind } from './framing.js';

/**
 * Typed JSON messages over a framed TCP socket (the control channel): `accept` narrows
 * what arrives to the union `In`, `Out` is what this side may send.
 */
export class ControlChannel<In, Out> {
  readonly #decoder = new FrameDecoder();
  constructor(readonly socket: Socket, accept: (m: unknown) => m is In, onMessage: (m: In) => void, onClose: (err?: Error) => void) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.#decoder.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const f of frames) if (f.kind === FrameKind.JSON && accept(f.message)) onMessage(f.message);
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

  send(m: Out): void {
    if (!this.socket.destroyed) this.socket.write(encodeJson(m));
  }

  /** Resolves once the message is handed to the OS (before a process exits). */
  flushSend(m: Out): Promise<void> {
    return new Promise((r) => {
      if (this.socket.destroyed) return r();
      this.socket.write(encodeJson(m), () => r());
    });
  }
}
