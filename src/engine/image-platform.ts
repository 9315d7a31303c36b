// The platform being patched must be one the image has, and the report (when it says) must
// be for that platform. BuildKit resolves a single-platform image for ANY requested platform
// and hands back its config, so without this check an amd64 image "patched" for arm64 would
// be published with an arm64 config over x86-64 layers.
import { formatPlatform, normalizePlatform, type Platform } from '../llb/index.js';
import type { Bridge, ImageConfig } from './bridge.js';
import { CopaError, quote } from './errors.js';

/** Platforms worth asking a registry about when listing what an image index holds. */
const PROBES: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
  { os: 'linux', architecture: 'arm', variant: 'v6' },
  { os: 'linux', architecture: '386' },
  { os: 'linux', architecture: 'ppc64le' },
  { os: 'linux', architecture: 's390x' },
  { os: 'linux', architecture: 'riscv64' },
];

/** The platform an image config says it is for, normalised; null when it does not say. */
export function configPlatform(config: ImageConfig): Platform | null {
  if (!config.architecture) return null;
  return normalizePlatform({ os: config.os || 'linux', architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return formatPlatform(normalizePlatform(a)) === formatPlatform(normalizePlatform(b));
}

/** The platforms an image has, found by resolving it for each common platform. */
export async function listPlatforms(bridge: Bridge, ref: string): Promise<string[]> {
  const found = await Promise.all(
    PROBES.map(async (p) => {
      try {
        const r = await bridge.resolveImageConfig(ref, p);
        const got = configPlatform(r.config);
        return got ? formatPlatform(got) : null;
      } catch {
        return null;
      }
    }),
  );
  return [...new Set(found.filter((x): x is string => x !== null))].sort();
}

export async function noSuchPlatform(bridge: Bridge, image: string, platform: Platform, cause?: unknown): Promise<CopaError> {
  const have = await listPlatforms(bridge, image);
  const list = have.length ? have.join(', ') : 'none that could be resolved';
  return new CopaError('image', `${image} has no ${formatPlatform(platform)} image; its platforms: ${list}`, {
    hint: 'patch one of its platforms (--platform / platform=…), or use a report scanned from that platform',
    cause,
  });
}

/** Fail unless the resolved config is for the platform asked for. */
export async function assertImagePlatform(bridge: Bridge, image: string, platform: Platform, config: ImageConfig): Promise<void> {
  const got = configPlatform(config);
  if (got && !samePlatform(got, platform)) throw await noSuchPlatform(bridge, image, platform);
}

/** The platform a report says it was scanned from (normalised: x86_64 → amd64, aarch64 → arm64); null when it does not say. */
export function reportPlatform(report: { arch?: string; variant?: string }): Platform | null {
  if (!report.arch) return null;
  return normalizePlatform({ os: 'linux', architecture: report.arch, ...(report.variant ? { variant: report.variant } : {}) });
}

/** Fail when the report says it was scanned from another platform than the one being patched. */
export function assertReportPlatform(report: { arch?: string; variant?: string } | null, platform: Platform, source: string): void {
  const said = report ? reportPlatform(report) : null;
  if (!said || samePlatform(said, platform)) return;
  throw new CopaError('report', `${source} was scanned from a ${formatPlatform(said)} image (architecture ${quote(report!.arch!)}), but the platform being patched is ${formatPlatform(platform)}`, {
    hint: 'scan the platform you patch (trivy image --platform …), pass --platform to match the report, or give a directory with one report per platform',
  });
}
