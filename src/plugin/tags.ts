// The name the patched image gets (Copacetic's rules):
//   default          <source repository>:<source tag>-<suffix>        (suffix: --tag-suffix, "patched")
//   -t 1.27-fixed    <source repository>:1.27-fixed
//   -t reg/repo:x    reg/repo:x                                       (another repository or registry)
// A source without a tag (digest-only reference) needs -t. A name-only source is ":latest".
import { CopaError, quote } from '../engine/errors.js';
import { parseImageRef } from '../engine/imageref.js';

export interface PatchedName {
  /** Full normalised reference to export/push/load: "docker.io/library/nginx:1.27-patched". */
  ref: string;
  /** Repository part: "docker.io/library/nginx". */
  repository: string;
  tag: string;
}

export const DEFAULT_TAG_SUFFIX = 'patched';
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function checkTag(tag: string, flag: string, what: string): void {
  if (!TAG_RE.test(tag)) {
    throw new CopaError('input', `${flag}: ${what} ${quote(tag)} is not a valid tag`, {
      hint: 'a tag is 1-128 letters, digits, "_", "." or "-", not starting with "." or "-"',
    });
  }
}

/** Whether the reference text itself carries a tag (not the ":latest" a parser adds by default). */
function hasExplicitTag(text: string): boolean {
  const noDigest = text.split('@', 1)[0]!;
  return noDigest.lastIndexOf(':') > noDigest.lastIndexOf('/');
}

/**
 * Works out the patched image's name.
 * @param image the source image as the user gave it (-i)
 * @param opts.tag -t/--tag: a bare tag or a full reference
 * @param opts.suffix --tag-suffix (default "patched")
 * @throws CopaError('input') naming the flag at fault
 */
export function resolvePatchedName(image: string, opts: { tag?: string; suffix?: string } = {}): PatchedName {
  const src = parseImageRef(image, '--image');
  const srcRepo = `${src.domain}/${src.path}`;
  const explicit = opts.tag ?? '';

  if (explicit === '') {
    const suffix = opts.suffix === undefined || opts.suffix === '' ? DEFAULT_TAG_SUFFIX : opts.suffix;
    if (!src.tag || (src.digest && !hasExplicitTag(image))) {
      throw new CopaError('input', `the image ${quote(image)} has no tag to derive the patched tag from`, {
        hint: 'pass -t/--tag with a tag (e.g. -t 1.27-patched) or a full reference (e.g. -t registry.example.com/app:1.27-patched)',
      });
    }
    const tag = `${src.tag}-${suffix}`;
    checkTag(tag, '--tag-suffix', 'the derived tag');
    return { ref: `${srcRepo}:${tag}`, repository: srcRepo, tag };
  }

  if (!explicit.includes(':') && !explicit.includes('@')) {
    if (explicit.includes('/')) {
      throw new CopaError('input', `--tag ${quote(explicit)} names a repository but no tag`, {
        hint: `give a full reference with a tag, e.g. -t ${explicit}:patched, or a bare tag such as -t 1.0-patched`,
      });
    }
    checkTag(explicit, '--tag', 'the tag');
    return { ref: `${srcRepo}:${explicit}`, repository: srcRepo, tag: explicit };
  }

  const target = parseImageRef(explicit, '--tag');
  if (target.digest) {
    throw new CopaError('input', `--tag ${quote(explicit)} contains a digest; the patched image gets a new digest`, {
      hint: 'give registry/repository:tag without @sha256:…',
    });
  }
  if (!hasExplicitTag(explicit) || !target.tag) {
    throw new CopaError('input', `--tag ${quote(explicit)} names a repository but no tag`, {
      hint: `add a tag, e.g. -t ${explicit}:patched`,
    });
  }
  const repo = `${target.domain}/${target.path}`;
  return { ref: `${repo}:${target.tag}`, repository: repo, tag: target.tag };
}

/**
 * The per-platform tag of a multi-platform run: "<tag>-<arch>[-<variant>]", e.g.
 * "1.25.0-patched-arm-v7".
 */
export function archTag(tag: string, platform: { architecture: string; variant?: string }): string {
  const out = platform.variant ? `${tag}-${platform.architecture}-${platform.variant}` : `${tag}-${platform.architecture}`;
  checkTag(out, '--tag', 'the per-platform tag');
  return out;
}

/** The last path component of a repository: "docker.io/library/nginx" → "nginx". */
export function repositoryBaseName(repository: string): string {
  const i = repository.lastIndexOf('/');
  return i < 0 ? repository : repository.slice(i + 1);
}
