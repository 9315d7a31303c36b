// A minimal gRPC server on node:http2 for tests: it serves handlers over an in-process
// Duplex pair or a unix socket, with full control over headers, trailers and framing.
// Not used at run time.
import http2 from 'node:http2';
import net from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { FrameParser, frameMessage } from './h2client.js';

export interface TestCallStatus {
  code: number;
  message?: string;
  /** Raw google.rpc.Status bytes for grpc-status-details-bin. */
  details?: Uint8Array;
  /** Extra trailers. */
  trailers?: Record<string, string | string[]>;
}

export class TestServerCall {
  readonly messages: AsyncIterable<Buffer>;
  private headersSent = false;
  private ended = false;
  constructor(
    readonly stream: http2.ServerHttp2Stream,
    /** Request headers (incoming metadata). */
    readonly headers: http2.IncomingHttpHeaders,
    /** Request headers as a flat [name, value, name, value, …] list (shows repeated fields). */
    readonly rawHeaders: string[],
    maxMessageSize: number,
  ) {
    const parser = new FrameParser(maxMessageSize);
    const queue: Buffer[] = [];
    let waiting: ((r: IteratorResult<Buffer>) => void) | undefined;
    let done = false;
    stream.on('data', (chunk: Buffer) => {
      for (const m of parser.push(chunk)) {
        if (waiting) {
          const w = waiting;
          waiting = undefined;
          w({ value: m, done: false });
        } else queue.push(m);
      }
    });
    const finish = (): void => {
      done = true;
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w({ value: undefined, done: true });
      }
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', () => undefined);
    this.messages = {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          if (queue.length) return Promise.resolve({ value: queue.shift()!, done: false });
          if (done) return Promise.resolve({ value: undefined, done: true });
          return new Promise<IteratorResult<Buffer>>((r) => (waiting = r));
        },
      }),
    };
  }

  /** All request messages until the client half-closes. */
  async readAll(): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for await (const m of this.messages) out.push(m);
    return out;
  }

  sendHeaders(extra: Record<string, string | string[]> = {}): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...extra }, { waitForTrailers: true });
  }

  /** Send one message (framed). Resolves when flushed to the stream. */
  send(payload: Uint8Array): Promise<void> {
    this.sendHeaders();
    return new Promise((resolve) => {
      if (this.stream.write(frameMessage(payload))) resolve();
      else this.stream.once('drain', () => resolve());
    });
  }

  /** Write raw bytes (to test framing edge cases). */
  sendRaw(bytes: Uint8Array): Promise<void> {
    this.sendHeaders();
    return new Promise((resolve) => {
      if (this.stream.write(bytes)) resolve();
      else this.stream.once('drain', () => resolve());
    });
  }

  /** End the call with trailers. */
  end(status: TestCallStatus = { code: 0 }): void {
    if (this.ended) return;
    this.ended = true;
    const trailers: http2.OutgoingHttpHeaders = { 'grpc-status': String(status.code), ...(status.trailers ?? {}) };
    if (status.message !== undefined) trailers['grpc-message'] = encodeURIComponent(status.message);
    if (status.details) trailers['grpc-status-details-bin'] = Buffer.from(status.details).toString('base64').replace(/=+$/, '');
    if (!this.headersSent) {
      // Trailers-only response.
      this.headersSent = true;
      this.stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...trailers }, { endStream: true });
      return;
    }
    this.stream.once('wantTrailers', () => this.stream.sendTrailers(trailers));
    this.stream.end();
  }
}

export type TestHandler = (call: TestServerCall) => void | Promise<void>;

export interface TestServer {
  server: http2.Http2Server;
  /** Serve one connection over this Duplex. */
  attach(duplex: Duplex): void;
  /** Listen on a unix socket path. */
  listen(path: string): Promise<void>;
  /** Every call received (for assertions). */
  calls: TestServerCall[];
  close(): Promise<void>;
}

export function createTestServer(handlers: Record<string, TestHandler>, opts: { maxMessageSize?: number } = {}): TestServer {
  const server = http2.createServer({ settings: { initialWindowSize: 1024 * 1024 } });
  const calls: TestServerCall[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => undefined);
  });
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    stream.on('error', () => undefined);
    const call = new TestServerCall(stream, headers, rawHeaders, opts.maxMessageSize ?? 16 * 1024 * 1024);
    calls.push(call);
    const path = String(headers[':path']);
    const h = handlers[path];
    if (!h) {
      call.end({ code: 12, message: `unknown method ${path}` });
      return;
    }
    Promise.resolve()
      .then(() => h(call))
      .catch((err: Error) => call.end({ code: 2, message: `handler failed: ${err.message}` }));
  });
  let netServer: net.Server | undefined;
  return {
    server,
    calls,
    attach: (duplex) => server.emit('connection', duplex),
    listen: (path) =>
      new Promise<void>((resolve, reject) => {
        netServer = net.createServer((sock) => server.emit('connection', sock));
        netServer.once('error', reject);
        netServer.listen(path, () => resolve());
      }),
    close: async () => {
      for (const s of sessions) {
        try {
          if (!s.destroyed) s.destroy();
        } catch {
          // Node's JSStreamSocket can assert when its stream is already gone.
        }
      }
      if (netServer) await new Promise<void>((r) => netServer!.close(() => r()));
    },
  };
}

/** Two connected Duplexes (what one writes, the other reads). */
export function duplexPair(): [Duplex, Duplex] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  return [Duplex.from({ readable: bToA, writable: aToB }), Duplex.from({ readable: aToB, writable: bToA })];
}
