// BuildKit progress as the renderers see it: moby.buildkit.v1.StatusResponse after protobuf
// decoding. Timestamps are Dates (or absent); int64 counters may arrive as number, bigint,
// string or a Long-like object, so renderers read them through toNumber().

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'rawjson' | 'quiet';
export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'tty', 'plain', 'rawjson', 'quiet'];

export type Int64Like = number | bigint | string | { toNumber(): number } | null | undefined;
export type TimeLike = Date | null | undefined;

export interface StatusVertex {
  digest: string;
  inputs?: string[];
  name: string;
  cached?: boolean;
  started?: TimeLike;
  completed?: TimeLike;
  error?: string;
}

export interface StatusVertexStatus {
  ID: string;
  vertex: string;
  name?: string;
  current?: Int64Like;
  total?: Int64Like;
  timestamp?: TimeLike;
  started?: TimeLike;
  completed?: TimeLike;
}

export interface StatusVertexLog {
  vertex: string;
  timestamp?: TimeLike;
  /** 1 = stdout, 2 = stderr. */
  stream?: Int64Like;
  msg: Uint8Array;
}

export interface StatusVertexWarning {
  vertex: string;
  level?: Int64Like;
  short?: Uint8Array;
  detail?: Uint8Array[];
  url?: string;
}

export interface StatusResponse {
  vertexes?: StatusVertex[];
  statuses?: StatusVertexStatus[];
  logs?: StatusVertexLog[];
  warnings?: StatusVertexWarning[];
}

/** A progress display. update() may be called any number of times; done() once at the end. */
export interface ProgressDisplay {
  readonly mode: Exclude<ProgressMode, 'auto'>;
  update(status: StatusResponse): void;
  /** Flushes, prints the logs of failed steps, and restores the terminal. */
  done(): void;
  /** Prints a line of our own (a message outside any BuildKit step) without breaking the display. */
  log(line: string): void;
}

export function toNumber(v: Int64Like): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') return Number(v) || 0;
  return v.toNumber();
}

export function toDate(v: TimeLike): Date | undefined {
  return v instanceof Date && !Number.isNaN(v.getTime()) ? v : undefined;
}
