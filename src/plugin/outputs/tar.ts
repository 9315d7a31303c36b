// A small streaming tar reader for the archives BuildKit's exporters send back (the `oci`
// exporter's OCI image layout). It understands ustar, POSIX PAX extended headers
// (path, linkpath, size) and the GNU long-name/long-link records, verifies header
// checksums, and hands each entry to a callback with backpressure (every callback may
// return a promise; the next bytes are parsed only after it settled).
//
// Path safety is the extractor's job (see safeEntryPath); the parser only decodes.

const BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char-device' | 'block-device' | 'fifo' | 'other';

export interface TarHeader {
  /** The entry's path as written in the archive (PAX/GNU long names applied). */
  path: string;
  type: TarEntryType;
  /** The raw typeflag character ('0', '5', …). */
  typeflag: string;
  /** Permission bits (low 12 bits of the mode field). */
  mode: number;
  /** Size of the entry's data in bytes (0 for non-files). */
  size: number;
  /** Link target for symlinks and hard links. */
  linkpath: string;
  /** Modification time, seconds since the epoch. */
  mtime: number;
}

export interface TarEntrySink {
  /** Called with consecutive pieces of the entry's data. */
  data?(chunk: Buffer): void | Promise<void>;
  /** Called once after the last data chunk. */
  end?(): void | Promise<void>;
}

/** Called for every entry (PAX/GNU meta records are consumed by the parser). Return a sink for the data, or nothing to skip it. */
export type TarEntryHandler = (header: TarHeader) => TarEntrySink | void | Promise<TarEntrySink | void>;

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

/** Largest PAX header / GNU long name record we accept (they are held in memory). */
const MAX_META_SIZE = 1024 * 1024;

function cstring(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return (nul >= 0 ? slice.subarray(0, nul) : slice).toString('utf8');
}

/** Numeric header field: octal text (space/NUL terminated), or GNU base-256 when the high bit is set. */
function numeric(buf: Buffer, start: number, len: number, what: string): number {
  const first = buf[start]!;
  if (first & 0x80) {
    // base-256: big-endian two's complement in the remaining bits.
    if (first === 0xff) throw new TarFormatError(`negative ${what} in a tar header`);
    let v = first & 0x7f;
    for (let i = 1; i < len; i++) {
      v = v * 256 + buf[start + i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw new TarFormatError(`${what} in a tar header is too large`);
    }
    return v;
  }
  const text = buf
    .subarray(start, start + len)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`invalid ${what} ${JSON.stringify(text)} in a tar header`);
  return parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = numeric(h, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '7': // contiguous file: a regular file
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    case '3':
      return 'char-device';
    case '4':
      return 'block-device';
    case '6':
      return 'fifo';
    default:
      return 'other';
  }
}

/** Parses PAX extended header records ("<len> <key>=<value>\n"). */
export function parsePaxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) throw new TarFormatError('malformed PAX header record (no length)');
    const lenText = data.subarray(pos, sp).toString('latin1');
    if (!/^[0-9]+$/.test(lenText)) throw new TarFormatError(`malformed PAX header record length ${JSON.stringify(lenText)}`);
    const len = parseInt(lenText, 10);
    if (len <= sp - pos + 1 || pos + len > data.length) throw new TarFormatError('malformed PAX header record (bad length)');
    const rec = data.subarray(sp + 1, pos + len);
    if (rec[rec.length - 1] !== 0x0a) throw new TarFormatError('malformed PAX header record (no newline)');
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError('malformed PAX header record (no "=")');
    out[rec.subarray(0, eq).toString('utf8')] = rec.subarray(eq + 1, rec.length - 1).toString('utf8');
    pos += len;
  }
  return out;
}

type State =
  | { kind: 'header' }
  | { kind: 'data'; remaining: number; padding: number; sink: TarEntrySink | null }
  | { kind: 'meta'; remaining: number; padding: number; flag: string; parts: Buffer[] }
  | { kind: 'done' };

/**
 * Push parser: feed bytes with write() (await each call), then end(). The handler runs for
 * every entry; its sink receives the data. Trailing bytes after the end-of-archive marker
 * are ignored.
 */
export class TarParser {
  private state: State = { kind: 'header' };
  private pending: Buffer = Buffer.alloc(0);
  private pax: Record<string, string> = {};
  private globalPax: Record<string, string> = {};
  private gnuLongName: string | undefined;
  private gnuLongLink: string | undefined;
  private zeroBlocks = 0;
  private entries = 0;

  /**
   * requireEndMarker (default true): a stream that ends without the end-of-archive zero
   * block is truncated (Go's archive/tar and GNU tar always write it); this catches a
   * transfer cut exactly at an entry boundary.
   */
  constructor(
    private readonly onEntry: TarEntryHandler,
    private readonly opts: { requireEndMarker?: boolean } = {},
  ) {}

  /** Number of entries reported so far. */
  get entryCount(): number {
    return this.entries;
  }

  /** Whether the end-of-archive marker was seen. */
  get finished(): boolean {
    return this.state.kind === 'done';
  }

  async write(chunk: Uint8Array): Promise<void> {
    let buf: Buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.pending.length) {
      buf = Buffer.concat([this.pending, buf]);
      this.pending = Buffer.alloc(0);
    }
    let pos = 0;
    while (pos < buf.length) {
      const st = this.state;
      if (st.kind === 'done') return;
      if (st.kind === 'header') {
        if (buf.length - pos < BLOCK) break;
        const h = buf.subarray(pos, pos + BLOCK);
        pos += BLOCK;
        await this.header(h);
        continue;
      }
      // data or meta: take what is there
      if (st.remaining > 0) {
        const n = Math.min(st.remaining, buf.length - pos);
        const piece = buf.subarray(pos, pos + n);
        pos += n;
        st.remaining -= n;
        if (st.kind === 'data') {
          if (st.sink?.data) await st.sink.data(piece);
        } else {
          st.parts.push(Buffer.from(piece));
        }
        if (st.remaining > 0) continue;
      }
      if (st.padding > 0) {
        const n = Math.min(st.padding, buf.length - pos);
        pos += n;
        st.padding -= n;
        if (st.padding > 0) continue;
      }
      if (st.kind === 'data') {
        this.state = { kind: 'header' };
        if (st.sink?.end) await st.sink.end();
      } else {
        this.state = { kind: 'header' };
        this.meta(st.flag, Buffer.concat(st.parts));
      }
    }
    if (pos < buf.length && this.state.kind !== 'done') this.pending = Buffer.from(buf.subarray(pos));
  }

  /** Call after the last write(): fails if the archive is truncated. */
  async end(): Promise<void> {
    const st = this.state;
    if (st.kind === 'done') return;
    if (st.kind === 'header' && this.pending.length === 0) {
      // EOF at a header boundary: accept one zero block (some writers write only one), or
      // no marker at all when allowed, but never an archive without a single entry.
      if (this.gnuLongName !== undefined || this.gnuLongLink !== undefined || Object.keys(this.pax).length) {
        throw new TarFormatError('the tar stream ends after an extended header, without its entry');
      }
      if (this.entries === 0 && this.zeroBlocks === 0) throw new TarFormatError('the tar stream is empty');
      if (this.zeroBlocks === 0 && this.opts.requireEndMarker !== false) {
        throw new TarFormatError('the tar stream is truncated (no end-of-archive marker)');
      }
      this.state = { kind: 'done' };
      return;
    }
    throw new TarFormatError('the tar stream is truncated (it ends in the middle of an entry)');
  }

  private async header(h: Buffer): Promise<void> {
    if (h.every((b) => b === 0)) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.state = { kind: 'done' };
      return;
    }
    if (this.zeroBlocks > 0) throw new TarFormatError('a zero block in the middle of the tar stream');
    if (!checksumOk(h)) throw new TarFormatError('tar header checksum mismatch (not a tar stream, or corrupt)');
    const magic = h.subarray(257, 263).toString('latin1');
    // POSIX ustar ("ustar\0") has a name prefix field; old GNU ("ustar ") uses those bytes for other things.
    const isUstar = magic === 'ustar\0';
    const flag = String.fromCharCode(h[156]!);
    let size = numeric(h, 124, 12, 'size');

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META_SIZE) throw new TarFormatError(`tar extended header of ${size} bytes is too large`);
      this.state = { kind: 'meta', remaining: size, padding: (BLOCK - (size % BLOCK)) % BLOCK, flag, parts: [] };
      if (size === 0) {
        this.state = { kind: 'header' };
        this.meta(flag, Buffer.alloc(0));
      }
      return;
    }

    let name = cstring(h, 0, 100);
    if (isUstar) {
      const prefix = cstring(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let linkpath = cstring(h, 157, 100);
    const pax = { ...this.globalPax, ...this.pax };
    if (this.gnuLongName !== undefined) name = this.gnuLongName;
    if (this.gnuLongLink !== undefined) linkpath = this.gnuLongLink;
    if (pax.path !== undefined) name = pax.path;
    if (pax.linkpath !== undefined) linkpath = pax.linkpath;
    if (pax.size !== undefined) {
      if (!/^[0-9]+$/.test(pax.size)) throw new TarFormatError(`invalid PAX size ${JSON.stringify(pax.size)}`);
      size = Number(pax.size);
    }
    this.pax = {};
    this.gnuLongName = undefined;
    this.gnuLongLink = undefined;

    const type = typeOf(flag);
    // Links, directories, devices and FIFOs are header-only: their size field is ignored (as
    // Go's archive/tar does). Regular files and unknown types are followed by `size` bytes.
    const dataSize = type === 'file' || type === 'other' ? size : 0;
    const header: TarHeader = {
      path: name,
      type,
      typeflag: flag,
      mode: numeric(h, 100, 8, 'mode') & 0o7777,
      size: type === 'file' ? size : 0,
      linkpath,
      mtime: numeric(h, 136, 12, 'mtime'),
    };
    this.entries++;
    const sink = (await this.onEntry(header)) || null;
    if (dataSize === 0) {
      this.state = { kind: 'header' };
      if (sink?.end) await sink.end();
      return;
    }
    this.state = { kind: 'data', remaining: dataSize, padding: (BLOCK - (dataSize % BLOCK)) % BLOCK, sink };
  }

  private meta(flag: string, data: Buffer): void {
    switch (flag) {
      case 'x':
        this.pax = { ...this.pax, ...parsePaxRecords(data) };
        break;
      case 'g':
        this.globalPax = { ...this.globalPax, ...parsePaxRecords(data) };
        // A global path would apply to every entry: meaningless, drop it.
        delete this.globalPax.path;
        delete this.globalPax.linkpath;
        delete this.globalPax.size;
        break;
      case 'L':
        this.gnuLongName = cstring(data, 0, data.length);
        break;
      case 'K':
        this.gnuLongLink = cstring(data, 0, data.length);
        break;
    }
  }
}

/**
 * A tar entry path made safe to join under an extraction root: forward slashes, no leading
 * "./", no empty or "." segments. Returns "" for the root itself. Throws for absolute
 * paths, ".." segments and NUL bytes.
 */
export function safeEntryPath(p: string): string {
  if (p.includes('\0')) throw new TarFormatError(`tar entry path ${JSON.stringify(p)} contains a NUL byte`);
  if (p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p)) throw new TarFormatError(`refusing the absolute path ${JSON.stringify(p)} in the tar stream`);
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.some((s) => s === '..')) throw new TarFormatError(`refusing the path ${JSON.stringify(p)} in the tar stream: it contains ".."`);
  return parts.join('/');
}
