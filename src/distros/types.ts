// The contract between the patch engine and one package-manager family.
import type { Platform, State } from '../llb/index.js';
import type { Bridge, SolvedRef } from '../engine/bridge.js';
import type { ReportUpdate } from '../engine/report/index.js';

export interface ImageOs {
  type: string; // debian, ubuntu, alpine, cbl-mariner, …
  version: string;
  pkgFamily: 'deb' | 'rpm' | 'apk';
}

/** One package the user asked for (report mode) or that the manager found upgradable. */
export interface Wanted {
  name: string;
  /** Lowest acceptable version after patching ('' = any newer version). */
  minVersion: string;
  vulnerabilityIds: string[];
}

export type PackageStatus = 'patched' | 'already-fixed' | 'not-installed' | 'not-patched';

export interface PackageResult {
  name: string;
  status: PackageStatus;
  installedVersion?: string; // in the original image
  requiredVersion?: string; // from the report
  finalVersion?: string; // in the patched image
  vulnerabilityIds: string[];
  reason?: string;
}

export interface DistroContext {
  bridge: Bridge;
  platform: Platform;
  os: ImageOs;
  /** The unpatched original image (re-patches start from here). */
  original: State;
  originalRef: SolvedRef;
  /** Package versions a previous copa patch raised, to be kept (re-patch); empty on first patch. */
  previouslyPatched: Map<string, string>;
  /** Report updates, or null for "update everything". */
  updates: ReportUpdate[] | null;
  ignoreErrors: boolean;
  toolingImage: string | null;
  /** Network for steps that download packages: BuildKit's default sandbox, or the host's. */
  network: 'sandbox' | 'host';
  log: (line: string) => void;
}

export interface DistroOutcome {
  /**
   * The original rootfs after installing, as ONE step on top of `original`,
   * so diff(original, installed) is exactly one layer. null = nothing to do.
   */
  installed: State | null;
  packages: PackageResult[];
}

export interface PackageManager {
  readonly family: 'deb' | 'rpm' | 'apk';
  patch(ctx: DistroContext): Promise<DistroOutcome>;
  /** Installed name→version map of an image (for re-patch bookkeeping). */
  installedVersions(bridge: Bridge, ref: SolvedRef): Promise<Map<string, string>>;
}
