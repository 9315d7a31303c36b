// What an RPM-based image says it has installed, in the two places such images record it:
//  - an rpm database (sqlite: Azure Linux 3, Mariner 2, RHEL 9 family, AL2023; Berkeley DB:
//    CentOS 7, RHEL 8 family, AL2; ndb: SLES 15), read by running rpm itself (the image's own,
//    or the tooling image's against the image) — the parsers here read `rpm -qa --qf` output;
//  - distroless Mariner / Azure Linux images have no database, only the manifest
//    /var/lib/rpmmanifest/container-manifest-2, read straight from the snapshot.
// Versions are written the way scanners (Trivy) write RPM versions: VERSION-RELEASE, with
// "EPOCH:" in front only when the package has a non-zero epoch.
import { CopaError, quote } from '../../engine/errors.js';
import { isSafePackageName, isSafeVersion } from '../../engine/pkgname.js';
import { escapeControls } from '../../engine/text.js';
import { comparatorFor } from '../../engine/versions/index.js';

export const MANIFEST_DIR = '/var/lib/rpmmanifest';
export const MANIFEST_2 = `${MANIFEST_DIR}/container-manifest-2`;
export const MANIFEST_1 = `${MANIFEST_DIR}/container-manifest-1`;

export type RpmDbFormat = 'sqlite' | 'ndb' | 'bdb';

/** Where rpm keeps its database, newest layout first (Fedora 36+/openSUSE moved it to /usr/lib/sysimage). */
export const RPMDB_DIRS = ['/var/lib/rpm', '/usr/lib/sysimage/rpm'] as const;

/** The file that marks each database format. */
export const RPMDB_FILES: ReadonlyArray<[file: string, format: RpmDbFormat]> = [
  ['rpmdb.sqlite', 'sqlite'],
  ['Packages.db', 'ndb'],
  ['Packages', 'bdb'],
];

export interface RpmPackage {
  name: string;
  /** null: no epoch (rpm prints "(none)"). */
  epoch: string | null;
  version: string;
  release: string;
  arch: string;
}

/** rpm's query format for readers: one line per package, tab-separated, "(none)" for no epoch. */
export const QUERY_FORMAT = '%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n';

/** The query format of Mariner's container-manifest-2 (ten tab-separated fields). */
export const MANIFEST_FORMAT =
  '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{INSTALLTIME}\\t%{BUILDTIME}\\t%{VENDOR}\\t%{EPOCH}\\t%{SIZE}\\t%{ARCH}\\t%{EPOCHNUM}\\t%{SOURCERPM}\\n';

/** rpm's own pseudo-packages for imported signing keys: not software, never patched. */
const PSEUDO = new Set(['gpg-pubkey', 'gpg-pubkey-release']);

const ARCH = /^[A-Za-z0-9_]+$/;
const EPOCH = /^[0-9]+$/;

/** "1:1.1.1k-5.el8" / "1.1.1k-7.cm2": the version as reports write it. */
export function evrOf(p: Pick<RpmPackage, 'epoch' | 'version' | 'release'>): string {
  const vr = `${p.version}-${p.release}`;
  return p.epoch !== null && p.epoch !== '0' ? `${p.epoch}:${vr}` : vr;
}

function bad(where: string, lineNo: number, line: string, why: string): CopaError {
  return new CopaError('image', `${where} line ${lineNo} (${quote(escapeControls(line.slice(0, 200)))}) ${why}`, {
    hint: "the image's package records are damaged or not what rpm writes; copa cannot tell what is installed",
  });
}

function checkPackage(p: RpmPackage, where: string, lineNo: number, line: string): RpmPackage {
  if (!isSafePackageName('rpm', p.name)) throw bad(where, lineNo, line, 'has a package name rpm does not allow');
  if (!ARCH.test(p.arch)) throw bad(where, lineNo, line, 'has an architecture rpm does not write');
  if (p.epoch !== null && !EPOCH.test(p.epoch)) throw bad(where, lineNo, line, 'has a non-numeric epoch');
  if (!isSafeVersion('rpm', evrOf(p))) throw bad(where, lineNo, line, 'has a version rpm does not allow');
  return p;
}

/** Parse `rpm -qa --qf QUERY_FORMAT` output (gpg-pubkey entries are left out). */
export function parseRpmQuery(text: string, where = 'rpm -qa output'): RpmPackage[] {
  const out: RpmPackage[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const f = line.split('\t');
    if (f.length !== 5) throw bad(where, i + 1, line, `has ${f.length} fields, not 5`);
    const [name, epoch, version, release, arch] = f as [string, string, string, string, string];
    if (PSEUDO.has(name)) return;
    out.push(checkPackage({ name, epoch: epoch === '(none)' || epoch === '' ? null : epoch, version, release, arch }, where, i + 1, line));
  });
  return out;
}

export interface ManifestLine extends RpmPackage {
  /** The line as the manifest has it (kept as it is when the package is not upgraded). */
  raw: string;
}

/**
 * Parse container-manifest-2: NAME, VERSION-RELEASE, INSTALLTIME, BUILDTIME, VENDOR, EPOCH,
 * SIZE, ARCH, EPOCHNUM, SOURCERPM. The epoch is the EPOCH field ("(none)" = none), as rpm
 * printed it; EPOCHNUM is not used (it is not what scanners read).
 */
export function parseManifest(text: string, where = MANIFEST_2): ManifestLine[] {
  const out: ManifestLine[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const f = line.split('\t');
    if (f.length !== 10) throw bad(where, i + 1, line, `has ${f.length} tab-separated fields, not 10`);
    const vr = f[1]!;
    const dash = vr.lastIndexOf('-');
    if (dash <= 0 || dash === vr.length - 1) throw bad(where, i + 1, line, 'has no VERSION-RELEASE');
    const epoch = f[5] === '(none)' || f[5] === '' ? null : f[5]!;
    if (PSEUDO.has(f[0]!)) return;
    const p = checkPackage({ name: f[0]!, epoch, version: vr.slice(0, dash), release: vr.slice(dash + 1), arch: f[7]! }, where, i + 1, line);
    out.push({ ...p, raw: line });
  });
  return out;
}

const cmp = comparatorFor('rpm');

/**
 * name → version. A name installed for two architectures (multilib: i686 and x86_64) maps to
 * its lower version, so validation holds every instance to the fixed version.
 */
export function versionsOf(pkgs: readonly RpmPackage[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of pkgs) {
    const v = evrOf(p);
    const have = m.get(p.name);
    if (have === undefined || cmp(v, have) < 0) m.set(p.name, v);
  }
  return m;
}

/** "name-version-release.arch" (no epoch): how tdnf/dnf/yum name one exact installed package. */
export function nevraSpec(p: RpmPackage): string {
  return `${p.name}-${p.version}-${p.release}.${p.arch}`;
}
