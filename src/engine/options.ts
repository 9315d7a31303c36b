// Options shared by the BuildKit frontend and the docker CLI plugin. BuildKit hands a
// frontend its options as strings; `docker buildx build --build-arg k=v` arrives as
// "build-arg:k", `--opt k=v` as "k", so both spellings are accepted. Keys copa does not
// know are left alone (buildx and BuildKit pass many of their own); a value copa cannot use
// for a key it knows is an error naming the option and what it accepts.

import { CopaError, quote } from './errors.js';
import { parseImageRef, type ImageRef } from './imageref.js';
import { formatPlatform, normalizePlatform, type Platform } from '../llb/platform.js';

export { formatPlatform };

/** A platform as LLB and OCI spell it: { os, architecture, variant? }. */
export type PlatformSpec = Platform;

export type ScannerOption = 'trivy' | 'native';
export type NetworkOption = 'sandbox' | 'host';

export interface FrontendOptions {
  /** The image to patch, normalised (docker.io/library/nginx:latest). */
  image: string;
  /** The same, parsed. */
  imageRef: ImageRef;
  /** Path of the vulnerability report; unset = update every package. */
  report?: string;
  /** Requested platforms, normalised and de-duplicated; empty = the image's platforms. */
  platforms: PlatformSpec[];
  ignoreErrors: boolean;
  /** An explicit tooling image, parsed. */
  toolingImage?: ImageRef;
  /** How to read the report: trivy (the default, as in copa) or native (update manifest). */
  scanner: ScannerOption;
  /** Network of the steps that download packages: BuildKit's sandbox (default) or the host's. */
  network: NetworkOption;
  /** Things worth telling the user, e.g. an unknown option that looks like a misspelt one. */
  warnings: string[];
}

export const FRONTEND_OPTION_KEYS = ['image', 'report', 'platform', 'ignore-errors', 'tooling-image', 'scanner', 'network'] as const;
type OptionKey = (typeof FRONTEND_OPTION_KEYS)[number];

const BUILD_ARG = 'build-arg:';

function inputError(option: string, value: string, accepted: string): CopaError {
  return new CopaError('input', `option ${option}=${quote(value)} is not valid: ${accepted}`);
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** true/false/1/0/yes/no (and on/off), case-insensitive. */
export function parseBoolean(value: string, option: string): boolean {
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw inputError(option, value, 'accepted values are true, false, 1, 0, yes, no');
}

/** Architectures (after normalisation) that Linux container images are published for. */
const KNOWN_ARCHS = ['amd64', 'arm64', 'arm', '386', 'ppc64le', 'ppc64', 's390x', 'riscv64', 'mips64le', 'mips64', 'mipsle', 'mips', 'loong64'];

const PLATFORM_FORMAT = 'expected linux/<arch>[/<variant>] (e.g. linux/amd64, linux/arm64, linux/arm/v7), several separated by ","';

/**
 * Parse one platform: os/arch[/variant], or just arch (Linux implied); normalised the way
 * containerd does (x86_64 → amd64, aarch64 and arm64/v8 → arm64, amd64/v1 → amd64, arm → arm/v7).
 */
export function parsePlatform(value: string, option = 'platform'): PlatformSpec {
  const parts = value.trim().split('/');
  if (parts.some((p) => p === '') || parts.length > 3) throw inputError(option, value, PLATFORM_FORMAT);
  if (parts.length === 1) {
    if (parts[0]!.toLowerCase() === 'linux') throw inputError(option, value, `a platform needs an architecture; ${PLATFORM_FORMAT}`);
    parts.unshift('linux');
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  const p = normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant });
  if (p.os !== 'linux') throw inputError(option, value, `copa patches Linux images only (os "linux"); ${PLATFORM_FORMAT}`);
  if (!KNOWN_ARCHS.includes(p.architecture)) {
    throw inputError(option, value, `unknown architecture ${quote(architecture)}; known: ${KNOWN_ARCHS.join(', ')} (and the aliases x86_64, aarch64, i386, armhf, armel)`);
  }
  if (p.variant !== undefined && !/^v[0-9]+(\.[0-9]+)?$/.test(p.variant)) {
    throw inputError(option, value, `variant ${quote(variant ?? '')} should look like v7 or v8`);
  }
  return p;
}

/** A comma-separated platform list, normalised and de-duplicated (order kept). */
export function parsePlatformList(value: string, option = 'platform'): PlatformSpec[] {
  const out: PlatformSpec[] = [];
  const seen = new Set<string>();
  for (const item of value.split(',')) {
    if (item.trim() === '') continue;
    const p = parsePlatform(item, option);
    const key = formatPlatform(p);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(p);
    }
  }
  return out;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The known key an unknown one was probably meant to be, if any. */
function nearMiss(key: string): OptionKey | undefined {
  const k = key
    .replace(/([a-z])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/_/g, '-');
  return FRONTEND_OPTION_KEYS.find((known) => k === known || (k.length >= 4 && editDistance(k, known) <= 2));
}

export function parseFrontendOptions(opts: Record<string, string>): FrontendOptions {
  const get = (key: OptionKey): string | undefined => {
    const plain = Object.hasOwn(opts, key) ? opts[key] : undefined;
    const arg = Object.hasOwn(opts, BUILD_ARG + key) ? opts[BUILD_ARG + key] : undefined;
    if (plain !== undefined && arg !== undefined && plain !== arg) {
      throw new CopaError(
        'input',
        `option ${key} is given twice with different values: ${key}=${quote(plain)} and ${BUILD_ARG}${key}=${quote(arg)}`,
        { hint: 'pass it once' },
      );
    }
    const v = plain ?? arg;
    if (v !== undefined && typeof v !== 'string') throw inputError(key, String(v), 'expected a string');
    // Only an absent option means "not given": an empty one is a mistake (an unset shell
    // variable, say), never "no report" or "every platform".
    if (v !== undefined && v.trim() === '' && key !== 'image') {
      throw new CopaError('input', `option ${key} is empty`, { hint: key === 'report' ? 'give the report\'s path in the report context, or leave the option out to update every package' : `give a value or leave ${key} out` });
    }
    return v;
  };

  const imageValue = get('image');
  if (imageValue === undefined || imageValue.trim() === '') {
    throw new CopaError('input', 'option image is required: the image to patch', {
      hint: 'e.g. --build-arg image=docker.io/library/nginx:1.27 (or --opt image=…)',
    });
  }
  const imageRef = parseImageRef(imageValue.trim(), 'option image');
  const out: FrontendOptions = {
    image: imageRef.ref,
    imageRef,
    platforms: [],
    ignoreErrors: false,
    scanner: 'trivy',
    network: 'sandbox',
    warnings: [],
  };

  const report = get('report');
  if (report !== undefined && report.trim() !== '') {
    if (/[\0\n\r]/.test(report)) throw inputError('report', report, 'a file path without NUL or line breaks');
    out.report = report.trim();
  }

  const platform = get('platform');
  if (platform !== undefined) out.platforms = parsePlatformList(platform, 'platform');

  const ignore = get('ignore-errors');
  if (ignore !== undefined) out.ignoreErrors = parseBoolean(ignore, 'ignore-errors');

  const tooling = get('tooling-image');
  if (tooling !== undefined && tooling.trim() !== '') out.toolingImage = parseImageRef(tooling.trim(), 'option tooling-image');

  const scanner = get('scanner');
  if (scanner !== undefined) {
    const s = scanner.trim().toLowerCase();
    if (s !== 'trivy' && s !== 'native') {
      throw inputError('scanner', scanner, 'accepted values are trivy (Trivy JSON) and native (copa update manifest v1alpha1/v1alpha2)');
    }
    out.scanner = s;
  }

  const network = get('network');
  if (network !== undefined) {
    const n = network.trim().toLowerCase();
    if (n !== 'sandbox' && n !== 'host' && n !== 'default') {
      throw inputError('network', network, 'accepted values are sandbox (the default) and host (needs the network.host entitlement)');
    }
    out.network = n === 'host' ? 'host' : 'sandbox';
  }

  for (const key of Object.keys(opts)) {
    const bare = key.startsWith(BUILD_ARG) ? key.slice(BUILD_ARG.length) : key;
    if ((FRONTEND_OPTION_KEYS as readonly string[]).includes(bare)) continue;
    const guess = nearMiss(bare);
    if (guess) out.warnings.push(`option ${quote(key)} is not a copa option and is ignored; did you mean ${guess}?`);
  }
  return out;
}

/**
 * The frontend options that carry `o` to our frontend image (docker copa --frontend-image):
 * the inverse of parseFrontendOptions, so every engine option travels one typed path.
 */
export function frontendAttrs(o: Omit<FrontendOptions, 'image' | 'warnings'>): Record<string, string> {
  const attrs: Record<string, string> = { image: o.imageRef.ref, 'ignore-errors': String(o.ignoreErrors), scanner: o.scanner };
  if (o.report !== undefined) attrs.report = o.report;
  if (o.platforms.length) attrs.platform = o.platforms.map(formatPlatform).join(',');
  if (o.toolingImage) attrs['tooling-image'] = o.toolingImage.ref;
  if (o.network !== 'sandbox') attrs.network = o.network;
  return attrs;
}
