#!/usr/bin/env node
// Why this exists: no Alpine mirror is reachable here, so the Alpine e2e tests
// patch from a local APK repository the test bed makes itself. This script
// turns one official minirootfs tarball into one signed repository directory
// <out>/<branch>/main/<arch>/ holding:
//
//  - every package installed in the root, re-packed from the root's own files
//    at its installed version (so `apk upgrade` sees a consistent world and
//    dependency resolution finds every installed package), and
//  - for each origin named by --bump (all of its subpackages together, since
//    they depend on each other by exact version): the next release, pkgrel+1
//    (3.3.2-r0 -> 3.3.2-r1), with the same files plus one marker file
//    /usr/share/copa-testbed/<pkgname>-<newversion> a test can look for;
//  - APKINDEX.tar.gz listing all of them, signed with the bed's key.
//
//   node make-repo.mjs --rootfs alpine-minirootfs-3.20.3-x86_64.tar.gz --branch v3.20 \
//     --out DIR --key bed.rsa --key-name copa-testbed-xxxxxxxx.rsa.pub \
//     --bump openssl,zlib,busybox,ca-certificates --summary summary.json
//
// The summary (JSON) lists branch, arch, the bumped packages (old -> new
// version, marker path) and the packages present at their installed version only.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import {
  buildApk, buildIndex, field, indexEntry, keyInfo, parseInstalled, q1, readTar, sha1,
} from './apk-format.mjs';

const { values: a } = parseArgs({
  options: {
    rootfs: { type: 'string' },
    branch: { type: 'string' },
    out: { type: 'string' },
    key: { type: 'string' },
    'key-name': { type: 'string' },
    bump: { type: 'string', default: '' },
    summary: { type: 'string' },
  },
});
for (const k of ['rootfs', 'branch', 'out', 'key', 'key-name']) if (!a[k]) fail(`--${k} is required`);

function fail(msg) {
  console.error(`make-repo: ${msg}`);
  process.exit(1);
}

const signer = keyInfo(readFileSync(a.key), a['key-name']);
const root = new Map(readTar(gunzipSync(readFileSync(a.rootfs))).map((e) => [e.path, e]));
const text = (p) => {
  const e = root.get(p);
  if (!e?.content) fail(`${a.rootfs}: no file ${p}`);
  return e.content.toString('utf8');
};
const installed = parseInstalled(text('lib/apk/db/installed'));
const arch = text('etc/apk/arch').trim();

// uid/gid -> names from the root's own passwd/group (apk resolves tar names there)
const names = (file) => new Map(text(file).split('\n').filter(Boolean).map((l) => l.split(':')).map((f) => [Number(f[2]), f[0]]));
const users = names('etc/passwd');
const groups = names('etc/group');

// scripts.tar members are "<name>-<ver>.<C>.<type>"; triggers lines "<C> path..."
const scripts = readTar(root.get('lib/apk/db/scripts.tar')?.content ?? Buffer.alloc(1024));
const triggers = new Map(
  (root.get('lib/apk/db/triggers')?.content.toString() ?? '').split('\n').filter(Boolean)
    .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
);

const bumpOrigins = new Set(a.bump.split(',').filter(Boolean));
const infoOf = (pkg) => Object.fromEntries(pkg.fields);
const nextRelease = (v) => {
  const m = /^(.*-r)(\d+)$/.exec(v);
  if (!m) fail(`version ${v} has no -rN`);
  return `${m[1]}${Number(m[2]) + 1}`;
};
const newVersion = new Map(); // name -> [old, new] for bumped packages
for (const p of installed) {
  if (bumpOrigins.has(field(p, 'o'))) newVersion.set(field(p, 'P'), [field(p, 'V'), nextRelease(field(p, 'V'))]);
}
for (const o of bumpOrigins) {
  if (!installed.some((p) => field(p, 'o') === o)) fail(`--bump ${o}: no installed package has that origin`);
}

// name=OLD -> name=NEW for bumped names (depends, install_if); in provides,
// any X=<this package's old version> follows the package (cmd:busybox=1.36.1-r29).
function rewrite(list, self) {
  if (!list) return list;
  return list.split(' ').map((d) => {
    const m = /^([^=<>~]+)=([^=<>~].*)$/.exec(d);
    if (!m) return d;
    const nv = newVersion.get(m[1]);
    if (nv && m[2] === nv[0]) return `${m[1]}=${nv[1]}`;
    if (self && m[2] === self[0]) return `${m[1]}=${self[1]}`;
    return d;
  }).join(' ');
}

function entryFrom(path, acl, isDir = false) {
  // minirootfs tarballs leave out a few owned, empty directories (dev/pts, dev/shm)
  const e = root.get(path) ?? (isDir ? { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 } : undefined);
  if (!e) fail(`${a.rootfs}: the db lists ${path} but the root has no such entry`);
  let { mode, uid, gid } = e;
  if (acl) {
    const [u, g, m] = acl.split(':');
    [uid, gid, mode] = [Number(u), Number(g), parseInt(m, 8)];
  }
  return {
    path, type: e.type, mode, uid, gid, mtime: e.mtime, content: e.content, linkname: e.linkname,
    uname: users.get(uid) ?? '', gname: groups.get(gid) ?? '',
  };
}

const installedSize = (n) => Math.ceil(n / 4096) * 4096; // apk_calc_installed_size

const dir = join(a.out, a.branch, 'main', arch);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const index = [];
const summary = { branch: a.branch, arch, rootfs: a.rootfs.split('/').pop(), packages: [], unchanged: [] };

for (const pkg of installed) {
  const info = infoOf(pkg);
  const name = info.P;
  const bump = newVersion.get(name);
  // --- data: the package's own files, straight from the root, checked against the db
  const data = [];
  const have = new Set();
  for (const d of pkg.dirs) {
    if (d.path) {
      const e = entryFrom(d.path, d.acl, true);
      if (e.type !== 'dir') fail(`${name}: ${d.path} is a ${e.type} in the root, a directory in the db`);
      data.push(e);
      have.add(d.path);
    }
    for (const f of d.files) {
      const path = d.path ? `${d.path}/${f.name}` : f.name;
      const e = entryFrom(path, f.acl);
      const sum = e.type === 'file' ? sha1(e.content) : e.type === 'symlink' ? sha1(Buffer.from(e.linkname)) : null;
      if (!sum) fail(`${name}: ${path} is a ${e.type}; only files and symlinks are expected`);
      if (f.csum && q1(sum) !== f.csum) {
        // The image build edited it after install (minirootfs: etc/shadow). Its
        // packaged content is lost; fine for a same-version re-pack, not for a bump.
        if (bump) fail(`${name}: ${path} differs from the db (Z:${f.csum}, root ${q1(sum)}); cannot bump ${name}`);
        console.error(`make-repo: note: ${name} ${path} was modified in the root; re-packed as it is`);
      }
      data.push(e);
    }
  }
  let marker;
  if (bump) {
    info.V = bump[1];
    info.t = String(Number(info.t) + 1);
    marker = `usr/share/copa-testbed/${name}-${bump[1]}`;
    for (const p of ['usr', 'usr/share', 'usr/share/copa-testbed']) {
      if (!have.has(p)) data.push({ path: p, type: 'dir', mode: 0o755, mtime: Number(info.t) });
    }
    const content = Buffer.from(`copa-ts test bed: ${name} ${bump[1]} (rebuilt from ${bump[0]})\n`);
    data.push({ path: marker, type: 'file', mode: 0o644, mtime: Number(info.t), content });
    info.I = String(Number(info.I) + installedSize(content.length));
    for (const k of ['D', 'i']) info[k] = rewrite(info[k]);
    info.p = rewrite(info.p, bump);
  }
  // --- control: .PKGINFO + the scripts the installed package came with
  const prefix = `${name}-${field(pkg, 'V')}.${field(pkg, 'C')}.`;
  const pkgScripts = Object.fromEntries(
    scripts.filter((s) => s.path.startsWith(prefix)).map((s) => [s.path.slice(prefix.length), s.content]),
  );
  const apk = buildApk({ info, data, scripts: pkgScripts, triggers: triggers.get(field(pkg, 'C')), signer });
  writeFileSync(join(dir, `${name}-${info.V}.apk`), apk.bytes);
  index.push(indexEntry({ ...info, C: apk.identity, S: String(apk.bytes.length) }));
  if (bump) summary.packages.push({ name, origin: info.o, from: bump[0], to: bump[1], marker: `/${marker}` });
  else summary.unchanged.push({ name, version: info.V });
}

const description = `copa-ts test bed ${a.branch}/main ${arch}`;
writeFileSync(join(dir, 'APKINDEX.tar.gz'), buildIndex({ entries: index, description, signer }));
const json = JSON.stringify(summary, null, 2) + '\n';
if (a.summary) writeFileSync(a.summary, json);
console.error(`make-repo: ${dir}: ${index.length} packages, ${summary.packages.length} bumped (${summary.packages.map((p) => `${p.name} ${p.to}`).join(', ')})`);
