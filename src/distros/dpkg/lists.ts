// Package lists that could not be fetched are an error, never "already up to date": apt-get
// update only warns when a source is unreachable, and then apt sees no (or stale) candidates,
// which would pass for an image with nothing to upgrade. The update step leaves apt's exit
// code and output in /copa-status; this judges them and names the source and apt's words.
import type { State } from '../../llb/index.js';
import { CopaError } from '../../engine/errors.js';
import { readTextIfExists, solveState } from '../../engine/solve.js';
import type { InstallContext } from '../../engine/package-manager.js';

export interface FetchFailure {
  url: string;
  message: string;
}

/** Control characters from a log never reach a terminal as they are. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The sources apt-get update could not fetch, and other errors it reported. */
export function aptUpdateFailures(log: string, rc: number): FetchFailure[] {
  const out: FetchFailure[] = [];
  const seen = new Set<string>();
  for (const line of log.split('\n')) {
    const m = /^[WE]: Failed to fetch (\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const url = printable(m[1]!);
    if (seen.has(url)) continue;
    seen.add(url);
    out.push({ url, message: printable(m[2]!.trim()) || 'no reason given' });
  }
  if (out.length === 0 && rc !== 0) {
    const errors = log.split('\n').filter((l) => /^E: /.test(l)).map((l) => printable(l.slice(3).trim()));
    out.push({ url: '', message: errors.join(' | ') || `apt-get update exited with code ${rc}` });
  }
  return out;
}

/** Solve the update step's status and fail when any source could not be fetched. */
export async function assertListsFetched(ctx: InstallContext, status: State, where: string): Promise<void> {
  const ref = await solveState(ctx.bridge, status, ctx.platform);
  const log = (await readTextIfExists(ctx.bridge, ref, '/update.log')) ?? '';
  const rcText = (await readTextIfExists(ctx.bridge, ref, '/rc'))?.trim();
  const rc = rcText === undefined || rcText === '' ? 1 : Number(rcText);
  const failures = aptUpdateFailures(log, Number.isFinite(rc) ? rc : 1);
  if (failures.length === 0) return;
  const [first, ...rest] = failures;
  const more = rest.length ? ` (and ${rest.length} more source${rest.length > 1 ? 's' : ''}: ${rest.map((f) => f.url).join(', ')})` : '';
  const from = first!.url ? ` from ${first!.url}` : '';
  throw new CopaError('image', `apt-get update in ${where} could not fetch the package lists${from}: ${first!.message}${more}`, {
    hint: "check that the image's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d) name a mirror BuildKit can reach (e.g. --network host, a proxy, or a reachable mirror); nothing was patched",
  });
}
