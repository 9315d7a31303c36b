// dpkg's package database in text form: /var/lib/dpkg/status (one file, stanzas separated
// by blank lines) and the distroless /var/lib/dpkg/status.d/ directory (one or more stanzas
// per file; "<name>.md5sums" files beside them hold checksums, not stanzas).
//
// A stanza is "Field: value" lines; a line starting with a space or tab continues the
// previous field. A field is a [name, value] pair; the value keeps continuation lines
// verbatim (with their leading space), so formatStanza() reproduces what dpkg wrote.

import { CopaError, quote } from '../../engine/errors.js';

/**
 * [name, value]: the value is the first line without the separating space, then "\n" +
 * each continuation line verbatim.
 */
export type DpkgField = [name: string, value: string];

export interface DpkgStanza {
  fields: DpkgField[];
  /** The stanza's text as read, without the blank line that ends it, ending in "\n". */
  raw: string;
  /** 1-based line number of the stanza's first line. */
  line: number;
}

export interface Conffile {
  path: string;
  /** MD5 of the file as shipped, or "newconffile" while an install is half done. */
  md5: string;
  obsolete: boolean;
  removeOnUpgrade: boolean;
}

export interface DpkgPackage extends DpkgStanza {
  name: string;
  version: string;
  architecture: string;
  /** The Status field ('' when absent). */
  status: string;
  /** Status is "install ok installed" (or, in status.d, absent: a file there means installed). */
  installed: boolean;
  conffiles: Conffile[];
  /** The status.d entry the stanza came from. */
  file?: string;
}

const FIELD_LINE = /^([!-9;-~][!-9;-~]*):(.*)$/; // printable ASCII except ':' and space
const INSTALLED = 'install ok installed';

function dbError(where: string, line: number, what: string): CopaError {
  return new CopaError('image', `${where}:${line}: ${what}`, {
    hint: "the image's dpkg database is damaged; check it with `dpkg --audit` in the image, or patch a rebuilt image",
  });
}

/** Split text into stanzas. `where` names the file for errors. */
export function parseStanzas(text: string, where = '/var/lib/dpkg/status'): DpkgStanza[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const out: DpkgStanza[] = [];
  let cur: DpkgStanza | null = null;
  let rawLines: string[] = [];
  const finish = (): void => {
    if (cur) {
      cur.raw = rawLines.join('\n') + '\n';
      out.push(cur);
    }
    cur = null;
    rawLines = [];
  };
  lines.forEach((line, idx) => {
    const lineNo = idx + 1;
    if (/^[ \t]*$/.test(line)) {
      finish();
      return;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = cur?.fields[cur.fields.length - 1];
      if (!cur || !last) throw dbError(where, lineNo, 'continuation line outside a field');
      last[1] += `\n${line}`;
      rawLines.push(line);
      return;
    }
    if (line.startsWith('#')) return; // deb822 comment
    const m = FIELD_LINE.exec(line);
    if (!m || m[1]!.startsWith('-')) throw dbError(where, lineNo, `expected "Field: value", found ${quote(line)}`);
    if (!cur) cur = { fields: [], raw: '', line: lineNo };
    cur.fields.push([m[1]!, m[2]!.replace(/^[ \t]/, '')]);
    rawLines.push(line);
  });
  finish();
  return out;
}

/** Format fields as dpkg writes them: "Name: value", continuation lines as stored, then "\n". */
export function formatStanza(fields: ReadonlyArray<readonly [string, string]>): string {
  let out = '';
  for (const [name, value] of fields) {
    if (!/^[!-9;-~]+$/.test(name) || name.startsWith('-') || name.startsWith('#')) {
      throw new CopaError('internal', `invalid dpkg field name ${quote(name)}`);
    }
    const nl = value.indexOf('\n');
    const first = nl < 0 ? value : value.slice(0, nl);
    const rest = nl < 0 ? '' : value.slice(nl);
    for (const cont of rest.split('\n').slice(1)) {
      // A continuation line must start with a space or tab and not be blank (a blank line ends the stanza).
      if (!/^[ \t]/.test(cont) || /^[ \t]*$/.test(cont)) {
        throw new CopaError('internal', `dpkg field ${name} has a continuation line ${quote(cont)} that dpkg could not read back`);
      }
    }
    out += `${name}:${first === '' ? '' : ` ${first}`}${rest}\n`;
  }
  return out;
}

/** A whole status file (or status.d entry): dpkg ends every stanza, the last one too, with a blank line. */
export function formatStatusFile(stanzas: ReadonlyArray<ReadonlyArray<readonly [string, string]>>): string {
  return stanzas.map((fields) => `${formatStanza(fields)}\n`).join('');
}

/** A field's value (field names are case-insensitive); undefined when absent. */
export function fieldValue(stanza: Pick<DpkgStanza, 'fields'>, name: string): string | undefined {
  const lower = name.toLowerCase();
  return stanza.fields.find(([k]) => k.toLowerCase() === lower)?.[1];
}

/** Parse a Conffiles value: one " <path> <md5> [obsolete] [remove-on-upgrade]" per line. */
export function parseConffiles(value: string): Conffile[] {
  const out: Conffile[] = [];
  for (const line of value.split('\n')) {
    const words = line.trim().split(/[ \t]+/).filter(Boolean);
    if (words.length === 0) continue;
    let obsolete = false;
    let removeOnUpgrade = false;
    while (words.length > 2) {
      const w = words[words.length - 1];
      if (w === 'obsolete') obsolete = true;
      else if (w === 'remove-on-upgrade') removeOnUpgrade = true;
      else break;
      words.pop();
    }
    if (words.length < 2) continue;
    const md5 = words.pop()!;
    out.push({ path: words.join(' '), md5, obsolete, removeOnUpgrade });
  }
  return out;
}

function toPackage(stanza: DpkgStanza, where: string, assumeInstalled: boolean): DpkgPackage | null {
  const name = fieldValue(stanza, 'Package');
  if (name === undefined) return null;
  const status = (fieldValue(stanza, 'Status') ?? '').trim().replace(/\s+/g, ' ');
  const installed = status === INSTALLED || (status === '' && assumeInstalled);
  const version = (fieldValue(stanza, 'Version') ?? '').trim();
  if (installed && version === '') throw dbError(where, stanza.line, `installed package ${quote(name)} has no Version`);
  const conf = fieldValue(stanza, 'Conffiles');
  return {
    name: name.trim(),
    version,
    architecture: (fieldValue(stanza, 'Architecture') ?? '').trim(),
    status,
    installed,
    conffiles: conf === undefined ? [] : parseConffiles(conf),
    fields: stanza.fields,
    raw: stanza.raw,
    line: stanza.line,
  };
}

export interface ParseStatusOptions {
  /** The file, for errors (default /var/lib/dpkg/status). */
  where?: string;
  /**
   * Count a stanza without a Status field as installed: right for status.d entries and
   * .deb control files, wrong for the status file, where dpkg always writes Status.
   */
  assumeInstalled?: boolean;
}

/** Every package stanza of a status file or control text (installed or not). */
export function parseDpkgStatus(text: string, opts: ParseStatusOptions | string = {}): DpkgPackage[] {
  const o: ParseStatusOptions = typeof opts === 'string' ? { where: opts } : opts;
  const where = o.where ?? '/var/lib/dpkg/status';
  const out: DpkgPackage[] = [];
  for (const s of parseStanzas(text, where)) {
    const p = toPackage(s, where, o.assumeInstalled ?? false);
    if (p) out.push(p);
  }
  return out;
}

export interface StatusDEntry {
  /** File name inside status.d (no directory). */
  name: string;
  content: string;
}

/**
 * Packages of a distroless status.d directory. "*.md5sums" entries are skipped. A stanza
 * without a Status field counts as installed (its file's presence says so).
 */
export function parseStatusD(entries: readonly StatusDEntry[], dir = '/var/lib/dpkg/status.d'): DpkgPackage[] {
  const out: DpkgPackage[] = [];
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of sorted) {
    if (e.name.endsWith('.md5sums')) continue;
    for (const p of parseDpkgStatus(e.content, { where: `${dir}/${e.name}`, assumeInstalled: true })) out.push({ ...p, file: e.name });
  }
  return out;
}

/**
 * name → version of installed packages. Each package is also listed as "name:arch", so
 * both "libc6" and "libc6:amd64" resolve; when one name is installed for several
 * architectures (multi-arch), the bare name maps to the first stanza.
 */
export function installedVersions(pkgs: readonly DpkgPackage[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of pkgs) {
    if (!p.installed) continue;
    if (!m.has(p.name)) m.set(p.name, p.version);
    if (p.architecture) m.set(`${p.name}:${p.architecture}`, p.version);
  }
  return m;
}
