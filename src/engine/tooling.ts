// The tooling image: the image that supplies the tools (apt-get, apk, tdnf, …) to patch an
// image whose own tools are missing (distroless images). Each family owns its rule (which
// image for which release); the engine owns what is common: an explicit override wins, a
// rule that knows no image is an error saying what to pass, and nothing is chosen until a
// family asks for it (an image with its own package manager never needs one).
import type { OsType } from './osrelease.js';
import { CopaError, quote } from './errors.js';
import { parseImageRef, type ImageRef } from './imageref.js';
import { numericParts } from './osrelease.js';

export interface ToolingRequest {
  type: OsType;
  version: string;
  /** Whether the patch is driven by a report (it changes the Ubuntu and Mariner choices). */
  hasReport: boolean;
}

/** A family's rule: the tooling image for a release, or null when it knows none. */
export type ToolingRule = (req: ToolingRequest) => string | null;

export function toolingError(what: string): CopaError {
  return new CopaError('image', `cannot choose a tooling image: ${what}`, {
    hint: "pass an explicit tooling image (--tooling-image / tooling-image=<ref>) that matches the image's OS release",
  });
}

/** "<major>.<minor>" as written ("22.04" stays "22.04", which is the Ubuntu tag). */
export function majorMinor(type: string, version: string, fallbackMinor?: string): string {
  const p = numericParts(version);
  if (p.length >= 2) return `${p[0]}.${p[1]}`;
  if (p.length === 1 && fallbackMinor !== undefined) return `${p[0]}.${fallbackMinor}`;
  throw toolingError(`${type} version ${quote(version)} does not start with <major>.<minor>`);
}

/** The tooling image: the override when given, else the family's rule; null when neither names one. */
export function chooseToolingImage(req: ToolingRequest, rule: ToolingRule | undefined, override?: ImageRef | null): ImageRef | null {
  if (override) return override;
  const named = rule ? rule(req) : null;
  return named ? parseImageRef(named, `the ${req.type} tooling image rule`) : null;
}

/** A lazy chooser for a family to call when (and only when) it needs a tooling image. */
export function toolingImageOnDemand(req: ToolingRequest, rule: ToolingRule | undefined, override?: ImageRef | null): () => ImageRef {
  let chosen: ImageRef | undefined;
  return () => {
    if (chosen !== undefined) return chosen;
    const image = chooseToolingImage(req, rule, override);
    if (!image) {
      throw new CopaError('input', `no tooling image is known for ${req.type} ${req.version}`, {
        hint: `pass an image of the same release with the package tools with --tooling-image (frontend: tooling-image=<ref>)`,
      });
    }
    chosen = image;
    return image;
  };
}
