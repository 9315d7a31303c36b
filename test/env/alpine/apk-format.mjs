// The Alpine package formats the test bed needs, written from apk-tools 2.14's
// sources (src/io_archive.c, src/package.c, src/database.c, src/app_index.c)
// and doc/apk-v2.5 -- our own code, no abuild or apk on the build host:
//
//  - tar read/write (ustar + GNU long names + PAX), enough for minirootfs
//    tarballs and for the segments of an .apk;
//  - the installed database (/lib/apk/db/installed), parse and write;
//  - v2 .apk packages: three concatenated gzip streams
//      1. signature tar segment: `.SIGN.RSA.<keyname>` = RSA PKCS#1 v1.5 /
//         SHA-1 signature of the *compressed* control stream (stream 2);
//      2. control tar segment: `.PKGINFO` (+ `.post-upgrade`-style scripts),
//         its `datahash` = SHA-256 hex of the compressed data stream (3);
//      3. data tar: every regular file and symlink preceded by a PAX header
//         `APK-TOOLS.checksum.SHA1` (hex SHA-1 of the content / link target);
//    segments 1 and 2 are "cut" (no end-of-archive blocks: apk reads one tar
//    across the gzip boundaries), only segment 3 ends with the two zero blocks;
//  - APKINDEX.tar.gz: a signature stream (same form, signing the compressed
//    index stream) + one gzip stream of a tar holding DESCRIPTION and APKINDEX
//    (with end-of-archive). Each index entry's C: is "Q1" + base64(SHA-1 of the
//    package's compressed control stream) -- the package identity apk checks
//    when it installs the file.
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { gzipSync } from 'node:zlib';

// ------------------------------------------------------------------ tar

const BLOCK = 512;

function cstr(b, off, len) {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function octal(b, off, len) {
  if (b[off] & 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i];
    return v;
  }
  const s = cstr(b, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function parsePax(data) {
  const out = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(data.subarray(i, sp).toString('ascii'), 10);
    if (!len) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

const TYPE_NAMES = { 0: 'file', '\0': 'file', 7: 'file', 1: 'hardlink', 2: 'symlink', 3: 'char', 4: 'block', 5: 'dir', 6: 'fifo' };

/** Entries of an uncompressed tar, paths normalised ("./usr/bin/" -> "usr/bin"). */
export function readTar(tar) {
  const out = [];
  let off = 0;
  let pax = {};
  let longName;
  let longLink;
  while (off + BLOCK <= tar.length) {
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((x) => x === 0)) break;
    const size = octal(h, 124, 12);
    const flag = String.fromCharCode(h[156]);
    const data = tar.subarray(off + BLOCK, off + BLOCK + size);
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'x') { pax = parsePax(data); continue; }
    if (flag === 'g') continue;
    if (flag === 'L') { longName = cstr(data, 0, data.length); continue; }
    if (flag === 'K') { longLink = cstr(data, 0, data.length); continue; }
    let name = cstr(h, 0, 100);
    const ustar = h.subarray(257, 263).toString('latin1') === 'ustar\0';
    if (ustar && h[345]) name = `${cstr(h, 345, 155)}/${name}`;
    name = pax.path ?? longName ?? name;
    const type = TYPE_NAMES[flag] ?? 'other';
    out.push({
      path: normPath(name),
      type,
      mode: octal(h, 100, 8) & 0o7777,
      uid: pax.uid ? Number(pax.uid) : octal(h, 108, 8),
      gid: pax.gid ? Number(pax.gid) : octal(h, 116, 8),
      uname: cstr(h, 265, 32),
      gname: cstr(h, 297, 32),
      mtime: octal(h, 136, 12),
      linkname: pax.linkpath ?? longLink ?? cstr(h, 157, 100),
      content: type === 'file' ? Buffer.from(data) : undefined,
      pax,
    });
    pax = {};
    longName = longLink = undefined;
  }
  return out;
}

export function normPath(p) {
  return p.replace(/^(\.\/)+/, '').replace(/^\/+/, '').replace(/\/+$/, '').replace(/^\.$/, '');
}

function putOctal(h, off, len, value) {
  // len-1 digits + NUL, as GNU/POSIX tar writes them
  const s = value.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`tar: value ${value} too large for a ${len}-byte field`);
  h.write(s, off, 'ascii');
}

function header({ name, mode, uid = 0, gid = 0, size = 0, mtime = 0, flag, linkname = '', uname = 'root', gname = 'root' }) {
  const h = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long for a plain header: ${name}`);
  h.write(name, 0, 'utf8');
  putOctal(h, 100, 8, mode);
  putOctal(h, 108, 8, uid);
  putOctal(h, 116, 8, gid);
  putOctal(h, 124, 12, size);
  putOctal(h, 136, 12, mtime);
  h[156] = flag.charCodeAt(0);
  if (Buffer.byteLength(linkname) > 100) throw new Error(`tar: link target too long: ${linkname}`);
  h.write(linkname, 157, 'utf8');
  h.write('ustar\u000000', 257, 'latin1'); // POSIX ustar magic + version
  h.write(uname, 265, 'utf8');
  h.write(gname, 297, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of h) sum += x;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function pad(buf) {
  const r = buf.length % BLOCK;
  return r ? Buffer.concat([buf, Buffer.alloc(BLOCK - r)]) : buf;
}

function paxRecords(records) {
  let out = '';
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(body) + 1;
    while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
    out += `${len}${body}`;
  }
  return Buffer.from(out, 'utf8');
}

/**
 * A tar of entries { path, type: file|dir|symlink, mode, uid, gid, uname, gname,
 * mtime, content, linkname, pax }. Directories get a trailing "/". A PAX header
 * precedes an entry when it has pax records or a name over 100 bytes.
 * end=false leaves out the end-of-archive blocks ("cut", for .apk segments).
 */
export function writeTar(entries, { end = true } = {}) {
  const parts = [];
  for (const e of entries) {
    const flag = { file: '0', dir: '5', symlink: '2' }[e.type];
    if (!flag) throw new Error(`tar: cannot write ${e.type} ${e.path}`);
    const name = e.type === 'dir' ? `${e.path}/` : e.path;
    const records = { ...(e.pax ?? {}) };
    let hname = name;
    if (Buffer.byteLength(name) > 100) {
      records.path = name;
      hname = name.slice(0, 99);
    }
    let linkname = e.linkname ?? '';
    if (Buffer.byteLength(linkname) > 100) {
      records.linkpath = linkname;
      linkname = linkname.slice(0, 99);
    }
    const owner = { uid: e.uid ?? 0, gid: e.gid ?? 0, uname: e.uname ?? 'root', gname: e.gname ?? 'root', mtime: e.mtime ?? 0 };
    if (Object.keys(records).length) {
      const body = paxRecords(records);
      parts.push(header({ name: `PaxHeaders/${hname}`.slice(0, 100), mode: 0o644, size: body.length, flag: 'x', ...owner }), pad(body));
    }
    const content = e.type === 'file' ? e.content : Buffer.alloc(0);
    parts.push(header({ name: hname, mode: e.mode, size: content.length, flag, linkname, ...owner }));
    if (content.length) parts.push(pad(content));
  }
  if (end) parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

// ------------------------------------------------------------------ hashes, keys

export const sha1 = (b) => createHash('sha1').update(b).digest();
export const sha256hex = (b) => createHash('sha256').update(b).digest('hex');
/** apk's checksum text form: "Q1" + base64 of a SHA-1 (database.c/blob.c apk_blob_push_csum). */
export const q1 = (digest) => 'Q1' + digest.toString('base64');

/** Key name as apk looks it up in /etc/apk/keys: the file name of the public key. */
export function keyInfo(privatePem, keyName) {
  const key = createPrivateKey(privatePem);
  const publicPem = createPublicKey(key).export({ type: 'spki', format: 'pem' });
  return { key, keyName, publicPem };
}

/** gzip stream of a cut tar holding `.SIGN.RSA.<keyname>` = RSA-SHA1 signature of `signed`. */
export function signatureStream(signed, { key, keyName }) {
  const sig = sign('sha1', signed, key); // PKCS#1 v1.5, what EVP_VerifyFinal checks
  const tar = writeTar([{ path: `.SIGN.RSA.${keyName}`, type: 'file', mode: 0o644, content: sig }], { end: false });
  return gzipSync(tar, { level: 9 });
}

// ------------------------------------------------------------------ installed db

/**
 * Parse /lib/apk/db/installed: one record per package with its header fields
 * (single letters, in file order) and its directories (F:, M: acl) with the
 * files (R:, a: acl, Z: checksum) that follow each.
 */
export function parseInstalled(text) {
  const pkgs = [];
  for (const block of text.split(/\n\n+/)) {
    if (!block.trim()) continue;
    const pkg = { fields: [], dirs: [] };
    let dir;
    let file;
    for (const line of block.split('\n')) {
      if (line.length < 2 || line[1] !== ':') continue;
      const k = line[0];
      const v = line.slice(2);
      if (k === 'F') { dir = { path: v, acl: null, files: [] }; pkg.dirs.push(dir); file = undefined; }
      else if (k === 'M') dir.acl = v;
      else if (k === 'R') {
        if (!dir) { dir = { path: '', acl: null, files: [] }; pkg.dirs.push(dir); }
        file = { name: v, acl: null, csum: null };
        dir.files.push(file);
      } else if (k === 'a') file.acl = v;
      else if (k === 'Z') file.csum = v;
      else pkg.fields.push([k, v]);
    }
    pkgs.push(pkg);
  }
  return pkgs;
}

export function field(pkg, k) {
  return pkg.fields.find(([x]) => x === k)?.[1];
}

export function formatInstalled(pkgs) {
  let out = '';
  for (const p of pkgs) {
    for (const [k, v] of p.fields) out += `${k}:${v}\n`;
    for (const d of p.dirs) {
      if (d.path !== '' || d.files.length === 0) out += `F:${d.path}\n`;
      if (d.acl) out += `M:${d.acl}\n`;
      for (const f of d.files) {
        out += `R:${f.name}\n`;
        if (f.acl) out += `a:${f.acl}\n`;
        if (f.csum) out += `Z:${f.csum}\n`;
      }
    }
    out += '\n';
  }
  return out;
}

/** Every path a package owns: its directories and files. */
export function ownedPaths(pkg) {
  const dirs = pkg.dirs.filter((d) => d.path).map((d) => d.path);
  const files = pkg.dirs.flatMap((d) => d.files.map((f) => (d.path ? `${d.path}/${f.name}` : f.name)));
  return { dirs, files };
}

// ------------------------------------------------------------------ packages

// .PKGINFO keys apk reads (package.c read_info_line, database.c read_info_line)
// and the installed-db letters they become.
const PKGINFO_SINGLE = [
  ['pkgname', 'P'], ['pkgver', 'V'], ['pkgdesc', 'T'], ['url', 'U'], ['builddate', 't'],
  ['size', 'I'], ['arch', 'A'], ['origin', 'o'], ['commit', 'c'], ['maintainer', 'm'],
  ['provider_priority', 'k'], ['replaces_priority', 'q'], ['license', 'L'],
];
// one `key = value` line per dependency, as abuild writes them
const PKGINFO_LISTS = [['replaces', 'r'], ['install_if', 'i'], ['provides', 'p'], ['depend', 'D']];

/** .PKGINFO text for a package record (db-style letters in info). */
export function pkginfoText(info, { triggers, datahash }) {
  let s = '# Generated by copa-ts test bed (test/env/alpine/make-repo.mjs)\n';
  for (const [key, letter] of PKGINFO_SINGLE) {
    if (key === 'license') s += 'packager = copa-ts test bed <copa-testbed@localhost>\n';
    if (info[letter] !== undefined && info[letter] !== '') s += `${key} = ${info[letter]}\n`;
  }
  if (triggers) s += `triggers = ${triggers}\n`;
  for (const [key, letter] of PKGINFO_LISTS) {
    for (const dep of (info[letter] ?? '').split(' ').filter(Boolean)) s += `${key} = ${dep}\n`;
  }
  s += `datahash = ${datahash}\n`;
  return s;
}

/**
 * Build a v2 .apk. info: db letters (P V A T U L o m t c k q D p i r I);
 * data: tar entries in order, directories before what is in them;
 * scripts: { 'post-upgrade': Buffer, ... }. Returns the bytes, the identity
 * (SHA-1 of the control stream) and the streams' sizes.
 */
export function buildApk({ info, data, scripts = {}, triggers, signer }) {
  const dataEntries = data.map((e) => {
    if (e.type === 'file') return { ...e, pax: { 'APK-TOOLS.checksum.SHA1': sha1(e.content).toString('hex') } };
    if (e.type === 'symlink') return { ...e, pax: { 'APK-TOOLS.checksum.SHA1': sha1(Buffer.from(e.linkname)).toString('hex') } };
    return e;
  });
  const dataGz = gzipSync(writeTar(dataEntries, { end: true }), { level: 9 });
  const pkginfo = Buffer.from(pkginfoText(info, { triggers, datahash: sha256hex(dataGz) }));
  const mtime = Number(info.t) || 0;
  const control = [{ path: '.PKGINFO', type: 'file', mode: 0o644, mtime, content: pkginfo }];
  for (const [type, content] of Object.entries(scripts)) control.push({ path: `.${type}`, type: 'file', mode: 0o755, mtime, content });
  const controlGz = gzipSync(writeTar(control, { end: false }), { level: 9 });
  const sigGz = signatureStream(controlGz, signer);
  const bytes = Buffer.concat([sigGz, controlGz, dataGz]);
  return { bytes, identity: q1(sha1(controlGz)), pkginfo: pkginfo.toString() };
}

// Index entry letters in the order apk's apk_pkg_write_index_header writes them.
const INDEX_ORDER = ['C', 'P', 'V', 'A', 'S', 'I', 'T', 'U', 'L', 'o', 'm', 't', 'c', 'k', 'D', 'p', 'i'];

export function indexEntry(info) {
  let s = '';
  for (const k of INDEX_ORDER) if (info[k] !== undefined && info[k] !== '') s += `${k}:${info[k]}\n`;
  return s + '\n';
}

/** A signed APKINDEX.tar.gz of index entries (text blocks). */
export function buildIndex({ entries, description, signer, mtime = 0 }) {
  const tar = writeTar([
    { path: 'DESCRIPTION', type: 'file', mode: 0o644, mtime, content: Buffer.from(description) },
    { path: 'APKINDEX', type: 'file', mode: 0o644, mtime, content: Buffer.from(entries.join('')) },
  ], { end: true });
  const indexGz = gzipSync(tar, { level: 9 });
  return Buffer.concat([signatureStream(indexGz, signer), indexGz]);
}
