// The patch engine: image + report → one patch layer on top of the original image.
// It talks to BuildKit only through a Bridge, so the gateway frontend (inside BuildKit)
// and the docker plugin (client side) run exactly this code, and it drives every
// package-manager family through one contract (package-manager.ts): report → plan →
// install → read back → validate → summary → one layer, written once here.
import { randomUUID } from 'node:crypto';
import { State, formatPlatform, type Platform } from '../llb/index.js';
import type { Bridge, ImageConfig, SolvedRef } from './bridge.js';
import { CopaError, toCopaError } from './errors.js';
import { canonicalOs, parseOsRelease, assertReportMatchesImage, SUPPORTED_OS_TYPES, type ReleaseRuleSet } from './osrelease.js';
import { toolingImageOnDemand } from './tooling.js';
import { readTextIfExists, solveState } from './solve.js';
import type { PatchReport } from './report/index.js';
import type { AnyPackageManager, ImageOs, ImageView, InstallPlan, PackageResult } from './package-manager.js';
import { planFromReport, validate, changedPackages } from './plan.js';
import { comparatorFor } from './versions/index.js';
import { pinnedReference, type ImageRef } from './imageref.js';
import { findOriginal, patchedConfig } from './provenance.js';
import { assertImagePlatform, assertReportPlatform, noSuchPlatform } from './image-platform.js';

export { LABEL_BASE, LABEL_PATCHED } from './provenance.js';

export interface PatchRequest {
  /** The image to patch, parsed where it entered (flag or frontend option). */
  image: ImageRef;
  platform: Platform;
  report: PatchReport | null;
  ignoreErrors: boolean;
  toolingImage?: ImageRef;
  /** 'host' runs package downloads on the host network (needs the network.host entitlement). */
  network?: 'sandbox' | 'host';
  /** Shown in the patched-by label. */
  producer?: string;
  /** The package-manager families to choose from (the entry points pass distros' FAMILIES). */
  families: readonly AnyPackageManager[];
  /** See ImageView.refreshToken; a fresh random one when absent (tests pin it). */
  refreshToken?: string;
}

export interface PatchOutcome {
  /** 'patched': a new layer; 'up-to-date': nothing to install, ref is the input image. */
  kind: 'patched' | 'up-to-date';
  ref: SolvedRef;
  /** Image config to export with ref. */
  config: ImageConfig;
  os: ImageOs;
  /** The original image, pinned by digest. */
  base: string;
  packages: PackageResult[];
  /** State of the result, for callers that compose further (multi-platform, tests). */
  state: State;
}

export interface PatchLog {
  (line: string): void;
}

export async function patchImage(bridge: Bridge, req: PatchRequest, log: PatchLog = () => {}): Promise<PatchOutcome> {
  try {
    return await patch(bridge, req, log);
  } catch (e) {
    throw toCopaError(e);
  }
}

async function patch(bridge: Bridge, req: PatchRequest, log: PatchLog): Promise<PatchOutcome> {
  const imageRef = req.image;
  assertReportPlatform(req.report, req.platform, req.report?.source ?? 'the report');
  const resolved = await resolve(bridge, imageRef.normalized, req.platform);
  await assertImagePlatform(bridge, imageRef.normalized, req.platform, resolved.config);
  const found = await findOriginal(bridge, { ref: imageRef.normalized, resolved }, req.platform, log);
  const base = found?.ref ?? null;
  const original = found?.resolved ?? resolved;
  const originalPinned = pinnedReference(found?.parsed ?? imageRef, original.digest).ref;
  if (base) log(`re-patch: the image is a copa patch of ${originalPinned}; starting again from that original`);

  const originalState = State.image(originalPinned, { platform: req.platform, imageConfig: original.config.config ?? {} });
  const originalRef = await solveState(bridge, originalState, req.platform);
  const network = req.network ?? 'sandbox';
  const rules = releaseRules(req.families);
  const os = await detectOs(bridge, originalRef, imageRef.ref, rules);
  if (req.report?.os) assertReportMatchesImage(req.report.os, os, req.report.source ?? 'the report', rules);
  log(`image: ${imageRef.ref} (${os.type} ${os.version}, ${formatPlatform(req.platform)})`);

  const manager = managerFor(req.families, os);
  // Chosen on first use only: a family that can patch with the image's own tools never asks.
  const toolingImage = toolingImageOnDemand({ type: os.type, version: os.version, hasReport: req.report !== null }, manager.toolingRule, req.toolingImage);
  const refreshToken = req.refreshToken ?? randomUUID();
  const view = (state: State, ref: SolvedRef): ImageView => ({ bridge, platform: req.platform, state, ref, network, toolingImage, refreshToken });
  const installed = await manager.readInstalled(view(originalState, originalRef), os);
  log(`${manager.name} database: ${installed.summary}`);
  const before = installed.versions;

  const previouslyPatched = new Map<string, string>();
  if (base) {
    const currentState = State.image(pinnedReference(imageRef, resolved.digest), { platform: req.platform });
    const currentRef = await solveState(bridge, currentState, req.platform);
    const now = (await manager.readInstalled(view(currentState, currentRef), os)).versions;
    for (const [name, v] of now) if (before.get(name) !== undefined && before.get(name) !== v) previouslyPatched.set(name, v);
    log(`re-patch: ${previouslyPatched.size} package(s) raised by the previous patch will be kept`);
  }

  const cmp = comparatorFor(manager.pkgFamily);
  const ctx = { ...view(originalState, originalRef), os, ignoreErrors: req.ignoreErrors, log };

  /** Install a plan and judge the result: the layer (or null when nothing changed) and per-package results. */
  const run = async (plan: InstallPlan, settled: PackageResult[]): Promise<{ installed: State | null; packages: PackageResult[] }> => {
    const result = await manager.install(ctx, installed, plan);
    if (plan.kind === 'all') {
      const packages = changedPackages(before, result.after);
      return { installed: packages.length ? result.installed : null, packages };
    }
    const { results, failures } = validate(plan.packages, before, result.after, cmp);
    if (failures.length && !req.ignoreErrors) {
      throw new CopaError('validation', failures.join('\n'), {
        hint: 'the package mirror does not have the fixed version yet (or the report is stale); re-scan, wait for the mirror, or pass --ignore-errors to patch what is available',
      });
    }
    const changed = [...result.after].some(([n, v]) => before.get(n) !== v);
    return { installed: changed ? result.installed : null, packages: [...settled, ...results] };
  };

  let outcome: { installed: State | null; packages: PackageResult[] };
  if (req.report) {
    const plan = planFromReport(before, req.report.updates, previouslyPatched, cmp);
    outcome = plan.wanted.length ? await run({ kind: 'packages', packages: plan.wanted }, plan.settled) : { installed: null, packages: plan.settled };
  } else {
    outcome = await run({ kind: 'all' }, []);
  }

  // A re-patch keeps the patched image's own config (edits made after the first patch survive).
  const config = patchedConfig(resolved.config, req.platform, originalPinned, req.producer, base !== null);
  if (!outcome.installed && !previouslyPatched.size) {
    // Nothing to install on an unpatched image: hand it back untouched.
    return { kind: 'up-to-date', ref: originalRef, config: resolved.config, os, base: originalPinned, packages: outcome.packages, state: originalState };
  }
  let layer = outcome.installed;
  if (!layer) {
    // A re-patched image that is already up to date: rebuild its patch layer from the original
    // (all cached). Re-exporting the patched image itself is not safe: BuildKit can drop the
    // base layers of an image whose patch layer it produced as a diff earlier.
    const again = await run({ kind: 'packages', packages: [...previouslyPatched].map(([name, v]) => ({ name, minVersion: v, vulnerabilityIds: [] })) }, []);
    layer = again.installed;
    if (!layer) throw new CopaError('internal', `re-applying the previous patch of ${imageRef.ref} changed nothing`, { hint: 'patch the original image instead' });
  }
  const kind = outcome.installed ? 'patched' : 'up-to-date';
  // The install ran as one step on the original, so this diff is exactly one layer.
  const patched = State.merge([originalState, State.diff(originalState, layer, { name: 'copa: extract patch layer' })], {
    name: 'copa: patch layer on the original image',
  });
  const ref = await solveState(bridge, patched, req.platform, true);
  return { kind, ref, config, os, base: originalPinned, packages: outcome.packages, state: patched };
}

/** Every family's release rules, keyed by distribution. */
function releaseRules(families: readonly AnyPackageManager[]): ReleaseRuleSet {
  return Object.assign({}, ...families.map((f) => f.releaseRules ?? {}));
}

async function detectOs(bridge: Bridge, ref: SolvedRef, image: string, rules: ReleaseRuleSet): Promise<ImageOs> {
  const osText = (await readTextIfExists(bridge, ref, '/etc/os-release')) ?? (await readTextIfExists(bridge, ref, '/usr/lib/os-release'));
  if (osText === null) {
    throw new CopaError('image', `${image} has no /etc/os-release, so its distribution cannot be detected`, {
      hint: 'copa patches OS packages of Linux distribution images; scratch or static images have none to patch',
    });
  }
  const osRelease = parseOsRelease(osText);
  return { ...canonicalOs(osRelease, rules), osRelease };
}

/** The family that patches this OS; the error names what this build supports. */
export function managerFor(families: readonly AnyPackageManager[], os: ImageOs): AnyPackageManager {
  const m = families.find((f) => f.osTypes.includes(os.type));
  if (m) return m;
  const supported = families.flatMap((f) => f.osTypes);
  const known = SUPPORTED_OS_TYPES.includes(os.type);
  throw new CopaError('image', `${os.type} ${os.version} images (${os.pkgFamily} packages) are not supported${known ? ' yet' : ''}`, { hint: `supported: ${supported.join(', ')}` });
}

async function resolve(bridge: Bridge, ref: string, platform: Platform) {
  try {
    return await bridge.resolveImageConfig(ref, platform);
  } catch (e) {
    // An index without the platform: say which platforms it has.
    if (/no match for platform/i.test((e as Error).message)) throw await noSuchPlatform(bridge, ref, platform, e);
    throw new CopaError('image', `cannot resolve image ${ref} for ${formatPlatform(platform)}: ${(e as Error).message}`, {
      hint: 'check the image name and tag, that the registry is reachable from BuildKit, and your registry login',
      cause: e,
    });
  }
}

