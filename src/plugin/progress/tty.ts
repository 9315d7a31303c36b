// Live terminal progress: a header with the elapsed time and step count, then the most recent
// steps (running ones with a spinner and a timer, finished ones collapsed to one line), the
// byte progress of running sub-tasks and the last lines of a running step's output. Redrawn in
// place at most ~10 times a second; fits the terminal's width and height.
import { ansi, formatBytes, padEnd, sanitize, truncate, visibleWidth } from './format.js';
import { errorLogBlock, isCanceled, Trace, type VertexState } from './trace.js';
import type { ProgressDisplay, StatusResponse } from './types.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_MS = 100;
const LOG_LINES = 6;

export interface TtyStream {
  write(s: string): unknown;
  columns?: number;
  rows?: number;
}

export interface TtyOptions {
  /** "Patching" → "[+] Patching 3.2s (4/9)". */
  phase?: string;
  now?: () => number;
  /** Disable the timer (tests drive render() themselves). */
  manual?: boolean;
  color?: boolean;
}

interface Row {
  text: string;
  color?: (s: string) => string;
}

export class TtyDisplay implements ProgressDisplay {
  readonly mode = 'tty' as const;
  readonly trace: Trace;
  private readonly now: () => number;
  private readonly startedAt: number;
  private lineCount = 0;
  private frame = 0;
  private dirty = true;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;
  private readonly color: boolean;

  constructor(
    private readonly out: TtyStream,
    private readonly opts: TtyOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.trace = new Trace(this.now);
    this.color = opts.color ?? true;
    if (!opts.manual) {
      this.timer = setInterval(() => this.tick(), FRAME_MS);
      this.timer.unref();
    }
    this.out.write(ansi.hideCursor);
  }

  private tick(): void {
    // Redraw when something changed, and every frame while steps run (timers, spinner).
    const running = this.trace.order.some((v) => !v.completed);
    if (this.dirty || running) this.render();
  }

  update(ss: StatusResponse): void {
    this.trace.apply(ss);
    // Plain-mode bookkeeping is not used here.
    for (const v of this.trace.order) {
      v.pendingLogs = [];
      v.pendingWarnings = [];
      v.statusUpdates.clear();
      v.completionPending = false;
    }
    this.dirty = true;
    if (this.opts.manual) this.render();
  }

  private size(): { width: number; height: number } {
    const width = this.out.columns && this.out.columns > 0 ? this.out.columns : 80;
    const height = this.out.rows && this.out.rows > 0 ? this.out.rows : 24;
    return { width, height };
  }

  private elapsed(v: VertexState): number {
    if (!v.started) return 0;
    const start = this.trace.local(v.started);
    const end = v.completed ? this.trace.local(v.completed) : this.now();
    const ms = end - start;
    return ms < 50 ? 0 : ms;
  }

  private paint(s: string, f: ((x: string) => string) | undefined): string {
    return this.color && f ? f(s) : s;
  }

  /** The rows to show, newest last, limited to the terminal height unless `all`. */
  rows(all: boolean): Row[] {
    const { width, height } = this.size();
    const spin = SPINNER[this.frame % SPINNER.length]!;
    const line = (prefix: string, name: string, right: string): string => {
      // Lines stay one column short of the width so the terminal never wraps them.
      const room = width - visibleWidth(prefix) - visibleWidth(right) - 3;
      const n = truncate(name, Math.max(room, 8));
      return padEnd(`${prefix}${n}`, width - visibleWidth(right) - 2) + ' ' + right;
    };
    const blocks: Array<{ rows: Row[]; running: boolean }> = [];
    for (const v of this.trace.order) {
      const running = !v.completed;
      const rows: Row[] = [];
      let label = sanitize(v.name).replace(/\s+/g, ' ');
      let color: ((s: string) => string) | undefined = ansi.blue;
      if (v.error) {
        label = (isCanceled(v.error) ? 'CANCELED ' : 'ERROR ') + label;
        color = isCanceled(v.error) ? ansi.yellow : ansi.red;
      } else if (v.cached) {
        label = 'CACHED ' + label;
      }
      if (v.warningCount > 0 && !v.error) label += ` (${v.warningCount} warning${v.warningCount > 1 ? 's' : ''})`;
      const timer = `${(this.elapsed(v) / 1000).toFixed(1)}s`;
      const prefix = running ? ` ${spin} ` : ' => ';
      const r: Row = { text: line(prefix, label, timer) };
      if (!running) r.color = color;
      rows.push(r);
      if (running) {
        for (const id of v.statusOrder) {
          const s = v.statuses.get(id)!;
          let bytes = '';
          if (s.total !== 0) bytes = `${formatBytes(s.current)} / ${formatBytes(s.total)}`;
          else if (s.current !== 0) bytes = formatBytes(s.current);
          const end = s.completed ? s.completed.getTime() : s.timestamp ? s.timestamp.getTime() : undefined;
          const t = s.started && end !== undefined ? `${Math.max(0, (end - s.started.getTime()) / 1000).toFixed(1)}s` : '';
          const right = [bytes, s.completed ? 'done' : '', t].filter(Boolean).join(' ');
          const sr: Row = { text: line(' => => ', sanitize(s.id), right) };
          if (s.completed) sr.color = ansi.blue;
          rows.push(sr);
        }
        const logs = [...v.tail, ...(v.partial ? [sanitize(v.partial)] : [])].slice(-LOG_LINES);
        for (const l of logs) rows.push({ text: truncate(` => => # ${l}`, width - 1), color: ansi.dim });
      }
      blocks.push({ rows, running });
    }
    let flat = blocks.flatMap((b) => b.rows);
    if (!all) {
      const limit = Math.max(1, height - 2);
      if (flat.length > limit) {
        // Keep every running step; fill the remaining room with the newest finished ones.
        const keep: Row[][] = [];
        let room = limit;
        const runningRows = blocks.filter((b) => b.running).reduce((n, b) => n + b.rows.length, 0);
        let finishedRoom = Math.max(0, limit - runningRows);
        for (let i = blocks.length - 1; i >= 0 && room > 0; i--) {
          const b = blocks[i]!;
          if (b.running) {
            const rows = b.rows.slice(0, room);
            keep.unshift(rows);
            room -= rows.length;
          } else if (finishedRoom > 0) {
            keep.unshift(b.rows.slice(0, 1));
            finishedRoom--;
            room--;
          }
        }
        flat = keep.flat();
      }
    }
    return flat;
  }

  header(all: boolean): string {
    const { width } = this.size();
    // Every step BuildKit announced, queued ones included.
    const total = [...this.trace.byDigest.values()].filter((v) => v.index > 0 || v.name !== '').length;
    const done = this.trace.order.filter((v) => v.completed).length;
    const secs = ((this.now() - this.startedAt) / 1000).toFixed(1);
    const status = all && done > 0 && done === total ? ' FINISHED' : '';
    return truncate(`[+] ${this.opts.phase ?? 'Patching'} ${secs}s (${done}/${total})${status}`, width - 1);
  }

  /** Redraws the view in place. */
  render(all = false): void {
    if (this.finished) return;
    this.frame++;
    this.dirty = false;
    const lines = [this.paint(this.header(all), ansi.bold), ...this.rows(all).map((r) => this.paint(r.text, r.color))];
    let s = this.lineCount > 0 ? ansi.up(this.lineCount) : '';
    for (const l of lines) s += `${ansi.col0}${ansi.clearLine}${l}\n`;
    // Blank out lines left from a taller previous frame.
    const extra = this.lineCount - lines.length;
    if (extra > 0) {
      for (let i = 0; i < extra; i++) s += `${ansi.col0}${ansi.clearLine}\n`;
      s += ansi.up(extra);
    }
    this.out.write(s);
    this.lineCount = lines.length;
  }

  /** Prints a line above the live view. */
  log(raw: string): void {
    // Our own one-line messages, but they quote image and report values: nothing in them may steer the terminal.
    const line = sanitize(raw);
    if (this.finished) {
      this.out.write(`${line}\n`);
      return;
    }
    let s = this.lineCount > 0 ? ansi.up(this.lineCount) : '';
    for (let i = 0; i < this.lineCount; i++) s += `${ansi.col0}${ansi.clearLine}\n`;
    s += this.lineCount > 0 ? ansi.up(this.lineCount) : '';
    this.out.write(`${s}${ansi.col0}${ansi.clearLine}${line}\n`);
    this.lineCount = 0;
    this.render();
  }

  done(): void {
    if (this.finished) return;
    if (this.timer) clearInterval(this.timer);
    this.render(true);
    this.finished = true;
    this.out.write(ansi.showCursor);
    const block = errorLogBlock(this.trace);
    if (block) this.out.write(block);
  }
}
