// A package-index refresh must never pass for "nothing to upgrade": package managers only
// warn when a repository cannot be fetched (apt-get update exits 0, apk update counts the
// failures in its exit code but an `||` would hide it). So the refresh step always succeeds
// and leaves its exit code and output in a status mount; the family reads them back here
// and decides, with the package manager's own words, whether it may go on.
import type { Bridge, SolvedRef } from './bridge.js';
import { readTextIfExists } from './solve.js';
import { CopaError } from './errors.js';
import { escapeControls } from './text.js';

/** Where the refresh step writes `rc` (its exit code) and `update.log` (its output). */
export const STATUS_MOUNT = '/copa-status';

export interface StepStatus {
  /** The exit code; 1 when the step wrote none (it died before it could). */
  rc: number;
  log: string;
}

/** The exit code and log a step left in its (solved) status mount. */
export async function readStepStatus(bridge: Bridge, ref: SolvedRef): Promise<StepStatus> {
  const log = (await readTextIfExists(bridge, ref, '/update.log')) ?? '';
  const rcText = (await readTextIfExists(bridge, ref, '/rc'))?.trim();
  const rc = rcText === undefined || rcText === '' ? 1 : Number(rcText);
  return { rc: Number.isInteger(rc) ? rc : 1, log };
}

/** A source the refresh could not fetch, in the package manager's own words. */
export interface FetchFailure {
  /** The source's URL ('' when the tool named none). */
  url: string;
  message: string;
}

export interface RefreshCheck {
  /** The command, e.g. "apt-get update". */
  tool: string;
  /** Where it ran, e.g. "the debian 12 image". */
  where: string;
  /** What it fetches, e.g. "package lists". */
  what: string;
  /** The kind of source, singular and plural, e.g. ["source", "sources"]. */
  source: [string, string];
  hint: string;
  /** The family's reading of the tool's output. */
  failures(log: string, rc: number): FetchFailure[];
}

/** Read the refresh step's status (its solved status mount) and fail, naming the first source, unless every source was fetched. */
export async function assertRefreshed(bridge: Bridge, status: SolvedRef, check: RefreshCheck): Promise<void> {
  const { rc, log } = await readStepStatus(bridge, status);
  const failures = check.failures(log, rc);
  if (failures.length === 0) return;
  const [first, ...rest] = failures;
  const more = rest.length ? ` (and ${rest.length} more ${check.source[rest.length > 1 ? 1 : 0]}: ${rest.map((f) => f.url).join(', ')})` : '';
  const from = first!.url ? ` from ${first!.url}` : '';
  throw new CopaError('image', `${check.tool} in ${check.where} could not fetch the ${check.what}${from}: ${first!.message}${more}`, { hint: check.hint });
}

/** How a package manager words a failed source and an error, for fetchFailures(). */
export interface FailureGrammar {
  /** A line naming a source it could not fetch: group 1 the URL, group 2 the reason. */
  source: RegExp;
  /** An error line: group 1 the message (used when no source line names a URL). */
  error: RegExp;
  /** The command, for "exited with code N". */
  tool: string;
}

/** The sources a refresh could not fetch (one per URL, escaped), else its errors when it failed. */
export function fetchFailures(log: string, rc: number, g: FailureGrammar): FetchFailure[] {
  const out: FetchFailure[] = [];
  const seen = new Set<string>();
  const lines = log.split('\n').map((l) => l.trim());
  for (const line of lines) {
    const m = g.source.exec(line);
    if (!m) continue;
    const url = escapeControls(m[1]!);
    if (seen.has(url)) continue;
    seen.add(url);
    out.push({ url, message: escapeControls((m[2] ?? '').trim()) || 'no reason given' });
  }
  if (out.length === 0 && rc !== 0) {
    const errors = lines.map((l) => g.error.exec(l)?.[1]).filter((e): e is string => e !== undefined).map((e) => escapeControls(e.trim()));
    out.push({ url: '', message: errors.join(' | ') || `${g.tool} exited with code ${rc}` });
  }
  return out;
}
