// --oci-dir: an OCI image layout directory from the `oci` exporter's tarball.
//
// The tar stream is extracted into a temporary directory next to the destination (same
// filesystem, so the final step is a rename): regular files and directories only, no
// absolute paths, no "..", no symbolic links, hard links only to files already extracted;
// sha256 blobs are verified against their names while they are written. Then `oci-layout`
// and `index.json` must exist and index.json's manifests must be present, and the
// directory is renamed into place:
//  - destination missing, or an empty directory → atomic rename;
//  - destination is an existing OCI layout → merge: new blobs are moved in first, then
//    index.json is replaced atomically with the old entries plus the new ones (an old entry
//    carrying the same org.opencontainers.image.ref.name as a new one loses it, like a
//    moved tag), so the layout is valid at every moment;
//  - anything else (a file, a non-empty non-OCI directory) → a clear error.
// On any failure the temporary directory is removed: no half-written directory remains.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopaError, quote } from '../../engine/errors.js';
import { TarFormatError, TarParser, safeEntryPath, type TarEntrySink, type TarHeader } from './tar.js';
import { deferred, type ExportTarget } from './target.js';
import { checkWritableDir, fsErrorCategory } from './writable.js';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const OCI_INDEX_FILE = 'index.json';
export const OCI_REF_NAME = 'org.opencontainers.image.ref.name';

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface OciIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: OciDescriptor[];
  [k: string]: unknown;
}

export interface OciDirResult {
  /** The layout directory (absolute). */
  path: string;
  /** True when the export was merged into an existing layout. */
  merged: boolean;
  /** The manifests (index entries) the export added. */
  manifests: OciDescriptor[];
  /** Blobs the export carried / blobs that were new to the directory. */
  blobs: number;
  newBlobs: number;
  /** The exporter-md-* metadata the daemon sent (containerimage.digest, …). */
  exporterMetadata: Record<string, string>;
}

export interface OciDirOptions {
  /** Verify sha256/sha512 blob contents against their file names (default true). */
  verifyDigests?: boolean;
  /** Create missing parent directories of the destination (default true). */
  createParents?: boolean;
}

/** How a destination will be written. */
export type OciDestinationMode = 'create' | 'replace-empty' | 'merge';

function destError(dest: string, what: string, hint?: string): CopaError {
  return new CopaError('input', `cannot write the OCI layout to ${quote(dest)}: ${what}`, {
    hint: hint ?? 'choose a new or empty directory, or an existing OCI image layout to add the image to',
  });
}

async function statOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.stat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Checks where an OCI layout can go, before a build starts: fails for a file or a
 * non-empty directory that is not an OCI layout.
 */
export async function checkOciDirDestination(dest: string): Promise<OciDestinationMode> {
  const mode = await destinationMode(dest);
  // The layout is unpacked into a temporary directory next to dest, then renamed into place.
  await checkWritableDir(dirname(resolve(dest)), 'the OCI layout into', { mayCreate: true, hint: 'choose a directory you can write to with --oci-dir' });
  return mode;
}

async function destinationMode(dest: string): Promise<OciDestinationMode> {
  const abs = resolve(dest);
  let st: Stats | null;
  try {
    st = await statOrNull(abs);
  } catch (e) {
    throw destError(abs, (e as Error).message);
  }
  if (!st) return 'create';
  if (!st.isDirectory()) throw destError(abs, 'it exists and is not a directory');
  const entries = await fsp.readdir(abs);
  if (entries.length === 0) return 'replace-empty';
  if (entries.includes(OCI_LAYOUT_FILE) && entries.includes(OCI_INDEX_FILE)) {
    await readIndex(join(abs, OCI_INDEX_FILE), abs);
    return 'merge';
  }
  throw destError(abs, 'the directory exists, is not empty and is not an OCI image layout (no oci-layout and index.json)');
}

async function readIndex(file: string, layout: string): Promise<OciIndex> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new CopaError('image', `the OCI layout ${quote(layout)} has no readable index.json: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CopaError('image', `index.json of the OCI layout ${quote(layout)} is not valid JSON: ${(e as Error).message}`);
  }
  const idx = v as OciIndex;
  if (!idx || typeof idx !== 'object' || !Array.isArray(idx.manifests)) {
    throw new CopaError('image', `index.json of the OCI layout ${quote(layout)} has no "manifests" list`);
  }
  for (const m of idx.manifests) {
    if (!m || typeof m.digest !== 'string' || !/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(m.digest)) {
      throw new CopaError('image', `index.json of the OCI layout ${quote(layout)} lists a manifest without a valid digest`);
    }
  }
  return idx;
}

function blobPath(root: string, digest: string): string {
  const i = digest.indexOf(':');
  return join(root, 'blobs', digest.slice(0, i), digest.slice(i + 1));
}

const BLOB_RE = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/;

/** Extracts a tar stream into `root` (which must exist and be empty) with the safety rules above. */
class SafeExtractor {
  private readonly files = new Set<string>();
  private openFile: FileHandle | null = null;
  blobs = 0;

  constructor(
    private readonly root: string,
    private readonly verify: boolean,
  ) {}

  readonly parser = new TarParser((h) => this.entry(h));

  private async entry(h: TarHeader): Promise<TarEntrySink | void> {
    const rel = safeEntryPath(h.path);
    if (rel === '') {
      if (h.type === 'directory') return;
      throw new TarFormatError(`the tar entry ${JSON.stringify(h.path)} has an empty path`);
    }
    const abs = join(this.root, rel);
    switch (h.type) {
      case 'directory':
        if (this.files.has(rel)) throw new TarFormatError(`the tar stream has both a file and a directory ${JSON.stringify(rel)}`);
        await fsp.mkdir(abs, { recursive: true });
        return;
      case 'file':
        return this.file(rel, abs, h);
      case 'hardlink': {
        const target = safeEntryPath(h.linkpath);
        if (!this.files.has(target)) {
          throw new TarFormatError(`refusing the hard link ${JSON.stringify(h.path)} -> ${JSON.stringify(h.linkpath)}: it does not point to a file extracted earlier`);
        }
        await fsp.mkdir(dirname(abs), { recursive: true });
        await fsp.rm(abs, { force: true });
        await fsp.link(join(this.root, target), abs);
        this.files.add(rel);
        return;
      }
      case 'symlink':
        throw new TarFormatError(`refusing the symbolic link ${JSON.stringify(h.path)} -> ${JSON.stringify(h.linkpath)}: an OCI layout holds only files and directories`);
      default:
        throw new TarFormatError(`refusing the tar entry ${JSON.stringify(h.path)} of type ${h.type} (typeflag ${JSON.stringify(h.typeflag)}): an OCI layout holds only files and directories`);
    }
  }

  private async file(rel: string, abs: string, h: TarHeader): Promise<TarEntrySink> {
    await fsp.mkdir(dirname(abs), { recursive: true });
    const mode = (h.mode & 0o777) | 0o600;
    let fh: FileHandle;
    try {
      fh = await fsp.open(abs, 'wx', mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A later entry replaces an earlier one (tar semantics); unlink first so a hard link
      // to the old entry keeps the old content.
      await fsp.unlink(abs);
      fh = await fsp.open(abs, 'wx', mode);
    }
    this.openFile = fh;
    this.files.add(rel);
    const m = this.verify ? BLOB_RE.exec(rel) : null;
    const hash: Hash | null = m ? createHash(m[1]!) : null;
    if (m) this.blobs++;
    return {
      data: async (chunk) => {
        hash?.update(chunk);
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
      },
      end: async () => {
        this.openFile = null;
        await fh.close();
        if (hash && m) {
          const got = hash.digest('hex');
          if (got !== m[2]) throw new TarFormatError(`the blob ${rel} is corrupt: its content has digest ${m[1]}:${got}`);
        }
      },
    };
  }

  async closeOpenFile(): Promise<void> {
    const fh = this.openFile;
    this.openFile = null;
    if (fh) await fh.close().catch(() => undefined);
  }
}

async function walkFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) for (const f of await walkFiles(join(dir, e.name), r)) out.push(f);
    else if (e.isFile()) out.push(r);
  }
  return out;
}

async function exists(p: string): Promise<boolean> {
  return (await statOrNull(p)) !== null;
}

/** Checks that `dir` holds an OCI layout; returns its index. */
async function validateLayout(dir: string, what: string): Promise<OciIndex> {
  const layoutFile = join(dir, OCI_LAYOUT_FILE);
  let layout: unknown;
  try {
    layout = JSON.parse(await fsp.readFile(layoutFile, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CopaError('buildkit', `${what} is not an OCI image layout: ${missing ? 'it has no oci-layout file' : `oci-layout is unreadable: ${(e as Error).message}`}`);
  }
  if (!layout || typeof (layout as { imageLayoutVersion?: unknown }).imageLayoutVersion !== 'string') {
    throw new CopaError('buildkit', `${what} is not an OCI image layout: oci-layout has no imageLayoutVersion`);
  }
  if (!(await exists(join(dir, OCI_INDEX_FILE)))) throw new CopaError('buildkit', `${what} is not an OCI image layout: it has no index.json`);
  const index = await readIndex(join(dir, OCI_INDEX_FILE), what);
  for (const m of index.manifests) {
    if (!(await exists(blobPath(dir, m.digest)))) throw new CopaError('buildkit', `${what} is incomplete: index.json lists ${m.digest}, but the blob is missing`);
  }
  return index;
}

function refName(d: OciDescriptor): string | undefined {
  return d.annotations?.[OCI_REF_NAME];
}

/** index.json entries after adding `added` to `old`: a ref name moves to the new entry; exact duplicates are dropped. */
export function mergeIndexManifests(old: OciDescriptor[], added: OciDescriptor[]): OciDescriptor[] {
  const names = new Set(added.map(refName).filter((n): n is string => n !== undefined));
  const kept: OciDescriptor[] = [];
  for (const o of old) {
    const n = refName(o);
    // The name moves to the new image (like re-tagging); the old, now nameless entry goes
    // (its blobs stay: other entries may share them).
    if (n !== undefined && names.has(n)) continue;
    if (n === undefined && added.some((a) => a.digest === o.digest && refName(a) === undefined)) continue;
    kept.push(o);
  }
  return [...kept, ...added];
}

async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.copa-tmp-${randomBytes(6).toString('hex')}`;
  try {
    await fsp.writeFile(tmp, data, { mode: 0o644 });
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** A Writable that takes the `oci` exporter's tarball and, on end, puts the layout at dest. */
export class OciDirWriter extends Writable {
  private readonly extractor: SafeExtractor;
  private committed = false;
  result: OciDirResult | undefined;

  private constructor(
    readonly dest: string,
    private readonly tmp: string,
    private readonly md: Record<string, string>,
    opts: OciDirOptions,
  ) {
    super({ highWaterMark: 4 * 1024 * 1024 });
    this.extractor = new SafeExtractor(tmp, opts.verifyDigests !== false);
  }

  /** Creates the temporary directory next to dest (after checking dest is usable). */
  static async open(dest: string, md: Record<string, string> = {}, opts: OciDirOptions = {}): Promise<OciDirWriter> {
    let abs = resolve(dest);
    // A symlink to a directory: write into the directory it points to, not over the link.
    const lst = await fsp.lstat(abs).catch(() => null);
    if (lst?.isSymbolicLink()) abs = await fsp.realpath(abs).catch(() => abs);
    await checkOciDirDestination(abs);
    const parent = dirname(abs);
    if (opts.createParents !== false) await fsp.mkdir(parent, { recursive: true });
    let tmp: string;
    try {
      tmp = await fsp.mkdtemp(join(parent, `.${basename(abs)}.copa-tmp-`));
    } catch (e) {
      throw destError(abs, `cannot create a temporary directory in ${quote(parent)}: ${(e as Error).message}`);
    }
    return new OciDirWriter(abs, tmp, md, opts);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.extractor.parser.write(chunk).then(
      () => cb(),
      (e: unknown) => cb(this.wrap(e)),
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finish().then(
      () => cb(),
      (e: unknown) => cb(this.wrap(e)),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const cleanup = async (): Promise<void> => {
      await this.extractor.closeOpenFile();
      if (!this.committed) await fsp.rm(this.tmp, { recursive: true, force: true });
    };
    cleanup().then(
      () => cb(err),
      () => cb(err),
    );
  }

  private wrap(e: unknown): Error {
    if (e instanceof CopaError) return e;
    if (e instanceof TarFormatError) return new CopaError('buildkit', `the OCI layout archive from BuildKit is invalid: ${e.message}`, { cause: e });
    return new CopaError(fsErrorCategory(e), `writing the OCI layout to ${quote(this.dest)} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }

  private async finish(): Promise<void> {
    await this.extractor.parser.end();
    const what = 'the archive the oci exporter sent';
    const index = await validateLayout(this.tmp, what);
    const mode = await checkOciDirDestination(this.dest);
    if (mode === 'merge') {
      const newBlobs = await this.merge(index);
      this.result = { path: this.dest, merged: true, manifests: index.manifests, blobs: this.extractor.blobs, newBlobs, exporterMetadata: this.md };
    } else {
      try {
        // rename(2) replaces an empty directory atomically and fails on a non-empty one.
        await fsp.rename(this.tmp, this.dest);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') throw destError(this.dest, 'the directory was filled by someone else while the image was exported');
        if (mode === 'replace-empty' && (code === 'EPERM' || code === 'EISDIR')) {
          await fsp.rmdir(this.dest);
          await fsp.rename(this.tmp, this.dest);
        } else throw e;
      }
      this.committed = true;
      this.result = { path: this.dest, merged: false, manifests: index.manifests, blobs: this.extractor.blobs, newBlobs: this.extractor.blobs, exporterMetadata: this.md };
    }
  }

  /** Moves new blobs into dest, then replaces dest/index.json. Returns the number of new blobs. */
  private async merge(added: OciIndex): Promise<number> {
    const destIndex = await readIndex(join(this.dest, OCI_INDEX_FILE), this.dest);
    let moved = 0;
    for (const rel of await walkFiles(join(this.tmp, 'blobs'), 'blobs')) {
      const to = join(this.dest, rel);
      if (await exists(to)) continue; // content-addressed: same name, same content
      await fsp.mkdir(dirname(to), { recursive: true });
      await fsp.rename(join(this.tmp, rel), to);
      moved++;
    }
    const merged: OciIndex = { ...destIndex, manifests: mergeIndexManifests(destIndex.manifests, added.manifests) };
    await writeFileAtomic(join(this.dest, OCI_INDEX_FILE), JSON.stringify(merged) + '\n');
    // Everything useful was moved; the rest (duplicate blobs, oci-layout) goes.
    await fsp.rm(this.tmp, { recursive: true, force: true });
    this.committed = true;
    return moved;
  }
}

/** Writes an OCI layout tarball from any byte source to dest (the FileSend-less path, and tests). */
export async function writeOciLayout(source: AsyncIterable<Uint8Array> | Readable, dest: string, opts: OciDirOptions = {}): Promise<OciDirResult> {
  const w = await OciDirWriter.open(dest, {}, opts);
  // pipeline destroys the writer (removing its temp dir) when the source or the writer fails.
  await pipeline(source, w);
  return w.result!;
}

/** A FileSend target writing the `oci` exporter's tarball as an OCI layout directory. Single use. */
export function createOciDirTarget(dest: string, opts: OciDirOptions = {}): ExportTarget<OciDirResult> {
  const abs = resolve(dest);
  const d = deferred<OciDirResult>();
  let writer: OciDirWriter | null = null;
  let opened = false;
  let cancelled: Error | null = null;
  return {
    describe: `OCI layout ${abs}`,
    get opened() {
      return opened;
    },
    result: d.promise,
    async open(md) {
      if (cancelled) throw cancelled;
      if (opened) throw new CopaError('internal', `the OCI layout output ${quote(abs)} was already written once`);
      opened = true;
      try {
        writer = await OciDirWriter.open(abs, md, opts);
      } catch (e) {
        d.reject(e);
        throw e;
      }
      const w = writer;
      w.once('finish', () => {
        if (w.result) d.resolve(w.result);
      });
      w.once('error', (e) => d.reject(e));
      w.once('close', () => {
        if (!d.settled()) d.reject(cancelled ?? new CopaError('buildkit', `the OCI layout export to ${quote(abs)} was aborted`));
      });
      if (cancelled) w.destroy(cancelled);
      return w;
    },
    cancel(reason) {
      if (d.settled()) return;
      cancelled = reason ?? new CopaError('buildkit', `the OCI layout export to ${quote(abs)} was cancelled`);
      if (writer) writer.destroy(cancelled);
      else d.reject(cancelled);
    },
  };
}
