// The patch engine: image + report → one patch layer on top of the original image.
// It talks to BuildKit only through a Bridge, so the gateway frontend (inside BuildKit)
// and the docker plugin (client side) run exactly this code.
import { State, type Platform } from '../llb/index.js';
import type { Bridge, ImageConfig, SolvedRef } from './bridge.js';
import { CopaError } from './errors.js';
import { canonicalOs, parseOsRelease, assertReportMatchesImage } from './osrelease.js';
import { toolingImageFor } from './tooling.js';
import { readTextIfExists, solveState } from './solve.js';
import type { PatchReport } from './report/index.js';
import { managerFor } from '../distros/index.js';
import type { ImageOs, PackageResult } from '../distros/types.js';
import { parseImageRef } from './imageref.js';

/** Label on every patched image: the ORIGINAL image pinned by digest (re-patches start there). */
export const LABEL_BASE = 'sh.copa.image.base';
/** Label on every patched image: which copa produced it. */
export const LABEL_PATCHED = 'sh.copa.image.patched';
/** Go copa's marker (a mutable tag): honoured as a fallback when re-patching its images. */
const LEGACY_LABEL_BASE = 'BaseImage';

export interface PatchRequest {
  image: string;
  platform: Platform;
  report: PatchReport | null;
  ignoreErrors: boolean;
  toolingImage?: string;
  /** 'host' runs package downloads on the host network (needs the network.host entitlement). */
  network?: 'sandbox' | 'host';
  /** Shown in the patched-by label. */
  producer?: string;
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
  const imageRef = parseImageRef(req.image);
  const resolved = await resolve(bridge, imageRef.normalized, req.platform);
  const base = findBase(resolved.config, imageRef.normalized);
  const original = base ? await resolve(bridge, base, req.platform) : resolved;
  const originalPinned = pin(base ?? imageRef.normalized, original.digest);
  if (base) log(`re-patch: starting again from the original image ${originalPinned}`);

  const originalState = State.image(originalPinned, { platform: req.platform, imageConfig: original.config.config ?? {} });
  const originalRef = await solveState(bridge, originalState, req.platform);

  const osText = (await readTextIfExists(bridge, originalRef, '/etc/os-release')) ?? (await readTextIfExists(bridge, originalRef, '/usr/lib/os-release'));
  if (osText === null) {
    throw new CopaError('image', `${req.image} has no /etc/os-release, so its distribution cannot be detected`, {
      hint: 'copa patches OS packages of Debian, Ubuntu, Alpine and RPM-based images; scratch or static images have none to patch',
    });
  }
  const os = canonicalOs(parseOsRelease(osText));
  if (req.report?.os) assertReportMatchesImage(req.report.os, os, 'the report');
  log(`image: ${req.image} (${os.type} ${os.version}, ${req.platform.os}/${req.platform.architecture}${req.platform.variant ? '/' + req.platform.variant : ''})`);

  const manager = managerFor(os);
  const previouslyPatched = new Map<string, string>();
  if (base) {
    const currentRef = await solveState(bridge, State.image(pin(imageRef.normalized, resolved.digest), { platform: req.platform }), req.platform);
    const [was, now] = await Promise.all([manager.installedVersions(bridge, originalRef), manager.installedVersions(bridge, currentRef)]);
    for (const [name, v] of now) if (was.get(name) !== undefined && was.get(name) !== v) previouslyPatched.set(name, v);
    log(`re-patch: ${previouslyPatched.size} package(s) raised by the previous patch will be kept`);
  }

  const toolingImage = toolingImageFor({ type: os.type, version: os.version, hasReport: req.report !== null, override: req.toolingImage });
  const ctx = {
    bridge,
    platform: req.platform,
    os,
    original: originalState,
    originalRef,
    previouslyPatched,
    updates: req.report ? req.report.updates : null,
    ignoreErrors: req.ignoreErrors,
    toolingImage,
    network: req.network ?? 'sandbox',
    log,
  };
  const outcome = await manager.patch(ctx);

  const config = patchedConfig(original.config, req.platform, originalPinned, req.producer);
  if (!outcome.installed && !previouslyPatched.size) {
    // Nothing to install on an unpatched image: hand it back untouched.
    return { kind: 'up-to-date', ref: originalRef, config: resolved.config, os, base: originalPinned, packages: outcome.packages, state: originalState };
  }
  let installed = outcome.installed;
  if (!installed) {
    // A re-patched image that is already up to date: rebuild its patch layer from the original
    // (all cached). Re-exporting the patched image itself is not safe: BuildKit can drop the
    // base layers of an image whose patch layer it produced as a diff earlier.
    const again = await manager.patch({ ...ctx, previouslyPatched: new Map(), updates: [...previouslyPatched].map(([name, v]) => ({ name, installedVersion: '', fixedVersion: v, vulnerabilityIds: [] })) });
    installed = again.installed;
    if (!installed) throw new CopaError('internal', `re-applying the previous patch of ${req.image} changed nothing`, { hint: 'patch the original image instead' });
  }
  const kind = outcome.installed ? 'patched' : 'up-to-date';
  // The install ran as one step on the original, so this diff is exactly one layer.
  const patched = State.merge([originalState, State.diff(originalState, installed, { name: 'copa: extract patch layer' })], {
    name: 'copa: patch layer on the original image',
  });
  const ref = await solveState(bridge, patched, req.platform, true);
  return { kind, ref, config, os, base: originalPinned, packages: outcome.packages, state: patched };
}

async function resolve(bridge: Bridge, ref: string, platform: Platform) {
  try {
    return await bridge.resolveImageConfig(ref, platform);
  } catch (e) {
    throw new CopaError('image', `cannot resolve image ${ref} for ${platform.os}/${platform.architecture}: ${(e as Error).message}`, {
      hint: 'check the image name and tag, that the registry is reachable from BuildKit, and your registry login',
      cause: e,
    });
  }
}

function labelsOf(config: ImageConfig): Record<string, string> {
  const c = config.config as Record<string, unknown> | undefined;
  // Go copa wrote a lower-case "labels" key; read both.
  return { ...((c?.['labels'] as Record<string, string>) ?? {}), ...(config.config?.Labels ?? {}) };
}

function findBase(config: ImageConfig, self: string): string | null {
  const labels = labelsOf(config);
  const base = labels[LABEL_BASE] ?? labels[LEGACY_LABEL_BASE];
  if (!base) return null;
  const normalized = parseImageRef(base).normalized;
  return normalized === self ? null : normalized;
}

function pin(ref: string, digest: string): string {
  const r = parseImageRef(ref);
  return `${r.repository}@${digest}`;
}

function patchedConfig(config: ImageConfig, platform: Platform, basePinned: string, producer = 'copa-ts'): ImageConfig {
  const out: ImageConfig = structuredClone(config);
  out.architecture = platform.architecture;
  out.os = platform.os;
  if (platform.variant) out.variant = platform.variant;
  else delete out.variant;
  out.config = { ...(out.config ?? {}) };
  const labels = { ...(out.config.Labels ?? {}) };
  delete labels[LEGACY_LABEL_BASE];
  labels[LABEL_BASE] = basePinned;
  labels[LABEL_PATCHED] = producer;
  out.config.Labels = labels;
  delete (out.config as Record<string, unknown>)['labels'];
  return out;
}
