// Docker image reference normalisation, following the grammar and rules of
// github.com/distribution/reference (ParseNormalizedNamed + TagNameOnly), so that
// "debian:12" becomes "docker.io/library/debian:12" and "alpine" becomes
// "docker.io/library/alpine:latest", exactly as BuildKit's Go client writes them.

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN_AND_PORT = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}';
const NAME = `(?:${DOMAIN_AND_PORT}/)?${REMOTE_NAME}`;

const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const ANCHORED_NAME_RE = new RegExp(`^(?:(${DOMAIN_AND_PORT})/)?(${REMOTE_NAME})$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
const NAME_MAX = 255;

const DIGEST_HEX_LEN: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

export interface ParsedReference {
  /** docker.io, ghcr.io, localhost:5000, ... */
  domain: string;
  /** library/debian, org/repo, ... */
  path: string;
  tag?: string;
  digest?: string;
}

function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  let domain: string;
  let remote: string;
  if (slash === -1) {
    return ['docker.io', 'library/' + name];
  }
  const maybeDomain = name.slice(0, slash);
  const maybeRemote = name.slice(slash + 1);
  if (maybeDomain === 'localhost') {
    [domain, remote] = [maybeDomain, maybeRemote];
  } else if (maybeDomain === 'index.docker.io') {
    [domain, remote] = ['docker.io', maybeRemote];
  } else if (/[.:]/.test(maybeDomain)) {
    [domain, remote] = [maybeDomain, maybeRemote];
  } else if (maybeDomain.toLowerCase() !== maybeDomain) {
    [domain, remote] = [maybeDomain, maybeRemote];
  } else {
    [domain, remote] = ['docker.io', name];
  }
  if (domain === 'docker.io' && !remote.includes('/')) remote = 'library/' + remote;
  return [domain, remote];
}

function validateDigest(d: string): void {
  const [alg, hex] = d.split(':', 2) as [string, string];
  const want = DIGEST_HEX_LEN[alg];
  if (want === undefined) throw new Error(`unsupported digest algorithm in ${d}`);
  if (hex.length !== want || !/^[a-f0-9]+$/.test(hex)) throw new Error(`invalid checksum digest format: ${d}`);
}

/** Parses and normalises a familiar or full image reference. Throws on an invalid one. */
export function parseNormalizedNamed(ref: string): ParsedReference {
  if (IDENTIFIER_RE.test(ref)) {
    throw new Error(`invalid repository name (${ref}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDockerDomain(ref);
  const colon = remainder.indexOf(':');
  const remote = colon > -1 ? remainder.slice(0, colon) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw new Error(`invalid reference format: repository name (${remote}) must be lowercase`);
  }
  const full = `${domain}/${remainder}`;
  const m = REFERENCE_RE.exec(full);
  if (!m) {
    if (REFERENCE_RE.test(full.toLowerCase())) throw new Error(`invalid reference format: repository name must be lowercase (${ref})`);
    throw new Error(`invalid reference format: ${ref}`);
  }
  const nm = ANCHORED_NAME_RE.exec(m[1]!);
  const parsed: ParsedReference = { domain: nm?.[1] ?? '', path: nm?.[2] ?? m[1]! };
  if (parsed.path.length > NAME_MAX) throw new Error(`repository name must not be more than ${NAME_MAX} characters`);
  if (m[2]) parsed.tag = m[2];
  if (m[3]) {
    validateDigest(m[3]);
    parsed.digest = m[3];
  }
  return parsed;
}

/** String form of a parsed reference: domain/path[:tag][@digest]. */
export function formatReference(r: ParsedReference): string {
  let s = r.domain ? `${r.domain}/${r.path}` : r.path;
  if (r.tag) s += `:${r.tag}`;
  if (r.digest) s += `@${r.digest}`;
  return s;
}

/**
 * The canonical reference BuildKit's Go client puts in a docker-image:// identifier:
 * normalised name, with ":latest" added when there is neither tag nor digest.
 */
export function normalizeImageRef(ref: string): string {
  const r = parseNormalizedNamed(ref);
  if (!r.tag && !r.digest) r.tag = 'latest';
  return formatReference(r);
}
