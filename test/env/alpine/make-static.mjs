#!/usr/bin/env node
// Why this exists: copa-ts must patch apk-less Alpine images (apko /
// distroless-style: an apk database, but no apk and no shell) by running apk
// from a tooling image with --root. The test bed makes such an image,
// alpine:3.20-static, from the official minirootfs: this script removes whole
// packages from an unpacked root -- their files, their database entries,
// scripts and triggers -- so the database lists exactly what is there, the
// way apko writes it. It also removes the busybox applet symlinks (not owned
// by any package; `busybox --install` made them) and writes a new world.
//
//   node make-static.mjs --root DIR --remove apk-tools,busybox,... --world "pkg pkg ..."
//
// Fails when a remaining package depends on a removed one by name, or when
// apk, busybox or a shell is left behind.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { field, formatInstalled, ownedPaths, parseInstalled, readTar, writeTar } from './apk-format.mjs';

const { values: a } = parseArgs({
  options: { root: { type: 'string' }, remove: { type: 'string' }, world: { type: 'string' } },
});
if (!a.root || !a.remove || !a.world) {
  console.error('usage: make-static.mjs --root DIR --remove pkg,pkg --world "pkg pkg"');
  process.exit(2);
}
const fail = (msg) => {
  console.error(`make-static: ${msg}`);
  process.exit(1);
};
const R = (p) => join(a.root, p);
const remove = new Set(a.remove.split(',').filter(Boolean));

const dbPath = R('lib/apk/db/installed');
const pkgs = parseInstalled(readFileSync(dbPath, 'utf8'));
for (const n of remove) if (!pkgs.some((p) => field(p, 'P') === n)) fail(`--remove ${n}: not installed`);
const keep = pkgs.filter((p) => !remove.has(field(p, 'P')));
const gone = pkgs.filter((p) => remove.has(field(p, 'P')));

// What the kept packages provide, and what they need.
const provided = new Set(keep.flatMap((p) => [field(p, 'P'), ...(field(p, 'p') ?? '').split(' ').filter(Boolean).map((d) => d.split('=')[0])]));
for (const p of keep) {
  for (const dep of (field(p, 'D') ?? '').split(' ').filter(Boolean)) {
    const name = dep.replace(/^!/, '').split(/[=<>~]/)[0];
    if (!dep.startsWith('!') && !provided.has(name)) fail(`${field(p, 'P')} depends on ${dep}, which no kept package provides`);
  }
}
const world = a.world.split(' ').filter(Boolean);
for (const w of world) if (!provided.has(w)) fail(`world entry ${w} is not provided by a kept package`);

// Files of removed packages; their directories too, unless still owned or not empty.
const keptDirs = new Set(keep.flatMap((p) => ownedPaths(p).dirs));
for (const p of gone) {
  const { dirs, files } = ownedPaths(p);
  for (const f of files) if (existsLink(R(f))) unlinkSync(R(f));
  for (const d of dirs.sort().reverse()) {
    if (keptDirs.has(d) || !existsSync(R(d))) continue;
    if (readdirSync(R(d)).length === 0) rmdirSync(R(d));
  }
}
function existsLink(p) {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

// busybox --install symlinks: unowned, and dangling once busybox is gone.
for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin']) {
  if (!existsSync(R(d))) continue;
  for (const n of readdirSync(R(d))) {
    const p = R(`${d}/${n}`);
    if (lstatSync(p).isSymbolicLink() && /(^|\/)busybox$/.test(readlinkSync(p))) unlinkSync(p);
  }
}

writeFileSync(dbPath, formatInstalled(keep));
// scripts.tar members are "<name>-<ver>.<C>.<type>": keep those of kept packages.
const ids = new Set(keep.map((p) => `${field(p, 'P')}-${field(p, 'V')}.${field(p, 'C')}.`));
const scriptsPath = R('lib/apk/db/scripts.tar');
if (existsSync(scriptsPath)) {
  const kept = readTar(readFileSync(scriptsPath)).filter((e) => [...ids].some((id) => e.path.startsWith(id)));
  writeFileSync(scriptsPath, writeTar(kept.map((e) => ({ ...e, type: 'file', pax: undefined }))));
}
const trigPath = R('lib/apk/db/triggers');
if (existsSync(trigPath)) {
  const csums = new Set(keep.map((p) => field(p, 'C')));
  const lines = readFileSync(trigPath, 'utf8').split('\n').filter((l) => l && csums.has(l.split(' ')[0]));
  writeFileSync(trigPath, lines.map((l) => l + '\n').join(''));
}
writeFileSync(R('etc/apk/world'), world.join('\n') + '\n');

const left = ['sbin/apk', 'bin/busybox', 'bin/sh', 'bin/ash', 'usr/bin/env'].filter((p) => existsLink(R(p)));
if (left.length) fail(`still present: ${left.join(' ')}`);
console.error(`make-static: kept ${keep.map((p) => field(p, 'P')).join(' ')}; removed ${[...remove].join(' ')}`);
