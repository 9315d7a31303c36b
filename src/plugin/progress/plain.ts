// Plain progress, as buildx/buildctl print it (--progress=plain):
//
//   #1 [internal] load metadata for docker.io/library/debian:12
//   #1 DONE 0.5s
//
//   #2 apt-get install
//   #2 0.215 Reading package lists...
//   #2 sha256:ab12… 1.05MB / 3.15MB 0.4s
//   #2 ...
//
//   #3 other step
//   #3 CACHED
//
// A step's number is given when it first starts; its header repeats when output switches back
// to it; "#N ..." marks a step left while still running.
import { formatBytes, sanitize } from './format.js';
import { errorLogBlock, isCanceled, Trace, type VertexState } from './trace.js';
import type { ProgressDisplay, StatusResponse } from './types.js';

const MIN_PROGRESS_DELTA = 0.05;
const MIN_TIME_DELTA_MS = 5000;

export interface Writer {
  write(s: string): unknown;
}

export class PlainDisplay implements ProgressDisplay {
  readonly mode = 'plain' as const;
  readonly trace: Trace;
  private current = '';
  private notFirst = false;
  private readonly last = new Map<string, { current: number; timestamp: number }>();

  constructor(
    private readonly out: Writer,
    now: () => number = Date.now,
  ) {
    this.trace = new Trace(now);
  }

  update(ss: StatusResponse): void {
    const touched = this.trace.apply(ss);
    const completed: VertexState[] = [];
    const rest: VertexState[] = [];
    for (const d of touched) {
      const v = this.trace.byDigest.get(d)!;
      if (v.index === 0) continue; // not started yet: nothing to show
      (v.completionPending ? completed : rest).push(v);
    }
    // Steps that finished are printed first (the current one before the others), then the rest.
    completed.sort((a, b) => {
      if (a.digest === this.current) return -1;
      if (b.digest === this.current) return 1;
      return (a.completed?.getTime() ?? 0) - (b.completed?.getTime() ?? 0) || a.index - b.index;
    });
    rest.sort((a, b) => (a.digest === this.current ? -1 : b.digest === this.current ? 1 : a.index - b.index));
    for (const v of completed) this.printVertex(v);
    for (const v of rest) this.printVertex(v);
  }

  private hasOutput(v: VertexState): boolean {
    return v.pendingLogs.length > 0 || v.pendingWarnings.length > 0 || v.statusUpdates.size > 0 || v.completionPending;
  }

  private printVertex(v: VertexState): void {
    if (v.digest !== this.current) {
      // Only switch (and print a header) when there is something to say, or for a new step.
      if (!this.hasOutput(v) && v.index !== 0 && this.seen.has(v.digest)) return;
      this.leaveCurrent();
      if (this.notFirst) this.out.write('\n');
      this.notFirst = true;
      this.out.write(`#${v.index} ${sanitize(v.name)}\n`);
      this.seen.add(v.digest);
    }
    this.current = v.digest;

    for (const w of v.pendingWarnings) {
      this.out.write(`#${v.index} WARN: ${w.short}\n`);
      for (const d of w.detail) if (d.trim()) this.out.write(`#${v.index}   ${d}\n`);
      if (w.url) this.out.write(`#${v.index}   More info: ${sanitize(w.url)}\n`);
    }
    v.pendingWarnings = [];

    for (const id of v.statusUpdates) {
      const s = v.statuses.get(id);
      if (!s) continue;
      const ts = s.timestamp?.getTime() ?? 0;
      const prev = this.last.get(id);
      if (prev && !s.completed) {
        const progressDelta = s.total > 0 ? (s.current - prev.current) / s.total : 0;
        if (progressDelta < MIN_PROGRESS_DELTA && ts - prev.timestamp < MIN_TIME_DELTA_MS) continue;
      }
      this.last.set(id, { current: s.current, timestamp: ts });
      let bytes = '';
      if (s.total !== 0) bytes = ` ${formatBytes(s.current)} / ${formatBytes(s.total)}`;
      else if (s.current !== 0) bytes = ` ${formatBytes(s.current)}`;
      let tm = '';
      const end = s.completed ?? s.timestamp;
      if (s.started && end) {
        const diff = (end.getTime() - s.started.getTime()) / 1000;
        if (diff > 0.01) tm = ` ${diff.toFixed(1)}s`;
      }
      if (s.completed) tm += ' done';
      this.out.write(`#${v.index} ${sanitize(s.id)}${bytes}${tm}\n`);
    }
    v.statusUpdates.clear();

    if (v.completionPending) this.trace.flushPartial(v);
    this.printLogs(v);

    if (v.completionPending) {
      v.completionPending = false;
      this.current = '';
      if (v.error) {
        if (isCanceled(v.error)) this.out.write(`#${v.index} CANCELED\n`);
        else this.out.write(`#${v.index} ERROR: ${sanitize(v.error)}\n`);
      } else if (v.cached) {
        this.out.write(`#${v.index} CACHED\n`);
      } else {
        const tm = v.started && v.completed ? ` ${((v.completed.getTime() - v.started.getTime()) / 1000).toFixed(1)}s` : '';
        this.out.write(`#${v.index} DONE${tm}\n`);
      }
    }
  }

  private readonly seen = new Set<string>();

  private printLogs(v: VertexState): void {
    for (const l of v.pendingLogs) this.out.write(`#${v.index} ${l.offset} ${l.text}\n`);
    v.pendingLogs = [];
  }

  /** Close the step being printed ("#N ...") before printing something else. */
  private leaveCurrent(): void {
    const old = this.current !== '' ? this.trace.byDigest.get(this.current) : undefined;
    if (old) {
      this.trace.flushPartial(old);
      this.printLogs(old);
      this.out.write(`#${old.index} ...\n`);
    }
    this.current = '';
  }

  log(line: string): void {
    this.leaveCurrent();
    // Our own one-line messages, but they quote image and report values: nothing in them may steer the terminal.
    this.out.write(`${sanitize(line)}\n`);
  }

  done(): void {
    // Anything still buffered (incomplete lines of running steps).
    for (const v of this.trace.order) {
      this.trace.flushPartial(v);
      if (this.hasOutput(v)) this.printVertex(v);
    }
    const block = errorLogBlock(this.trace);
    if (block) this.out.write(block);
  }
}
