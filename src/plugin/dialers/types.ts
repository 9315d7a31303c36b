// What the plugin hands to the gRPC client: a way to open one raw byte stream to BuildKit's
// gRPC server (HTTP/2 with prior knowledge is spoken over it by the caller).
import type { Duplex } from 'node:stream';
import { CopaError } from '../../engine/errors.js';

export type DialerScheme =
  | 'unix'
  | 'tcp'
  | 'docker'
  | 'buildx'
  | 'docker-container'
  | 'podman-container'
  | 'nerdctl-container'
  | 'ssh';

export interface DialerTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
}

export interface Dialer {
  /** Human-readable address, for messages: "unix:///run/buildkit/buildkitd.sock", "docker://default". */
  describe: string;
  /** Which kind of address this is (picks the default image loader, names errors). */
  scheme: DialerScheme;
  /**
   * Opens a new stream. It is ready for HTTP/2: TLS, HTTP upgrades and `dial-stdio` handshakes
   * are already done. Rejects with a DialError that says what failed and what to do.
   */
  dial(): Promise<Duplex>;
  /** Ends every stream and child process this dialer opened. */
  close?(): Promise<void>;
  /** TLS material in use (already applied by dial(); informational). */
  tls?: DialerTls;
}

/** A connection failure. message: what failed; hint: what to do. */
export class DialError extends CopaError {
  readonly address: string;
  constructor(address: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super('buildkit', message, opts);
    this.name = 'DialError';
    this.address = address;
  }
}

/** A dialer that always fails with the given error (an auto-detect candidate that could not be set up). */
export function failingDialer(describe: string, scheme: DialerScheme, error: Error): Dialer {
  return {
    describe,
    scheme,
    dial: () => Promise.reject(error),
  };
}

/** Keeps the streams a dialer opened, so close() can end them. */
export class StreamTracker {
  private readonly open = new Set<Duplex>();
  add<T extends Duplex>(s: T): T {
    this.open.add(s);
    s.once('close', () => this.open.delete(s));
    return s;
  }
  async closeAll(): Promise<void> {
    const all = [...this.open];
    this.open.clear();
    await Promise.all(
      all.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            s.once('close', () => resolve());
            s.destroy();
            setTimeout(resolve, 2000).unref();
          }),
      ),
    );
  }
}
