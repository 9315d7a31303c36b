// Package lists that could not be fetched are an error, never "already up to date": apt-get
// update only warns when a source is unreachable, and then apt sees no (or stale) candidates,
// which would pass for an image with nothing to upgrade. The update step leaves apt's exit
// code and output in /copa-status; this judges them and names the source and apt's words.
import type { State } from '../../llb/index.js';
import { solveState } from '../../engine/solve.js';
import { assertRefreshed, fetchFailures, type FetchFailure } from '../../engine/step-status.js';
import type { InstallContext } from '../../engine/package-manager.js';



/** The sources apt-get update could not fetch ("W: Failed to fetch URL  reason"), or its errors. */
export function aptUpdateFailures(log: string, rc: number): FetchFailure[] {
  return fetchFailures(log, rc, { source: /^[WE]: Failed to fetch (\S+)\s+(.*)$/, error: /^E: (.*)$/, tool: 'apt-get update' });
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
