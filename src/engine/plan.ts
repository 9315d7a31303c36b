// Package selection and post-install validation, shared by every package manager.
import type { PackageResult, Wanted } from './package-manager.js';
import type { ReportUpdate } from './report/index.js';

export type Compare = (a: string, b: string) => number;

export interface Plan {
  /** Packages to upgrade (report mode), each with the minimum acceptable version. */
  wanted: Wanted[];
  /** Report entries settled without installing anything. */
  settled: PackageResult[];
}

/**
 * Report mode: keep report packages that are installed and still below their fixed
 * version; re-patch: also re-raise whatever a previous patch raised (we always patch
 * the original image, so earlier fixes must be re-applied to be kept).
 */
export function planFromReport(
  installed: Map<string, string>,
  updates: ReportUpdate[],
  previouslyPatched: Map<string, string>,
  compare: Compare,
): Plan {
  const wanted = new Map<string, Wanted>();
  const settled: PackageResult[] = [];
  for (const report of updates) {
    // dpkg's "name:arch" in a report names the package the database lists as "name".
    const bare = report.name.split(':')[0]!;
    const name = installed.has(report.name) || !installed.has(bare) ? report.name : bare;
    const u = name === report.name ? report : { ...report, name };
    const have = installed.get(name);
    if (have === undefined) {
      settled.push({ name: u.name, status: 'not-installed', requiredVersion: u.fixedVersion, vulnerabilityIds: u.vulnerabilityIds, reason: 'not installed in the image' });
      continue;
    }
    // On a re-patch the image already carries the previous patch's versions.
    const current = previouslyPatched.get(u.name) ?? have;
    if (compare(current, u.fixedVersion) >= 0) {
      settled.push({ name: u.name, status: 'already-fixed', installedVersion: have, requiredVersion: u.fixedVersion, finalVersion: current, vulnerabilityIds: u.vulnerabilityIds });
      continue;
    }
    wanted.set(u.name, { name: u.name, minVersion: u.fixedVersion, vulnerabilityIds: u.vulnerabilityIds });
  }
  // Nothing new to fix: the image (patched or not) is up to date for this report.
  if (wanted.size === 0) return { wanted: [], settled };
  // Otherwise we patch the original again, so every earlier fix must be re-applied too.
  for (const [name, version] of previouslyPatched) {
    const w = wanted.get(name);
    if (w) {
      w.minVersion = maxVersion(w.minVersion, version, compare);
      continue;
    }
    const i = settled.findIndex((s) => s.name === name);
    const ids = i >= 0 ? settled.splice(i, 1)[0]!.vulnerabilityIds : [];
    wanted.set(name, { name, minVersion: version, vulnerabilityIds: ids });
  }
  return { wanted: [...wanted.values()].sort((a, b) => (a.name < b.name ? -1 : 1)), settled };
}

function maxVersion(a: string, b: string, compare: Compare): string {
  if (!b) return a;
  if (!a) return b;
  return compare(a, b) >= 0 ? a : b;
}

/** Compare the image's versions before and after; every wanted package must reach its minimum. */
export function validate(
  wanted: Wanted[],
  before: Map<string, string>,
  after: Map<string, string>,
  compare: Compare,
): { results: PackageResult[]; failures: string[] } {
  const results: PackageResult[] = [];
  const failures: string[] = [];
  for (const w of wanted) {
    const was = before.get(w.name);
    const now = after.get(w.name);
    const base = { name: w.name, installedVersion: was, requiredVersion: w.minVersion || undefined, finalVersion: now, vulnerabilityIds: w.vulnerabilityIds };
    if (now === undefined) {
      results.push({ ...base, status: 'not-patched', reason: 'package is no longer installed after the upgrade' });
      failures.push(`package ${w.name} was removed by the upgrade`);
    } else if (w.minVersion && compare(now, w.minVersion) < 0) {
      results.push({ ...base, status: 'not-patched', reason: `newest available version ${now} is lower than required ${w.minVersion}` });
      failures.push(`downloaded package ${w.name} version ${now} lower than required ${w.minVersion} for update`);
    } else if (was !== undefined && now === was && !w.minVersion) {
      results.push({ ...base, status: 'already-fixed' });
    } else {
      results.push({ ...base, status: now === was ? 'already-fixed' : 'patched' });
    }
  }
  return { results, failures };
}

/** Update-all mode: every package whose version changed counts as patched. */
export function changedPackages(before: Map<string, string>, after: Map<string, string>): PackageResult[] {
  const out: PackageResult[] = [];
  for (const [name, now] of after) {
    const was = before.get(name);
    if (was !== undefined && was !== now) out.push({ name, status: 'patched', installedVersion: was, finalVersion: now, vulnerabilityIds: [] });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}
