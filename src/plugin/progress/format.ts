// Small text helpers shared by the progress renderers.
import { sanitizeTerminal } from '../../engine/text.js';

/** Byte counts the way BuildKit prints them: 1000-based, two decimals ("3.15MB", "512B"). */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(v)}B` : `${v.toFixed(2)}${units[i]}`;
}

/** Seconds with one decimal ("1.2s"). */
export function formatSeconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/** A log line's offset from its step's start: 3 decimals below 10 s, 2 below 100 s, else 1. */
export function formatLogOffset(ms: number): string {
  const sec = Math.max(0, ms) / 1000;
  const prec = sec < 10 ? 3 : sec < 100 ? 2 : 1;
  return sec.toFixed(prec);
}

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*(?:\x07|\x1b\\)/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI_RE, '');
}

/**
 * Printable one-line text of untrusted output (vertex names, log lines, statuses, errors):
 * ESC sequences are removed; every other control (CR, LF, C1, bidi/format characters) becomes
 * a space, a tab two spaces. See engine/text.ts.
 */
export function sanitize(s: string): string {
  return sanitizeTerminal(s);
}

/** Visible width (no ANSI); wide (CJK/emoji) code points count 2. */
export function visibleWidth(s: string): number {
  let w = 0;
  for (const ch of stripAnsi(s)) w += isWide(ch.codePointAt(0)!) ? 2 : 1;
  return w;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** Cuts plain text (no ANSI) to at most `width` columns, ending with "…" when cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return '';
  if (visibleWidth(s) <= width) return s;
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = isWide(ch.codePointAt(0)!) ? 2 : 1;
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return out + '…';
}

/** Pads plain text to `width` columns. */
export function padEnd(s: string, width: number): string {
  const w = visibleWidth(s);
  return w >= width ? s : s + ' '.repeat(width - w);
}

export const ansi = {
  up: (n: number) => (n > 0 ? `\x1b[${n}A` : ''),
  clearLine: '\x1b[2K',
  col0: '\r',
  hideCursor: '\x1b[?25l',
  showCursor: '\x1b[?25h',
  bold: (s: string) => `\x1b[1m${s}\x1b[22m`,
  dim: (s: string) => `\x1b[2m${s}\x1b[22m`,
  red: (s: string) => `\x1b[31m${s}\x1b[39m`,
  green: (s: string) => `\x1b[32m${s}\x1b[39m`,
  yellow: (s: string) => `\x1b[33m${s}\x1b[39m`,
  blue: (s: string) => `\x1b[34m${s}\x1b[39m`,
  cyan: (s: string) => `\x1b[36m${s}\x1b[39m`,
};

/** Whether to use colour on a stream: a TTY, and neither NO_COLOR nor TERM=dumb. */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}
