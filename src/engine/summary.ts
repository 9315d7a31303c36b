// Human-readable plan and summary lines, shared by the frontend (warnings) and the plugin.
import type { PackageResult } from './package-manager.js';

export function summaryLines(packages: PackageResult[]): string[] {
  const by = (s: PackageResult['status']) => packages.filter((p) => p.status === s);
  const lines: string[] = [];
  const patched = by('patched');
  const fixed = by('already-fixed');
  const notPatched = by('not-patched');
  const absent = by('not-installed');
  lines.push(`${patched.length} patched, ${fixed.length} already fixed, ${notPatched.length} not patched, ${absent.length} not installed`);
  for (const p of patched) lines.push(`  patched      ${p.name} ${p.installedVersion ?? '?'} -> ${p.finalVersion ?? '?'}`);
  for (const p of notPatched) lines.push(`  NOT PATCHED  ${p.name} ${p.installedVersion ?? '?'}: ${p.reason ?? ''}`);
  for (const p of absent) lines.push(`  not installed ${p.name}`);
  return lines;
}
