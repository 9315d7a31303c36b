// parseReport: bytes of a scanner report → the package updates copa applies.
//
// Steps: decode (size limit, encoding) → JSON (errors with line/column) → detect the
// format → schema check (errors with JSON paths) → canonical OS and its version ordering →
// every name, version and vulnerability id checked against the family's grammar (nothing
// unsafe ever reaches a shell) → one update per package, keeping the highest fixed version,
// with the vulnerability ids merged → sorted by name.
//
// Several fixed versions in one finding ("1.2.3, 1.3.1", as Trivy writes when a fix exists on
// more than one release branch): any one of them fixes the vulnerability. copa installs the
// newest version the image's own repositories offer and then checks the result against the
// fixed version, so the fixed version is a lower bound. The right bound is the lowest listed
// version that is newer than the installed one: that is the fix on the image's own branch,
// and demanding a higher one (another branch) would fail a correctly patched package. When
// none is newer than the installed version, the package already carries a fix: the highest
// listed version is kept, and the engine reports the package as already fixed.

import { CopaError, quote } from '../errors.js';
import { escapeControls, hasControlChars } from '../text.js';
import { canonicalType, osTypeInfo, unsupportedOsReason } from '../osrelease.js';
import { assertSafePackageName, assertSafeVersion } from '../pkgname.js';
import { comparatorFor, type PkgFamily, type VersionComparator } from '../versions/index.js';
import { decodeReport, isObject, parseJson } from './json.js';
import { looksLikeManifest, parseManifest } from './manifest.js';
import { looksLikeTrivy, parseTrivy } from './trivy.js';
import type { PatchReport, RawFinding, RawReport, ReportUpdate } from './types.js';

export type { PatchReport, ReportFormat, ReportUpdate } from './types.js';
export { MAX_REPORT_BYTES } from './json.js';

export type ScannerKind = 'trivy' | 'native' | 'auto';

export interface ParseReportOptions {
  /** The file name, used in every error message. */
  source: string;
  scanner: ScannerKind;
}

const ACCEPTED =
  'accepted: Trivy JSON (trivy image --format json), or a copa update manifest with apiVersion v1alpha1 or v1alpha2';

const VULN_ID = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,255}$/;
const PLATFORM_WORD = /^[A-Za-z0-9_.-]{1,32}$/;

function unknownFormat(doc: unknown, source: string): CopaError {
  if (Array.isArray(doc) && doc.length > 0 && isObject(doc[0]) && 'Target' in doc[0]) {
    return new CopaError('report', `${source} is in the Trivy format used before SchemaVersion 2, which copa does not read; ${ACCEPTED}`, {
      hint: 'upgrade Trivy (v0.20 or later) and scan again',
    });
  }
  if (isObject(doc) && 'OSType' in doc && 'Packages' in doc) {
    return new CopaError('report', `${source} looks like a scanner plugin's input, not a report copa can read; ${ACCEPTED}`, {
      hint: 'run the scanner plugin on it to produce a v1alpha1/v1alpha2 update manifest',
    });
  }
  const kind = Array.isArray(doc) ? 'a JSON array' : isObject(doc) ? 'a JSON object of an unknown shape' : `a JSON ${doc === null ? 'null' : typeof doc}`;
  return new CopaError('report', `${source} is ${kind}, not a known report format; ${ACCEPTED}`, {
    hint: 'generate the report with: trivy image --format json --output report.json <image>',
  });
}

function extract(doc: unknown, opts: ParseReportOptions): RawReport {
  const { source, scanner } = opts;
  if (scanner === 'trivy') {
    if (looksLikeTrivy(doc)) return parseTrivy(doc, source);
    if (looksLikeManifest(doc)) {
      throw new CopaError('report', `${source} is a copa update manifest, not a Trivy report`, {
        hint: 'use --scanner native (or scanner=native) for update manifests',
      });
    }
    throw unknownFormat(doc, source);
  }
  if (scanner === 'native') {
    if (looksLikeManifest(doc)) return parseManifest(doc, source);
    if (looksLikeTrivy(doc)) {
      throw new CopaError('report', `${source} is a Trivy report, not a copa update manifest`, {
        hint: 'use --scanner trivy (or scanner=trivy) for Trivy reports',
      });
    }
    throw unknownFormat(doc, source);
  }
  if (looksLikeTrivy(doc)) return parseTrivy(doc, source);
  if (looksLikeManifest(doc)) return parseManifest(doc, source);
  throw unknownFormat(doc, source);
}

/** The package family whose version rules apply to the report's findings. */
function familyOf(raw: RawReport, source: string): PkgFamily | null {
  if (raw.os) {
    const t = canonicalType(raw.os.family);
    if (!t) {
      throw new CopaError('report', `${source}: the report is for ${quote(raw.os.family)}: ${unsupportedOsReason(raw.os.family)}`);
    }
    return osTypeInfo(t).pkgFamily;
  }
  if (raw.findings.length === 0) return null;
  if (raw.osHint) {
    const t = canonicalType(raw.osHint.family);
    if (t) return osTypeInfo(t).pkgFamily;
    throw new CopaError(
      'report',
      `${source}: ${raw.osHint.path} is ${quote(raw.osHint.family)}: ${unsupportedOsReason(raw.osHint.family)}`,
    );
  }
  throw new CopaError(
    'report',
    `${source} lists ${raw.findings.length} OS package fixes but does not say which OS it is for, so their versions cannot be compared`,
    { hint: 'regenerate the report; Trivy writes Metadata.OS, update manifests metadata.os.type' },
  );
}

/** Validated fixed version of one finding (resolving comma-separated lists, see the top of this file). */
function resolveFixed(f: RawFinding, family: PkgFamily, cmp: VersionComparator, source: string): string {
  const items = f.fixedVersion
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  items.forEach((v, k) => {
    assertSafeVersion(family, v, items.length > 1 ? `${f.paths.fixedVersion} (item ${k + 1} of ${items.length})` : f.paths.fixedVersion, source);
  });
  if (items.length === 1) return items[0]!;
  const newer = f.installedVersion === '' ? items : items.filter((v) => cmp.compare(v, f.installedVersion) > 0);
  if (newer.length > 0) return newer.reduce((a, b) => (cmp.compare(b, a) < 0 ? b : a));
  return items.reduce((a, b) => (cmp.compare(b, a) > 0 ? b : a));
}

/** Where each free-text field sits in each format (for warnings). */
const FREE_TEXT_PATHS: Record<RawReport['format'], { osVersion: string; artifactName: string }> = {
  trivy: { osVersion: 'Metadata.OS.Name', artifactName: 'ArtifactName' },
  v1alpha1: { osVersion: 'metadata.os.version', artifactName: 'metadata.artifactName' },
  v1alpha2: { osVersion: 'metadata.os.version', artifactName: 'metadata.artifactName' },
};

/** Longest free-text value kept as is (an image reference is at most 255 characters). */
export const MAX_FREE_TEXT = 512;

/**
 * A free-text field of a report (OS release name, artifact name): nothing a grammar can check,
 * but it is printed, logged and written into messages. Control and format characters (ESC,
 * CR, C1, bidi overrides) are escaped and overlong values shortened, each with a warning that
 * names the file and field; the value is then inert wherever it is shown.
 */
function freeText(value: string, path: string, source: string, warnings: string[]): string {
  let v = value;
  if (v.length > MAX_FREE_TEXT) {
    warnings.push(`${source}: ${path} is ${v.length} characters long; only the first ${MAX_FREE_TEXT} are used`);
    v = v.slice(0, MAX_FREE_TEXT);
  }
  if (hasControlChars(v)) {
    v = escapeControls(v);
    warnings.push(`${source}: ${path} contains control characters; they are shown escaped: ${v.length > 120 ? v.slice(0, 120) + '…' : v}`);
  }
  return v;
}

export function parseReport(bytes: Uint8Array | string, opts: ParseReportOptions): PatchReport {
  const { source } = opts;
  const text = decodeReport(bytes, source);
  const doc = parseJson(text, source);
  const raw = extract(doc, opts);

  const family = familyOf(raw, source);
  const byName = new Map<string, { update: ReportUpdate; ids: Set<string> }>();
  if (family) {
    const cmp = comparatorFor(family);
    for (const f of raw.findings) {
      assertSafePackageName(family, f.name, f.paths.name, source);
      if (f.installedVersion !== '') assertSafeVersion(family, f.installedVersion, f.paths.installedVersion, source);
      if (f.vulnerabilityId !== '' && !VULN_ID.test(f.vulnerabilityId)) {
        throw new CopaError(
          'report',
          `${source}: ${f.paths.vulnerabilityId} is ${quote(f.vulnerabilityId)}, which is not a vulnerability id (letters, digits and . _ : + -, at most 256 characters)`,
        );
      }
      const fixed = resolveFixed(f, family, cmp, source);
      const seen = byName.get(f.name);
      if (!seen) {
        byName.set(f.name, {
          update: { name: f.name, installedVersion: f.installedVersion, fixedVersion: fixed, vulnerabilityIds: [] },
          ids: new Set(f.vulnerabilityId ? [f.vulnerabilityId] : []),
        });
        continue;
      }
      if (f.vulnerabilityId) seen.ids.add(f.vulnerabilityId);
      if (cmp.compare(fixed, seen.update.fixedVersion) > 0) seen.update.fixedVersion = fixed;
      const inst = f.installedVersion;
      if (inst !== '' && (seen.update.installedVersion === '' || cmp.compare(inst, seen.update.installedVersion) < 0)) {
        seen.update.installedVersion = inst;
      }
    }
  }

  const updates = [...byName.values()]
    .map(({ update, ids }) => ({ ...update, vulnerabilityIds: [...ids].sort() }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const report: PatchReport = {
    os: null,
    updates,
    ignored: { ...raw.ignored },
    format: raw.format,
    source,
  };
  const warnings: string[] = [];
  if (raw.os) report.os = { family: canonicalType(raw.os.family)!, version: freeText(raw.os.version, FREE_TEXT_PATHS[raw.format].osVersion, source, warnings) };
  for (const key of ['arch', 'variant'] as const) {
    const v = raw[key];
    if (!v) continue;
    if (!PLATFORM_WORD.test(v)) {
      throw new CopaError('report', `${source}: the image ${key === 'arch' ? 'architecture' : 'variant'} ${quote(v)} is not a platform name`);
    }
    report[key] = v;
  }
  if (raw.artifactName) report.artifactName = freeText(raw.artifactName, FREE_TEXT_PATHS[raw.format].artifactName, source, warnings);
  if (warnings.length) report.warnings = warnings;
  return report;
}
