// A small gRPC client on node:http2. It runs over any Duplex (the frontend's stdio, a
// hijacked /grpc socket, a dial-stdio child) or over a unix/tcp(+TLS) address, and
// supports unary, server-streaming and bidi-streaming calls. It never writes to stdout.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { GrpcCode, GrpcError, statusFromTrailers, type StatusDetail } from './status.js';

export { GrpcCode, GrpcError } from './status.js';

/** Largest message accepted or sent (BuildKit's limit too). */
export const MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

export interface Codec<T> {
  encode(msg: T): Uint8Array;
  decode(buf: Uint8Array): T;
}

/** Identity codec: messages are raw protobuf bytes. */
export const rawCodec: Codec<Uint8Array> = {
  encode: (m) => m,
  decode: (b) => b,
};

export interface MethodDef<Req, Res> {
  /** "/package.Service/Method" */
  path: string;
  requestCodec: Codec<Req>;
  responseCodec: Codec<Res>;
}

/** Request metadata. Keys ending in "-bin" take Buffers (sent base64); arrays are sent as repeated fields. */
export type Metadata = Record<string, string | Buffer | ReadonlyArray<string | Buffer>>;

export interface CallOptions {
  metadata?: Metadata;
  /** Relative deadline in milliseconds. */
  timeoutMs?: number;
  /** Absolute deadline (Date or epoch ms). The earlier of deadline/timeoutMs wins. */
  deadline?: Date | number;
  signal?: AbortSignal;
}

export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  /** Defaults to true. */
  rejectUnauthorized?: boolean;
}

export interface ChannelOptions {
  /** :authority to send; defaults to "localhost". */
  authority?: string;
  maxMessageSize?: number;
  /** Metadata added to every call (per-call metadata is merged over it). */
  metadata?: Metadata;
  /** Called once when the connection ends (err undefined for a local close). */
  onClose?: (err?: Error) => void;
}

export interface ConnectOptions extends ChannelOptions {
  tls?: TlsOptions;
  /** Time allowed for the socket (and TLS) to connect; default 20 s. */
  connectTimeoutMs?: number;
}

export interface ServerStream<Res> extends AsyncIterable<Res> {
  /** Cancel the call (the iterator then throws CANCELLED unless it already ended). */
  cancel(reason?: string): void;
  /** Response headers, once received. */
  readonly headers: Promise<Record<string, string | string[]>>;
}

export interface BidiStream<Req, Res> extends ServerStream<Res> {
  /** Send one message; resolves when it is handed to the transport (respects flow control). */
  write(msg: Req): Promise<void>;
  /** Half-close: no more requests. */
  end(): void;
  /** Resolves when the call ends with OK, rejects with GrpcError otherwise. */
  readonly status: Promise<void>;
}

type Headers = Record<string, string | string[]>;

const {
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_TE,
  HTTP2_HEADER_AUTHORITY,
  HTTP2_HEADER_SCHEME,
  NGHTTP2_CANCEL,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_NO_ERROR,
  NGHTTP2_ENHANCE_YOUR_CALM,
  NGHTTP2_INADEQUATE_SECURITY,
} = http2.constants;

const USER_AGENT = 'copa-ts-grpc/0.1';

// ---------------------------------------------------------------------------------------
// framing

/** Frame one message: 1-byte compressed flag (0) + 4-byte big-endian length + payload. */
export function frameMessage(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** Incremental parser of length-prefixed gRPC messages. */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  constructor(private readonly maxMessageSize = MAX_MESSAGE_SIZE) {}

  /** Feed bytes; returns every complete message. Throws GrpcError on a bad frame. */
  push(chunk: Uint8Array): Buffer[] {
    if (chunk.length) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.buffered += chunk.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < 5) break;
      const head = this.peek(5);
      const flag = head[0]!;
      const len = head.readUInt32BE(1);
      if (flag !== 0) {
        throw new GrpcError(
          flag === 1 ? GrpcCode.UNIMPLEMENTED : GrpcCode.INTERNAL,
          flag === 1 ? 'received a compressed message, but no compression was negotiated' : `invalid gRPC frame flag ${flag}`,
        );
      }
      if (len > this.maxMessageSize) {
        throw new GrpcError(GrpcCode.RESOURCE_EXHAUSTED, `received message larger than max (${len} vs. ${this.maxMessageSize})`);
      }
      if (this.buffered < 5 + len) break;
      const all = this.take(5 + len);
      out.push(all.subarray(5));
    }
    return out;
  }

  /** Bytes received that do not form a complete message yet. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < n) {
      first = Buffer.concat(this.chunks);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

/** Percent-decode a grpc-message value (it is percent-encoded UTF-8). */
export function decodeGrpcMessage(v: string): string {
  if (!v.includes('%')) return v;
  const bytes: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x25 && i + 2 < v.length && /^[0-9a-fA-F]{2}$/.test(v.slice(i + 1, i + 3))) {
      bytes.push(parseInt(v.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      for (const b of Buffer.from(v[i]!, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** grpc-timeout header value for a remaining time in ms (at most 8 digits). */
export function encodeTimeout(ms: number): string {
  const m = Math.max(0, Math.ceil(ms));
  if (m < 1e8) return `${m}m`;
  const s = Math.ceil(m / 1000);
  if (s < 1e8) return `${s}S`;
  return `${Math.min(99999999, Math.ceil(s / 3600))}H`;
}

function headerValue(h: Headers, key: string): string | undefined {
  const v = h[key];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

function httpStatusToGrpc(status: number): number {
  switch (status) {
    case 400:
      return GrpcCode.INTERNAL;
    case 401:
      return GrpcCode.UNAUTHENTICATED;
    case 403:
      return GrpcCode.PERMISSION_DENIED;
    case 404:
      return GrpcCode.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcCode.UNAVAILABLE;
    default:
      return GrpcCode.UNKNOWN;
  }
}

function metadataToHeaders(md: Metadata | undefined, out: http2.OutgoingHttpHeaders): void {
  if (!md) return;
  for (const [rawKey, value] of Object.entries(md)) {
    const key = rawKey.toLowerCase();
    if (key.startsWith(':') || key === 'content-type' || key === 'te' || key === 'grpc-timeout') continue;
    const values = (Array.isArray(value) ? value : [value]) as Array<string | Buffer>;
    const encoded = values.map((v) => {
      if (key.endsWith('-bin')) return (Buffer.isBuffer(v) ? v : Buffer.from(v)).toString('base64');
      return Buffer.isBuffer(v) ? v.toString('latin1') : v;
    });
    const prev = out[key];
    const merged = prev === undefined ? encoded : [...(Array.isArray(prev) ? prev : [String(prev)]), ...encoded];
    out[key] = merged.length === 1 ? merged[0]! : merged;
  }
}

function mergeMetadata(a: Metadata | undefined, b: Metadata | undefined): Metadata | undefined {
  if (!a) return b;
  if (!b) return a;
  const out: Metadata = { ...a };
  for (const [k, v] of Object.entries(b)) out[k.toLowerCase()] = v;
  return out;
}

function plainHeaders(h: http2.IncomingHttpHeaders): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v : String(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// a simple async queue used by streaming calls

class MessageQueue<T> {
  private items: T[] = [];
  private waiters: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }> = [];
  private done = false;
  private error: unknown;
  constructor(private readonly onLow?: () => void) {}

  push(item: T): void {
    const w = this.waiters.shift();
    if (w) w.resolve({ value: item, done: false });
    else this.items.push(item);
  }
  finish(err?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = err;
    for (const w of this.waiters.splice(0)) {
      if (err) w.reject(err);
      else w.resolve({ value: undefined, done: true });
    }
  }
  get size(): number {
    return this.items.length;
  }
  next(): Promise<IteratorResult<T>> {
    if (this.items.length) {
      const value = this.items.shift() as T;
      if (this.items.length < 4) this.onLow?.();
      return Promise.resolve({ value, done: false });
    }
    if (this.done) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    this.onLow?.();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

// ---------------------------------------------------------------------------------------
// one call = one HTTP/2 stream

class Call<Req, Res> {
  readonly queue: MessageQueue<Res>;
  readonly status: Promise<void>;
  readonly headers: Promise<Headers>;
  private resolveStatus!: () => void;
  private rejectStatus!: (e: GrpcError) => void;
  private resolveHeaders!: (h: Headers) => void;
  private stream: http2.ClientHttp2Stream | undefined;
  private parser: FrameParser;
  private responseHeaders: Headers = {};
  private trailerInfo: { code: number; message: string; details?: Buffer } | undefined;
  private localError: GrpcError | undefined;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;
  private abortListener: (() => void) | undefined;

  constructor(
    private readonly channel: GrpcChannel,
    private readonly method: MethodDef<Req, Res>,
    private readonly opts: CallOptions,
  ) {
    this.parser = new FrameParser(channel.maxMessageSize);
    this.queue = new MessageQueue<Res>(() => {
      if (this.stream && this.stream.isPaused()) this.stream.resume();
    });
    this.status = new Promise<void>((res, rej) => {
      this.resolveStatus = res;
      this.rejectStatus = rej;
    });
    // Callers may only look at the message queue; avoid unhandled rejections.
    this.status.catch(() => undefined);
    this.headers = new Promise<Headers>((res) => (this.resolveHeaders = res));
    this.start();
  }

  private start(): void {
    const { opts } = this;
    if (opts.signal?.aborted) {
      this.fail(new GrpcError(GrpcCode.CANCELLED, `call cancelled: ${abortReason(opts.signal)}`));
      return;
    }
    const session = this.channel.sessionForCall();
    if (session instanceof GrpcError) {
      this.fail(session);
      return;
    }
    const headers: http2.OutgoingHttpHeaders = {
      [HTTP2_HEADER_METHOD]: 'POST',
      [HTTP2_HEADER_SCHEME]: this.channel.scheme,
      [HTTP2_HEADER_AUTHORITY]: this.channel.authority,
      [HTTP2_HEADER_PATH]: this.method.path,
      [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      [HTTP2_HEADER_TE]: 'trailers',
      'user-agent': USER_AGENT,
      'grpc-accept-encoding': 'identity',
    };
    let deadline: number | undefined;
    if (opts.timeoutMs !== undefined) deadline = Date.now() + opts.timeoutMs;
    if (opts.deadline !== undefined) {
      const d = typeof opts.deadline === 'number' ? opts.deadline : opts.deadline.getTime();
      deadline = deadline === undefined ? d : Math.min(deadline, d);
    }
    if (deadline !== undefined) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        this.fail(new GrpcError(GrpcCode.DEADLINE_EXCEEDED, 'deadline exceeded before the call started'));
        return;
      }
      headers['grpc-timeout'] = encodeTimeout(remaining);
      this.timer = setTimeout(() => this.cancelWith(new GrpcError(GrpcCode.DEADLINE_EXCEEDED, `deadline exceeded after ${Math.round(remaining)}ms`)), remaining);
      this.timer.unref?.();
    }
    metadataToHeaders(mergeMetadata(this.channel.defaultMetadata, opts.metadata), headers);

    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (err) {
      this.fail(new GrpcError(GrpcCode.UNAVAILABLE, `cannot start call: ${(err as Error).message}`, [], {}, { cause: err }));
      return;
    }
    this.stream = stream;
    this.channel.track(this);
    if (opts.signal) {
      const signal = opts.signal;
      this.abortListener = () => this.cancelWith(new GrpcError(GrpcCode.CANCELLED, `call cancelled: ${abortReason(signal)}`));
      signal.addEventListener('abort', this.abortListener, { once: true });
    }

    stream.on('response', (h) => {
      const hs = plainHeaders(h);
      this.responseHeaders = hs;
      this.resolveHeaders(hs);
      const httpStatus = Number(hs[HTTP2_HEADER_STATUS] ?? 0);
      if (hs['grpc-status'] !== undefined) {
        // Trailers-only response.
        this.readTrailers(hs);
        return;
      }
      if (httpStatus !== 200) {
        this.localError ??= new GrpcError(httpStatusToGrpc(httpStatus), `unexpected HTTP status ${httpStatus} from ${this.method.path}`, [], hs);
        return;
      }
      const ct = headerValue(hs, 'content-type') ?? '';
      if (!ct.startsWith('application/grpc')) {
        this.localError ??= new GrpcError(GrpcCode.UNKNOWN, `unexpected content-type "${ct}" from ${this.method.path}`, [], hs);
      }
    });
    stream.on('trailers', (h) => this.readTrailers(plainHeaders(h)));
    stream.on('data', (chunk: Buffer) => {
      if (this.localError || this.finished) return;
      let msgs: Buffer[];
      try {
        msgs = this.parser.push(chunk);
      } catch (err) {
        this.cancelWith(err as GrpcError);
        return;
      }
      for (const m of msgs) {
        let decoded: Res;
        try {
          decoded = this.method.responseCodec.decode(m);
        } catch (err) {
          this.cancelWith(new GrpcError(GrpcCode.INTERNAL, `failed to decode response of ${this.method.path}: ${(err as Error).message}`, [], {}, { cause: err }));
          return;
        }
        this.queue.push(decoded);
      }
      if (this.queue.size > 16) stream.pause();
    });
    stream.on('error', (err) => {
      // Stream errors (RST_STREAM with an error code, session teardown) end in 'close'.
      this.streamError = err;
    });
    stream.on('close', () => this.onClose());
    // 'end' does not fire unless the readable side is consumed; it is, via 'data'.
  }

  private streamError: Error | undefined;

  private readTrailers(h: Headers): void {
    if (this.trailerInfo) return;
    const raw = headerValue(h, 'grpc-status');
    const code = raw === undefined ? GrpcCode.UNKNOWN : Number(raw);
    const message = decodeGrpcMessage(headerValue(h, 'grpc-message') ?? '');
    const detailsB64 = headerValue(h, 'grpc-status-details-bin');
    this.trailerInfo = {
      code: Number.isInteger(code) ? code : GrpcCode.UNKNOWN,
      message: raw === undefined ? 'missing grpc-status in trailers' : message,
      details: detailsB64 ? Buffer.from(detailsB64, 'base64') : undefined,
    };
    Object.assign(this.responseHeaders, h);
  }

  private onClose(): void {
    if (this.finished) return;
    const stream = this.stream!;
    let err: GrpcError | undefined = this.localError;
    if (!err && this.trailerInfo) {
      const t = this.trailerInfo;
      if (t.code !== GrpcCode.OK) {
        const st = statusFromTrailers(t.code, t.message, t.details);
        err = new GrpcError(st.code, st.message, st.details as StatusDetail[], this.responseHeaders, { method: this.method.path });
      } else if (this.parser.pending > 0) {
        err = new GrpcError(GrpcCode.INTERNAL, `incomplete message at end of stream from ${this.method.path}`);
      }
    }
    if (!err && !this.trailerInfo) {
      const rst = stream.rstCode;
      const closed = this.channel.connectionLost();
      if (closed) {
        err = new GrpcError(GrpcCode.UNAVAILABLE, closed, [], this.responseHeaders, { cause: this.streamError });
      } else if (rst === NGHTTP2_REFUSED_STREAM) {
        err = new GrpcError(GrpcCode.UNAVAILABLE, `stream refused by the server (${this.method.path})`);
      } else if (rst === NGHTTP2_CANCEL) {
        err = new GrpcError(GrpcCode.CANCELLED, `call cancelled by the server (${this.method.path})`);
      } else if (rst === NGHTTP2_ENHANCE_YOUR_CALM) {
        err = new GrpcError(GrpcCode.RESOURCE_EXHAUSTED, `server reported ENHANCE_YOUR_CALM (${this.method.path})`);
      } else if (rst === NGHTTP2_INADEQUATE_SECURITY) {
        err = new GrpcError(GrpcCode.PERMISSION_DENIED, `inadequate security (${this.method.path})`);
      } else if (rst !== undefined && rst !== NGHTTP2_NO_ERROR) {
        err = new GrpcError(GrpcCode.INTERNAL, `stream reset with HTTP/2 error code ${rst} (${this.method.path})`, [], {}, { cause: this.streamError });
      } else {
        err = new GrpcError(GrpcCode.UNAVAILABLE, `stream from ${this.method.path} ended without a gRPC status`, [], this.responseHeaders, {
          cause: this.streamError,
        });
      }
    }
    this.complete(err);
  }

  private complete(err: GrpcError | undefined): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.abortListener) this.opts.signal?.removeEventListener('abort', this.abortListener);
    this.channel.untrack(this);
    this.resolveHeaders(this.responseHeaders);
    if (err) {
      err.method ??= this.method.path;
      this.queue.finish(err);
      this.rejectStatus(err);
    } else {
      this.queue.finish();
      this.resolveStatus();
    }
  }

  private fail(err: GrpcError): void {
    this.localError = err;
    this.complete(err);
  }

  /** Cancel locally with the given error (deadline, abort, bad frame, local close). */
  cancelWith(err: GrpcError): void {
    if (this.finished) return;
    this.localError ??= err;
    const s = this.stream;
    if (s && !s.closed && !s.destroyed) {
      try {
        s.close(NGHTTP2_CANCEL);
      } catch {
        /* already gone */
      }
    }
    // Complete right away; 'close' will be ignored.
    this.complete(this.localError);
  }

  async write(msg: Req): Promise<void> {
    if (this.finished) {
      throw this.localError ?? new GrpcError(GrpcCode.INTERNAL, `write after the call to ${this.method.path} ended`);
    }
    const s = this.stream!;
    let payload: Uint8Array;
    try {
      payload = this.method.requestCodec.encode(msg);
    } catch (err) {
      const e = new GrpcError(GrpcCode.INTERNAL, `failed to encode request for ${this.method.path}: ${(err as Error).message}`, [], {}, { cause: err });
      this.cancelWith(e);
      throw e;
    }
    if (payload.length > this.channel.maxMessageSize) {
      const e = new GrpcError(GrpcCode.RESOURCE_EXHAUSTED, `trying to send message larger than max (${payload.length} vs. ${this.channel.maxMessageSize})`);
      this.cancelWith(e);
      throw e;
    }
    const frame = frameMessage(payload);
    await new Promise<void>((resolve, reject) => {
      const ok = s.write(frame);
      if (ok) {
        resolve();
        return;
      }
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(this.localError ?? new GrpcError(GrpcCode.UNAVAILABLE, `stream to ${this.method.path} closed while writing`));
      };
      const cleanup = (): void => {
        s.off('drain', onDrain);
        s.off('close', onClose);
      };
      s.on('drain', onDrain);
      s.on('close', onClose);
    });
  }

  end(): void {
    const s = this.stream;
    if (s && !s.writableEnded && !s.destroyed) s.end();
  }
}

function abortReason(signal: AbortSignal): string {
  const r = signal.reason as unknown;
  if (r instanceof Error) return r.message;
  return r === undefined ? 'aborted' : String(r);
}

// ---------------------------------------------------------------------------------------
// the channel: one HTTP/2 connection

interface TrackedCall {
  cancelWith(err: GrpcError): void;
  readonly status: Promise<void>;
}

export class GrpcChannel {
  readonly authority: string;
  readonly scheme: 'http' | 'https';
  readonly maxMessageSize: number;
  readonly defaultMetadata: Metadata | undefined;
  /** Set once the connection is gone; pending and new calls fail with it. */
  closeReason: string | undefined;
  private readonly session: http2.ClientHttp2Session;
  private readonly calls = new Set<TrackedCall>();
  private closing = false;
  private goaway = false;
  private closedPromise: Promise<void>;
  private onCloseCb: ((err?: Error) => void) | undefined;
  private closeError: Error | undefined;
  private localClose = false;
  private readonly what: string;

  private constructor(session: http2.ClientHttp2Session, scheme: 'http' | 'https', authority: string, opts: ChannelOptions, what: string) {
    this.session = session;
    this.what = what;
    this.scheme = scheme;
    this.authority = authority;
    this.maxMessageSize = opts.maxMessageSize ?? MAX_MESSAGE_SIZE;
    this.defaultMetadata = opts.metadata;
    this.onCloseCb = opts.onClose;
    this.closedPromise = new Promise<void>((resolve) => {
      session.once('close', () => {
        if (!this.closeReason) this.closeReason = this.localClose ? 'connection closed' : `connection to ${what} closed by peer`;
        const calls = [...this.calls];
        for (const c of calls) c.cancelWith(new GrpcError(GrpcCode.UNAVAILABLE, this.closeReason, [], {}, { cause: this.closeError }));
        const cb = this.onCloseCb;
        this.onCloseCb = undefined;
        cb?.(this.localClose ? undefined : (this.closeError ?? new Error(this.closeReason)));
        resolve();
      });
    });
    session.on('error', (err) => {
      this.closeError ??= err;
      if (!this.closeReason) this.closeReason = `connection to ${what} failed: ${err.message}`;
    });
    session.on('goaway', (code) => {
      this.goaway = true;
      if (code !== NGHTTP2_NO_ERROR && !this.closeReason) this.closeReason = `connection to ${what} closed by peer (GOAWAY code ${code})`;
    });
    session.on('connect', () => {
      try {
        session.setLocalWindowSize(32 * 1024 * 1024);
      } catch {
        /* older Node */
      }
    });
    // Never keep a process alive just for an idle connection held elsewhere.
  }

  private static sessionOptions(): http2.ClientSessionOptions {
    return {
      settings: {
        enablePush: false,
        initialWindowSize: 4 * 1024 * 1024,
        maxHeaderListSize: 8 * 1024 * 1024,
      },
      maxSessionMemory: 128,
      // Go's http2 server advertises large header lists; give ours room too.
      maxHeaderListPairs: 4096,
    };
  }

  /** A channel over an already-connected Duplex (stdio, hijacked socket, child process pipes). */
  static fromDuplex(duplex: Duplex, opts: ChannelOptions = {}): GrpcChannel {
    const authority = opts.authority ?? 'localhost';
    const session = http2.connect(`http://${authority}`, {
      ...GrpcChannel.sessionOptions(),
      createConnection: () => duplex,
    });
    return new GrpcChannel(session, 'http', authority, opts, 'peer');
  }

  /**
   * Connect to "unix:///path", "unix:/path", "/path", "tcp://host:port" or "host:port"
   * (TLS when opts.tls is given). Resolves once the transport is connected.
   */
  static async connect(address: string, opts: ConnectOptions = {}): Promise<GrpcChannel> {
    const target = parseAddress(address);
    const useTls = !!opts.tls;
    const authority = opts.authority ?? (target.kind === 'unix' ? 'localhost' : `${target.host}:${target.port}`);
    const timeoutMs = opts.connectTimeoutMs ?? 20_000;
    const socket = await new Promise<Duplex>((resolve, reject) => {
      let sock: net.Socket;
      const onError = (err: Error): void => {
        clearTimeout(timer);
        sock.destroy();
        reject(new GrpcError(GrpcCode.UNAVAILABLE, `cannot connect to ${address}: ${err.message}`, [], {}, { cause: err }));
      };
      const timer = setTimeout(() => onError(new Error(`timed out after ${timeoutMs}ms`)), timeoutMs);
      const connectEvent = useTls ? 'secureConnect' : 'connect';
      if (useTls) {
        const t = opts.tls!;
        sock = tls.connect({
          ...(target.kind === 'unix' ? { path: target.path } : { host: target.host, port: target.port }),
          ca: t.ca,
          cert: t.cert,
          key: t.key,
          servername: t.servername ?? (target.kind === 'tcp' && !net.isIP(target.host) ? target.host : undefined),
          rejectUnauthorized: t.rejectUnauthorized ?? true,
          ALPNProtocols: ['h2'],
        });
      } else {
        sock = target.kind === 'unix' ? net.connect({ path: target.path }) : net.connect({ host: target.host, port: target.port });
      }
      sock.once('error', onError);
      sock.once(connectEvent, () => {
        clearTimeout(timer);
        sock.off('error', onError);
        resolve(sock);
      });
    });
    const scheme = useTls ? 'https' : 'http';
    const session = http2.connect(`${scheme}://${authority}`, {
      ...GrpcChannel.sessionOptions(),
      createConnection: () => socket,
    });
    return new GrpcChannel(session, scheme, authority, opts, address);
  }

  /** @internal Why the connection is gone (or going), if it is. */
  connectionLost(): string | undefined {
    if (this.closeReason) return this.closeReason;
    if (this.session.destroyed || this.session.closed) {
      return this.localClose ? 'connection closed' : `connection to ${this.what} closed by peer`;
    }
    return undefined;
  }

  /** @internal */
  sessionForCall(): http2.ClientHttp2Session | GrpcError {
    if (this.closeReason || this.session.closed || this.session.destroyed) {
      return new GrpcError(GrpcCode.UNAVAILABLE, this.closeReason ?? 'connection closed');
    }
    if (this.goaway) return new GrpcError(GrpcCode.UNAVAILABLE, 'connection is shutting down (GOAWAY received)');
    if (this.closing) return new GrpcError(GrpcCode.UNAVAILABLE, 'connection is closing');
    return this.session;
  }
  /** @internal */
  track(c: TrackedCall): void {
    this.calls.add(c);
  }
  /** @internal */
  untrack(c: TrackedCall): void {
    this.calls.delete(c);
  }

  get closed(): boolean {
    return this.closeReason !== undefined || this.session.closed || this.session.destroyed;
  }

  /** Resolves when the underlying connection is gone. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  async unary<Req, Res>(method: MethodDef<Req, Res>, request: Req, opts: CallOptions = {}): Promise<Res> {
    const call = new Call(this, method, opts);
    let result: Res | undefined;
    let count = 0;
    const collect = (async () => {
      for (;;) {
        const r = await call.queue.next();
        if (r.done) return;
        count++;
        result = r.value;
      }
    })();
    collect.catch(() => undefined);
    try {
      await call.write(request);
      call.end();
    } catch {
      /* the status below carries the error */
    }
    await call.status;
    await collect;
    if (count !== 1) {
      throw new GrpcError(
        count === 0 ? GrpcCode.UNIMPLEMENTED : GrpcCode.INTERNAL,
        count === 0 ? `no response message from ${method.path}` : `${count} response messages from unary ${method.path}`,
        [],
        {},
        { method: method.path },
      );
    }
    return result as Res;
  }

  serverStream<Req, Res>(method: MethodDef<Req, Res>, request: Req, opts: CallOptions = {}): ServerStream<Res> {
    const call = new Call(this, method, opts);
    void call
      .write(request)
      .then(() => call.end())
      .catch(() => undefined);
    return streamFacade(call);
  }

  bidi<Req, Res>(method: MethodDef<Req, Res>, opts: CallOptions = {}): BidiStream<Req, Res> {
    const call = new Call(this, method, opts);
    const facade = streamFacade(call) as BidiStream<Req, Res>;
    return Object.assign(facade, {
      write: (msg: Req) => call.write(msg),
      end: () => call.end(),
      status: call.status,
    });
  }

  /**
   * Close gracefully: new calls fail, running calls may finish (for up to graceMs,
   * default 30 s, after which they are cancelled), then the connection closes.
   */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    this.localClose = true;
    this.closing = true;
    // Let running calls finish first: Node refuses streams still queued behind the
    // connection preface once session.close() is called.
    const graceMs = opts.graceMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    let timedOut = false;
    void expired.then(() => (timedOut = true));
    while (this.calls.size && !timedOut) {
      await Promise.race([Promise.allSettled([...this.calls].map((c) => c.status)), expired]);
    }
    clearTimeout(timer);
    if (this.calls.size) this.destroy('connection closed before the call finished');
    if (!this.session.closed && !this.session.destroyed) {
      try {
        this.session.close();
      } catch {
        /* already closing */
      }
    }
    return this.closedPromise;
  }

  /** Tear down now; running calls fail with UNAVAILABLE (reason). */
  destroy(reason = 'connection closed'): void {
    this.localClose = true;
    this.closeReason ??= reason;
    for (const c of [...this.calls]) c.cancelWith(new GrpcError(GrpcCode.UNAVAILABLE, reason));
    if (!this.session.destroyed) {
      try {
        this.session.destroy();
      } catch {
        // Node's JSStreamSocket (used for non-socket Duplexes) can trip an internal
        // assertion when the underlying stream is already gone; the session is dead anyway.
      }
    }
  }

  /** Let the process exit even while this connection is open and idle. */
  unref(): void {
    this.session.unref();
  }
  ref(): void {
    this.session.ref();
  }
}

function streamFacade<Req, Res>(call: Call<Req, Res>): ServerStream<Res> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => call.queue.next(),
      return: async () => {
        call.cancelWith(new GrpcError(GrpcCode.CANCELLED, 'call cancelled by the client'));
        return { value: undefined, done: true };
      },
    }),
    cancel: (reason?: string) => call.cancelWith(new GrpcError(GrpcCode.CANCELLED, reason ?? 'call cancelled by the client')),
    headers: call.headers,
  };
}

// ---------------------------------------------------------------------------------------
// addresses

export type ParsedAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export function parseAddress(address: string): ParsedAddress {
  if (address.startsWith('unix://')) return { kind: 'unix', path: address.slice('unix://'.length) };
  if (address.startsWith('unix:')) return { kind: 'unix', path: address.slice('unix:'.length) };
  if (address.startsWith('/')) return { kind: 'unix', path: address };
  let rest = address;
  if (rest.startsWith('tcp://')) rest = rest.slice('tcp://'.length);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) {
    throw new Error(`unsupported gRPC address "${address}" (expected unix://, tcp:// or host:port)`);
  }
  rest = rest.replace(/\/+$/, '');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(rest) ?? /^([^:]+):(\d+)$/.exec(rest);
  if (!m) throw new Error(`invalid gRPC address "${address}" (missing port?)`);
  return { kind: 'tcp', host: m[1]!, port: Number(m[2]) };
}
