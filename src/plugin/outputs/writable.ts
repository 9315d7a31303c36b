// Checks of local output paths before a build starts: a push that succeeds and a VEX file
// that then cannot be written leaves the user with a published image and an error. Each
// check names the path and says what is wrong; a full file system is a 'system' error.
import { constants, promises as fsp, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CopaError, quote } from '../../engine/errors.js';

/** System failures (full disk, I/O error, no file handles left) are not the user's input. */
const SYSTEM_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM', 'EFBIG']);

/** The category of a failed local write: 'system' for a full disk and the like, else 'input' (the path the user gave). */
export function fsErrorCategory(e: unknown): 'system' | 'input' {
  return SYSTEM_CODES.has((e as NodeJS.ErrnoException)?.code ?? '') ? 'system' : 'input';
}

async function statOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.stat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw e;
  }
}

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'the file system is read-only';
  if (code === 'ENOTDIR') return 'a part of the path is not a directory';
  if (code === 'ELOOP') return 'too many levels of symbolic links';
  return (e as Error)?.message ?? String(e);
}

/**
 * The directory `dir` (created later if missing: its nearest existing ancestor counts) must be
 * a writable directory on a file system that is not full.
 */
export async function checkWritableDir(dir: string, what: string, opts: { mayCreate: boolean; hint?: string }): Promise<void> {
  const fail = (why: string) => new CopaError('input', `cannot write ${what} ${quote(dir)}: ${why}`, opts.hint ? { hint: opts.hint } : {});
  let at = resolve(dir);
  let st: Stats | null;
  for (;;) {
    try {
      st = await statOrNull(at);
    } catch (e) {
      throw fail(reason(e));
    }
    if (st || !opts.mayCreate) break;
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  if (!st) throw fail('the directory does not exist');
  if (!st.isDirectory()) throw fail(at === resolve(dir) ? 'it is not a directory' : `${quote(at)} is not a directory`);
  try {
    await fsp.access(at, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw fail(at === resolve(dir) ? reason(e) : `${quote(at)}: ${reason(e)}`);
  }
  let fs;
  try {
    fs = await fsp.statfs(at);
  } catch {
    return; // not every file system answers statfs; the write itself will tell
  }
  if (fs.bavail === 0 || (fs.ffree === 0 && fs.files > 0)) {
    throw new CopaError('system', `cannot write ${what} ${quote(dir)}: the file system of ${quote(at)} is full`, { hint: 'free some space, or choose another location' });
  }
}

/** A file to be (re)written atomically: not a directory, in a writable existing directory. */
export async function checkWritableFile(file: string, what: string, hint?: string): Promise<void> {
  const abs = resolve(file);
  let st: Stats | null;
  try {
    st = await statOrNull(abs);
  } catch (e) {
    throw new CopaError('input', `cannot write ${what} ${quote(file)}: ${reason(e)}`, hint ? { hint } : {});
  }
  if (st && st.isDirectory()) throw new CopaError('input', `cannot write ${what} ${quote(file)}: it is a directory`, { hint: 'give a file name, e.g. vex.json' });
  if (st && !st.isFile()) throw new CopaError('input', `cannot write ${what} ${quote(file)}: it exists and is not a regular file`, hint ? { hint } : {});
  await checkWritableDir(dirname(abs), `${what} into`, { mayCreate: false, ...(hint ? { hint } : {}) });
}
