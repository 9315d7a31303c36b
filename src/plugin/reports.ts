// Reading the user's report: a file (one platform) or a directory of reports (one per
// platform, told apart by the architecture each report records).
//
// A report path is untrusted: it may name a FIFO (open() would block forever), a device
// (/dev/zero never ends), a socket, a directory or a symlink loop. Every file is opened
// non-blocking, checked with fstat on the opened descriptor (no race with a stat of the
// path), refused unless it is a regular file, and read up to MAX_REPORT_BYTES bytes actually
// read (st_size can be 0 or wrong, e.g. for /proc files).
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { CopaError, quote } from '../engine/errors.js';
import { parseReport, MAX_REPORT_BYTES, type PatchReport } from '../engine/report/index.js';
import { reportPlatform } from '../engine/image-platform.js';
import type { Platform } from '../llb/index.js';

export interface PlatformReport {
  /** undefined = the report does not say (use the default platform). */
  platform?: Platform;
  report: PatchReport;
  file: string;
  /** The bytes that were parsed (what --frontend-image ships; the file is read once). */
  bytes: Buffer;
}

const HINT = 'pass a Trivy JSON report file (trivy image --format json -o report.json IMAGE) or a directory of them';
const CHUNK = 1024 * 1024;

/** What a non-regular file is, in words. */
function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** A Node fs error on a report path as a CopaError naming the path. */
function openError(path: string, e: unknown): CopaError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const p = quote(path);
  switch (code) {
    case 'ENOENT':
      return new CopaError('report', `report ${p} does not exist`, { hint: HINT });
    case 'ENOTDIR':
      return new CopaError('report', `report ${p} does not exist (a part of the path is not a directory)`, { hint: HINT });
    case 'EACCES':
    case 'EPERM':
      return new CopaError('report', `report ${p} cannot be read: permission denied`, { hint: 'check the file permissions, or copy the report somewhere readable' });
    case 'ELOOP':
      return new CopaError('report', `report ${p} cannot be opened: too many levels of symbolic links (a symlink loop?)`, { hint: HINT });
    case 'ENXIO':
      return new CopaError('report', `report ${p} is a socket or a device without a reader, not a report file`, { hint: HINT });
    case 'EISDIR':
      return new CopaError('report', `report ${p} is a directory`, { hint: HINT });
    case 'ENAMETOOLONG':
      return new CopaError('report', `report path ${p} is too long`, { hint: HINT });
    default:
      return new CopaError('report', `cannot read report ${p}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}

/** Opens a path without blocking (FIFOs, ttys) and fstats the descriptor. */
function openPath(path: string): { fd: number; st: Stats } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw openError(path, e);
  }
  try {
    return { fd, st: fstatSync(fd) };
  } catch (e) {
    closeSync(fd);
    throw openError(path, e);
  }
}

/** Reads at most MAX_REPORT_BYTES from a regular file's descriptor; more is an error. */
function readCapped(fd: number, path: string): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(CHUNK);
    let n: number;
    try {
      n = readSync(fd, buf, 0, CHUNK, null);
    } catch (e) {
      throw openError(path, e);
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_REPORT_BYTES) {
      throw new CopaError('report', `report ${quote(path)} is larger than ${MAX_REPORT_BYTES} bytes (64 MiB), the limit`, {
        hint: 'is this really a scan report? Trivy reports of one image are usually well under 10 MiB',
      });
    }
    chunks.push(n === CHUNK ? buf : buf.subarray(0, n));
  }
  return Buffer.concat(chunks, total);
}

/** The bytes of one report file; anything but a regular file is refused. */
export function readReportFile(path: string, what = 'report'): Buffer {
  const { fd, st } = openPath(path);
  try {
    if (!st.isFile()) {
      throw new CopaError('report', `${what} ${quote(path)} is ${kindOf(st)}, not a regular file`, {
        hint: st.isDirectory() ? 'a report directory may hold only *.json report files' : HINT,
      });
    }
    return readCapped(fd, path);
  } finally {
    closeSync(fd);
  }
}

function platformOf(r: PatchReport): Platform | undefined {
  return reportPlatform(r) ?? undefined;
}

export function loadReports(path: string, scanner: 'trivy' | 'native'): PlatformReport[] {
  if (path.trim() === '') throw new CopaError('report', 'the report path is empty', { hint: `${HINT}; leave out --report to update every package` });
  const { fd, st } = openPath(path);
  if (!st.isDirectory()) {
    let bytes: Buffer;
    try {
      if (!st.isFile()) throw new CopaError('report', `report ${quote(path)} is ${kindOf(st)}, not a regular file`, { hint: HINT });
      bytes = readCapped(fd, path);
    } finally {
      closeSync(fd);
    }
    const report = parseReport(bytes, { source: path, scanner });
    const platform = platformOf(report);
    return [{ report, file: path, bytes, ...(platform ? { platform } : {}) }];
  }
  closeSync(fd);
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (e) {
    throw openError(path, e);
  }
  const files = names
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(path, f));
  if (files.length === 0) throw new CopaError('report', `report directory ${path} holds no *.json reports`);
  const out = files.map((file) => {
    const bytes = readReportFile(file);
    const report = parseReport(bytes, { source: file, scanner });
    const platform = platformOf(report);
    if (!platform) throw new CopaError('report', `${file} does not record the image architecture (Metadata.ImageConfig.architecture)`, { hint: 'a report directory needs one report per platform; pass a single file for one platform' });
    return { report, file, platform, bytes };
  });
  const seen = new Map<string, string>();
  for (const r of out) {
    const id = `${r.platform.os}/${r.platform.architecture}${r.platform.variant ? '/' + r.platform.variant : ''}`;
    if (seen.has(id)) throw new CopaError('report', `${seen.get(id)} and ${r.file} are both reports for ${id}`);
    seen.set(id, r.file);
  }
  return out;
}
