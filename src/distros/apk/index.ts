// Alpine (apk). Two ways to install, chosen by what the image has:
//  - apk (and a shell) in the image: run the image's own apk in it, so its scripts and
//    triggers run as Alpine intends;
//  - an apk database but no apk (or no /bin/sh): a tooling image of the same release runs
//    `apk --root /target` against the image, with the image's own repositories and keys;
//    the result stays without apk.
// Either way: first a refresh step (apk update, never cached) whose exit code and output
// are judged before anything is installed, then ONE upgrade step on top of the original
// image, so the patch is one layer. apk's index cache and downloaded packages live on a
// mount (--cache-dir), so they never reach the layer.
import { State, type ExecState, type MountSpec } from '../../llb/index.js';
import { CopaError } from '../../engine/errors.js';
import { fileExists, readText, readTextIfExists, solveState } from '../../engine/solve.js';
import { summarizeNames } from '../../engine/names.js';
import { STATUS_MOUNT } from '../../engine/step-status.js';
import { everyPatch } from '../../engine/refresh-step.js';
import type { InstallContext, InstallPlan, InstallResult, Installed, PackageManager } from '../../engine/package-manager.js';
import { INSTALLED_DB, parseApkInstalled, readApkDb, versionsOf, type ApkDb } from './db.js';
import { APK_UPDATE, APK_UPGRADE, APK_UPGRADE_ALL, IN_IMAGE_CACHE, TARGET, TOOLING_CACHE, type ApkRunner } from './apk-scripts.js';
import { assertIndexesFetched } from './refresh.js';
import { apkTooling } from './tooling.js';

const ROOT = '0';

/** The database plus how this image can be patched. */
interface ApkImage {
  db: ApkDb;
  /** apk and /bin/sh in the image: run apk there. */
  hasApk: boolean;
  /** /bin/sh in the image: package scripts can run (chrooted) in it. */
  hasShell: boolean;
}

export const apk: PackageManager<ApkImage> = {
  name: 'apk',
  pkgFamily: 'apk',
  osTypes: ['alpine'],
  toolingRule: apkTooling,

  async readInstalled(image, os) {
    const db = await readApkDb(image.bridge, image.ref);
    if (!db) {
      throw new CopaError('image', `the image is ${os.type} ${os.version} but has no apk database (${INSTALLED_DB})`, {
        hint: 'only images whose packages are recorded by apk can be patched; rebuild the image from an Alpine base',
      });
    }
    const [sbin, usrSbin, hasShell] = await Promise.all([
      fileExists(image.bridge, image.ref, '/sbin', 'apk'),
      fileExists(image.bridge, image.ref, '/usr/sbin', 'apk'),
      fileExists(image.bridge, image.ref, '/bin', 'sh'),
    ]);
    const hasApk = (sbin || usrSbin) && hasShell;
    const how = hasApk ? 'apk in image' : sbin || usrSbin ? 'apk but no /bin/sh in image: tooling image' : 'no apk in image: tooling image';
    return { versions: versionsOf(db), db: { db, hasApk, hasShell }, summary: `${db.packages.size} packages (${how})` };
  },

  install(ctx, installed, plan) {
    return upgrade(ctx, installed, plan);
  },
};

async function upgrade(ctx: InstallContext, current: Installed<ApkImage>, plan: InstallPlan): Promise<InstallResult> {
  const { hasApk, hasShell } = current.db;
  const runner: ApkRunner = hasApk ? 'image' : hasShell ? 'tooling' : 'tooling-no-scripts';
  const cache = hasApk ? IN_IMAGE_CACHE : TOOLING_CACHE;
  let base: State;
  let where: string;
  if (hasApk) {
    base = ctx.state;
    where = `the ${ctx.os.type} ${ctx.os.version} image`;
  } else {
    const tooling = ctx.toolingImage();
    base = State.image(tooling, { platform: ctx.platform });
    where = `the tooling image ${tooling.ref}`;
    if (!hasShell) ctx.log('apk: the image has no /bin/sh, so package scripts are not run in it (--no-scripts)');
  }
  // The tooling image sees the image at /target; writable even to refresh (apk locks its database).
  const target: MountSpec[] = hasApk ? [] : [{ dest: TARGET, source: ctx.state }];

  const refresh = base.run({
    args: ['sh', '-c', APK_UPDATE[runner]],
    env: everyPatch(ctx),
    user: ROOT,
    network: ctx.network,
    mounts: [{ dest: cache }, { dest: STATUS_MOUNT }, ...target],
    name: `copa: refresh package indexes (apk update in ${where})`,
  });
  const status = await solveState(ctx.bridge, refresh.getMount(STATUS_MOUNT), ctx.platform);
  await assertIndexesFetched(ctx, status, where);
  const upgradable = new Set(((await readTextIfExists(ctx.bridge, status, '/upgradable')) ?? '').split('\n').map((l) => l.trim()).filter(Boolean));

  const names = plan.kind === 'packages' ? plan.packages.map((w) => w.name) : [];
  const anything = plan.kind === 'all' ? upgradable.size > 0 : names.some((n) => upgradable.has(n));
  if (!anything) {
    // Nothing the repositories offer is newer: no step, the engine judges the versions as they are.
    ctx.log(plan.kind === 'all' ? 'apk: no installed package has a newer release' : `apk: the repositories have no newer release of ${summarizeNames(names)}`);
    return { installed: null, after: current.versions };
  }

  const step: ExecState = base.run({
    args: plan.kind === 'all' ? ['sh', '-c', APK_UPGRADE_ALL[runner]] : ['sh', '-c', APK_UPGRADE[runner], 'copa-apk', ...names],
    user: ROOT,
    network: ctx.network,
    mounts: [{ dest: cache, source: refresh.getMount(cache) }, ...target],
    name: plan.kind === 'all' ? `copa: apk upgrade (all packages${hasApk ? '' : ', into the image'})` : `copa: apk upgrade ${summarizeNames(names)}${hasApk ? '' : ' (into the image)'}`,
  });
  const installed = hasApk ? step.root() : step.getMount(TARGET);
  const ref = await solveState(ctx.bridge, installed, ctx.platform);
  const after = versionsOf(parseApkInstalled(await readText(ctx.bridge, ref, INSTALLED_DB)));
  return { installed, after };
}
