// Merges BuildKit status updates into per-step state. Vertices arrive many times (queued,
// started, completed) and are merged by digest; a step gets its number (#N) when it first starts.
import { formatLogOffset, sanitize } from './format.js';
import { toDate, toNumber, type StatusResponse, type StatusVertexStatus } from './types.js';

export interface StatusState {
  id: string;
  name: string;
  current: number;
  total: number;
  timestamp?: Date;
  started?: Date;
  completed?: Date;
}

export interface LogLine {
  /** Offset from the step's start, formatted ("0.123"). */
  offset: string;
  text: string;
}

export interface VertexState {
  digest: string;
  name: string;
  /** #N; 0 until the step starts. */
  index: number;
  cached: boolean;
  started?: Date;
  completed?: Date;
  error: string;
  statuses: Map<string, StatusState>;
  /** Status IDs in the order they started. */
  statusOrder: string[];
  /** Status IDs updated since the last drain. */
  statusUpdates: Set<string>;
  /** Complete log lines not yet printed (plain mode). */
  pendingLogs: LogLine[];
  /** An incomplete last line (no newline yet). */
  partial: string;
  partialOffset: string;
  /** The last log lines (for the error dump and the TTY view). */
  tail: string[];
  /** Warnings not yet printed. */
  pendingWarnings: Array<{ short: string; detail: string[]; url: string }>;
  warningCount: number;
  /** Completion not yet reported (plain mode). */
  completionPending: boolean;
}

const TAIL_LINES = 10;

export class Trace {
  readonly byDigest = new Map<string, VertexState>();
  /** Started steps in start order. */
  readonly order: VertexState[] = [];
  /** Local clock minus BuildKit's clock, fixed when the first step starts. */
  clockOffsetMs: number | undefined;
  private count = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private get(digest: string, name = ''): VertexState {
    let v = this.byDigest.get(digest);
    if (!v) {
      v = {
        digest,
        name,
        index: 0,
        cached: false,
        error: '',
        statuses: new Map(),
        statusOrder: [],
        statusUpdates: new Set(),
        pendingLogs: [],
        partial: '',
        partialOffset: '',
        tail: [],
        pendingWarnings: [],
        warningCount: 0,
        completionPending: false,
      };
      this.byDigest.set(digest, v);
    }
    return v;
  }

  /** Applies one update; returns the digests it touched, in first-touch order. */
  apply(ss: StatusResponse): string[] {
    const touched = new Set<string>();
    for (const vx of ss.vertexes ?? []) {
      if (!vx?.digest) continue;
      const v = this.get(vx.digest, vx.name);
      const started = toDate(vx.started);
      const completed = toDate(vx.completed);
      const wasCompleted = v.completed !== undefined;
      if (vx.name) v.name = vx.name;
      // A queued copy (no start time) must not reset a running step.
      if (!started && v.started) continue;
      if (started && !v.started) {
        v.index = ++this.count;
        this.order.push(v);
        if (this.clockOffsetMs === undefined) this.clockOffsetMs = this.now() - started.getTime();
      }
      if (started) v.started = started;
      const changed = (completed !== undefined) !== wasCompleted || Boolean(vx.cached) !== v.cached || (vx.error ?? '') !== v.error;
      v.cached = Boolean(vx.cached);
      v.error = vx.error ?? '';
      if (completed) v.completed = completed;
      else delete v.completed;
      if (completed && (changed || !wasCompleted)) v.completionPending = true;
      touched.add(v.digest);
    }
    for (const s of ss.statuses ?? []) {
      if (!s?.vertex) continue;
      const v = this.get(s.vertex);
      this.applyStatus(v, s);
      touched.add(v.digest);
    }
    for (const l of ss.logs ?? []) {
      if (!l?.vertex) continue;
      const v = this.get(l.vertex);
      const ts = toDate(l.timestamp);
      const offset = formatLogOffset(ts && v.started ? ts.getTime() - v.started.getTime() : 0);
      const text = Buffer.from(l.msg ?? new Uint8Array()).toString('utf8');
      const parts = text.split('\n');
      for (let i = 0; i < parts.length; i++) {
        const last = i === parts.length - 1;
        if (last) {
          // After the final newline: the start of an incomplete line (or nothing).
          if (parts[i] !== '') {
            if (v.partial === '') v.partialOffset = offset;
            v.partial += parts[i];
          }
          break;
        }
        let line = parts[i]!;
        let lineOffset = offset;
        if (i === 0 && v.partial !== '') {
          line = v.partial + line;
          lineOffset = v.partialOffset;
          v.partial = '';
        }
        const clean = sanitize(line.replace(/\r$/, ''));
        v.pendingLogs.push({ offset: lineOffset, text: clean });
        v.tail.push(clean);
        if (v.tail.length > TAIL_LINES) v.tail.shift();
      }
      touched.add(v.digest);
    }
    for (const w of ss.warnings ?? []) {
      if (!w?.vertex) continue;
      const v = this.get(w.vertex);
      v.pendingWarnings.push({
        short: sanitize(Buffer.from(w.short ?? new Uint8Array()).toString('utf8')),
        detail: (w.detail ?? []).flatMap((d) => Buffer.from(d).toString('utf8').split('\n').map(sanitize)),
        url: w.url ?? '',
      });
      v.warningCount++;
      touched.add(v.digest);
    }
    return [...touched];
  }

  private applyStatus(v: VertexState, s: StatusVertexStatus): void {
    const id = s.ID;
    let st = v.statuses.get(id);
    if (!st) {
      st = { id, name: s.name ?? '', current: 0, total: 0 };
      v.statuses.set(id, st);
    }
    const started = toDate(s.started);
    if (started && !st.started) v.statusOrder.push(id);
    st.name = s.name ?? st.name;
    st.current = toNumber(s.current);
    st.total = toNumber(s.total);
    const ts = toDate(s.timestamp);
    if (ts) st.timestamp = ts;
    if (started) st.started = started;
    const completed = toDate(s.completed);
    if (completed) st.completed = completed;
    v.statusUpdates.add(id);
  }

  /** Moves an incomplete log line into pendingLogs (a step ended or output switches away). */
  flushPartial(v: VertexState): void {
    if (v.partial === '') return;
    const clean = sanitize(v.partial);
    v.pendingLogs.push({ offset: v.partialOffset, text: clean });
    v.tail.push(clean);
    if (v.tail.length > TAIL_LINES) v.tail.shift();
    v.partial = '';
  }

  /** Steps that failed (not cancelled). */
  failed(): VertexState[] {
    return this.order.filter((v) => v.error !== '' && !isCanceled(v.error));
  }

  /** Local time of a BuildKit timestamp. */
  local(d: Date): number {
    return d.getTime() + (this.clockOffsetMs ?? 0);
  }
}

export function isCanceled(error: string): boolean {
  return /context canceled$/.test(error);
}

/** The error dump printed at the end for failed steps: their last log lines. */
export function errorLogBlock(trace: Trace): string {
  let out = '';
  for (const v of trace.failed()) {
    trace.flushPartial(v);
    out += '------\n';
    out += ` > ${sanitize(v.name)}:\n`;
    for (const l of v.tail) out += `${l}\n`;
    out += '------\n';
  }
  return out;
}
