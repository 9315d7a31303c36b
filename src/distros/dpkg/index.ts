// Debian and Ubuntu (dpkg). Two ways to install, chosen by what the image has:
//  - apt in the image: run apt inside it (maintainer scripts run as Debian intends);
//  - distroless / no apt (status.d, or a status file without apt, e.g. chiseled Ubuntu):
//    a tooling image downloads the debs and unpacks them into the target, and we
//    regenerate dpkg's metadata ourselves.
// Either way the result is ONE exec on top of the original image, so the patch is one layer.
import { FileAction, State, formatPlatform } from '../../llb/index.js';
import { CopaError } from '../../engine/errors.js';
import { comparatorFor } from '../../engine/versions/index.js';
import { fileExists, readText, readTextIfExists, solveState } from '../../engine/solve.js';
import type { InstallContext, InstallPlan, InstallResult, Installed, PackageManager } from '../../engine/package-manager.js';
import { parseDpkgStatus, formatStanza, type DpkgPackage } from './status.js';
import { readDpkgDb, statusFileDb, versionsOf, STATUS_DIR, type DpkgDb } from './db.js';
import { APT_CANDIDATES, APT_FETCH, APT_INSTALL, APT_UPDATE, APT_UPGRADE_ALL, DPKG_APPLY, LISTS_CACHE } from './apt-scripts.js';
import { debianRelease } from './release.js';
import { summarizeNames } from '../../engine/names.js';
import { STATUS_MOUNT } from '../../engine/step-status.js';
import { everyPatch } from '../../engine/refresh-step.js';
import { assertListsFetched } from './lists.js';
import { dpkgTooling } from './tooling.js';
import { createHash } from 'node:crypto';

const LISTS = '/var/lib/apt/lists';
const ROOT = '0';
const cmp = comparatorFor('deb');

/** The database plus how this image can be patched. */
interface DpkgImage {
  db: DpkgDb;
  hasApt: boolean;
}

type Ctx = InstallContext;

/** Mounts that keep apt's lists, archives and logs out of the image (and so out of the layer). */
function aptScratchMounts(lists: State | null) {
  return [
    lists ? { dest: LISTS, source: lists } : { dest: LISTS },
    { dest: '/var/cache/apt', type: 'tmpfs' as const },
    { dest: '/var/log/apt', type: 'tmpfs' as const },
  ];
}

/** The refreshed lists, after checking that every source could be fetched. */
async function refreshLists(ctx: Ctx, base: State, what: string): Promise<State> {
  const update = base.run({
    args: ['sh', '-c', APT_UPDATE],
    env: everyPatch(ctx),
    user: ROOT,
    network: ctx.network,
    mounts: [
      ...aptScratchMounts(null),
      { dest: STATUS_MOUNT },
      // apt's lists, kept between patches per platform; never part of the image.
      { dest: LISTS_CACHE, type: 'cache' as const, cacheId: `copa-apt-lists-${formatPlatform(ctx.platform)}`, sharing: 'locked' as const },
    ],
    name: `copa: refresh package lists (apt-get update in ${what})`,
  });
  await assertListsFetched(ctx, update.getMount(STATUS_MOUNT), what);
  return update.getMount(LISTS);
}

export const dpkg: PackageManager<DpkgImage> = {
  name: 'dpkg',
  pkgFamily: 'deb',
  osTypes: ['debian', 'ubuntu'],
  releaseRules: { debian: debianRelease },
  toolingRule: dpkgTooling,

  async readInstalled(image, os) {
    const db = await readDpkgDb(image.bridge, image.ref);
    if (!db) {
      throw new CopaError('image', `the image is ${os.type} ${os.version} but has no dpkg database (${STATUS_DIR} or /var/lib/dpkg/status)`, {
        hint: 'only images whose packages are recorded by dpkg can be patched; rebuild the image from a Debian/Ubuntu base',
      });
    }
    const hasApt = db.kind === 'file' && (await fileExists(image.bridge, image.ref, '/usr/bin', 'apt-get'));
    const how = db.kind === 'dir' ? 'distroless status.d' : hasApt ? 'apt in image' : 'no apt in image';
    return { versions: versionsOf(db), db: { db, hasApt }, summary: `${db.packages.size} packages (${how})` };
  },

  install(ctx, installed, plan) {
    return installed.db.hasApt ? aptInImage(ctx, plan) : viaTooling(ctx, installed, plan);
  },
};

async function aptInImage(ctx: Ctx, plan: InstallPlan): Promise<InstallResult> {
  const lists = await refreshLists(ctx, ctx.state, `the ${ctx.os.type} ${ctx.os.version} image`);
  const names = plan.kind === 'packages' ? plan.packages.map((w) => w.name) : [];
  const installed = ctx.state
    .run({
      args: plan.kind === 'all' ? ['sh', '-c', APT_UPGRADE_ALL] : ['sh', '-c', APT_INSTALL, 'copa-apt', ...names],
      user: ROOT,
      network: ctx.network,
      mounts: aptScratchMounts(lists),
      name: plan.kind === 'all' ? 'copa: apt-get upgrade (all packages)' : `copa: apt-get install --only-upgrade ${summarizeNames(names)}`,
    })
    .root();

  const ref = await solveState(ctx.bridge, installed, ctx.platform);
  const after = versionsOf(statusFileDb(await readText(ctx.bridge, ref, '/var/lib/dpkg/status')));
  return { installed, after };
}

async function viaTooling(ctx: Ctx, current: Installed<DpkgImage>, plan: InstallPlan): Promise<InstallResult> {
  const { db } = current.db;
  const before = current.versions;
  const toolingRef = ctx.toolingImage();
  const toolingImage = toolingRef.ref;
  const tooling = State.image(toolingRef, { platform: ctx.platform });
  const lists = await refreshLists(ctx, tooling, `the tooling image ${toolingImage}`);
  const toolRun = (args: string[], name: string) =>
    tooling.run({ args, user: ROOT, network: ctx.network, mounts: [...aptScratchMounts(lists), { dest: '/out' }], name });

  let names: string[];
  if (plan.kind === 'all') {
    // Ask the tooling image's apt which installed packages have a newer candidate.
    const q = toolRun(['sh', '-c', APT_CANDIDATES, 'copa-apt', ...[...before.keys()].map(stripArch)], 'copa: look up candidate versions');
    const cand = await readTextIfExists(ctx.bridge, await solveState(ctx.bridge, q.getMount('/out'), ctx.platform), '/candidates');
    const newer = parseDpkgStatus(cand ?? '', { assumeInstalled: true }).filter((p) => {
      const have = before.get(p.name);
      return have !== undefined && cmp(p.version, have) > 0;
    });
    names = [...new Set(newer.map((p) => p.name))].sort();
    if (names.length === 0) return { installed: null, after: before };
  } else {
    names = plan.packages.map((w) => stripArch(w.name));
  }

  const fetched = toolRun(['sh', '-c', APT_FETCH, 'copa-apt', ...names], `copa: download ${summarizeNames(names)}`).getMount('/out');
  const fetchedRef = await solveState(ctx.bridge, fetched, ctx.platform);
  const failed = ((await readTextIfExists(ctx.bridge, fetchedRef, '/failed')) ?? '').split('\n').filter(Boolean);
  if (failed.length && !ctx.ignoreErrors) {
    const err = (await readTextIfExists(ctx.bridge, fetchedRef, '/download.err')) ?? '';
    throw new CopaError('validation', `could not download ${failed.join(', ')} with the tooling image ${toolingImage}: ${err.trim().split('\n').slice(-3).join(' | ')}`, {
      hint: 'check that the tooling image is the same release as the target and can reach its package mirror, or pass --ignore-errors',
    });
  }

  // Read each downloaded deb's control area; keep only real upgrades.
  const debs = (await ctx.bridge.readDir(fetchedRef, '/debs')).map((e) => e.path).filter((n) => /^[A-Za-z0-9.+~%_-]+\.deb$/.test(n)).sort();
  const upgrades: Upgrade[] = [];
  for (const deb of debs) {
    const control = await readText(ctx.bridge, fetchedRef, `/meta/${deb}/control`);
    const [pkg] = parseDpkgStatus(control, { assumeInstalled: true });
    if (!pkg) continue;
    const have = before.get(pkg.name);
    if (have === undefined || cmp(pkg.version, have) <= 0) continue;
    upgrades.push({ deb, pkg, control, md5sums: await readTextIfExists(ctx.bridge, fetchedRef, `/meta/${deb}/md5sums`) });
  }
  const after = new Map(before);
  for (const u of upgrades) after.set(u.pkg.name, u.pkg.version);
  if (upgrades.length === 0) return { installed: null, after };

  const keep = await modifiedConffiles(ctx, db, upgrades.map((u) => u.pkg.name));
  let inputs = FileAction.mkfile('/debs.list', 0o644, upgrades.map((u) => u.deb).join('\n') + '\n').mkfile(
    '/keep-conffiles',
    0o644,
    keep.map((p) => `.${p}\n`).join(''),
  );
  if (db.kind === 'dir') {
    inputs = inputs.mkdir('/status.d', 0o755);
    for (const [file, body] of rewriteStatusD(db, upgrades)) inputs = inputs.mkfile(`/status.d/${file}`, 0o644, body);
  } else {
    inputs = inputs.mkfile('/status', 0o644, rewriteStatusFile(db, upgrades));
  }
  const applied = tooling
    .run({
      args: ['sh', '-c', DPKG_APPLY],
      user: ROOT,
      network: 'none',
      mounts: [
        { dest: '/target', source: ctx.state },
        { dest: '/copa-debs', source: fetched, readonly: true },
        { dest: '/copa-in', source: State.scratch().file(inputs, { name: 'copa: regenerate dpkg metadata' }), readonly: true },
      ],
      name: `copa: unpack ${summarizeNames(upgrades.map((u) => u.pkg.name))} into the image`,
    })
    .getMount('/target');
  return { installed: applied, after };
}

/** Conffiles the user changed (md5 differs from dpkg's record): dpkg --force-confold keeps them. */
async function modifiedConffiles(ctx: Ctx, db: DpkgDb, names: string[]): Promise<string[]> {
  const keep: string[] = [];
  for (const name of names) {
    for (const cf of db.packages.get(name)?.conffiles ?? []) {
      if (cf.obsolete) continue;
      const body = await ctx.bridge.readFile(ctx.ref, cf.path).catch(() => null);
      if (body && createHash('md5').update(body).digest('hex') !== cf.md5) keep.push(cf.path);
    }
  }
  return keep.sort();
}

type Upgrade = { deb: string; pkg: DpkgPackage; control: string; md5sums: string | null };

/** A status stanza for a freshly unpacked deb: its control fields plus dpkg's Status line. */
function installedStanza(u: Upgrade, old: DpkgPackage | undefined): string {
  const fields = parseDpkgStatus(u.control, { assumeInstalled: true })[0]!.fields;
  const out: Array<[string, string]> = [];
  for (const [k, v] of fields) {
    out.push([k, v]);
    if (k === 'Package') out.push(['Status', 'install ok installed']);
  }
  const conffiles = old?.fields.find(([k]) => k === 'Conffiles');
  if (conffiles && !fields.some(([k]) => k === 'Conffiles')) out.push(conffiles);
  return formatStanza(out);
}

function rewriteStatusD(db: DpkgDb, upgrades: Upgrade[]): Map<string, string> {
  const files = new Map<string, string>();
  const byName = new Map(upgrades.map((u) => [u.pkg.name, u]));
  const touched = new Set(upgrades.map((u) => db.fileOf.get(u.pkg.name) ?? u.pkg.name));
  for (const file of touched) {
    const names = db.filePackages.get(file) ?? [file];
    const stanzas = names.map((n) => {
      const u = byName.get(n);
      const old = db.packages.get(n);
      return u ? installedStanza(u, old) : old ? old.raw : '';
    });
    files.set(file, asStatusText(stanzas.filter(Boolean)));
    for (const n of names) {
      const u = byName.get(n);
      if (u?.md5sums && db.md5sumsFiles.has(file)) files.set(`${file}.md5sums`, u.md5sums);
    }
  }
  return files;
}

function rewriteStatusFile(db: DpkgDb, upgrades: Upgrade[]): string {
  const byName = new Map(upgrades.map((u) => [u.pkg.name, u]));
  return asStatusText(
    db.stanzas.map((p) => {
      const u = p.installed ? byName.get(p.name) : undefined;
      return u ? installedStanza(u, p) : p.raw;
    }),
  );
}

/** dpkg's layout: every stanza (ending in a newline) is followed by a blank line. */
function asStatusText(stanzas: string[]): string {
  return stanzas.map((s) => (s.endsWith('\n') ? s : s + '\n') + '\n').join('');
}

function stripArch(name: string): string {
  return name.split(':')[0]!;
}
