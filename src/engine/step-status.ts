// A package-index refresh must never pass for "nothing to upgrade": package managers only
// warn when a repository cannot be fetched (apt-get update exits 0, apk update counts the
// failures in its exit code but an `||` would hide it). So the refresh step always succeeds
// and leaves its exit code and output in a status mount; the family reads them back here
// and decides, with the package manager's own words, whether it may go on.
import type { Bridge, SolvedRef } from './bridge.js';
import { readTextIfExists } from './solve.js';

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
