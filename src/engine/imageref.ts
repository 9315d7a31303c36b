// Image references as users give them (flags, options, labels): the one grammar lives in
// src/llb/reference.ts; this words its failures as CopaError('input') naming where the
// value came from (e.g. "--image", "option image").
import { InvalidReference, parseReference, type ImageRef } from '../llb/index.js';
import { CopaError, quote } from './errors.js';

export type { ImageRef };
export { DEFAULT_DOMAIN, pinnedReference } from '../llb/index.js';

/** Parse and normalise an image reference. Throws CopaError('input') naming `option`. */
export function parseImageRef(value: string, option = 'image'): ImageRef {
  try {
    return parseReference(value);
  } catch (e) {
    if (!(e instanceof InvalidReference)) throw e;
    throw new CopaError('input', `${option} ${quote(String(value ?? ''))} is not a valid image reference: ${e.reason}`, { hint: e.hint });
  }
}

/** Normalised form of an image reference string. */
export function normalizeImageRef(value: string, option = 'image'): string {
  return parseImageRef(value, option).ref;
}
