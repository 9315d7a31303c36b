// /etc/os-release parsing, the canonical names of the distributions copa can patch, and
// the check that a report was made for the image being patched.
//
// The same distribution is spelled differently by os-release (ID=almalinux, ol, amzn,
// rhel, mariner, …) and by scanners (Trivy: alma, oracle, amazon, redhat, cbl-mariner,
// "suse linux enterprise server", opensuse.leap, …); canonicalType() maps both spellings
// to one name.

import { CopaError, quote } from './errors.js';
import type { PkgFamily } from './versions/index.js';

export interface OsRelease {
  /** ID, lowercased; "linux" when absent (the os-release default). */
  id: string;
  idLike: string[];
  versionId: string;
  versionCodename: string;
  prettyName: string;
  name: string;
  /** Every assignment in the file, unquoted. */
  fields: Record<string, string>;
}

/** Unquote one os-release value: shell-like quoting with "…", '…' and backslash escapes. */
function unquote(raw: string): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === '"') {
      i++;
      while (i < raw.length && raw[i] !== '"') {
        // Inside double quotes a backslash escapes only $ ` " \ (and a newline).
        if (raw[i] === '\\' && i + 1 < raw.length && '$`"\\\n'.includes(raw[i + 1]!)) i++;
        out += raw[i]!;
        i++;
      }
      i++; // closing quote (a missing one ends the value)
    } else if (c === "'") {
      const end = raw.indexOf("'", i + 1);
      out += end < 0 ? raw.slice(i + 1) : raw.slice(i + 1, end);
      i = end < 0 ? raw.length : end + 1;
    } else if (c === '\\') {
      if (i + 1 < raw.length) out += raw[i + 1]!;
      i += 2;
    } else if (/\s/.test(c)) {
      break; // unquoted whitespace ends the value (anything after it is ignored)
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export function parseOsRelease(text: string): OsRelease {
  const fields: Record<string, string> = Object.create(null);
  for (const rawLine of text.replace(/\r\n?/g, '\n').split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue; // not an assignment: ignored, as systemd does
    fields[m[1]!] = unquote(m[2]!);
  }
  const get = (k: string): string => fields[k] ?? '';
  return {
    id: (get('ID') || 'linux').toLowerCase(),
    idLike: get('ID_LIKE').toLowerCase().split(/\s+/).filter(Boolean),
    versionId: get('VERSION_ID'),
    versionCodename: get('VERSION_CODENAME'),
    prettyName: get('PRETTY_NAME') || 'Linux',
    name: get('NAME') || 'Linux',
    fields: { ...fields },
  };
}

export type OsType =
  | 'debian'
  | 'ubuntu'
  | 'alpine'
  | 'cbl-mariner'
  | 'azurelinux'
  | 'centos'
  | 'rocky'
  | 'alma'
  | 'oracle'
  | 'amazon'
  | 'redhat'
  | 'photon'
  | 'sles'
  | 'opensuse-leap'
  | 'opensuse-tumbleweed';

/** Coarser grouping: distributions in one family share tooling and repository conventions. */
export type OsFamily = 'debian' | 'ubuntu' | 'alpine' | 'rpm-rhel' | 'rpm-mariner' | 'rpm-photon' | 'rpm-suse';

interface TypeInfo {
  family: OsFamily;
  pkgFamily: PkgFamily;
  /** How many leading numeric components identify a release (ubuntu 22.04, alpine 3.19, debian 12). */
  releaseDepth: 1 | 2;
}

const TYPES: Record<OsType, TypeInfo> = {
  debian: { family: 'debian', pkgFamily: 'deb', releaseDepth: 1 },
  ubuntu: { family: 'ubuntu', pkgFamily: 'deb', releaseDepth: 2 },
  alpine: { family: 'alpine', pkgFamily: 'apk', releaseDepth: 2 },
  'cbl-mariner': { family: 'rpm-mariner', pkgFamily: 'rpm', releaseDepth: 1 },
  azurelinux: { family: 'rpm-mariner', pkgFamily: 'rpm', releaseDepth: 1 },
  centos: { family: 'rpm-rhel', pkgFamily: 'rpm', releaseDepth: 1 },
  rocky: { family: 'rpm-rhel', pkgFamily: 'rpm', releaseDepth: 1 },
  alma: { family: 'rpm-rhel', pkgFamily: 'rpm', releaseDepth: 1 },
  oracle: { family: 'rpm-rhel', pkgFamily: 'rpm', releaseDepth: 1 },
  amazon: { family: 'rpm-rhel', pkgFamily: 'rpm', releaseDepth: 1 },
  redhat: { family: 'rpm-rhel', pkgFamily: 'rpm', releaseDepth: 1 },
  photon: { family: 'rpm-photon', pkgFamily: 'rpm', releaseDepth: 1 },
  sles: { family: 'rpm-suse', pkgFamily: 'rpm', releaseDepth: 1 },
  'opensuse-leap': { family: 'rpm-suse', pkgFamily: 'rpm', releaseDepth: 1 },
  'opensuse-tumbleweed': { family: 'rpm-suse', pkgFamily: 'rpm', releaseDepth: 1 },
};

export const SUPPORTED_OS_TYPES: readonly OsType[] = Object.keys(TYPES) as OsType[];

// os-release IDs and scanner family names that are not already an OsType.
const ALIASES: Record<string, OsType> = {
  mariner: 'cbl-mariner',
  almalinux: 'alma',
  ol: 'oracle',
  oraclelinux: 'oracle',
  amzn: 'amazon',
  rhel: 'redhat',
  'suse linux enterprise server': 'sles',
  sle: 'sles',
  'sle-micro': 'sles',
  slem: 'sles',
  'suse linux enterprise micro': 'sles',
  'opensuse.leap': 'opensuse-leap',
  opensuse: 'opensuse-leap',
  'opensuse.tumbleweed': 'opensuse-tumbleweed',
};

// Distributions people try that copa cannot patch, with the reason.
const UNSUPPORTED: Record<string, string> = {
  wolfi: 'Wolfi images are not supported (their packages are rebuilt continuously; rebuild the image instead)',
  chainguard: 'Chainguard images are not supported (rebuild the image from a newer Chainguard base instead)',
  fedora: 'Fedora is not supported',
  arch: 'Arch Linux is not supported',
  archlinux: 'Arch Linux is not supported',
  gentoo: 'Gentoo is not supported',
};

/** Map an os-release ID or a scanner's OS family name to copa's type; null when unknown. */
export function canonicalType(name: string): OsType | null {
  const key = name.trim().toLowerCase();
  if (Object.hasOwn(TYPES, key)) return key as OsType;
  return Object.hasOwn(ALIASES, key) ? ALIASES[key]! : null;
}

export function osTypeInfo(type: OsType): { family: OsFamily; pkgFamily: PkgFamily } {
  const t = TYPES[type];
  return { family: t.family, pkgFamily: t.pkgFamily };
}

/** Package family for an os-release ID or scanner family name; null when unknown. */
export function pkgFamilyOf(name: string): PkgFamily | null {
  const t = canonicalType(name);
  return t ? TYPES[t].pkgFamily : null;
}

/** Why an OS name is not patchable, for an error message. */
export function unsupportedOsReason(name: string): string {
  const key = name.trim().toLowerCase();
  const specific = Object.hasOwn(UNSUPPORTED, key) ? UNSUPPORTED[key] : `${quote(name)} is not a supported OS`;
  return `${specific}; supported: ${SUPPORTED_OS_TYPES.join(', ')}`;
}

/** Leading numeric components of a version as written: "22.04.4" → ["22", "04", "4"], "sid" → []. */
export function numericParts(version: string): string[] {
  const m = /^\s*v?(\d+(?:\.\d+)*)/.exec(version);
  return m ? m[1]!.split('.') : [];
}

/** Leading numeric components of a version: "12.9" → [12, 9], "2 (Karoo)" → [2], "sid" → []. */
export function numericComponents(version: string): number[] {
  return numericParts(version).map((p) => Number.parseInt(p, 10));
}

/** The numeric major version, or null when the version does not start with a number. */
export function majorVersion(version: string): number | null {
  const c = numericComponents(version);
  return c.length > 0 ? c[0]! : null;
}

/**
 * Release rules a family supplies for a distribution whose versions are not plain numbers
 * (Debian's codenames and its testing/unstable images, for instance). The defaults: the
 * image's version is VERSION_ID, and a release is the leading numeric components of a
 * version, as many as the distribution's release depth.
 */
export interface ReleaseRules {
  /** The image's version from its os-release. */
  versionOf?(osr: OsRelease): string;
  /** The release a version names (as an image or a report writes it); null when it cannot be told. */
  releaseOf?(version: string): Release | null;
}

/** A release: keys that identify it (any shared key is a match) and how to show it. */
export interface Release {
  keys: string[];
  label: string;
}

export type ReleaseRuleSet = Partial<Record<OsType, ReleaseRules>>;

export interface CanonicalOs {
  family: OsFamily;
  type: OsType;
  version: string;
  pkgFamily: PkgFamily;
}

/** copa's view of an image's OS, from its os-release; CopaError('image') when unsupported. */
export function canonicalOs(osr: OsRelease, rules: ReleaseRuleSet = {}): CanonicalOs {
  const type = canonicalType(osr.id);
  if (!type) {
    throw new CopaError(
      'image',
      `the image's /etc/os-release says ID=${osr.id} (${quote(osr.prettyName)}): ${unsupportedOsReason(osr.id)}`,
    );
  }
  const version = rules[type]?.versionOf?.(osr) ?? osr.versionId;
  const info = TYPES[type];
  return { family: info.family, type, version, pkgFamily: info.pkgFamily };
}

/**
 * The release a version of `type` names: by default its leading numeric components, as many
 * as identify one release ("22.04" for Ubuntu, "3.19" for Alpine, "12" for Debian); compared
 * as numbers, so "22.04" and "22.4" are one release. null when the version is not numeric.
 */
function releaseOf(type: OsType, version: string, rules: ReleaseRuleSet): Release | null {
  const rule = rules[type]?.releaseOf;
  if (rule) return rule(version);
  return numericRelease(version, TYPES[type].releaseDepth);
}

/** The default rule: the first `depth` numeric components of a version. */
export function numericRelease(version: string, depth: number): Release | null {
  const parts = numericParts(version);
  if (parts.length < depth) return null;
  const p = parts.slice(0, depth);
  return { keys: [p.map(Number).join('.')], label: p.join('.') };
}

/**
 * Throw CopaError('report') when a report was made for another distribution or another
 * release of it than the image. A report without OS metadata (reportOs null) passes; so do
 * versions that are not numeric (e.g. "edge", "sid") on either side.
 */
export function assertReportMatchesImage(
  reportOs: { family: string; version: string } | null,
  imageOs: { type: string; version: string },
  source: string,
  rules: ReleaseRuleSet = {},
): void {
  if (!reportOs) return;
  const imageType = canonicalType(imageOs.type);
  const reportType = canonicalType(reportOs.family);
  if (!imageType) throw new CopaError('image', `the image's OS ${quote(imageOs.type)}: ${unsupportedOsReason(imageOs.type)}`);
  if (!reportType) {
    throw new CopaError('report', `${source}: the report is for ${quote(reportOs.family)}: ${unsupportedOsReason(reportOs.family)}`);
  }
  const hint = 'Scan the image you are patching and pass that report, or patch without a report to update every package.';
  // CBL-Mariner was renamed Azure Linux from version 3.0 on: one lineage.
  const lineage = (t: OsType): string => (t === 'azurelinux' ? 'cbl-mariner' : t);
  if (lineage(imageType) !== lineage(reportType)) {
    throw new CopaError(
      'report',
      `${source} is a report for ${reportType} ${reportOs.version}, but the image runs ${imageType} ${imageOs.version}`,
      { hint },
    );
  }
  const r = releaseOf(imageType, reportOs.version, rules);
  const i = releaseOf(imageType, imageOs.version, rules);
  if (r !== null && i !== null && !r.keys.some((k) => i.keys.includes(k))) {
    throw new CopaError(
      'report',
      `${source} is a report for ${reportType} ${reportOs.version}, but the image runs ${imageType} ${imageOs.version} (release ${r.label} vs ${i.label})`,
      { hint },
    );
  }
}
