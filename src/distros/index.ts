// The package-manager families copa-ts ships, as the entry points hand them to the engine.
// A new family is a folder beside dpkg/ and one line in FAMILIES.
import type { AnyPackageManager } from '../engine/package-manager.js';
import { canonicalType, unsupportedOsReason, type OsType } from '../engine/osrelease.js';
import { chooseToolingImage } from '../engine/tooling.js';
import { CopaError, quote } from '../engine/errors.js';
import { normalizeImageRef } from '../engine/imageref.js';
import { dpkg } from './dpkg/index.js';
import { apk } from './apk/index.js';
import { rpm } from './rpm/index.js';

export const FAMILIES: readonly AnyPackageManager[] = [dpkg, apk, rpm];

/** The tooling image for an OS (os-release ID or scanner family name) and version; the override wins. */
export function toolingImageFor(req: { type: string; version: string; hasReport: boolean; override?: string | null }): string | null {
  if (req.override) return normalizeImageRef(req.override, 'tooling image');
  const type: OsType | null = canonicalType(req.type);
  if (!type) throw new CopaError('image', `cannot choose a tooling image for ${quote(req.type)}: ${unsupportedOsReason(req.type)}`);
  // Distributions without a family here (none today) have no rule.
  const family = FAMILIES.find((f) => f.osTypes.includes(type));
  return chooseToolingImage({ type, version: req.version, hasReport: req.hasReport }, family?.toolingRule)?.ref ?? null;
}
