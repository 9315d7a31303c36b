// Trivy JSON reports (SchemaVersion 2, any Trivy release that writes it). Only the fields
// copa needs are read; everything else (CVSS, references, layers, newer additions such as
// ReportID or PkgIdentifier) is ignored, so both old and new Trivy output is accepted.
//
// - Results with Class "os-pkgs": each vulnerability with a non-empty FixedVersion is a
//   finding; those without one (Status affected / will_not_fix / end_of_life …) are left
//   alone and counted as unfixed.
// - Results with Class "lang-pkgs": library findings, counted and ignored.
// - Results without a Class (very early SchemaVersion 2 output): os-pkgs when their Type is
//   an OS copa knows, otherwise treated as library findings.
// - Other classes (config, secret, license, custom) carry no package vulnerabilities.

import { z } from 'zod';
import { CopaError } from '../errors.js';
import { canonicalType } from '../osrelease.js';
import { formatJsonPath, isObject, parseWithSchema } from './json.js';
import type { RawFinding, RawReport } from './types.js';

const TrivyVulnerability = z.object({
  VulnerabilityID: z.string(),
  PkgName: z.string(),
  InstalledVersion: z.string(),
  FixedVersion: z.string().nullish(),
});

const TrivyResult = z.object({
  Target: z.string().nullish(),
  Class: z.string().nullish(),
  Type: z.string().nullish(),
  // Checked one by one below, and only for os-pkgs results: a malformed library finding
  // must not stop an OS patch.
  Vulnerabilities: z.array(z.unknown()).nullish(),
});

const TrivyReport = z.object({
  SchemaVersion: z.number().nullish(),
  ArtifactName: z.string().nullish(),
  Metadata: z
    .object({
      OS: z.object({ Family: z.string(), Name: z.string().nullish() }).nullish(),
      ImageConfig: z.object({ architecture: z.string().nullish(), variant: z.string().nullish() }).nullish(),
    })
    .nullish(),
  Results: z.array(TrivyResult).nullish(),
});

export const TRIVY_SCHEMA_VERSION = 2;

/** Whether a parsed JSON document has the shape of a Trivy report. */
export function looksLikeTrivy(doc: unknown): boolean {
  return isObject(doc) && ('SchemaVersion' in doc || 'Results' in doc);
}

export function parseTrivy(doc: unknown, source: string): RawReport {
  const report = parseWithSchema(TrivyReport, doc, source, 'Trivy JSON report');
  if (report.SchemaVersion != null && report.SchemaVersion !== TRIVY_SCHEMA_VERSION) {
    throw new CopaError(
      'report',
      `${source} is a Trivy report with SchemaVersion ${report.SchemaVersion}; copa reads SchemaVersion ${TRIVY_SCHEMA_VERSION}`,
      { hint: 'generate the report with a Trivy release that writes SchemaVersion 2 (any release since v0.20)' },
    );
  }

  const out: RawReport = { format: 'trivy', os: null, findings: [], ignored: { langPkgs: 0, unfixed: 0 } };
  const osMeta = report.Metadata?.OS;
  if (osMeta && osMeta.Family.trim() !== '') {
    out.os = { family: osMeta.Family.trim(), version: (osMeta.Name ?? '').trim() };
  }
  const cfg = report.Metadata?.ImageConfig;
  if (cfg?.architecture) out.arch = cfg.architecture;
  if (cfg?.variant) out.variant = cfg.variant;
  if (report.ArtifactName) out.artifactName = report.ArtifactName;

  (report.Results ?? []).forEach((result, ri) => {
    const vulns = result.Vulnerabilities ?? [];
    const type = result.Type ?? '';
    const isOs = result.Class === 'os-pkgs' || (result.Class == null && canonicalType(type) !== null);
    const isLang = result.Class === 'lang-pkgs' || (result.Class == null && !isOs);
    if (isLang) {
      out.ignored.langPkgs += vulns.length;
      return;
    }
    if (!isOs) return;
    if (!out.os && !out.osHint && type !== '') out.osHint = { family: type, path: formatJsonPath(['Results', ri, 'Type']) };
    vulns.forEach((raw, vi) => {
      const base = ['Results', ri, 'Vulnerabilities', vi];
      const v = parseWithSchema(TrivyVulnerability, raw, source, 'Trivy JSON report', base);
      const fixed = (v.FixedVersion ?? '').trim();
      if (fixed.split(',').every((s) => s.trim() === '')) {
        out.ignored.unfixed++;
        return;
      }
      const finding: RawFinding = {
        name: v.PkgName,
        installedVersion: v.InstalledVersion,
        fixedVersion: fixed,
        vulnerabilityId: v.VulnerabilityID,
        paths: {
          name: formatJsonPath([...base, 'PkgName']),
          installedVersion: formatJsonPath([...base, 'InstalledVersion']),
          fixedVersion: formatJsonPath([...base, 'FixedVersion']),
          vulnerabilityId: formatJsonPath([...base, 'VulnerabilityID']),
        },
      };
      out.findings.push(finding);
    });
  });
  return out;
}
