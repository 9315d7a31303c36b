// Container image references — one grammar for the whole project: [registry[:port]/]
// repository[:tag][@algorithm:hex], with Docker's defaults (docker.io, library/ for
// one-component names on Docker Hub, tag "latest" when neither tag nor digest is given),
// normalised as BuildKit's Go client writes them in docker-image:// identifiers. It lives
// in the lowest layer because LLB sources need it; the engine words its errors for users.

export interface ImageRef {
  /** Registry host, with port when given: "docker.io", "localhost:5000", "[::1]:5000". */
  domain: string;
  /** Repository path inside the registry: "library/nginx". */
  path: string;
  /** domain/path */
  name: string;
  tag?: string;
  digest?: string;
  /** The normalised reference: name[:tag][@digest]. */
  ref: string;
  /** Same as ref. */
  normalized: string;
  /** Same as name. */
  repository: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const MAX_NAME_LENGTH = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*$/;
const IPV6 = /^\[[A-Fa-f0-9:]+\]$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9A-Fa-f]{32,})$/;
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

const EXAMPLE = 'expected [registry[:port]/]repository[:tag][@sha256:<64 hex digits>], e.g. docker.io/library/nginx:1.27';

/** Why a string is not an image reference; the engine words it for the user (engine/imageref.ts). */
export class InvalidReference extends Error {
  constructor(
    readonly value: string,
    readonly reason: string,
    readonly hint: string = EXAMPLE,
  ) {
    super(`invalid image reference ${JSON.stringify(value)}: ${reason}`);
    this.name = 'InvalidReference';
  }
}

function fail(_option: string, value: string, reason: string, hint = EXAMPLE): never {
  throw new InvalidReference(value, reason, hint);
}

/** A value shown inside a reason: JSON string syntax, non-printable characters escaped. */
function quote(value: string): string {
  const v = value.length > 120 ? value.slice(0, 120) : value;
  return JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + (value.length > 120 ? `... (${value.length} characters)` : '');
}

function checkDomain(domain: string, option: string, value: string): void {
  const colon = domain.startsWith('[') ? domain.indexOf(':', domain.indexOf(']')) : domain.indexOf(':');
  const host = colon < 0 ? domain : domain.slice(0, colon);
  const port = colon < 0 ? null : domain.slice(colon + 1);
  if (!DOMAIN_NAME.test(host) && !IPV6.test(host)) fail(option, value, `registry host ${quote(host)} is not a host name or [IPv6] address`);
  if (port !== null && (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    fail(option, value, `registry port ${quote(port)} is not a number from 1 to 65535`);
  }
}

/** Parse and normalise an image reference. Throws InvalidReference. */
export function parseReference(value: string): ImageRef {
  const option = 'image';
  if (typeof value !== 'string' || value === '') fail(option, String(value ?? ''), 'it is empty');
  if (/^[a-f0-9]{64}$/.test(value)) fail(option, value, 'a 64-hex-digit string is an image ID, not a repository name');
  if (/[^\x21-\x7e]/.test(value)) fail(option, value, 'it contains whitespace, control or non-ASCII characters');

  let rest = value;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const m = DIGEST.exec(digest);
    if (!m) fail(option, value, `digest ${quote(digest)} is not <algorithm>:<hex>`);
    const want = DIGEST_HEX_LENGTH[m[1]!];
    if (want !== undefined && (m[2]!.length !== want || /[A-F]/.test(m[2]!))) {
      fail(option, value, `a ${m[1]} digest has exactly ${want} lowercase hex digits`);
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(option, value, `tag ${quote(tag)} must be 1-128 letters, digits, "_", "." or "-", not starting with "." or "-"`);
  }
  if (rest === '') fail(option, value, 'the repository name is empty');

  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // Docker would take an upper-case first component ("MyOrg/app") for a registry host;
    // it is almost always a mistyped Docker Hub namespace.
    if (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() !== first) {
      fail(option, value, `repository names must be lowercase (${quote(rest)})`, `did you mean ${DEFAULT_DOMAIN}/${rest.toLowerCase()}?`);
    }
    if (/[.:]/.test(first) || first === 'localhost') {
      domain = first;
      path = rest.slice(slash + 1);
      checkDomain(domain, option, value);
    }
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;

  for (const comp of path.split('/')) {
    if (PATH_COMPONENT.test(comp)) continue;
    if (PATH_COMPONENT.test(comp.toLowerCase())) {
      fail(option, value, `repository names must be lowercase (${quote(path)})`, `did you mean ${domain}/${path.toLowerCase()}?`);
    }
    fail(
      option,
      value,
      `repository component ${quote(comp)} must be lowercase letters and digits, separated by ".", "_", "__" or "-"`,
    );
  }

  const name = `${domain}/${path}`;
  if (name.length > MAX_NAME_LENGTH) fail(option, value, `the repository name is longer than ${MAX_NAME_LENGTH} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref = `${name}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  const out: ImageRef = { domain, path, name, ref, normalized: ref, repository: name };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/**
 * The canonical reference BuildKit's Go client puts in a docker-image:// identifier:
 * normalised name, with ":latest" added when there is neither tag nor digest.
 */
export function normalizeImageRef(value: string): string {
  return parseReference(value).ref;
}

/** The same repository pinned by digest (no tag): what re-patches and LLB sources use. */
export function pinnedReference(ref: ImageRef, digest: string): ImageRef {
  return { domain: ref.domain, path: ref.path, name: ref.name, digest, ref: `${ref.name}@${digest}`, normalized: `${ref.name}@${digest}`, repository: ref.name };
}
