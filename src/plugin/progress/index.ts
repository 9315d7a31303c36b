// Progress output for BuildKit solves, on stderr: createProgress(mode) picks the renderer
// (auto = tty when stderr is a terminal, else plain), like buildx's --progress.
import { CopaError } from '../../engine/errors.js';
import { useColor } from './format.js';
import { PlainDisplay } from './plain.js';
import { QuietDisplay, RawJsonDisplay } from './rawjson.js';
import { TtyDisplay } from './tty.js';
import type { ProgressDisplay, ProgressMode } from './types.js';

export * from './types.js';
export { PlainDisplay } from './plain.js';
export { TtyDisplay } from './tty.js';
export { RawJsonDisplay, QuietDisplay, toSolveStatusJson } from './rawjson.js';
export { formatPlan, formatSummary, printPlan, printSummary, summaryCounts, type PlanLine, type SummaryPackage } from './summary.js';

export interface ProgressOptions {
  /** Default process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  /** Header word of the TTY view ("Patching"). */
  phase?: string;
  env?: NodeJS.ProcessEnv;
}

/** The mode `auto` resolves to for a stream. */
export function resolveMode(mode: ProgressMode, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  return stream.isTTY && env.TERM !== 'dumb' ? 'tty' : 'plain';
}

export function createProgress(mode: ProgressMode, opts: ProgressOptions = {}): ProgressDisplay {
  const stream = opts.stream ?? process.stderr;
  const env = opts.env ?? process.env;
  const m = resolveMode(mode, stream, env);
  switch (m) {
    case 'tty':
      if (!stream.isTTY) {
        throw new CopaError('input', '--progress tty needs a terminal on stderr', { hint: 'use --progress plain (or auto) when stderr is redirected' });
      }
      return new TtyDisplay(stream, { ...(opts.phase ? { phase: opts.phase } : {}), color: useColor(stream, env) });
    case 'plain':
      return new PlainDisplay(stream);
    case 'rawjson':
      return new RawJsonDisplay(stream);
    case 'quiet':
      return new QuietDisplay();
  }
}
