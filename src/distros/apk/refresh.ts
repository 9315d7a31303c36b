// Indexes that could not be fetched are an error, never "already up to date": without an
// index apk sees no newer releases, which would pass for an image with nothing to upgrade.
// The refresh step leaves apk update's exit code and output in /copa-status; this judges
// them and names the repository and apk's words.
import type { SolvedRef } from '../../engine/bridge.js';
import { assertRefreshed, fetchFailures, type FetchFailure } from '../../engine/step-status.js';
import type { InstallContext } from '../../engine/package-manager.js';


// apk-tools 2: "WARNING: <action> <repository url>: <reason>" for each repository it could
// not update or open (action: "updating", "updating and opening", "opening from cache",
// "fetching", "opening"). apk masks a password in the URL itself.
const REPO_WARNING = /^WARNING: (?:updating and opening|updating|opening from cache|fetching|opening) (\S+): (.*)$/;

/** The repositories apk update could not fetch, or its errors. */
export function apkUpdateFailures(log: string, rc: number): FetchFailure[] {
  return fetchFailures(log, rc, { source: REPO_WARNING, error: /^ERROR: (.*)$/, tool: 'apk update' });
}

/** Fail when the refresh step (its solved status mount) could not fetch every repository's index. */
export function assertIndexesFetched(ctx: InstallContext, status: SolvedRef, where: string): Promise<void> {
  return assertRefreshed(ctx.bridge, status, {
    tool: 'apk update',
    where,
    what: 'package index',
    source: ['repository', 'repositories'],
    failures: apkUpdateFailures,
    hint: "check that the image's /etc/apk/repositories names a repository BuildKit can reach (e.g. --network host, a proxy, or a reachable mirror) and that /etc/apk/keys holds its signing key; nothing was patched",
  });
}
