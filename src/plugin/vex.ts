// OpenVEX (v0.2.0) document for a patched image: one "fixed" statement per vulnerability that
// a patched package resolved. The product is the patched image (pkg:oci purl pinned by digest);
// subcomponents are the packages as the scanner saw them (installed, vulnerable version), so
// a scanner given this VEX can match its findings and drop them.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CopaError } from '../engine/errors.js';
import { parseImageRef } from '../engine/imageref.js';
import { VERSION } from './metadata.js';
import { checkWritableFile, fsErrorCategory } from './outputs/writable.js';

export const OPENVEX_CONTEXT = 'https://openvex.dev/ns/v0.2.0';
export const DEFAULT_VEX_AUTHOR = 'Project Copacetic';

export interface VexPackage {
  name: string;
  status: 'patched' | 'already-fixed' | 'not-installed' | 'not-patched';
  installedVersion?: string;
  finalVersion?: string;
  vulnerabilityIds: string[];
}

export interface VexInput {
  /** The patched image's name, e.g. "docker.io/library/nginx:1.27-patched". */
  imageName: string;
  /** The patched image's manifest digest, "sha256:…". */
  digest: string;
  os: { type: string; version: string; pkgFamily?: 'deb' | 'rpm' | 'apk' };
  /** Image architecture ("amd64", "arm64", …). */
  arch: string;
  packages: VexPackage[];
}

export interface VexStatement {
  vulnerability: { '@id': string; name: string };
  products: Array<{ '@id': string; subcomponents: Array<{ '@id': string }> }>;
  status: 'fixed';
}

export interface OpenVexDocument {
  '@context': string;
  '@id': string;
  author: string;
  timestamp: string;
  version: number;
  tooling: string;
  statements: VexStatement[];
}

export interface VexOptions {
  /** Default: COPA_VEX_AUTHOR, else "Project Copacetic". */
  author?: string;
  timestamp?: Date;
  env?: NodeJS.ProcessEnv;
}

/** purl percent-encoding: everything but unreserved characters. */
function enc(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
/** Qualifier values keep "/" readable (as in the purl spec's canonical examples). */
function encQualifier(s: string): string {
  return enc(s).replace(/%2F/g, '/');
}

/** The purl type for an OS: deb, apk or rpm. */
export function purlType(os: VexInput['os']): 'deb' | 'apk' | 'rpm' {
  if (os.pkgFamily) return os.pkgFamily;
  const t = os.type.toLowerCase();
  if (['debian', 'ubuntu', 'distroless'].includes(t)) return 'deb';
  if (['alpine', 'wolfi', 'chainguard'].includes(t)) return 'apk';
  return 'rpm';
}

/** pkg:oci/<name>@<digest>?repository_url=<registry/repo> for the patched image. */
export function ociPurl(imageName: string, digest: string): string {
  let repo: string;
  try {
    const r = parseImageRef(imageName, 'image name');
    repo = `${r.domain}/${r.path}`;
  } catch {
    repo = imageName.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  }
  const last = repo.slice(repo.lastIndexOf('/') + 1);
  return `pkg:oci/${enc(last)}@${enc(digest)}?repository_url=${encQualifier(repo)}`;
}

/** pkg:<deb|rpm|apk>/<distro>/<name>@<version>?arch=<arch>&distro=<distro>-<version> */
export function packagePurl(input: Pick<VexInput, 'os' | 'arch'>, name: string, version?: string): string {
  const distro = input.os.type.toLowerCase();
  const v = version ? `@${enc(version)}` : '';
  return `pkg:${purlType(input.os)}/${enc(distro)}/${enc(name)}${v}?arch=${encQualifier(input.arch)}&distro=${encQualifier(`${distro}-${input.os.version}`)}`;
}

/**
 * The OpenVEX document, or null when no patched package fixed a vulnerability (nothing to
 * state; Copacetic writes no file then).
 */
export function buildOpenVex(input: VexInput, opts: VexOptions = {}): OpenVexDocument | null {
  const env = opts.env ?? process.env;
  const product = ociPurl(input.imageName, input.digest);
  const byVuln = new Map<string, string[]>();
  for (const p of input.packages) {
    if (p.status !== 'patched') continue;
    if (p.finalVersion !== undefined && p.installedVersion !== undefined && p.finalVersion === p.installedVersion) continue;
    const purl = packagePurl(input, p.name, p.installedVersion);
    for (const id of p.vulnerabilityIds) {
      if (!id) continue;
      const subs = byVuln.get(id) ?? [];
      if (!subs.includes(purl)) subs.push(purl);
      byVuln.set(id, subs);
    }
  }
  if (byVuln.size === 0) return null;
  const statements: VexStatement[] = [...byVuln.keys()].sort().map((id) => ({
    vulnerability: { '@id': id, name: id },
    products: [{ '@id': product, subcomponents: byVuln.get(id)!.sort().map((s) => ({ '@id': s })) }],
    status: 'fixed',
  }));
  const hash = createHash('sha256').update(JSON.stringify(statements)).digest('hex');
  return {
    '@context': OPENVEX_CONTEXT,
    '@id': `https://openvex.dev/docs/public/vex-${hash}`,
    author: opts.author ?? (env.COPA_VEX_AUTHOR || DEFAULT_VEX_AUTHOR),
    timestamp: (opts.timestamp ?? new Date()).toISOString(),
    version: 1,
    tooling: `Project Copacetic (copa-ts ${VERSION})`,
    statements,
  };
}

/** Writes a file atomically: a temp file in the same directory, then rename; mode 0644. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (e) {
    throw new CopaError(fsErrorCategory(e), `cannot write the VEX document next to ${path}: ${(e as Error).message}`, {
      hint: 'check that the directory of --output exists and is writable',
    });
  }
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
    await fh.close();
    fh = undefined;
    await chmod(tmp, 0o644);
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw new CopaError(fsErrorCategory(e), `cannot write the VEX document ${path}: ${(e as Error).message}`);
  }
}

/** Before the build: the VEX file can be written (its directory exists and is writable, it is not a directory). */
export function checkVexDestination(path: string): Promise<void> {
  return checkWritableFile(path, 'the VEX document', 'check that the directory of --output exists and is writable');
}

/** Builds and writes the document; returns it, or null when there was nothing to state. */
export async function writeOpenVex(path: string, input: VexInput, opts: VexOptions = {}): Promise<OpenVexDocument | null> {
  const doc = buildOpenVex(input, opts);
  if (!doc) return null;
  await writeFileAtomic(path, JSON.stringify(doc, null, 2) + '\n');
  return doc;
}
