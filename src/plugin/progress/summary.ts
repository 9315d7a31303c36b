// The short plan box printed before the solve and the per-package table printed after it.
import { ansi, padEnd, sanitize, truncate, useColor, visibleWidth } from './format.js';

export type PlanLine = string | { label: string; value: string };

export interface SummaryPackage {
  name: string;
  status: 'patched' | 'already-fixed' | 'not-installed' | 'not-patched';
  installedVersion?: string;
  requiredVersion?: string;
  finalVersion?: string;
  vulnerabilityIds: string[];
  reason?: string;
}

export interface PrintOptions {
  /** Default process.stderr. */
  stream?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  color?: boolean;
  /** Default: the stream's columns, else 100. */
  width?: number;
  /** Box-drawing characters (default: when the stream is a TTY). */
  unicode?: boolean;
}

/**
 * The largest f(x), at least `floor`, at most `cap`. A loop, not Math.max(...list): spreading
 * a list into arguments overflows the stack for a few hundred thousand entries.
 */
export function maxOf<T>(list: readonly T[], f: (x: T) => number, floor = -Infinity, cap = Infinity): number {
  let m = floor;
  for (const x of list) {
    const v = f(x);
    if (v > m) m = v;
    if (m >= cap) return cap;
  }
  return m;
}

function target(opts: PrintOptions) {
  const stream = opts.stream ?? process.stderr;
  const width = opts.width ?? (stream.columns && stream.columns > 20 ? stream.columns : 100);
  const color = opts.color ?? useColor(stream);
  const unicode = opts.unicode ?? Boolean(stream.isTTY);
  return { stream, width, color, unicode };
}

/** The plan box as text. */
export function formatPlan(lines: readonly PlanLine[], opts: Omit<PrintOptions, 'stream'> & { title?: string } = {}): string {
  const width = opts.width ?? 100;
  const u = opts.unicode ?? false;
  const [tl, tr, bl, br, h, v] = u ? ['╭', '╮', '╰', '╯', '─', '│'] : ['+', '+', '+', '+', '-', '|'];
  const labelWidth = maxOf(lines, (l) => (typeof l === 'string' ? 0 : visibleWidth(l.label)), 0);
  const texts = lines.map((l) => (typeof l === 'string' ? sanitize(l) : `${padEnd(sanitize(l.label), labelWidth)}  ${sanitize(l.value)}`));
  const title = ` ${opts.title ?? 'Patch plan'} `;
  const inner = Math.min(maxOf(texts, (t) => visibleWidth(t) + 2, visibleWidth(title) + 2), Math.max(20, width - 2));
  const bold = (s: string) => (opts.color ? ansi.bold(s) : s);
  let out = `${tl}${h}${bold(title)}${h.repeat(Math.max(0, inner - visibleWidth(title) - 1))}${tr}\n`;
  for (const t of texts) out += `${v} ${padEnd(truncate(t, inner - 2), inner - 2)} ${v}\n`;
  out += `${bl}${h.repeat(inner)}${br}\n`;
  return out;
}

/** Prints the plan box (to stderr by default). */
export function printPlan(lines: readonly PlanLine[], opts: PrintOptions & { title?: string } = {}): void {
  const t = target(opts);
  t.stream.write(formatPlan(lines, { width: t.width, unicode: t.unicode, color: t.color, ...(opts.title ? { title: opts.title } : {}) }));
}

const ORDER: Record<SummaryPackage['status'], number> = { patched: 0, 'not-patched': 1, 'already-fixed': 2, 'not-installed': 3 };
const LABEL: Record<SummaryPackage['status'], string> = {
  patched: 'patched',
  'not-patched': 'NOT PATCHED',
  'already-fixed': 'already fixed',
  'not-installed': 'not installed',
};

/** One-line counts: "2 patched, 1 already fixed, 0 not patched, 1 not installed". */
export function summaryCounts(packages: readonly SummaryPackage[]): string {
  const n = (s: SummaryPackage['status']) => packages.filter((p) => p.status === s).length;
  return `${n('patched')} patched, ${n('already-fixed')} already fixed, ${n('not-patched')} not patched, ${n('not-installed')} not installed`;
}

function vulnList(ids: readonly string[], width: number): string {
  if (ids.length === 0) return '-';
  let out = '';
  for (let i = 0; i < ids.length; i++) {
    const more = ids.length - i - 1;
    const next = (out ? ', ' : '') + ids[i];
    const tail = more > 0 ? ` +${more} more` : '';
    if (out && visibleWidth(out + next + tail) > width) return `${out} +${ids.length - i} more`;
    out += next;
  }
  return out;
}

/** The per-package table as text. */
export function formatSummary(packages: readonly SummaryPackage[], opts: Omit<PrintOptions, 'stream'> = {}): string {
  const width = opts.width ?? 100;
  const color = opts.color ?? false;
  if (packages.length === 0) return 'No packages needed an update.\n';
  const rows = [...packages].sort((a, b) => ORDER[a.status] - ORDER[b.status] || a.name.localeCompare(b.name));
  const cells = rows.map((p) => [
    sanitize(p.name),
    LABEL[p.status],
    sanitize(p.installedVersion ?? '-'),
    sanitize(p.status === 'patched' ? (p.finalVersion ?? '?') : p.status === 'not-patched' ? (p.requiredVersion ? `(needs ${p.requiredVersion})` : '-') : '-'),
  ]);
  const head = ['PACKAGE', 'STATUS', 'INSTALLED', 'NOW'];
  // Columns are at most 40 wide: stop measuring a column once it reaches that.
  const widths = head.map((h, i) => maxOf(cells, (c) => visibleWidth(c[i]!.slice(0, 41)), visibleWidth(h), 40));
  const used = widths.reduce((a, b) => a + b + 2, 0);
  const vulnWidth = Math.max(16, width - used - 1);
  const paint = (status: SummaryPackage['status'], s: string) => {
    if (!color) return s;
    if (status === 'patched') return ansi.green(s);
    if (status === 'not-patched') return ansi.red(s);
    return ansi.dim(s);
  };
  let out = head.map((h, i) => padEnd(h, widths[i]!)).join('  ') + '  VULNERABILITIES\n';
  rows.forEach((p, r) => {
    const line = cells[r]!.map((c, i) => padEnd(truncate(c, widths[i]!), widths[i]!)).join('  ') + '  ' + vulnList(p.vulnerabilityIds.map(sanitize), vulnWidth);
    out += paint(p.status, line.trimEnd()) + '\n';
    if (p.status === 'not-patched' && p.reason) out += paint(p.status, `    ${truncate(sanitize(p.reason), Math.max(20, width - 5))}`) + '\n';
  });
  out += `\n${summaryCounts(packages)}\n`;
  return out;
}

/** Prints the per-package table (to stderr by default). */
export function printSummary(packages: readonly SummaryPackage[], opts: PrintOptions = {}): void {
  const t = target(opts);
  t.stream.write('\n' + formatSummary(packages, { width: t.width, color: t.color }));
}
