// moby.filesync.v1.FileSend/DiffCopy, file-target form: how BuildKit hands an exporter's
// tarball (docker/oci/tar exporters, tar=true) back to the client.
//
// The daemon is the *client* of this RPC. It opens one call per exporter, with the metadata
//   buildkit-attachable-exporter-id: <exporter index in SolveRequest.Exporters>  (missing = 0)
//   exporter-md-<key>: <value>       (the exporter response so far, e.g. containerimage.digest)
// then streams BytesMessage{data} chunks of the tar, half-closes, and waits for us to end the
// call. We end it OK only after the target's Writable finished (so a docker load or a
// directory rename is complete when the daemon's export, and Solve, return), and with an
// error status when writing failed. Returning ALREADY_EXISTS means "target already exists",
// which the daemon treats as success.
//
// The method is served with raw-bytes (de)serializers: the same RPC carries fsutil packets
// for directory targets (not implemented here), and we decode BytesMessage ourselves.
import { finished, type Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { sessionMethod, type SessionService } from '../../llb/grpc/session.js';
import { SESSION_METHODS } from '../../llb/proto/session.js';

/** Metadata key naming the exporter (its index in SolveRequest.Exporters). */
export const EXPORTER_ID_METADATA = 'buildkit-attachable-exporter-id';
/** Prefix of the exporter-response metadata keys. */
export const EXPORTER_MD_PREFIX = 'exporter-md-';

/** Where one exporter's tarball goes. */
export interface FileSendTarget {
  /**
   * Called when the daemon starts sending this exporter's output, with the exporter-md-*
   * metadata (prefix removed; repeated values joined with ","). Resolve with the Writable the
   * tar bytes are written to; its 'finish' (or 'close', for streams that emit it) must mean
   * "fully stored". Resolve with null to answer "target already exists" (the daemon treats
   * that as success). A rejection fails the export with that message.
   */
  open(md: Record<string, string>): Promise<Writable | null>;
}

/** Targets by exporter index. Looked up when the daemon calls, so it may be filled after the session started. */
export type FileSendTargets = ReadonlyMap<number, FileSendTarget> | Readonly<Record<number, FileSendTarget>>;

export interface FileSendServiceOptions {
  /** Non-fatal problems (a call for an exporter nobody registered, a failed write). */
  warn?: (message: string) => void;
  /** Progress: bytes received so far for an exporter. */
  onProgress?: (exporterId: number, bytes: number) => void;
}

/** An error whose gRPC status code should be reported to the daemon (default UNKNOWN). */
export interface ErrorWithGrpcCode extends Error {
  grpcCode?: number;
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint in BytesMessage');
    const b = buf[pos++]!;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [result, pos];
    mul *= 128;
  }
  throw new Error('malformed varint in BytesMessage');
}

/** Decodes moby.filesync.v1.BytesMessage{bytes data = 1} without copying. */
export function decodeBytesMessage(buf: Buffer): Buffer {
  let data: Buffer = Buffer.alloc(0);
  let pos = 0;
  while (pos < buf.length) {
    let tag: number;
    [tag, pos] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    switch (wire) {
      case 0:
        [, pos] = readVarint(buf, pos);
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        let len: number;
        [len, pos] = readVarint(buf, pos);
        if (pos + len > buf.length) throw new Error('truncated BytesMessage');
        if (field === 1) data = buf.subarray(pos, pos + len);
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new Error(`unexpected wire type ${wire} in BytesMessage`);
    }
    if (pos > buf.length) throw new Error('truncated BytesMessage');
  }
  return data;
}

/** Encodes BytesMessage{data} (used by tests and fakes of the daemon side). */
export function encodeBytesMessage(data: Uint8Array): Buffer {
  const lenBytes: number[] = [];
  let n = data.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    lenBytes.push(b);
  } while (n > 0);
  if (data.length === 0) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([0x0a, ...lenBytes]), data]);
}

/** The exporter id from call metadata, as the daemon's own chooser reads it (missing or invalid = 0). */
export function exporterIdOf(md: grpc.Metadata): number {
  const v = md.get(EXPORTER_ID_METADATA)[0];
  if (typeof v !== 'string' || !/^-?[0-9]+$/.test(v.trim())) return 0;
  const n = Number(v.trim());
  return Number.isSafeInteger(n) ? n : 0;
}

/** exporter-md-* metadata → { key: value } (prefix removed, repeated values joined with ","). */
export function exporterMetadataOf(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(md.getMap())) {
    if (!key.startsWith(EXPORTER_MD_PREFIX) || key.endsWith('-bin')) continue;
    out[key.slice(EXPORTER_MD_PREFIX.length)] = md
      .get(key)
      .map((v) => String(v))
      .join(',');
  }
  return out;
}

function lookup(targets: FileSendTargets, id: number): FileSendTarget | undefined {
  if (targets instanceof Map) return targets.get(id);
  return (targets as Readonly<Record<number, FileSendTarget>>)[id];
}

function statusOf(err: unknown, fallback: string): { code: number; details: string } {
  const e = err as ErrorWithGrpcCode | undefined;
  const code = typeof e?.grpcCode === 'number' ? e.grpcCode : grpc.status.UNKNOWN;
  const details = e instanceof Error ? e.message : err ? String(err) : fallback;
  return { code, details };
}

interface MaybeHttp2Stream {
  rstCode?: number;
  aborted?: boolean;
  destroyed?: boolean;
}

/** The HTTP/2 stream under a grpc-js server call, when this grpc-js version exposes it. */
function http2StreamOf(call: grpc.ServerDuplexStream<Buffer, Buffer>): MaybeHttp2Stream | undefined {
  const inner = (call as unknown as { call?: { stream?: unknown } }).call;
  const s = inner?.stream;
  return s && typeof s === 'object' && 'rstCode' in s ? (s as MaybeHttp2Stream) : undefined;
}

/**
 * Resolves true when the end of input was a half-close (END_STREAM), false when the stream
 * was reset. Reads the HTTP/2 stream's rstCode where reachable; otherwise waits a moment
 * for grpc-js to report the cancellation.
 */
function confirmHalfClose(call: grpc.ServerDuplexStream<Buffer, Buffer>): Promise<boolean> {
  const reset = (): boolean => {
    if (call.cancelled) return true;
    const s = http2StreamOf(call);
    return Boolean(s && (s.aborted || (s.rstCode !== undefined && s.rstCode !== 0)));
  };
  if (reset()) return Promise.resolve(false);
  const delay = http2StreamOf(call) ? 0 : 25;
  return new Promise((resolve) => setImmediate(() => setTimeout(() => resolve(!reset()), delay)));
}

/** The FileSend service for a BuildKitSession (`services: [fileSendService(targets)]`). */
export function fileSendService(targets: FileSendTargets, opts: FileSendServiceOptions = {}): SessionService {
  const warn = opts.warn ?? (() => {});
  const diffCopy = (call: grpc.ServerDuplexStream<Buffer, Buffer>): void => {
    const id = exporterIdOf(call.metadata);
    const target = lookup(targets, id);
    let settled = false;
    const fail = (code: number, details: string): void => {
      if (settled) return;
      settled = true;
      call.pause();
      // ServerDuplexStream turns an 'error' event into the call's status.
      call.emit('error', { code, details });
    };
    if (!target) {
      warn(`BuildKit sent output for exporter ${id}, but no output target is registered for it`);
      fail(grpc.status.NOT_FOUND, `exporter ${id} not found`);
      return;
    }
    const md = exporterMetadataOf(call.metadata);
    let writable: Writable | null = null;
    let cancelled = false;
    call.on('cancelled', () => {
      cancelled = true;
      settled = true;
      // The daemon gave up (build failed or cancelled mid-export): abort the target so it
      // discards the partial output (e.g. the docker load request is destroyed).
      writable?.destroy(new Error(`BuildKit cancelled the export of output ${id}`));
    });
    // Hold incoming messages until the target is open.
    call.pause();

    target.open(md).then(
      (w) => {
        if (cancelled) {
          w?.destroy(new Error(`BuildKit cancelled the export of output ${id}`));
          return;
        }
        if (w === null) {
          fail(grpc.status.ALREADY_EXISTS, 'target already exists');
          return;
        }
        writable = w;
        let received = 0;
        let waitingDrain = false;
        w.on('drain', () => {
          if (waitingDrain) {
            waitingDrain = false;
            if (!settled) call.resume();
          }
        });
        finished(w, (err) => {
          if (settled) return;
          if (err) {
            const s = statusOf(err, 'writing the output failed');
            warn(`output ${id}: ${s.details}`);
            fail(s.code, s.details);
            return;
          }
          settled = true;
          call.end(); // status OK
        });
        call.on('data', (msg: Buffer) => {
          if (settled) return;
          let data: Buffer;
          try {
            data = decodeBytesMessage(msg);
          } catch (e) {
            const details = `output ${id}: ${(e as Error).message}`;
            w.destroy(new Error(details));
            fail(grpc.status.INVALID_ARGUMENT, details);
            return;
          }
          if (data.length === 0) return;
          received += data.length;
          opts.onProgress?.(id, received);
          if (!w.write(data) && !waitingDrain) {
            waitingDrain = true;
            call.pause();
          }
        });
        call.on('end', () => {
          if (settled) return;
          // grpc-js reports a reset stream (the daemon cancelled) as an end of input first and
          // as 'cancelled' a moment later: make sure this is a real half-close before the
          // target commits a possibly truncated tarball.
          void confirmHalfClose(call).then((ok) => {
            if (settled) return;
            if (ok) w.end();
            else {
              cancelled = true;
              settled = true;
              w.destroy(new Error(`BuildKit cancelled the export of output ${id}`));
            }
          });
        });
        call.resume();
      },
      (err: unknown) => {
        const s = statusOf(err, 'cannot open the output target');
        warn(`output ${id}: ${s.details}`);
        fail(s.code, s.details);
      },
    );
  };

  return {
    definition: {
      DiffCopy: sessionMethod(SESSION_METHODS.fileSendDiffCopy, null, null, { request: true, response: true }),
    },
    implementation: {
      DiffCopy: diffCopy as grpc.handleBidiStreamingCall<unknown, unknown>,
    },
  };
}
