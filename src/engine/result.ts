// What BuildKit's image exporter needs from a patch: one ref and its config, or, for several
// platforms, a ref per platform with per-platform configs and the refs.platforms list.
import { formatPlatform, type Platform } from '../llb/index.js';
import type { SolvedRef } from './bridge.js';
import type { PatchOutcome } from './patch.js';

export interface ExportResult {
  ref?: SolvedRef;
  refs?: Record<string, SolvedRef>;
  metadata: Record<string, string>;
}

export function exportResult(outcomes: ReadonlyArray<readonly [Platform, PatchOutcome]>, multiPlatform = outcomes.length > 1): ExportResult {
  if (!multiPlatform && outcomes.length === 1) {
    const [, out] = outcomes[0]!;
    return { ref: out.ref, metadata: { 'containerimage.config': JSON.stringify(out.config) } };
  }
  const refs: Record<string, SolvedRef> = {};
  const metadata: Record<string, string> = {};
  const platforms = [];
  for (const [p, out] of outcomes) {
    const id = formatPlatform(p);
    refs[id] = out.ref;
    metadata[`containerimage.config/${id}`] = JSON.stringify(out.config);
    platforms.push({ ID: id, Platform: { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) } });
  }
  metadata['refs.platforms'] = JSON.stringify({ Platforms: platforms });
  return { refs, metadata };
}
