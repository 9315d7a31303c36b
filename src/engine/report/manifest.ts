// Copacetic's own update manifests, as written by scanner plugins (--scanner native) and
// used by the upstream frontend tests:
//   v1alpha1: { apiVersion: "v1alpha1", metadata: { os: { type, version }, config: { arch } },
//               updates: [{ name, installedVersion, fixedVersion, vulnerabilityID }] }
//   v1alpha2: { apiVersion: "v1alpha2", metadata: { os, config: { arch, variant } },
//               osupdates: [same, plus type/class], langupdates: [same] }
//   v1alpha1 without apiVersion (the upstream frontend test fixtures).
// Unknown fields are ignored. langupdates are counted and ignored (copa-ts patches OS
// packages only); an update without a fixedVersion is counted as unfixed.

import { z } from 'zod';
import { CopaError, quote } from '../errors.js';
import { formatJsonPath, isObject, parseWithSchema } from './json.js';
import type { RawReport, ReportFormat } from './types.js';

export const MANIFEST_API_VERSIONS = ['v1alpha1', 'v1alpha2'] as const;

const Update = z.object({
  name: z.string(),
  installedVersion: z.string().nullish(),
  fixedVersion: z.string().nullish(),
  vulnerabilityID: z.string().nullish(),
});

const Metadata = z
  .object({
    os: z.object({ type: z.string().nullish(), version: z.string().nullish() }).nullish(),
    config: z.object({ arch: z.string().nullish(), variant: z.string().nullish() }).nullish(),
  })
  .nullish();

const V1alpha1 = z.object({
  apiVersion: z.literal('v1alpha1').nullish(),
  metadata: Metadata,
  updates: z.array(Update).nullish(),
});

const V1alpha2 = z.object({
  apiVersion: z.literal('v1alpha2'),
  metadata: Metadata,
  osupdates: z.array(Update).nullish(),
  langupdates: z.array(z.unknown()).nullish(),
});

/** Whether a parsed JSON document has the shape of an update manifest (any version). */
export function looksLikeManifest(doc: unknown): boolean {
  return isObject(doc) && ('apiVersion' in doc || 'updates' in doc || 'osupdates' in doc);
}

export function parseManifest(doc: unknown, source: string): RawReport {
  if (!isObject(doc)) throw new CopaError('report', `${source} is not a JSON object`);
  const api = doc['apiVersion'];
  let format: ReportFormat;
  let updates: z.output<typeof Update>[];
  let updatesKey: string;
  let langPkgs = 0;
  let metadata: z.output<typeof Metadata>;
  if (api === undefined || api === null || api === 'v1alpha1') {
    const m = parseWithSchema(V1alpha1, doc, source, 'v1alpha1 update manifest');
    format = 'v1alpha1';
    updates = m.updates ?? [];
    updatesKey = 'updates';
    metadata = m.metadata;
  } else if (api === 'v1alpha2') {
    const m = parseWithSchema(V1alpha2, doc, source, 'v1alpha2 update manifest');
    format = 'v1alpha2';
    updates = m.osupdates ?? [];
    updatesKey = 'osupdates';
    langPkgs = m.langupdates?.length ?? 0;
    metadata = m.metadata;
  } else {
    throw new CopaError(
      'report',
      `${source}: apiVersion ${typeof api === 'string' ? quote(api) : JSON.stringify(api)} is not supported; accepted: ${MANIFEST_API_VERSIONS.join(', ')}`,
      { hint: 'update copa-ts, or make the scanner plugin write one of the accepted apiVersions' },
    );
  }

  const out: RawReport = { format, os: null, findings: [], ignored: { langPkgs, unfixed: 0 } };
  const osType = (metadata?.os?.type ?? '').trim();
  if (osType !== '') out.os = { family: osType, version: (metadata?.os?.version ?? '').trim() };
  if (metadata?.config?.arch) out.arch = metadata.config.arch;
  if (metadata?.config?.variant) out.variant = metadata.config.variant;

  updates.forEach((u, k) => {
    const fixed = (u.fixedVersion ?? '').trim();
    if (fixed.split(',').every((s) => s.trim() === '')) {
      out.ignored.unfixed++;
      return;
    }
    const at = (field: string): string => formatJsonPath([updatesKey, k, field]);
    out.findings.push({
      name: u.name,
      installedVersion: (u.installedVersion ?? '').trim(),
      fixedVersion: fixed,
      vulnerabilityId: (u.vulnerabilityID ?? '').trim(),
      paths: {
        name: at('name'),
        installedVersion: at('installedVersion'),
        fixedVersion: at('fixedVersion'),
        vulnerabilityId: at('vulnerabilityID'),
      },
    });
  });
  return out;
}
