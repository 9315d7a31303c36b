// The per-platform patch loop both entry points run: every platform of one request is
// patched concurrently (like the Dockerfile frontend solves its platforms in parallel), each
// with its own report (a report directory matches reports to platforms; one report serves
// the platform it was scanned from), and log lines say which platform they are about.
import { formatPlatform, type Platform } from '../llb/index.js';
import type { Bridge } from './bridge.js';
import type { PatchReport } from './report/index.js';
import { patchImage, type PatchLog, type PatchOutcome, type PatchRequest } from './patch.js';
import { toCopaError } from './errors.js';

export interface PlatformJob {
  platform: Platform;
  report: PatchReport | null;
}

export type PatchAllRequest = Omit<PatchRequest, 'platform' | 'report'>;

/** LLB capabilities every patch needs (the patch layer is a diff merged onto the original). */
export const PATCH_LLB_CAPS = ['mergeop', 'diffop'] as const;

/** Patch every platform concurrently; outcomes in the order of `jobs`. The first failure fails the whole request. */
export async function patchPlatforms(bridge: Bridge, jobs: readonly PlatformJob[], req: PatchAllRequest, log: PatchLog = () => {}): Promise<Array<[Platform, PatchOutcome]>> {
  try {
    bridge.requireCaps(PATCH_LLB_CAPS);
  } catch (e) {
    throw toCopaError(e);
  }
  const several = jobs.length > 1;
  return Promise.all(
    jobs.map(async (job): Promise<[Platform, PatchOutcome]> => {
      const say: PatchLog = several ? (l) => log(`[${formatPlatform(job.platform)}] ${l}`) : log;
      return [job.platform, await patchImage(bridge, { ...req, platform: job.platform, report: job.report }, say)];
    }),
  );
}
