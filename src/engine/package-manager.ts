// The contract between the patch engine and one package-manager family (dpkg, apk, rpm).
// A family answers three questions — what is installed in an image, how to install a plan
// on the original image as ONE step, and (only when it needs one) which tooling image to
// use — and the engine does everything else once, for every family: report → plan →
// install → read back → validate (ignore-errors) → summary → one layer (engine/patch.ts).
import type { Bridge, Platform, SolvedRef, State } from '../llb/index.js';
import type { CanonicalOs, OsRelease, OsType, ReleaseRules } from './osrelease.js';
import type { PkgFamily } from './versions/index.js';
import type { ImageRef } from './imageref.js';
import type { ToolingRule } from './tooling.js';

/** The image's OS as the engine and the families see it. */
export interface ImageOs extends CanonicalOs {
  /** The parsed os-release, for what a family needs beyond type and version (ID, ID_LIKE, …). */
  osRelease: OsRelease;
}

/** One package the user asked for (report mode), with the lowest acceptable version after patching. */
export interface Wanted {
  name: string;
  /** '' = any newer version. */
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

/** An image's filesystem as BuildKit holds it: a family reads files from `ref`, or runs commands on `state`. */
export interface ImageView {
  bridge: Bridge;
  platform: Platform;
  state: State;
  ref: SolvedRef;
  /** Network for steps that fetch anything. */
  network: 'sandbox' | 'host';
  /**
   * Unique to this patch. A step that must run on every patch (a package-index refresh) sets
   * it in its environment (engine/refresh-step.ts), so BuildKit never reuses that step from an
   * earlier patch, while the step's cache mounts persist (ignore_cache would also give the
   * step a fresh, empty cache mount each time).
   */
  refreshToken: string;
  /**
   * The tooling image, chosen on first call (override, source policy, or the family's rule),
   * for a family that must read the database with the tooling image's tools (an rpm database
   * in an image without rpm); the same chooser as InstallContext.toolingImage.
   */
  toolingImage(): ImageRef;
}

/** What a family read from an image's package database: versions for the engine, detail for itself. */
export interface Installed<Db = unknown> {
  /** name → version of every installed package. */
  versions: Map<string, string>;
  /** The family's own view of the database (passed back to install). */
  db: Db;
  /** One line for the log, e.g. "212 packages (apt in image)". */
  summary: string;
}

/** What to install: exactly these packages (report mode), or every package with an update. */
export type InstallPlan = { kind: 'packages'; packages: Wanted[] } | { kind: 'all' };

export interface InstallContext extends ImageView {
  os: ImageOs;
  ignoreErrors: boolean;
  log(line: string): void;
}

export interface InstallResult {
  /**
   * The original image after installing, made by ONE step on top of it, so that
   * diff(original, installed) is exactly one layer; null when nothing was installed.
   */
  installed: State | null;
  /** name → version after the install (the original's versions when installed is null). */
  after: Map<string, string>;
}

export interface PackageManager<Db = unknown> {
  /** The family's name, e.g. "dpkg". */
  readonly name: string;
  /** The version ordering and name grammar its packages follow. */
  readonly pkgFamily: PkgFamily;
  /** The distributions it patches, e.g. debian and ubuntu. */
  readonly osTypes: readonly OsType[];
  /** Per-distribution release rules (codenames, release identity), where the defaults do not fit. */
  readonly releaseRules?: Partial<Record<OsType, ReleaseRules>>;
  /** Read the installed packages; CopaError('image') saying what is missing when the image has no such database. */
  readInstalled(image: ImageView, os: ImageOs): Promise<Installed<Db>>;
  /** Install the plan on the original image (ctx.state) as one step. */
  install(ctx: InstallContext, installed: Installed<Db>, plan: InstallPlan): Promise<InstallResult>;
  /** The tooling image rule (which image for which release), for families that may need one. */
  readonly toolingRule?: ToolingRule;
}

/** A family's module as the entry points register it (the engine never imports a family). */
export type AnyPackageManager = PackageManager<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
