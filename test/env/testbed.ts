// Typed helpers for e2e tests against the test bed raised by testbed.sh
// (vitest's global setup raises it; see test/env/global-setup.ts).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Contents of <cache>/run/env.json, written by `testbed.sh up`. */
export interface Testbed {
  cacheDir: string;
  runDir: string;
  logsDir: string;
  /** unix:///…/buildkitd.sock */
  buildkitAddr: string;
  /** tcp://127.0.0.1:PORT (no TLS) */
  buildkitTcpAddr: string;
  /** host:port of the plain-HTTP registry */
  registry: string;
  /** unix:///…/docker.sock of the test-bed Docker engine */
  dockerHost: string;
  /** DOCKER_CONFIG dir holding cli-plugins/docker-buildx */
  dockerConfig: string;
  /** host docker CLI */
  docker: string;
  buildctl: string;
  buildkitd: string;
  buildx: string;
  /** buildx builder (remote driver) pointing at the bed's buildkitd */
  buildxBuilder: string;
  versions: { buildkit: string; buildx: string; dockerServer: string };
  /** "debian:12-slim" -> "127.0.0.1:PORT/debian:12-slim", "alpine:3.20" -> "127.0.0.1:PORT/alpine:3.20", "rpm/dnf:centos-6" -> "127.0.0.1:PORT/rpm/dnf:centos-6" */
  images: Record<string, string>;
  /** The bed's signed local APK repository (test/env/alpine/), which the alpine:* images use. */
  apkRepo: ApkRepo;
  /** The bed's signed local RPM repositories (test/env/rpm/), which the rpm/* images use. */
  rpmRepo: RpmRepo;
  ownerPid: number | null;
  startedAt: string;
}

/** One package the repository has a newer release of (pkgrel+1, same files plus the marker). */
export interface ApkBumpedPackage {
  name: string;
  origin: string;
  /** version installed in the image */
  from: string;
  /** version in the repository */
  to: string;
  /** absolute path of the file only the new release installs: /usr/share/copa-testbed/<name>-<to> */
  marker: string;
}
/** One branch/arch of the repository (packages.json `repos[]`). */
export interface ApkRepoBranch {
  /** "v3.20", "v3.19" */
  branch: string;
  /** apk arch: "x86_64" or "x86" */
  arch: string;
  /** the minirootfs it was made from */
  rootfs: string;
  /** "v3.20/main/x86_64": URL path of its APKINDEX.tar.gz and .apk files */
  path: string;
  packages: ApkBumpedPackage[];
  /** installed packages present in the repository at their installed version only (no fix available), e.g. musl */
  unchanged: { name: string; version: string }[];
}
export interface ApkRepo {
  /** http://127.0.0.1:PORT */
  url: string;
  /** file name of the public key in the images' /etc/apk/keys, e.g. copa-testbed-1a2b3c4d.rsa.pub */
  keyName: string;
  /** the public key (PEM) on the host */
  publicKeyPath: string;
  /** packages.json on the host: { keyName, bumpedOrigins, repos: ApkRepoBranch[] } */
  packagesFile: string;
  /** "v3.20" -> "http://127.0.0.1:PORT/v3.20/main" (what the images' /etc/apk/repositories say) */
  repositories: Record<string, string>;
  repos: ApkRepoBranch[];
}

/** Bumped packages of one branch/arch of the bed's APK repository. */
export function apkRepoBranch(branch: string, arch = 'x86_64'): ApkRepoBranch {
  const b = testbed().apkRepo.repos.find((r) => r.branch === branch && r.arch === arch);
  if (!b) throw new Error(`the bed's APK repository has no ${branch} ${arch}`);
  return b;
}

export const TESTBED_ALPINE_IMAGES = [
  /** 3.20.3 x86_64 minirootfs; /etc/ssl/openssl.cnf (libcrypto3) carries a local edit */
  'alpine:3.20-pointrelease',
  /** 3.19.4 x86_64 minirootfs */
  'alpine:3.19-pointrelease',
  /** OCI index: linux/amd64 (= 3.20-pointrelease's manifest) and linux/386 (3.20.3 x86) */
  'alpine:3.20-multi',
  /** apk-less: no apk, busybox or shell; /lib/apk/db/installed lists only what is there */
  'alpine:3.20-static',
  /** 3.20-pointrelease's layer, USER nobody, WorkingDir, Entrypoint, Cmd, Env, Labels */
  'alpine:3.20-nonroot',
  /** 3.20.3 x86_64 with apk: the tooling image for apk-less images */
  'alpine:3.20',
] as const;

/** One package a repository has a newer release of (same name, + the marker file). */
export interface RpmBumpedPackage {
  name: string;
  /** source package (the .src.rpm's name), e.g. openssl for openssl-libs */
  source: string;
  /** "x86_64" or "noarch" */
  arch: string;
  epoch: number;
  /** VERSION-RELEASE installed in the image, e.g. "1.1.1k-15.cm2" */
  from: string;
  /** VERSION-RELEASE in the repository, e.g. "1.1.1k-16.cm2" */
  to: string;
  /** EPOCHNUM:VERSION-RELEASE, e.g. "1:2.0.0-3.cm2" */
  fromEvr: string;
  toEvr: string;
  /** a file only the new release installs: /usr/share/copa-testbed/<name>-<to> (centos-release: /etc/centos-release) */
  marker: string;
}
/** A package the repository has only at its installed version ("the repository lacks the fix"). */
export interface RpmUnchangedPackage {
  name: string;
  source: string;
  arch: string;
  epoch: number;
  version: string;
  evr: string;
}
/** One repository (packages.json `repos[]`), served at `${rpmRepo.url}/${path}`. */
export interface RpmRepoEntry {
  /** "cbl-mariner-2.0", "copa-testbed-el9", "centos-7" */
  id: string;
  /** "cbl-mariner/2.0/prod/base/x86_64" (repodata/ below it) */
  path: string;
  packages: RpmBumpedPackage[];
  unchanged: RpmUnchangedPackage[];
  /** every .rpm file in it */
  files: string[];
}
/** Expected contents of a real rpm database image (rpm/rpmdb:*). */
export interface RpmdbExpectation {
  /** "rpm/rpmdb:sles-15" */
  image: string;
  fixture: string;
  /** where the image has it: /var/lib/rpm/rpmdb.sqlite, /var/lib/rpm/Packages (bdb) or /var/lib/rpm/Packages.db (ndb) */
  path: string;
  format: 'sqlite' | 'bdb' | 'ndb';
  /** what listed it: Debian's rpm for sqlite/bdb, test/env/rpm/scan-headers.mjs for ndb */
  readBy: string;
  count: number;
  /** name -> EPOCHNUM:VERSION-RELEASE for a few packages */
  sample: Record<string, string>;
  packages: { name: string; evr: string; arch: string }[];
}
/** How an rpm/* image is set up (packages.json `images`). */
export interface RpmImageInfo {
  /** id of the repository its repo file names */
  repo: string;
  /** null: distroless (no rpm/dnf, no rpmdb; the tooling image patches it with --installroot) */
  packageManager: 'dnf' | null;
  /** what to pass as --releasever ($releasever is in the Mariner repo file's baseurl) */
  releasever?: string;
  repoFile: string;
  /** a %config(noreplace) file the image has edited locally (the last line is the edit) */
  localEdit?: string;
  manifest?: string;
}
export interface RpmRepo {
  /** http://127.0.0.1:PORT */
  url: string;
  /** the bed's public key (armored) on the host; also `${url}/${keyFile}` and, in the images, keyPathInImages */
  gpgKeyPath: string;
  gpgKeyUrl: string;
  keyFile: string;
  /** /etc/pki/rpm-gpg/RPM-GPG-KEY-copa-testbed: where every rpm/* image (and the tooling image) has it */
  keyPathInImages: string;
  /** long key id (16 hex) and fingerprint */
  keyId: string;
  fingerprint: string;
  /** packages.json on the host (this object minus url/gpgKeyPath/packagesFile/gpgKeyUrl/repositories) */
  packagesFile: string;
  /** repo id -> base URL */
  repositories: Record<string, string>;
  repos: RpmRepoEntry[];
  rpmdb: RpmdbExpectation[];
  images: Record<string, RpmImageInfo>;
}

/** One repository of the bed's RPM world by id ("cbl-mariner-2.0", "copa-testbed-el9", "centos-7"). */
export function rpmRepoEntry(id: string): RpmRepoEntry {
  const r = testbed().rpmRepo.repos.find((x) => x.id === id);
  if (!r) throw new Error(`the bed's RPM repositories have no ${id}`);
  return r;
}

export const TESTBED_RPM_IMAGES = [
  /** distroless CBL-Mariner 2.0: the real container-manifest-2, the packages' files, no rpmdb/rpm/dnf/shell */
  'rpm/cbl-mariner:2.0-distroless',
  /** Debian bookworm + Debian's dnf/rpm claiming AlmaLinux 9.3; rpmdb lists copa-demo-* 1.0 */
  'rpm/dnf:almalinux-9.3',
  /** the same root claiming CentOS 6; rpmdb lists the real centos-release-6 */
  'rpm/dnf:centos-6',
  /** Debian bookworm + dnf, rpm, busybox: the tooling image for rpm/cbl-mariner:2.0-distroless */
  'rpm/tooling:latest',
  /** os-release + a real rpm database each (sqlite, sqlite, Berkeley DB, ndb) */
  'rpm/rpmdb:cbl-mariner-2.0',
  'rpm/rpmdb:amazonlinux-2023',
  'rpm/rpmdb:rhel-8',
  'rpm/rpmdb:sles-15',
] as const;

export const TESTBED_IMAGES = [
  'debian:12-pointrelease',
  'debian:12-slim',
  'debian:13-pointrelease',
  'debian:12-nonroot',
  'debian:12-distroless',
  /** OCI index: linux/amd64 (= 12-pointrelease's manifest) and linux/386 (i386 bookworm minbase) */
  'debian:12-multi',
  ...TESTBED_ALPINE_IMAGES,
  ...TESTBED_RPM_IMAGES,
] as const;

export function testbedCacheDir(): string {
  return process.env.COPA_TESTBED_CACHE || join(homedir(), '.cache', 'copa-testbed');
}

let cached: Testbed | undefined;
/** The running bed's addresses; throws with a hint when it is not up. */
export function testbed(): Testbed {
  if (cached) return cached;
  const file = join(testbedCacheDir(), 'run', 'env.json');
  try {
    cached = JSON.parse(readFileSync(file, 'utf8')) as Testbed;
  } catch {
    throw new Error(`test bed not up (${file} missing): run \`npm run testbed:up\` or run e2e tests through vitest`);
  }
  return cached;
}

/** "debian:12-slim" -> "<registry>/debian:12-slim" */
export function registryRef(name: string): string {
  return `${testbed().registry}/${name}`;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}
export interface RunOptions {
  stdin?: string | Buffer;
  env?: Record<string, string>;
  cwd?: string;
}

/** Spawn a command and collect its output; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: 'pipe' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? (signal ? 128 : 1),
      }),
    );
    child.stdin.on('error', () => {}); // the child may exit before reading stdin
    child.stdin.end(opts.stdin ?? '');
  });
}

/** buildctl against the bed (unix socket unless args/env choose otherwise). */
export function runBuildctl(args: string[], opts: RunOptions & { addr?: string } = {}): Promise<RunResult> {
  const tb = testbed();
  return run(tb.buildctl, ['--addr', opts.addr ?? tb.buildkitAddr, ...args], opts);
}

/** Host docker CLI with the bed's engine and private DOCKER_CONFIG (buildx plugin). */
export function dockerCli(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const tb = testbed();
  return run(tb.docker, args, { ...opts, env: { DOCKER_HOST: tb.dockerHost, DOCKER_CONFIG: tb.dockerConfig, ...opts.env } });
}

// ------------------------------------------------------------------ registry

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}
/**
 * The `config` object of an image config (User, WorkingDir, Env, Entrypoint,
 * Cmd, Labels, ...). Loosely typed on purpose: tests compare fields between
 * images, and an absent field (undefined) is itself meaningful.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ContainerConfig = Record<string, any>;
export interface ImageConfig {
  architecture: string;
  os: string;
  created?: string;
  /** Always present here: fetchConfig substitutes {} when the image has none. */
  config: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
}

interface ParsedRef {
  registry: string;
  repo: string;
  reference: string; // tag or digest
}

/** "debian:12-slim", "127.0.0.1:5000/debian:12-slim" or "…@sha256:…"; bare names use the bed's registry. */
export function parseRef(ref: string): ParsedRef {
  let rest = ref;
  let registry = testbedRegistryOr(undefined);
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (first && (first.includes(':') || first.includes('.') || first === 'localhost')) {
    registry = first;
    rest = rest.slice(slash + 1);
  }
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  if (!registry) throw new Error(`no registry in ${ref} and no test bed up`);
  return { registry, repo: rest, reference };
}

function testbedRegistryOr(fallback: string | undefined): string {
  try {
    return testbed().registry;
  } catch {
    return fallback ?? '';
  }
}

async function registryGet(r: ParsedRef, path: string, accept?: string): Promise<Response> {
  const url = `http://${r.registry}/v2/${r.repo}/${path}`;
  const res = await fetch(url, { headers: accept ? { Accept: accept } : {} });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

/** Raw manifest or index at ref, as the registry stores it. */
export async function fetchRawManifest(ref: string): Promise<ImageManifest | ImageIndex> {
  const r = parseRef(ref);
  return (await (await registryGet(r, `manifests/${r.reference}`, MANIFEST_ACCEPT)).json()) as ImageManifest | ImageIndex;
}

/** A linux platform of an index entry; OCI spelling ("amd64", "386", "arm64"). */
export interface Platform {
  architecture: string;
  variant?: string;
}

/** The image manifest at ref; an index is resolved to its linux/<platform> entry (default amd64). */
export async function fetchManifest(ref: string, platform: Platform = { architecture: 'amd64' }): Promise<ImageManifest> {
  const r = parseRef(ref);
  const m = await fetchRawManifest(ref);
  if ('manifests' in m) {
    const d = m.manifests.find(
      (x) =>
        x.platform?.os === 'linux' &&
        x.platform.architecture === platform.architecture &&
        (platform.variant === undefined || x.platform.variant === platform.variant),
    );
    const name = `linux/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
    if (!d) throw new Error(`${ref}: index has no ${name} manifest`);
    return fetchManifest(`${r.registry}/${r.repo}@${d.digest}`, platform);
  }
  return m;
}

export async function fetchBlob(ref: string, digest: string): Promise<Buffer> {
  const r = parseRef(ref);
  return Buffer.from(await (await registryGet(r, `blobs/${digest}`)).arrayBuffer());
}

export async function fetchConfig(ref: string, platform?: Platform): Promise<ImageConfig> {
  const m = await fetchManifest(ref, platform);
  const cfg = JSON.parse((await fetchBlob(ref, m.config.digest)).toString('utf8')) as ImageConfig;
  cfg.config ??= {};
  return cfg;
}

export async function listLayers(ref: string, platform?: Platform): Promise<Descriptor[]> {
  return (await fetchManifest(ref, platform)).layers;
}

// ------------------------------------------------------------------ tar

export interface TarEntry {
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';
  mode: number;
  uid: number;
  gid: number;
  /** modification time, seconds since the epoch (a PAX mtime keeps its fraction) */
  mtime: number;
  /** regular files only */
  content?: Buffer;
  /** symlink target, or hard-link target path (normalised like keys) */
  linkname?: string;
}

/** "./usr/bin/", "/usr/bin" -> "usr/bin": the key form of all file maps here. */
export function normPath(p: string): string {
  const n = posix.normalize('/' + p).replace(/^\/+/, '').replace(/\/+$/, '');
  return n === '.' ? '' : n;
}

function tarString(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function tarNumber(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // GNU base-256 for large values
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = tarString(b, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(data.subarray(i, sp).toString('ascii'), 10);
    if (!len) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8'); // minus trailing \n
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

const TYPES: Record<string, TarEntry['type']> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink',
  '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/** Entries of an uncompressed tar in archive order (ustar, PAX, GNU long names). */
export function parseTar(tar: Buffer): { path: string; entry: TarEntry }[] {
  const out: { path: string; entry: TarEntry }[] = [];
  let off = 0;
  let pax: Record<string, string> = {};
  let globalPax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const size = tarNumber(h, 124, 12);
    const typeflag = String.fromCharCode(h[156]!);
    const data = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (typeflag === 'x') { pax = parsePax(data); continue; }
    if (typeflag === 'g') { globalPax = { ...globalPax, ...parsePax(data) }; continue; }
    if (typeflag === 'L') { longName = tarString(data, 0, data.length); continue; }
    if (typeflag === 'K') { longLink = tarString(data, 0, data.length); continue; }
    const attrs = { ...globalPax, ...pax };
    let name = tarString(h, 0, 100);
    const prefix = h.subarray(257, 262).toString('ascii') === 'ustar' ? tarString(h, 345, 155) : '';
    if (prefix) name = `${prefix}/${name}`;
    name = attrs.path ?? longName ?? name;
    let linkname = attrs.linkpath ?? longLink ?? tarString(h, 157, 100);
    pax = {};
    longName = longLink = undefined;
    const type = TYPES[typeflag] ?? 'other';
    if (type === 'hardlink') linkname = normPath(linkname);
    out.push({
      path: normPath(name),
      entry: {
        type,
        mode: tarNumber(h, 100, 8) & 0o7777,
        uid: attrs.uid ? Number(attrs.uid) : tarNumber(h, 108, 8),
        gid: attrs.gid ? Number(attrs.gid) : tarNumber(h, 116, 8),
        mtime: attrs.mtime ? Number(attrs.mtime) : tarNumber(h, 136, 12),
        ...(type === 'file' ? { content: Buffer.from(data) } : {}),
        ...(type === 'symlink' || type === 'hardlink' ? { linkname } : {}),
      },
    });
  }
  return out;
}

// Parsed layers by digest (content-addressed, so always valid); a few only,
// since a Debian layer is ~100 MB once unpacked.
const layerCache = new Map<string, { path: string; entry: TarEntry }[]>();
const LAYER_CACHE_SIZE = 6;

async function layerEntries(ref: string, layer: Descriptor): Promise<{ path: string; entry: TarEntry }[]> {
  const hit = layerCache.get(layer.digest);
  if (hit) {
    layerCache.delete(layer.digest); // re-insert: most recently used last
    layerCache.set(layer.digest, hit);
    return hit;
  }
  if (layer.mediaType.includes('zstd')) throw new Error(`${ref}: zstd layers are not supported by these helpers`);
  const blob = await fetchBlob(ref, layer.digest);
  // gzip magic check: uncompressed tar layers are legal too
  const entries = parseTar(blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob);
  layerCache.set(layer.digest, entries);
  while (layerCache.size > LAYER_CACHE_SIZE) layerCache.delete(layerCache.keys().next().value!);
  return entries;
}

/**
 * Files of one layer, keyed by normalised path (no leading "/" or "./").
 * Whiteouts stay as they are in the tar (".wh.name", ".wh..wh..opq"), so a test
 * can see exactly what a patch layer deletes.
 */
export async function readLayerFiles(ref: string, layerIndex: number): Promise<Map<string, TarEntry>> {
  const layers = await listLayers(ref);
  const layer = layers.at(layerIndex);
  if (!layer) throw new Error(`${ref}: no layer ${layerIndex} (has ${layers.length})`);
  return new Map((await layerEntries(ref, layer)).map((e) => [e.path, e.entry]));
}

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Overlay tar layers (lowest first) the way an image is unpacked: ".wh.name"
 * deletes name from lower layers, ".wh..wh..opq" empties a directory of them.
 */
export function applyLayers(layers: { path: string; entry: TarEntry }[][]): Map<string, TarEntry> {
  const fs = new Map<string, TarEntry>();
  const removeTree = (p: string, keepSelf: boolean) => {
    if (!keepSelf) fs.delete(p);
    const pre = p === '' ? '' : p + '/';
    for (const k of [...fs.keys()]) if (k.startsWith(pre) && k !== p) fs.delete(k);
  };
  for (const entries of layers) {
    // Whiteouts only hide lower layers, so apply them all before this layer's files.
    for (const { path } of entries) {
      const base = posix.basename(path);
      const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      if (base === OPAQUE) removeTree(dir, true);
      else if (base.startsWith(WH)) removeTree(normPath(posix.join(dir, base.slice(WH.length))), false);
    }
    for (const { path, entry } of entries) {
      if (posix.basename(path).startsWith(WH)) continue;
      // A non-directory replacing a directory hides everything below it.
      if (entry.type !== 'dir' && fs.get(path)?.type === 'dir') removeTree(path, false);
      fs.set(path, entry);
    }
  }
  return fs;
}

/** The image's merged filesystem: layers applied in order, honouring whiteouts. */
export async function imageFilesystem(ref: string, platform?: Platform): Promise<Map<string, TarEntry>> {
  const layers = [];
  for (const layer of await listLayers(ref, platform)) layers.push(await layerEntries(ref, layer));
  return applyLayers(layers);
}

/** Resolve symlinks (in every component) and hard links to the final entry. */
export function lookup(fs: Map<string, TarEntry>, path: string): { path: string; entry: TarEntry } | undefined {
  let parts = normPath(path).split('/').filter(Boolean);
  let resolved: string[] = [];
  for (let hops = 0; parts.length; ) {
    const next = parts.shift()!;
    const p = [...resolved, next].join('/');
    const e = fs.get(p);
    if (e?.type === 'symlink') {
      if (++hops > 40) throw new Error(`symlink loop at /${p}`);
      const target = e.linkname!;
      const base = target.startsWith('/') ? [] : resolved;
      parts = [...normPath(posix.join('/', ...base, target)).split('/').filter(Boolean), ...parts];
      resolved = [];
      continue;
    }
    resolved.push(next);
  }
  const p = resolved.join('/');
  let e = fs.get(p);
  if (e?.type === 'hardlink') e = fs.get(e.linkname!);
  return e ? { path: p, entry: e } : undefined;
}

/** A regular file's content from the image (symlinks followed); rejects when absent or not a file. */
export async function readFileFromImage(ref: string, path: string): Promise<Buffer> {
  const hit = lookup(await imageFilesystem(ref), path);
  if (!hit) throw new Error(`${ref}: no ${path}`);
  if (!hit.entry.content) throw new Error(`${ref}: ${path} is a ${hit.entry.type}, not a regular file`);
  return hit.entry.content;
}

/** Whether path exists in the image (any type; symlinks followed, dangling ones count as absent). */
export async function fileExistsInImage(ref: string, path: string): Promise<boolean> {
  return lookup(await imageFilesystem(ref), path) !== undefined;
}

// ------------------------------------------------------------------ dpkg

/** dpkg control stanzas ("Field: value" with continuation lines). */
export function parseControl(text: string): Record<string, string>[] {
  return text
    .split(/\n\s*\n/)
    .map((block) => {
      const rec: Record<string, string> = {};
      let last = '';
      for (const line of block.split('\n')) {
        if (/^\s/.test(line) && last) rec[last] += '\n' + line.trim();
        else {
          const m = /^([^:\s]+):\s?(.*)$/.exec(line);
          if (m) rec[(last = m[1]!)] = m[2]!;
        }
      }
      return rec;
    })
    .filter((r) => r.Package);
}

/**
 * Installed packages -> version, from /var/lib/dpkg/status or, for distroless
 * images, /var/lib/dpkg/status.d/* (one stanza file per package).
 */
export async function dpkgVersions(ref: string, platform?: Platform): Promise<Map<string, string>> {
  const fs = await imageFilesystem(ref, platform);
  const texts: string[] = [];
  const status = lookup(fs, 'var/lib/dpkg/status')?.entry.content;
  if (status) texts.push(status.toString('utf8'));
  else {
    for (const [p, e] of fs) {
      if (p.startsWith('var/lib/dpkg/status.d/') && !p.endsWith('.md5sums') && e.content) texts.push(e.content.toString('utf8'));
    }
  }
  const out = new Map<string, string>();
  for (const rec of texts.flatMap(parseControl)) {
    if (rec.Status && !/ installed$/.test(rec.Status)) continue;
    out.set(rec.Package!, rec.Version!);
  }
  return out;
}

// ------------------------------------------------------------------ apk

/**
 * Installed packages -> version, from the image's /lib/apk/db/installed
 * (P:/V: of each blank-line separated record).
 */
export async function apkVersions(ref: string, platform?: Platform): Promise<Map<string, string>> {
  const db = lookup(await imageFilesystem(ref, platform), 'lib/apk/db/installed')?.entry.content;
  if (!db) throw new Error(`${ref}: no /lib/apk/db/installed`);
  const out = new Map<string, string>();
  for (const block of db.toString('utf8').split(/\n\n+/)) {
    const name = /^P:(.*)$/m.exec(block)?.[1];
    const version = /^V:(.*)$/m.exec(block)?.[1];
    if (name && version) out.set(name, version);
  }
  return out;
}

export interface UpgradablePackage {
  name: string;
  /** candidate version */
  version: string;
  /** installed version */
  installed: string;
  /** suites offering the candidate, e.g. ["bookworm-security"] */
  suites: string[];
  arch: string;
}

/** Parse `apt list --upgradable` output lines ("name/suite,suite ver arch [upgradable from: old]"). */
export function parseAptUpgradable(text: string): UpgradablePackage[] {
  const out: UpgradablePackage[] = [];
  for (const line of text.split('\n')) {
    const m = /^([^/\s]+)\/(\S+)\s+(\S+)\s+(\S+)\s+\[upgradable from: ([^\]]+)\]/.exec(line.trim());
    if (m) out.push({ name: m[1]!, suites: m[2]!.split(','), version: m[3]!, arch: m[4]!, installed: m[5]! });
  }
  return out;
}

/**
 * What apt would upgrade in the image today, from its own sources.list
 * (security + updates suites): runs `apt-get update && apt list --upgradable`
 * in BuildKit. Tests build Trivy-format reports from this, so no package list
 * is hard-coded. The cache key changes daily so results follow the mirror.
 * platform picks one platform of an index (default: buildkitd's own).
 */
export async function upgradableFromSecurity(ref: string, platform?: Platform): Promise<UpgradablePackage[]> {
  const dir = mkdtempSync(join(tmpdir(), 'copa-upgradable-'));
  try {
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        `FROM ${ref.includes('/') ? ref : registryRef(ref)} AS probe`,
        'ARG CACHEBUST',
        'USER root',
        'RUN echo "$CACHEBUST" >/dev/null && apt-get update -qq >/dev/null && apt list --upgradable >/upgradable.txt 2>/dev/null',
        'FROM scratch',
        'COPY --from=probe /upgradable.txt /',
        '',
      ].join('\n'),
    );
    const res = await runBuildctl([
      'build', '--frontend', 'dockerfile.v0',
      '--local', `context=${dir}`, '--local', `dockerfile=${dir}`,
      ...(platform ? ['--opt', `platform=linux/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`] : []),
      '--opt', `build-arg:CACHEBUST=${new Date().toISOString().slice(0, 10)}`,
      '--output', `type=local,dest=${join(dir, 'out')}`,
    ]);
    if (res.code !== 0) throw new Error(`apt probe of ${ref} failed (exit ${res.code}):\n${res.stderr.slice(-4000)}`);
    return parseAptUpgradable(readFileSync(join(dir, 'out', 'upgradable.txt'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The shared fixtures: COPA_SHARED_FIXTURES, else ../shared/fixtures beside the repository (as CI lays it out), else /work/shared/fixtures. */
export function sharedFixturesDir(): string {
  const beside = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures');
  return [process.env.COPA_SHARED_FIXTURES, beside, '/work/shared/fixtures'].find((d): d is string => !!d && existsSync(d)) ?? '/work/shared/fixtures';
}
