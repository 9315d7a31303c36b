// Loading an image tarball into a Docker Engine: `POST /images/load?quiet=1` with the tar
// as a chunked request body, over the engine's API socket (unix, tcp, tcp+TLS, or ssh and
// others through `docker system dial-stdio`, as connectDockerApi provides).
//
// The engine answers 200 with JSON lines:
//   {"stream":"Loaded image: repo:tag\n"}, {"stream":"Loaded image ID: sha256:…\n"},
//   {"errorDetail":{"message":"…"},"error":"…"} when the load failed (still HTTP 200),
// or a non-2xx status with {"message":"…"} when it refused the request.
//
// Abort safety: the engine commits an image only after it read the whole archive. Cancelling
// (a build that fails mid-export, Ctrl-C) destroys the request before the terminating
// chunk, so the engine sees a truncated body and discards the upload: no half-loaded tag.
//
// buildx's rule for the tarball format is followed by the exporters module: an engine
// using the containerd image store (GET /info → DriverStatus has
// ["driver-type","io.containerd.snapshotter.v1"]) gets the `oci` exporter's tarball (OCI
// media types, multi-platform capable); the classic store gets the `docker` one.
import http from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopaError } from '../../engine/errors.js';
import type { DockerEndpoint } from '../docker-config.js';
import { connectDockerApi } from '../dialers/docker-engine.js';
import { deferred, type ExportTarget } from './target.js';

export interface DockerApiOptions {
  /** Opens a raw connection to the engine API (default: connectDockerApi for the endpoint). */
  connect?: () => Promise<Duplex>;
  /** Connection time limit (default 30 s). */
  connectTimeoutMs?: number;
  /** For ssh:// and other hosts Node cannot open itself: the docker CLI (default "docker"). */
  dockerCommand?: string;
  env?: NodeJS.ProcessEnv;
}

export interface DockerLoadOptions extends DockerApiOptions {
  /** quiet=1 (default true): no per-layer progress lines. */
  quiet?: boolean;
  /** Every message line the engine prints ("Loaded image: …", progress), for verbose output. */
  onMessage?: (line: string) => void;
}

export interface DockerLoadResult {
  /** Names the engine reports as loaded ("Loaded image: <name>"). */
  images: string[];
  /** Image ids reported for untagged images ("Loaded image ID: <id>"). */
  imageIds: string[];
  /** All message lines, in order. */
  messages: string[];
}

/** The engine refused or failed the load (its own message is included). */
export class DockerLoadError extends CopaError {
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super('image', message, opts);
    this.name = 'DockerLoadError';
  }
}

export function describeEndpoint(endpoint: DockerEndpoint): string {
  return endpoint.context && endpoint.context !== 'default' ? `${endpoint.host} (context ${endpoint.context})` : endpoint.host;
}

async function openConnection(endpoint: DockerEndpoint, opts: DockerApiOptions): Promise<Duplex> {
  if (opts.connect) return opts.connect();
  return connectDockerApi(
    {
      endpoint,
      describe: describeEndpoint(endpoint),
      ...(opts.dockerCommand ? { dockerCommand: opts.dockerCommand } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      timeoutMs: opts.connectTimeoutMs ?? 30_000,
    },
    describeEndpoint(endpoint),
  );
}

/** Splits concatenated / newline-separated JSON objects (the engine's progress stream). */
export class JsonStreamSplitter {
  private buf = '';
  /** Feed text; returns each complete top-level JSON value's text. */
  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') {
        inString = true;
        if (depth === 0 && start < 0) start = i;
      } else if (c === '{' || c === '[') {
        if (depth === 0) start = i;
        depth++;
      } else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0 && start >= 0) {
          out.push(this.buf.slice(start, i + 1));
          start = -1;
          consumed = i + 1;
        } else if (depth < 0) {
          depth = 0;
          consumed = i + 1;
        }
      } else if (depth === 0 && start < 0 && !/\s/.test(c)) {
        // stray text between values: keep it as its own line
        const nl = this.buf.indexOf('\n', i);
        if (nl < 0) break;
        out.push(this.buf.slice(i, nl).trim());
        i = nl;
        consumed = nl + 1;
      } else if (depth === 0 && start < 0) {
        consumed = i + 1;
      }
    }
    this.buf = this.buf.slice(consumed);
    return out;
  }
  /** Whatever is left (an incomplete value) at the end of the stream. */
  rest(): string {
    return this.buf.trim();
  }
}

interface LoadMessage {
  stream?: string;
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  message?: string;
}

/** Accumulates the engine's load response; throws DockerLoadError on an error line. */
export class DockerLoadResponse {
  readonly result: DockerLoadResult = { images: [], imageIds: [], messages: [] };
  private readonly splitter = new JsonStreamSplitter();
  error: DockerLoadError | undefined;

  constructor(private readonly onMessage?: (line: string) => void) {}

  push(text: string): void {
    for (const item of this.splitter.push(text)) this.item(item);
  }

  end(): DockerLoadResult {
    const rest = this.splitter.rest();
    if (rest) this.item(rest);
    if (this.error) throw this.error;
    return this.result;
  }

  private item(text: string): void {
    let m: LoadMessage;
    try {
      m = JSON.parse(text) as LoadMessage;
    } catch {
      this.line(text);
      return;
    }
    if (!m || typeof m !== 'object') return;
    if (m.errorDetail || m.error) {
      const msg = m.errorDetail?.message || m.error || 'unknown error';
      this.error ??= new DockerLoadError(`docker load failed: ${msg}`);
      return;
    }
    if (typeof m.stream === 'string') {
      for (const l of m.stream.split('\n')) if (l.trim()) this.line(l.trim());
    } else if (typeof m.status === 'string') {
      this.line(m.id ? `${m.id}: ${m.status}` : m.status);
    }
  }

  private line(l: string): void {
    this.result.messages.push(l);
    this.onMessage?.(l);
    let x = /^Loaded image ID: (\S+)$/.exec(l);
    if (x) {
      this.result.imageIds.push(x[1]!);
      return;
    }
    x = /^Loaded image: (\S+)$/.exec(l);
    if (x) this.result.images.push(x[1]!);
  }
}

/** Parses a complete load response body (throws DockerLoadError for an error line). */
export function parseDockerLoadOutput(body: string): DockerLoadResult {
  const r = new DockerLoadResponse();
  r.push(body);
  return r.end();
}

function apiErrorMessage(status: number | undefined, body: string): string {
  let msg = body.trim();
  try {
    const j = JSON.parse(msg) as { message?: string };
    if (j && typeof j.message === 'string') msg = j.message;
  } catch {
    /* not JSON */
  }
  return `HTTP ${status ?? '?'}${msg ? `: ${msg.slice(0, 2000)}` : ''}`;
}

/**
 * One Docker API request with a small body; resolves with the status and body text.
 * (Used for GET /info; the load streams its body instead.)
 */
export async function dockerApiRequest(
  endpoint: DockerEndpoint,
  method: string,
  path: string,
  opts: DockerApiOptions & { body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  const conn = await openConnection(endpoint, opts);
  return new Promise((resolvePromise, reject) => {
    const req = http.request({
      method,
      path,
      headers: { Host: 'docker', ...(opts.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers },
      createConnection: () => conn as unknown as import('node:net').Socket,
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`the Docker engine at ${describeEndpoint(endpoint)} did not answer ${method} ${path} within ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s`));
    }, opts.timeoutMs ?? 60_000);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        clearTimeout(timer);
        conn.destroy();
        resolvePromise({ status: res.statusCode ?? 0, body });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      conn.destroy();
      reject(e);
    });
    req.end(opts.body);
  });
}

/** GET /info of the engine (parsed JSON). */
export async function dockerInfo(endpoint: DockerEndpoint, opts: DockerApiOptions = {}): Promise<Record<string, unknown>> {
  let res: { status: number; body: string };
  try {
    res = await dockerApiRequest(endpoint, 'GET', '/info', opts);
  } catch (e) {
    if (e instanceof CopaError) throw e;
    throw new CopaError('image', `cannot reach the Docker engine at ${describeEndpoint(endpoint)}: ${(e as Error).message}`, { cause: e });
  }
  if (res.status !== 200) throw new CopaError('image', `the Docker engine at ${describeEndpoint(endpoint)} answered GET /info with ${apiErrorMessage(res.status, res.body)}`);
  try {
    return JSON.parse(res.body) as Record<string, unknown>;
  } catch (e) {
    throw new CopaError('image', `the Docker engine at ${describeEndpoint(endpoint)} sent an invalid GET /info answer: ${(e as Error).message}`);
  }
}

/** Whether an engine's /info says it uses the containerd image store. */
export function infoUsesContainerdStore(info: Record<string, unknown>): boolean {
  const ds = info.DriverStatus;
  if (!Array.isArray(ds)) return false;
  return ds.some((p) => Array.isArray(p) && p[0] === 'driver-type' && p[1] === 'io.containerd.snapshotter.v1');
}

/** True when the engine stores images in containerd (then load OCI tarballs, as buildx does). */
export async function engineUsesContainerdStore(endpoint: DockerEndpoint, opts: DockerApiOptions = {}): Promise<boolean> {
  return infoUsesContainerdStore(await dockerInfo(endpoint, opts));
}

/**
 * The upload of one tarball into the engine, as a Writable: write the tar, end() it; 'finish'
 * is emitted only after the engine answered and the load succeeded (`result` is then set);
 * a refused or failed load is an 'error'. destroy() aborts the upload (nothing is loaded).
 */
export class DockerLoadStream extends Writable {
  result: DockerLoadResult | undefined;
  private readonly req: http.ClientRequest;
  private readonly response: Promise<DockerLoadResult>;
  /** Set when the engine answered (with success or failure) before the upload ended. */
  private early: { ok: true; result: DockerLoadResult } | { ok: false; error: Error } | undefined;
  private uploadError: Error | undefined;
  private drainWaiter: ((err?: Error) => void) | undefined;

  private constructor(
    private readonly conn: Duplex,
    private readonly where: string,
    opts: DockerLoadOptions,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    const quiet = opts.quiet !== false;
    this.req = http.request({
      method: 'POST',
      path: `/images/load?quiet=${quiet ? '1' : '0'}`,
      headers: { Host: 'docker', 'Content-Type': 'application/x-tar' },
      createConnection: () => conn as unknown as import('node:net').Socket,
    });
    this.req.on('drain', () => this.release());
    this.response = new Promise<DockerLoadResult>((resolveRes, rejectRes) => {
      this.req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const parser = new DockerLoadResponse(opts.onMessage);
        let raw = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (status >= 200 && status < 300) parser.push(d);
          else if (raw.length < 8192) raw += d;
        });
        res.on('end', () => {
          let outcome: { ok: true; result: DockerLoadResult } | { ok: false; error: Error };
          if (status < 200 || status >= 300) {
            outcome = { ok: false, error: new DockerLoadError(`docker load into ${this.where} was refused: ${apiErrorMessage(status, raw)}`) };
          } else {
            try {
              outcome = { ok: true, result: parser.end() };
            } catch (e) {
              outcome = { ok: false, error: e as Error };
            }
          }
          if (!this.writableFinished && !this.writableEnded) this.early = outcome;
          // No agent keeps the connection: close it (the load is decided either way).
          this.conn.destroy();
          if (outcome.ok) resolveRes(outcome.result);
          else {
            this.release(outcome.error);
            rejectRes(outcome.error);
          }
        });
        res.on('error', (e) => rejectRes(this.uploadFailure(e)));
      });
      this.req.on('error', (e) => {
        const err = this.uploadFailure(e);
        this.uploadError = err;
        this.release(err);
        rejectRes(err);
      });
    });
    this.response.catch(() => undefined);
  }

  /** Connects to the engine and starts the request (headers are sent with the first chunk). */
  static async open(endpoint: DockerEndpoint, opts: DockerLoadOptions = {}): Promise<DockerLoadStream> {
    const where = describeEndpoint(endpoint);
    let conn: Duplex;
    try {
      conn = await openConnection(endpoint, opts);
    } catch (e) {
      if (e instanceof CopaError) throw e;
      throw new DockerLoadError(`cannot connect to the Docker engine at ${where} to load the image: ${(e as Error).message}`, { cause: e });
    }
    return new DockerLoadStream(conn, where, opts);
  }

  private uploadFailure(e: Error): Error {
    if (e instanceof CopaError) return e;
    if (this.early && !this.early.ok) return this.early.error;
    return new DockerLoadError(`uploading the image to the Docker engine at ${this.where} failed: ${e.message}`, { cause: e });
  }

  private release(err?: Error): void {
    const w = this.drainWaiter;
    this.drainWaiter = undefined;
    w?.(err);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.early) {
      // The engine already answered: a failure ends the upload; after a success the rest
      // (end-of-archive padding) is not needed.
      cb(this.early.ok ? null : this.early.error);
      return;
    }
    if (this.uploadError) {
      cb(this.uploadError);
      return;
    }
    if (this.req.write(chunk)) {
      cb();
      return;
    }
    this.drainWaiter = (err) => cb(err ?? (this.early && !this.early.ok ? this.early.error : null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.early) this.req.end();
    this.response.then(
      (r) => {
        this.result = r;
        cb();
      },
      (e: Error) => cb(e),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.result) {
      // Abort: the engine sees a body without its terminating chunk and discards it.
      this.req.destroy(err ?? new Error('docker load aborted'));
    }
    this.release(err ?? new Error('docker load aborted'));
    cb(err);
  }
}

/** Loads a tarball from any byte source; resolves with what the engine reported. A failing source or an abort signal aborts the upload. */
export async function loadImageTarball(
  endpoint: DockerEndpoint,
  source: Readable | AsyncIterable<Uint8Array>,
  opts: DockerLoadOptions & { signal?: AbortSignal } = {},
): Promise<DockerLoadResult> {
  const w = await DockerLoadStream.open(endpoint, opts);
  await pipeline(source, w, opts.signal ? { signal: opts.signal } : {});
  return w.result!;
}

export interface DockerLoadTargetOptions extends DockerLoadOptions {
  /** "docker" or "oci": which exporter's tarball this target receives (informational). */
  format?: 'docker' | 'oci';
}

/** A FileSend target that streams the exporter's tarball into the engine. Single use. */
export function createDockerLoadTarget(endpoint: DockerEndpoint, opts: DockerLoadTargetOptions = {}): ExportTarget<DockerLoadResult> {
  const where = describeEndpoint(endpoint);
  const d = deferred<DockerLoadResult>();
  let stream: DockerLoadStream | null = null;
  let opened = false;
  let cancelled: Error | null = null;
  return {
    describe: `docker load into ${where}`,
    get opened() {
      return opened;
    },
    result: d.promise,
    async open() {
      if (cancelled) throw cancelled;
      if (opened) throw new CopaError('internal', `the docker load output into ${where} was already used once`);
      opened = true;
      try {
        stream = await DockerLoadStream.open(endpoint, opts);
      } catch (e) {
        d.reject(e);
        throw e;
      }
      const s = stream;
      s.once('finish', () => d.resolve(s.result!));
      s.once('error', (e) => d.reject(e));
      s.once('close', () => {
        if (!d.settled()) d.reject(cancelled ?? new DockerLoadError(`docker load into ${where} was aborted`));
      });
      if (cancelled) s.destroy(cancelled);
      return s;
    },
    cancel(reason) {
      if (d.settled()) return;
      cancelled = reason ?? new DockerLoadError(`docker load into ${where} was cancelled`);
      if (stream) stream.destroy(cancelled);
      else d.reject(cancelled);
    },
  };
}

