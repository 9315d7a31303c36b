// Which RPM package tools an image has (read from its snapshot, nothing run), which one patches
// it, and each tool's command line. Every option here is from the tool's documented options:
//   dnf (4 and 5)  --installroot, --releasever, -y, --setopt=<main option>=<value> for cachedir,
//                  logdir, persistdir (host-relative when given on the command line), reposdir,
//                  skip_if_unavailable, install_weak_deps, tsflags (noscripts, justdb);
//                  `makecache --refresh`, `upgrade [names]` (never installs a missing name)
//   tdnf           --installroot, --releasever, -y, --refresh, --setopt=cachedir/reposdir
//                  (host-relative), --setopt=tsflags=noscripts, --downloadonly --downloaddir;
//                  `makecache`, `upgrade [names]`; "Nothing to do" exits 0
//   yum (3)        --installroot, --releasever, -y, --setopt=<main option> (cachedir, logfile,
//                  persistdir, reposdir, skip_if_unavailable, tsflags); `makecache fast`,
//                  `upgrade [names]` (a name not installed is only reported)
//   microdnf       --installroot, --releasever, -y, --refresh, --setopt=cachedir/reposdir/
//                  install_weak_deps (tsflags: only nodocs and test); `makecache`,
//                  `upgrade [names]`, `download` (into the current directory)
//   zypper         --non-interactive, --root, --cache-dir, --no-refresh; `refresh`,
//                  `update --no-recommends [names]` (updates installed packages only)
// Never --nogpgcheck, --skipsignature, --no-gpg-checks or --gpg-auto-import-keys.
import type { Bridge, SolvedRef } from '../../engine/bridge.js';
import { BridgeFileNotFound } from '../../engine/bridge.js';
import type { OsType } from '../../engine/osrelease.js';

export type RpmTool = 'tdnf' | 'dnf' | 'yum' | 'microdnf' | 'zypper';
export const RPM_TOOLS: readonly RpmTool[] = ['tdnf', 'dnf', 'yum', 'microdnf', 'zypper'];

export interface ImageTools {
  tools: Set<RpmTool>;
  rpm: boolean;
  shell: boolean;
}

const BIN_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

async function names(bridge: Bridge, ref: SolvedRef, dir: string): Promise<Set<string>> {
  try {
    return new Set((await bridge.readDir(ref, dir)).map((e) => e.path));
  } catch (e) {
    if (e instanceof BridgeFileNotFound) return new Set();
    throw e;
  }
}

/** The package tools, rpm and /bin/sh an image has, from its snapshot. */
export async function probeTools(bridge: Bridge, ref: SolvedRef): Promise<ImageTools> {
  const dirs = await Promise.all(BIN_DIRS.map((d) => names(bridge, ref, d)));
  const has = (n: string) => dirs.some((d) => d.has(n));
  const tools = new Set<RpmTool>(RPM_TOOLS.filter((t) => has(t) || (t === 'dnf' && (has('dnf-3') || has('dnf5')))));
  return { tools, rpm: has('rpm'), shell: (await names(bridge, ref, '/bin')).has('sh') || (await names(bridge, ref, '/usr/bin')).has('sh') };
}

const SUSE: readonly OsType[] = ['sles', 'opensuse-leap', 'opensuse-tumbleweed'];

/**
 * The tool that patches: SUSE uses zypper; everything else tdnf > dnf > yum > microdnf
 * (Copacetic's order: tdnf is Mariner/Photon's own, microdnf the most limited).
 */
export function chooseTool(tools: ReadonlySet<RpmTool>, type: OsType): RpmTool | null {
  const order: RpmTool[] = SUSE.includes(type) ? ['zypper'] : ['tdnf', 'dnf', 'yum', 'microdnf'];
  return order.find((t) => tools.has(t)) ?? null;
}

/** Where each tool keeps what must never reach the layer. */
export interface ToolPaths {
  /** Metadata and package caches: empty mounts (the refresh step's output is handed to the install step). */
  caches: string[];
  /** Persistent state with history databases: the install step works on a copy, so the image's stays as it was. */
  state: string[];
}

export const IN_IMAGE_PATHS: Record<RpmTool, ToolPaths> = {
  dnf: { caches: ['/var/cache/dnf'], state: ['/var/lib/dnf'] },
  // microdnf (libdnf) keeps its cache in /var/cache/yum on RHEL 8, /var/cache/dnf elsewhere.
  microdnf: { caches: ['/var/cache/dnf', '/var/cache/yum'], state: ['/var/lib/dnf'] },
  yum: { caches: ['/var/cache/yum'], state: ['/var/lib/yum'] },
  tdnf: { caches: ['/var/cache/tdnf'], state: ['/var/lib/tdnf'] },
  // zypper's history log is /var/log/zypp/history: that directory is a tmpfs (see index.ts).
  zypper: { caches: ['/var/cache/zypp'], state: [] },
};

/** Log files go to this tmpfs (dnf logdir, yum logfile, zypper ZYPP_LOGFILE). */
export const LOG_DIR = '/copa-log';
/** The tooling image's cache and state for --installroot runs (host-relative options). */
export const TOOL_CACHE = '/copa-cache';
export const TOOL_PERSIST = '/copa-persist';
/** Where the tooling image sees the image being patched. */
export const TARGET = '/target';

export interface ToolOptions {
  /** Run against /target (--installroot / --root) from a tooling image. */
  root: boolean;
  /** Use the target's repository files (/target/etc/yum.repos.d). */
  targetRepos: boolean;
  /** Pass --releasever="$COPA_RELEASEVER" (a target without an rpm database cannot tell). */
  releasever: boolean;
  /** Do not run package scripts (the target has no /bin/sh to run them). */
  noscripts: boolean;
}

const IMAGE: ToolOptions = { root: false, targetRepos: false, releasever: false, noscripts: false };

/** The tool and its global options, as shell words (constants; "$COPA_RELEASEVER" is expanded by the shell). */
export function toolCommand(tool: RpmTool, o: ToolOptions = IMAGE): string {
  const w: string[] = [tool];
  const rel = o.releasever ? ['--releasever="$COPA_RELEASEVER"'] : [];
  switch (tool) {
    case 'dnf':
      w.push('-y', '--setopt=skip_if_unavailable=False', `--setopt=logdir=${LOG_DIR}`, '--setopt=install_weak_deps=False');
      if (o.root) w.push(`--installroot=${TARGET}`, `--setopt=cachedir=${TOOL_CACHE}`, `--setopt=persistdir=${TOOL_PERSIST}`);
      break;
    case 'yum':
      w.push('-y', '--setopt=skip_if_unavailable=False', `--setopt=logfile=${LOG_DIR}/yum.log`);
      if (o.root) w.push(`--installroot=${TARGET}`, `--setopt=cachedir=${TOOL_CACHE}`, `--setopt=persistdir=${TOOL_PERSIST}`);
      break;
    case 'tdnf':
      w.push('-y');
      if (o.root) w.push(`--installroot=${TARGET}`, `--setopt=cachedir=${TOOL_CACHE}`);
      break;
    case 'microdnf':
      w.push('-y', '--setopt=install_weak_deps=0');
      if (o.root) w.push(`--installroot=${TARGET}`, `--setopt=cachedir=${TOOL_CACHE}`);
      break;
    case 'zypper':
      w.push('--non-interactive');
      if (o.root) w.push('--root', TARGET, '--cache-dir', TOOL_CACHE);
      return w.join(' ');
  }
  if (o.root && o.targetRepos) w.push(`--setopt=reposdir=${TARGET}/etc/yum.repos.d`);
  w.push(...rel);
  if (o.noscripts && tool !== 'microdnf') w.push('--setopt=tsflags=noscripts');
  return w.join(' ');
}

/** The refresh subcommand: fetch every repository's metadata now. */
export const REFRESH: Record<RpmTool, string> = {
  dnf: 'makecache --refresh',
  tdnf: '--refresh makecache',
  yum: 'makecache fast',
  microdnf: '--refresh makecache',
  zypper: 'refresh',
};

/** The upgrade subcommand, before the package names (or alone: everything). */
export const UPGRADE: Record<RpmTool, string> = {
  dnf: 'upgrade',
  tdnf: 'upgrade',
  yum: 'upgrade',
  microdnf: 'upgrade',
  zypper: '--no-refresh update --no-recommends',
};

/** Environment for a tool's run. */
export function toolEnv(tool: RpmTool): Record<string, string> {
  return tool === 'zypper' ? { ZYPP_LOGFILE: `${LOG_DIR}/zypper.log` } : {};
}
