// Package lists that could not be fetched are an error, never "already up to date": apt-get
// update only warns when a source is unreachable, and then apt sees no (or stale) candidates,
// which would pass for an image with nothing to upgrade. The update step leaves apt's exit
// code and output in /copa-status; this judges them and names the source and apt's words.
import type { State } from '../../llb/index.js';
import { solveState } from '../../engine/solve.js';
import { escapeControls } from '../../engine/text.js';
import { assertRefreshed, type FetchFailure } from '../../engine/step-status.js';
import type { InstallContext } from '../../engine/package-manager.js';



/** The sources apt-get update could not fetch, and other errors it reported. */
export function aptUpdateFailures(log: string, rc: number): FetchFailure[] {
  const out: FetchFailure[] = [];
  const seen = new Set<string>();
  for (const line of log.split('\n')) {
    const m = /^[WE]: Failed to fetch (\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const url = escapeControls(m[1]!);
    if (seen.has(url)) continue;
    seen.add(url);
    out.push({ url, message: escapeControls(m[2]!.trim()) || 'no reason given' });
  }
  if (out.length === 0 && rc !== 0) {
    const errors = log.split('\n').filter((l) => /^E: /.test(l)).map((l) => escapeControls(l.slice(3).trim()));
    out.push({ url: '', message: errors.join(' | ') || `apt-get update exited with code ${rc}` });
  }
  return out;
}

/** Solve the update step's status and fail when any source could not be fetched. */
export async function assertListsFetched(ctx: InstallContext, status: State, where: string): Promise<void> {
  await assertRefreshed(ctx.bridge, await solveState(ctx.bridge, status, ctx.platform), {
    tool: 'apt-get update',
    where,
    what: 'package lists',
    source: ['source', 'sources'],
    failures: aptUpdateFailures,
    hint: "check that the image's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d) name a mirror BuildKit can reach (e.g. --network host, a proxy, or a reachable mirror); nothing was patched",
  });
}
