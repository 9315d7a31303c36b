// gRPC status codes, the GrpcError type, and decoding of google.rpc.Status with the
// typed details BuildKit attaches to its errors (errdefs.* and stack.Stack) into a
// readable message.
import protobuf from 'protobufjs';
import { GOOGLE_PROTOBUF_PROTO, GOOGLE_RPC_PROTO, ERRDEFS_PROTO } from '../proto/status.js';

export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeName = keyof typeof GrpcCode;

const CODE_NAMES: string[] = [];
for (const [name, code] of Object.entries(GrpcCode)) CODE_NAMES[code] = name;

export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? `CODE_${code}`;
}

/** One decoded entry of google.rpc.Status.details. */
export type StatusDetail =
  | {
      kind: 'solve';
      inputIDs: string[];
      mountIDs: string[];
      /** The failing op as BuildKit sent it (JSON form of pb.Op), when present. */
      op?: unknown;
      /** Command line of a failing exec op, when the op is an exec. */
      args?: string[];
      description: Record<string, string>;
    }
  | { kind: 'vertex'; digest: string }
  | {
      kind: 'source';
      filename?: string;
      language?: string;
      ranges: Array<{ startLine: number; endLine: number }>;
    }
  | { kind: 'frontend'; name: string; source: string }
  | { kind: 'frontendCap'; name: string }
  | { kind: 'subrequest'; name: string }
  | { kind: 'stack' }
  /** gatewayapi.ExitMessage: the exit code of a failed exec (BuildKit ≥ v0.9). */
  | { kind: 'exit'; exitCode: number }
  | { kind: 'unknown'; typeUrl: string; value: Uint8Array };

export interface DecodedStatus {
  code: number;
  message: string;
  details: StatusDetail[];
}

/** A failed gRPC call. `message` is readable (includes BuildKit's error context). */
export class GrpcError extends Error {
  /** The raw grpc-message (percent-decoded). */
  readonly grpcMessage: string;
  readonly details: StatusDetail[];
  constructor(
    readonly code: number,
    grpcMessage: string,
    details: StatusDetail[] = [],
    /** Response headers + trailers of the failed call, when it got that far. */
    readonly metadata: Record<string, string | string[]> = {},
    options?: { cause?: unknown; method?: string },
  ) {
    super(formatStatus({ code, message: grpcMessage, details }), options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'GrpcError';
    this.grpcMessage = grpcMessage;
    this.details = details;
    if (options?.method) this.method = options.method;
  }
  /** The gRPC method path, when known. */
  method?: string;
  get codeName(): string {
    return grpcCodeName(this.code);
  }
}

// ---------------------------------------------------------------------------------------
// protobuf decoding

let statusRoot: protobuf.Root | undefined;
/** A private root for Status decoding so errors decode even if the shared Root is incomplete. */
function root(): protobuf.Root {
  if (!statusRoot) {
    const r = new protobuf.Root();
    for (const src of [GOOGLE_PROTOBUF_PROTO, GOOGLE_RPC_PROTO, ERRDEFS_PROTO]) protobuf.parse(src, r, { keepCase: true });
    r.resolveAll();
    statusRoot = r;
  }
  return statusRoot;
}

interface RawAny {
  type_url: string;
  value: Uint8Array;
}
interface RawStatus {
  code: number;
  message: string;
  details: RawAny[];
}

/** Decode google.rpc.Status bytes (e.g. grpc-status-details-bin) with typed details. */
export function decodeStatus(bytes: Uint8Array): DecodedStatus {
  const T = root().lookupType('google.rpc.Status');
  const raw = T.toObject(T.decode(bytes), { defaults: true, arrays: true }) as RawStatus;
  return {
    code: raw.code,
    message: raw.message,
    details: raw.details.map((d) => decodeDetail(d.type_url, d.value)),
  };
}

/** Encode a google.rpc.Status (used by Return(error) and tests). */
export function encodeStatus(status: { code: number; message: string; details?: Array<{ typeUrl: string; value: Uint8Array }> }): Uint8Array {
  const T = root().lookupType('google.rpc.Status');
  return T.encode(
    T.create({
      code: status.code,
      message: status.message,
      details: (status.details ?? []).map((d) => ({ type_url: d.typeUrl, value: d.value })),
    }),
  ).finish();
}

/** Encode an errdefs message in protobuf form (tests; BuildKit itself sends JSON). */
export function encodeErrdefsProto(name: 'Vertex' | 'Frontend' | 'FrontendCap' | 'Subrequest' | 'Solve', obj: Record<string, unknown>): Uint8Array {
  const T = root().lookupType(`errdefs.${name}`);
  return T.encode(T.fromObject(obj)).finish();
}

function typeName(typeUrl: string): { name: string; json: boolean } {
  let name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  let json = false;
  if (name.endsWith('+json')) {
    json = true;
    name = name.slice(0, -5);
  }
  return { name, json };
}

function looksLikeJson(value: Uint8Array): boolean {
  for (const b of value) {
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
    return b === 0x7b; // '{'
  }
  return false;
}

/** Case-insensitive property read (Go's encoding/json also matches case-insensitively). */
function prop(obj: unknown, ...names: string[]): unknown {
  if (!obj || typeof obj !== 'object') return undefined;
  const rec = obj as Record<string, unknown>;
  for (const n of names) if (n in rec) return rec[n];
  const lower = names.map((n) => n.toLowerCase());
  for (const [k, v] of Object.entries(rec)) if (lower.includes(k.toLowerCase())) return v;
  return undefined;
}
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' ? Number(v) || 0 : 0);
function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = str(x);
  return out;
}

/** Find the exec args inside a JSON-encoded pb.Op: {…, "Op": {"exec": {"meta": {"args": […]}}}}. */
function execArgs(op: unknown): string[] | undefined {
  const inner = prop(op, 'Op', 'op');
  const candidates = [inner, op];
  for (const c of candidates) {
    const exec = prop(c, 'exec', 'Exec');
    const meta = prop(exec, 'meta', 'Meta');
    const args = prop(meta, 'args', 'Args');
    if (Array.isArray(args)) return strs(args);
  }
  return undefined;
}

export function decodeDetail(typeUrl: string, value: Uint8Array): StatusDetail {
  const { name, json } = typeName(typeUrl);
  const unknown: StatusDetail = { kind: 'unknown', typeUrl, value };
  if (name === 'stack.Stack') return { kind: 'stack' };
  if (name === 'gatewayapi.ExitMessage') {
    try {
      const obj: unknown = JSON.parse(Buffer.from(value).toString('utf8'));
      return { kind: 'exit', exitCode: num(prop(obj, 'Code', 'code')) };
    } catch {
      return unknown;
    }
  }
  if (!name.startsWith('errdefs.')) return unknown;
  const short = name.slice('errdefs.'.length);
  try {
    let obj: unknown;
    if (json || looksLikeJson(value)) {
      obj = JSON.parse(Buffer.from(value).toString('utf8'));
    } else {
      const T = root().lookupTypeOrEnum(`errdefs.${short}`) as protobuf.Type;
      obj = T.toObject(T.decode(value), { defaults: true, arrays: true, objects: true, longs: Number });
    }
    switch (short) {
      case 'Vertex':
        return { kind: 'vertex', digest: str(prop(obj, 'digest')) };
      case 'Frontend':
        return { kind: 'frontend', name: str(prop(obj, 'name')), source: str(prop(obj, 'source')) };
      case 'FrontendCap':
        return { kind: 'frontendCap', name: str(prop(obj, 'name')) };
      case 'Subrequest':
        return { kind: 'subrequest', name: str(prop(obj, 'name')) };
      case 'Source': {
        const info = prop(obj, 'info');
        const ranges = prop(obj, 'ranges');
        return {
          kind: 'source',
          filename: str(prop(info, 'filename')) || undefined,
          language: str(prop(info, 'language')) || undefined,
          ranges: (Array.isArray(ranges) ? ranges : []).map((r) => ({
            startLine: num(prop(prop(r, 'start'), 'line')),
            endLine: num(prop(prop(r, 'end'), 'line')),
          })),
        };
      }
      case 'Solve': {
        const op = prop(obj, 'op');
        const detail: StatusDetail = {
          kind: 'solve',
          inputIDs: strs(prop(obj, 'inputIDs')),
          mountIDs: strs(prop(obj, 'mountIDs')),
          description: strMap(prop(obj, 'description')),
        };
        if (op !== undefined && op !== null) {
          detail.op = op;
          const args = execArgs(op);
          if (args) detail.args = args;
        }
        return detail;
      }
      default:
        return unknown;
    }
  } catch {
    return unknown;
  }
}

/**
 * A readable error message: the BuildKit message (which already reads e.g.
 * `process "/bin/sh -c apt-get install …" did not complete successfully: exit code: 100`)
 * followed by the step, vertex and frontend context found in the details.
 */
export function formatStatus(status: DecodedStatus): string {
  const { code, details } = status;
  // Like BuildKit's Go client: the code name is shown unless it is OK/UNKNOWN.
  let msg = status.message || grpcCodeName(code);
  if (code !== GrpcCode.UNKNOWN && code !== GrpcCode.OK && status.message) msg = `${grpcCodeName(code)}: ${msg}`;
  const extra: string[] = [];
  const seen = new Set<string>();
  const add = (line: string): void => {
    if (!seen.has(line) && !msg.includes(line)) {
      seen.add(line);
      extra.push(line);
    }
  };
  let stepName: string | undefined;
  let digest: string | undefined;
  for (const d of details) {
    switch (d.kind) {
      case 'solve': {
        stepName ??= d.description['llb.customname'] || d.description['com.docker.dockerfile.v1.command'] || undefined;
        if (!stepName && d.args?.length) stepName = d.args.join(' ');
        break;
      }
      case 'vertex':
        digest ??= d.digest || undefined;
        break;
      case 'source':
        if (d.filename) {
          const r = d.ranges[0];
          add(`at ${d.filename}${r ? `:${r.startLine}${r.endLine && r.endLine !== r.startLine ? `-${r.endLine}` : ''}` : ''}`);
        }
        break;
      case 'frontend':
        add(`in frontend ${d.name}${d.source ? ` (${d.source})` : ''}`);
        break;
      case 'frontendCap':
        add(`frontend capability not supported: ${d.name}`);
        break;
      case 'subrequest':
        add(`subrequest: ${d.name}`);
        break;
      default:
        break;
    }
  }
  if (stepName || digest) {
    extra.unshift(`in step: ${stepName ?? '(unnamed)'}${digest ? ` [${digest}]` : ''}`);
  }
  return extra.length ? `${msg}\n  ${extra.join('\n  ')}` : msg;
}

/** The exit code of a failed exec step, when the error carries one. */
export function exitCodeOf(err: unknown): number | undefined {
  if (!(err instanceof GrpcError)) return undefined;
  for (const d of err.details) if (d.kind === 'exit') return d.exitCode;
  return undefined;
}

/** Convenience: decode grpc-status-details-bin bytes, falling back to code+message. */
export function statusFromTrailers(code: number, message: string, detailsBin?: Uint8Array): DecodedStatus {
  if (detailsBin && detailsBin.length) {
    try {
      const st = decodeStatus(detailsBin);
      // The header fields are authoritative for code and message (gRPC spec).
      return { code, message: message || st.message, details: st.details };
    } catch {
      /* fall through: undecodable details */
    }
  }
  return { code, message, details: [] };
}
