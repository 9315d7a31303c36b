// The package-manager families copa-ts ships, as the entry points hand them to the engine.
// A new family is a folder beside dpkg/ and one line in FAMILIES.
import type { AnyPackageManager } from '../engine/package-manager.js';
import { canonicalType, osTypeInfo, unsupportedOsReason, type OsType } from '../engine/osrelease.js';
import { chooseToolingImage, type ToolingRule } from '../engine/tooling.js';
import { CopaError, quote } from '../engine/errors.js';
import { normalizeImageRef } from '../engine/imageref.js';
import type { PkgFamily } from '../engine/versions/index.js';
import { dpkg } from './dpkg/index.js';
import { apk } from './apk/index.js';
import { rpm } from './rpm/index.js';
import { dpkgTooling } from './dpkg/tooling.js';
import { rpmTooling } from './rpm/tooling.js';
import { apkTooling } from './apk/tooling.js';

export const FAMILIES: readonly AnyPackageManager[] = [dpkg, apk, rpm];

/** Tooling rules per package family, including those of families whose installer is still to come. */
const TOOLING_RULES: Record<PkgFamily, ToolingRule> = {
  deb: dpkgTooling,
  rpm: rpmTooling,
  apk: apkTooling,
};

/** The tooling image for an OS (os-release ID or scanner family name) and version; the override wins. */
export function toolingImageFor(req: { type: string; version: string; hasReport: boolean; override?: string | null }): string | null {
  if (req.override) return normalizeImageRef(req.override, 'tooling image');
  const type: OsType | null = canonicalType(req.type);
  if (!type) throw new CopaError('image', `cannot choose a tooling image for ${quote(req.type)}: ${unsupportedOsReason(req.type)}`);
  return chooseToolingImage({ type, version: req.version, hasReport: req.hasReport }, TOOLING_RULES[osTypeInfo(type).pkgFamily])?.ref ?? null;
}
