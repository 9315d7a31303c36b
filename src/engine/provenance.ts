// The re-patch rule: when is an image our own earlier output, so that a new patch starts
// again from its original (and layers never pile up)? A label alone proves nothing — any
// image built FROM a patched base inherits it, and anyone can set it by hand — so an image
// counts as our output only when its layers are exactly the labelled original's layers
// plus one, that last layer's history entry carries our mark, and the original resolves to
// the digest the label pins. Copacetic's outputs (label "BaseImage", a tag) need the same
// layer arithmetic. Anything else is patched as it is, on top.
import type { Bridge, ImageConfig, ResolvedImage } from './bridge.js';
import type { Platform } from '../llb/index.js';
import { parseImageRef, type ImageRef } from './imageref.js';

/** Label on every patched image: the ORIGINAL image pinned by digest (re-patches start there). */
export const LABEL_BASE = 'sh.copa.image.base';
/** Label on every patched image: which copa produced it. */
export const LABEL_PATCHED = 'sh.copa.image.patched';
/** Go copa's marker (a mutable tag): honoured, with the same checks, when re-patching its images. */
export const LEGACY_LABEL_BASE = 'BaseImage';
/** The comment of the history entry of every patch layer we make. */
export const PATCH_LAYER_COMMENT = 'sh.copa.patch-layer';

export interface Original {
  /** The original, as labelled (normalised). */
  ref: string;
  parsed: ImageRef;
  resolved: ResolvedImage;
}

export function labelsOf(config: ImageConfig): Record<string, string> {
  const c = config.config as Record<string, unknown> | undefined;
  // Go copa wrote a lower-case "labels" key; read both.
  return { ...((c?.['labels'] as Record<string, string>) ?? {}), ...(config.config?.Labels ?? {}) };
}

function diffIds(config: ImageConfig): string[] {
  return config.rootfs?.diff_ids ?? [];
}

/** The history entry of the topmost layer (entries with empty_layer make no layer). */
function topLayerHistory(config: ImageConfig): Record<string, unknown> | undefined {
  const h = config.history ?? [];
  for (let i = h.length - 1; i >= 0; i--) if (!h[i]!['empty_layer']) return h[i];
  return undefined;
}

/**
 * The original an image was patched from, when the image provably is our (or Copacetic's)
 * output; null otherwise, with the reason logged.
 */
export async function findOriginal(
  bridge: Bridge,
  image: { ref: string; resolved: ResolvedImage },
  platform: Platform,
  log: (line: string) => void,
): Promise<Original | null> {
  const labels = labelsOf(image.resolved.config);
  const ours = labels[LABEL_BASE];
  const label = ours !== undefined ? LABEL_BASE : labels[LEGACY_LABEL_BASE] !== undefined ? LEGACY_LABEL_BASE : null;
  if (!label) return null;
  const notOurs = (why: string): null => {
    log(`the image carries ${label} but is not a copa patch of it (${why}): patching it as it is`);
    return null;
  };
  let parsed: ImageRef;
  try {
    parsed = parseImageRef(labels[label]!, `label ${label}`);
  } catch {
    return notOurs('the label is not an image reference');
  }
  const ref = parsed.normalized;
  const pinned = parsed.digest;
  if (ref === image.ref) return null;
  if (label === LABEL_BASE && !pinned) return notOurs('the label does not pin a digest');
  let resolved: ResolvedImage;
  try {
    resolved = await bridge.resolveImageConfig(ref, platform);
  } catch (e) {
    return notOurs(`the original ${ref} cannot be resolved: ${(e as Error).message}`);
  }
  if (pinned && resolved.digest !== pinned) return notOurs(`the original resolves to ${resolved.digest}, not ${pinned}`);
  const have = diffIds(image.resolved.config);
  const base = diffIds(resolved.config);
  if (base.length === 0 || have.length !== base.length + 1 || base.some((d, i) => have[i] !== d)) {
    return notOurs(`its ${have.length} layers are not the original's ${base.length} layers plus one patch layer`);
  }
  if (label === LABEL_BASE && topLayerHistory(image.resolved.config)?.['comment'] !== PATCH_LAYER_COMMENT) {
    return notOurs('its top layer was not made by copa');
  }
  return { ref, parsed, resolved };
}

/**
 * The config of a patched image: `config` (the original's, or on a re-patch the patched
 * image's own, so later config edits survive) with our labels, the solved platform, and a
 * history entry marking the patch layer.
 */
export function patchedConfig(config: ImageConfig, platform: Platform, basePinned: string, producer = 'copa-ts', repatch = false): ImageConfig {
  const out: ImageConfig = structuredClone(config);
  out.architecture = platform.architecture;
  out.os = platform.os;
  if (platform.variant) out.variant = platform.variant;
  else delete out.variant;
  out.config = { ...(out.config ?? {}) };
  const labels = { ...(out.config.Labels ?? {}) };
  delete labels[LEGACY_LABEL_BASE];
  labels[LABEL_BASE] = basePinned;
  labels[LABEL_PATCHED] = producer;
  out.config.Labels = labels;
  delete (out.config as Record<string, unknown>)['labels'];
  const history = [...(out.history ?? [])];
  if (repatch) {
    // Drop the previous patch layer's entry: the new layer replaces it.
    for (let i = history.length - 1; i >= 0; i--) {
      if (!history[i]!['empty_layer']) {
        history.splice(i, 1);
        break;
      }
    }
  }
  out.history = [...history, { created_by: `${producer}: OS package patch layer`, comment: PATCH_LAYER_COMMENT }];
  return out;
}
