// RPM-based distributions: CBL-Mariner / Azure Linux, CentOS, Rocky, AlmaLinux, Oracle Linux,
// RHEL, Amazon Linux, Photon, SLES and openSUSE. Two ways to install, chosen by what the
// image has:
//  - an rpm database, rpm, /bin/sh and a package tool (tdnf, dnf, yum, microdnf; zypper on
//    SUSE): run the image's own tool in it, upgrading exactly the report's packages (all of
//    them without a report), caches, logs and history databases on mounts, never in the layer;
//  - no tool (distroless Mariner/Azure Linux with only container-manifest-2, or a database
//    without tools): a tooling image's tool (whichever it has) installs into the image with
//    --installroot, using the image's own repository files and signing keys; for a manifest
//    image it first rebuilds a database of the installed versions (registered, no file
//    touched), rewrites the manifest afterwards and removes the database again, so the image
//    stays without an rpm database or package manager.
// Either way: a refresh step (never cached) whose exit code and output are judged first, then
// ONE install step on top of the original image, so the patch is one layer. rpm itself keeps
// a locally modified %config(noreplace) file and writes the packaged one as <file>.rpmnew.
import { FileAction, State, type MountSpec } from '../../llb/index.js';
import type { SolvedRef } from '../../engine/bridge.js';
import { CopaError, quote } from '../../engine/errors.js';
import { readTextIfExists, solveState } from '../../engine/solve.js';
import { summarizeNames } from '../../engine/names.js';
import { isSafePackageName } from '../../engine/pkgname.js';
import { STATUS_MOUNT } from '../../engine/step-status.js';
import { everyPatch } from '../../engine/refresh-step.js';
import { escapeControls } from '../../engine/text.js';
import type { ImageView, InstallContext, InstallPlan, InstallResult, Installed, PackageManager } from '../../engine/package-manager.js';
import { MANIFEST_2, RPMDB_DIRS, RPMDB_FILES, nevraSpec, parseManifest, parseRpmQuery, versionsOf, type ManifestLine, type RpmDbFormat } from './db.js';
import { IN, MANIFEST_MERGE, OUT, WORK, inImageInstallScript, queryScript, refreshScript, toolingInstallScript } from './scripts.js';
import { IN_IMAGE_PATHS, LOG_DIR, TARGET, TOOL_CACHE, TOOL_PERSIST, chooseTool, probeTools, toolEnv, type ImageTools, type RpmTool, type ToolOptions } from './tools.js';
import { assertMetadataFetched } from './refresh.js';
import { rpmTooling } from './tooling.js';

const ROOT = '0';
const GPG_DIR = '/etc/pki/rpm-gpg';
const REPOS_DIR = '/etc/yum.repos.d';

/** The database plus how this image can be patched. */
export interface RpmImage {
  source: 'rpmdb' | 'manifest';
  /** rpmdb: the database format and directory; manifest: where the rebuilt database goes. */
  format: RpmDbFormat | null;
  dbDir: string;
  /** manifest: its lines, in file order. */
  manifest: ManifestLine[] | null;
  tools: ImageTools;
  /** The image's own tool, when it can patch itself (rpm database, rpm, /bin/sh). */
  tool: RpmTool | null;
  /** The image has repository files (/etc/yum.repos.d/*.repo) and signing keys (/etc/pki/rpm-gpg). */
  repos: boolean;
  gpgKeys: boolean;
  /** Package-tool state directories the image has (copied for the install step). */
  stateDirs: Set<string>;
}

export const rpm: PackageManager<RpmImage> = {
  name: 'rpm',
  pkgFamily: 'rpm',
  osTypes: ['cbl-mariner', 'azurelinux', 'centos', 'rocky', 'alma', 'oracle', 'redhat', 'amazon', 'photon', 'sles', 'opensuse-leap', 'opensuse-tumbleweed'],
  toolingRule: rpmTooling,

  async readInstalled(image, os) {
    const { bridge, ref } = image;
    const [db, tools, repos, gpgKeys, stateDirs] = await Promise.all([
      findDb(image),
      probeTools(bridge, ref),
      listNames(image, ref, REPOS_DIR).then((n) => [...n].some((f) => f.endsWith('.repo'))),
      listNames(image, ref, GPG_DIR).then((n) => n.size > 0),
      existingDirs(image, [...new Set(Object.values(IN_IMAGE_PATHS).flatMap((p) => p.state))]),
    ]);
    const where = `the ${os.type} ${os.version} image`;
    if (db) {
      const tool = tools.rpm && tools.shell ? chooseTool(tools.tools, os.type) : null;
      const packages = await queryRpmDb(image, db.dir, tool !== null || (tools.rpm && tools.shell), where, db.format);
      const how = tool ? `${tool} in image` : 'no package manager in image: tooling image';
      const img: RpmImage = { source: 'rpmdb', format: db.format, dbDir: db.dir, manifest: null, tools, tool, repos, gpgKeys, stateDirs };
      return { versions: versionsOf(packages), db: img, summary: `${countOf(packages)} packages (${db.format} rpm database, ${how})` };
    }
    const text = await readTextIfExists(bridge, ref, MANIFEST_2);
    if (text === null) {
      throw new CopaError('image', `the image is ${os.type} ${os.version} but has no rpm database (${RPMDB_DIRS.map((d) => `${d}/{rpmdb.sqlite,Packages.db,Packages}`).join(', ')}) and no ${MANIFEST_2}`, {
        hint: 'only images whose packages are recorded by rpm (or, for distroless Mariner/Azure Linux, by the rpm manifest) can be patched',
      });
    }
    const manifest = parseManifest(text);
    const img: RpmImage = { source: 'manifest', format: null, dbDir: '/var/lib/rpm', manifest, tools, tool: null, repos, gpgKeys, stateDirs };
    return { versions: versionsOf(manifest), db: img, summary: `${countOf(manifest)} packages (${MANIFEST_2}, distroless: tooling image)` };
  },

  install(ctx, installed, plan) {
    const names = plan.kind === 'packages' ? plan.packages.map((w) => w.name) : [];
    for (const n of names) {
      if (!isSafePackageName('rpm', n)) throw new CopaError('internal', `refusing to pass ${quote(n)} to a package manager`);
    }
    const { tool } = installed.db;
    return tool && installed.db.source === 'rpmdb' ? inImage(ctx, installed.db, tool, plan, names) : viaTooling(ctx, installed, plan, names);
  },
};

function countOf(pkgs: ReadonlyArray<{ name: string }>): number {
  return new Set(pkgs.map((p) => p.name)).size;
}

async function listNames(image: ImageView, ref: SolvedRef, dir: string): Promise<Set<string>> {
  try {
    return new Set((await image.bridge.readDir(ref, dir)).map((e) => e.path));
  } catch (e) {
    if ((e as Error).name === 'BridgeFileNotFound') return new Set();
    throw e;
  }
}

async function existingDirs(image: ImageView, dirs: string[]): Promise<Set<string>> {
  const found = await Promise.all(
    dirs.map(async (d) => {
      const slash = d.lastIndexOf('/');
      const entries = await image.bridge.readDir(image.ref, d.slice(0, slash) || '/', d.slice(slash + 1)).catch(() => []);
      return entries.some((e) => e.path === d.slice(slash + 1) && (e.mode & 2 ** 31) !== 0) ? d : null;
    }),
  );
  return new Set(found.filter((d): d is string => d !== null));
}

async function findDb(image: ImageView): Promise<{ dir: string; format: RpmDbFormat } | null> {
  for (const dir of RPMDB_DIRS) {
    const names = await listNames(image, image.ref, dir);
    for (const [file, format] of RPMDB_FILES) if (names.has(file)) return { dir, format };
  }
  return null;
}

/** `rpm -qa` over the database: the image's own rpm when it has one and a shell, else the tooling image's with --root. */
async function queryRpmDb(image: ImageView, dbDir: string, inImage: boolean, where: string, format: RpmDbFormat) {
  let step;
  let by: string;
  if (inImage) {
    by = `rpm in ${where}`;
    step = image.state.run({ args: ['sh', '-c', queryScript(false)], user: ROOT, network: 'none', mounts: [{ dest: OUT }], name: `copa: list installed packages (rpm -qa in ${where})` });
  } else {
    const tooling = image.toolingImage();
    by = `the tooling image ${tooling.ref}'s rpm`;
    step = State.image(tooling, { platform: image.platform }).run({
      args: ['sh', '-c', queryScript(true)],
      env: { COPA_DBPATH: dbDir },
      user: ROOT,
      network: 'none',
      // Writable: rpm may take a lock or open sqlite's journal even to read; the copy is thrown away.
      mounts: [{ dest: TARGET, source: image.state }, { dest: OUT }],
      name: `copa: list installed packages (rpm --root of the tooling image ${tooling.ref})`,
    });
  }
  const out = await solveState(image.bridge, step.getMount(OUT), image.platform);
  const rc = ((await readTextIfExists(image.bridge, out, '/rc')) ?? '1').trim();
  const text = (await readTextIfExists(image.bridge, out, '/packages')) ?? '';
  if (rc !== '0' || text.trim() === '') {
    const err = escapeControls(((await readTextIfExists(image.bridge, out, '/query.err')) ?? '').trim().split('\n').slice(-3).join(' | '));
    throw new CopaError('image', `${by} could not read the ${format} rpm database at ${dbDir} of ${where}${err ? `: ${err}` : rc === '0' ? ': it lists no packages' : ''}`, {
      hint: inImage ? 'the image\'s rpm database may be damaged' : `pass a tooling image whose rpm reads ${format} databases (--tooling-image), e.g. one of the image's own distribution`,
    });
  }
  return parseRpmQuery(text, `rpm -qa output of ${where}`);
}

function releaseverOf(ctx: InstallContext): string {
  const v = ctx.os.osRelease.versionId;
  if (!/^[0-9][A-Za-z0-9._-]{0,63}$/.test(v)) {
    throw new CopaError('image', `the image's VERSION_ID ${quote(escapeControls(v))} cannot be used as the repositories' $releasever`, {
      hint: 'pass a tooling image that is configured for this release (--tooling-image)',
    });
  }
  return v;
}

/** The image's own tool, in the image. */
async function inImage(ctx: InstallContext, db: RpmImage, tool: RpmTool, plan: InstallPlan, names: string[]): Promise<InstallResult> {
  const where = `the ${ctx.os.type} ${ctx.os.version} image`;
  const paths = IN_IMAGE_PATHS[tool];
  // History databases: the steps work on a copy of the image's (or an empty directory).
  const state = (): MountSpec[] => paths.state.map((d) => (db.stateDirs.has(d) ? { dest: d, source: ctx.state, selector: d } : { dest: d }));
  const logs: MountSpec[] = [{ dest: LOG_DIR, type: 'tmpfs' }, ...(tool === 'zypper' ? [{ dest: '/var/log/zypp', type: 'tmpfs' as const }] : [])];
  const refresh = ctx.state.run({
    args: ['sh', '-c', refreshScript(tool)],
    env: everyPatch(ctx, toolEnv(tool)),
    user: ROOT,
    network: ctx.network,
    mounts: [...paths.caches.map((d) => ({ dest: d })), ...state(), ...logs, { dest: STATUS_MOUNT }],
    name: `copa: refresh repository metadata (${tool} in ${where})`,
  });
  await assertMetadataFetched(ctx, await solveState(ctx.bridge, refresh.getMount(STATUS_MOUNT), ctx.platform), tool, where);

  const all = plan.kind === 'all';
  const step = ctx.state.run({
    args: ['sh', '-c', inImageInstallScript(tool, all), 'copa-rpm', ...names],
    env: toolEnv(tool),
    user: ROOT,
    network: ctx.network,
    mounts: [...paths.caches.map((d) => ({ dest: d, source: refresh.getMount(d) })), ...state(), ...logs, { dest: OUT }],
    name: all ? `copa: ${tool} upgrade (all packages)` : `copa: ${tool} upgrade ${summarizeNames(names)}`,
  });
  const installed = step.root();
  const out = await solveState(ctx.bridge, step.getMount(OUT), ctx.platform);
  const after = versionsOf(parseRpmQuery((await readTextIfExists(ctx.bridge, out, '/packages')) ?? '', `rpm -qa output after the upgrade`));
  return { installed, after };
}

/** A tooling image's tool, against the image at /target. */
async function viaTooling(ctx: InstallContext, current: Installed<RpmImage>, plan: InstallPlan, names: string[]): Promise<InstallResult> {
  const db = current.db;
  const toolingRef = ctx.toolingImage();
  const tooling = State.image(toolingRef, { platform: ctx.platform });
  const t = await probeTools(ctx.bridge, await solveState(ctx.bridge, tooling, ctx.platform));
  const tool = chooseTool(t.tools, ctx.os.type);
  if (!tool || !t.rpm || !t.shell) {
    const wanted = ['sles', 'opensuse-leap', 'opensuse-tumbleweed'].includes(ctx.os.type) ? 'zypper' : 'tdnf, dnf, yum or microdnf';
    throw new CopaError('image', `the tooling image ${toolingRef.ref} has no ${!tool ? wanted : !t.rpm ? 'rpm' : '/bin/sh'}, so it cannot patch this ${ctx.os.type} ${ctx.os.version} image`, {
      hint: `pass a tooling image of the image's distribution with ${wanted}, rpm and a shell (--tooling-image)`,
    });
  }
  if (db.source === 'manifest' && tool === 'zypper') {
    throw new CopaError('image', `the image has only ${MANIFEST_2} and the tooling image ${toolingRef.ref} has only zypper, which cannot rebuild a package database from it`, {
      hint: 'pass a Mariner/Azure Linux tooling image (tdnf) with --tooling-image',
    });
  }
  const manifest = db.source === 'manifest';
  const opts: ToolOptions = { root: true, targetRepos: db.repos, releasever: manifest, noscripts: !db.tools.shell };
  const where = `the tooling image ${toolingRef.ref}`;
  if (!db.repos) ctx.log(`rpm: the image has no ${REPOS_DIR}/*.repo; using the tooling image's repositories`);
  if (opts.noscripts) ctx.log(`rpm: the image has no /bin/sh, so package scripts are not run in it${tool === 'microdnf' ? ' (microdnf cannot skip them: they will fail)' : ''}`);
  const env: Record<string, string> = { ...toolEnv(tool), COPA_DBPATH: db.dbDir, ...(manifest ? { COPA_RELEASEVER: releaseverOf(ctx) } : {}) };
  // The image's own repository files name its own keys (file:///etc/pki/rpm-gpg/…), which the
  // tools read from the tooling image's filesystem: that directory is the image's.
  const keys: MountSpec[] = db.repos && db.gpgKeys ? [{ dest: GPG_DIR, source: ctx.state, selector: GPG_DIR, readonly: true }] : [];
  const logs: MountSpec = { dest: LOG_DIR, type: 'tmpfs' };

  const refresh = tooling.run({
    args: ['sh', '-c', refreshScript(tool, opts)],
    env: everyPatch(ctx, env),
    user: ROOT,
    network: ctx.network,
    mounts: [{ dest: TARGET, source: ctx.state }, ...keys, { dest: TOOL_CACHE }, { dest: TOOL_PERSIST }, logs, { dest: STATUS_MOUNT }],
    name: `copa: refresh repository metadata (${tool} in ${where})`,
  });
  await assertMetadataFetched(ctx, await solveState(ctx.bridge, refresh.getMount(STATUS_MOUNT), ctx.platform), tool, where);

  const all = plan.kind === 'all';
  const installedList = manifest ? db.manifest!.map(nevraSpec).join('\n') + '\n' : '';
  const inputs = State.scratch().file(FileAction.mkfile('/installed', 0o644, installedList).mkfile('/merge.sh', 0o644, MANIFEST_MERGE), {
    name: 'copa: inputs of the rpm step',
  });
  const script = toolingInstallScript({ tool, opts, manifest, all });
  const step = tooling.run({
    args: ['sh', '-c', script, 'copa-rpm', ...names],
    env,
    user: ROOT,
    network: ctx.network,
    mounts: [
      { dest: TARGET, source: ctx.state },
      ...keys,
      { dest: TOOL_CACHE, source: refresh.getMount(TOOL_CACHE) },
      { dest: TOOL_PERSIST, source: refresh.getMount(TOOL_PERSIST) },
      logs,
      { dest: WORK, type: 'tmpfs' },
      { dest: IN, source: inputs, readonly: true },
      { dest: OUT },
    ],
    name: all ? `copa: ${tool} upgrade (all packages, into the image)` : `copa: ${tool} upgrade ${summarizeNames(names)} (into the image)`,
  });
  const installed = step.getMount(TARGET);
  const out = await solveState(ctx.bridge, step.getMount(OUT), ctx.platform);
  const after = manifest
    ? versionsOf(parseManifest((await readTextIfExists(ctx.bridge, out, '/container-manifest-2')) ?? '', `the rewritten ${MANIFEST_2}`))
    : versionsOf(parseRpmQuery((await readTextIfExists(ctx.bridge, out, '/packages')) ?? '', 'rpm -qa output after the upgrade'));
  return { installed, after };
}
