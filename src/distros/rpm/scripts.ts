// Fixed shell programs for the rpm family. The tool command lines come from tools.ts
// (constants); package names only ever reach a script as positional arguments ("$@", after
// "--") or as validated lines of a data file the engine writes, never spliced into the text.
// Values read from the image (its release) arrive in the environment.
import { MANIFEST_1, MANIFEST_2, MANIFEST_FORMAT, QUERY_FORMAT } from './db.js';
import { LOG_DIR, REFRESH, TARGET, TOOL_CACHE, TOOL_PERSIST, UPGRADE, toolCommand, type RpmTool, type ToolOptions } from './tools.js';

/** Scratch mounts of the steps. */
export const OUT = '/copa-out';
export const IN = '/copa-in';
export const WORK = '/copa-work';

/** List the installed packages (QUERY_FORMAT) into /copa-out/packages; rpm's exit code and errors beside it. */
export function queryScript(root: boolean): string {
  const rpm = root ? `rpm --root ${TARGET} --dbpath "$COPA_DBPATH"` : 'rpm';
  return `set -u
mkdir -p ${OUT}
rc=0
${rpm} -qa --qf '${QUERY_FORMAT}' >${OUT}/packages 2>${OUT}/query.err || rc=$?
echo "$rc" >${OUT}/rc`;
}

/**
 * Refresh the repository metadata. Package tools may only warn when a repository cannot be
 * fetched (dnf with skip_if_unavailable, zypper's "not refreshed" list), so the exit code and
 * output go to /copa-status for the engine to judge (refresh.ts); the step itself succeeds.
 */
export function refreshScript(tool: RpmTool, o?: ToolOptions): string {
  return `set -u
mkdir -p /copa-status ${LOG_DIR}${o?.root ? ` ${TOOL_CACHE} ${TOOL_PERSIST}` : ''}
rc=0
${toolCommand(tool, o)} ${REFRESH[tool]} >/copa-status/update.log 2>&1 || rc=$?
echo "$rc" >/copa-status/rc
cat /copa-status/update.log`;
}

/**
 * In the image: upgrade exactly the named packages ("$@"), or everything with no names, with
 * the image's own tool, then list the packages into /copa-out. rpm keeps a locally modified
 * %config(noreplace) file and writes the packaged one beside it as <file>.rpmnew.
 */
export function inImageInstallScript(tool: RpmTool, all: boolean): string {
  return `set -eu
mkdir -p ${OUT} ${LOG_DIR}
${toolCommand(tool)} ${UPGRADE[tool]}${all ? '' : ' -- "$@"'}
rpm -qa --qf '${QUERY_FORMAT}' >${OUT}/packages`;
}

/** Paths below the target the tools may create; removed again when the image did not have them. */
export const TRANSIENT = [
  'var/cache/dnf',
  'var/cache/yum',
  'var/cache/tdnf',
  'var/cache/zypp',
  'var/lib/dnf',
  'var/lib/yum',
  'var/lib/tdnf',
  'var/log/dnf.log',
  'var/log/dnf.librepo.log',
  'var/log/dnf.rpm.log',
  'var/log/hawkey.log',
  'var/log/yum.log',
  'var/log/tdnf.log',
  'var/log/zypper.log',
  'var/log/zypp',
  'var/tmp/dnf',
  // dnf 4 puts cachedir and logdir below the installroot even when given with --setopt
  // (seen with Debian's dnf 4.14; its documentation says host-relative): dropped from the image.
  TOOL_CACHE.slice(1),
  LOG_DIR.slice(1),
  TOOL_PERSIST.slice(1),
];

/**
 * Rebuild an rpm database for a distroless target (manifest only) at "$COPA_DBPATH" below
 * /target: the exact installed versions (/copa-in/installed, one name-version-release.arch
 * a line) registered without touching a file, so that the upgrade then replaces files and
 * keeps modified config files exactly as on an image with a database. dnf and yum do it in
 * one signed transaction (tsflags=justdb); tdnf and microdnf download the packages and
 * rpm --justdb registers them.
 */
function rebuildDb(tool: RpmTool, o: ToolOptions): string {
  const cmd = toolCommand(tool, { ...o, noscripts: false });
  const specs = `$(cat ${IN}/installed)`;
  const justdb = `rpm --root ${TARGET} --dbpath "$COPA_DBPATH" -i --justdb --nodeps --noscripts --notriggers`;
  const pick = `set --
for spec in ${specs}; do
  [ -f "${WORK}/old/$spec.rpm" ] || { echo "copa: the repositories have no $spec (the installed version) to rebuild the package database" >&2; exit 1; }
  set -- "$@" "${WORK}/old/$spec.rpm"
done
${justdb} "$@"`;
  switch (tool) {
    case 'dnf':
    case 'yum':
      return `${cmd} --setopt=tsflags=justdb install -- ${specs}`;
    case 'tdnf':
      return `mkdir -p ${WORK}/old\n${cmd} install --downloadonly --downloaddir=${WORK}/old -- ${specs}\n${pick}`;
    case 'microdnf':
      return `mkdir -p ${WORK}/old\n(cd ${WORK}/old && ${cmd} download -- ${specs})\n${pick}`;
    case 'zypper':
      return `echo "copa: zypper cannot rebuild a package database from a manifest" >&2\nexit 1`;
  }
}

/**
 * Merge the manifest: $1 the image's container-manifest-2, $2 the same query for the
 * database after the upgrade. Lines of packages that did not change stay as they were
 * (install times included), an upgraded package's new line takes its old line's place,
 * packages new to the image come last, removed ones are dropped. Fields: NAME VR
 * INSTALLTIME BUILDTIME VENDOR EPOCH SIZE ARCH EPOCHNUM SOURCERPM (tab-separated, never
 * empty: rpm writes "(none)").
 */
export const MANIFEST_MERGE = `set -eu
tab=$(printf '\\t')
: >"${WORK}/new.keys"
: >"${WORK}/new.names"
while IFS="$tab" read -r n vr it bt ven ep sz ar en src; do
  printf '|%s|%s|%s|%s|\\n' "$n" "$vr" "$ep" "$ar" >>"${WORK}/new.keys"
  printf '|%s|%s|\\n' "$n" "$ar" >>"${WORK}/new.names"
done <"$2"
: >"${WORK}/old.names"
while IFS= read -r line; do
  [ -n "$line" ] || continue
  IFS="$tab" read -r n vr it bt ven ep sz ar en src <<EOF
$line
EOF
  printf '|%s|%s|\\n' "$n" "$ar" >>"${WORK}/old.names"
  if grep -q -F -x -- "|$n|$vr|$ep|$ar|" "${WORK}/new.keys"; then
    printf '%s\\n' "$line"
  elif grep -q -F -x -- "|$n|$ar|" "${WORK}/new.names"; then
    while IFS= read -r nl; do
      case "$nl" in "$n$tab"*) ;; *) continue ;; esac
      IFS="$tab" read -r n2 vr2 it2 bt2 ven2 ep2 sz2 ar2 en2 src2 <<EOF
$nl
EOF
      [ "$ar2" = "$ar" ] && printf '%s\\n' "$nl"
    done <"$2"
  fi
done <"$1"
while IFS= read -r nl; do
  IFS="$tab" read -r n vr it bt ven ep sz ar en src <<EOF
$nl
EOF
  grep -q -F -x -- "|$n|$ar|" "${WORK}/old.names" || printf '%s\\n' "$nl"
done <"$2"`;

export interface ToolingInstall {
  tool: RpmTool;
  opts: ToolOptions;
  /** The target has only the manifest: rebuild a database first, rewrite the manifest after, drop the database. */
  manifest: boolean;
  all: boolean;
}

/**
 * In the tooling image, against the image at /target: (rebuild the database,) upgrade the
 * named packages ("$@") or everything, list the packages into /copa-out, and for a
 * distroless target rewrite container-manifest-2 (and -1) and remove the database again, so
 * the image stays without one. Whatever the tools create below /target that the image did
 * not have is removed on exit.
 */
export function toolingInstallScript(t: ToolingInstall): string {
  const cmd = toolCommand(t.tool, t.opts);
  const rpmq = `rpm --root ${TARGET} --dbpath "$COPA_DBPATH"`;
  const transient = [...TRANSIENT, ...(t.manifest ? ['"${COPA_DBPATH#/}"'] : ['"${COPA_DBPATH#/}/.rpm.lock"'])];
  const lines = [
    'set -eu',
    'set -f',
    `mkdir -p ${OUT} ${WORK} ${LOG_DIR} ${TOOL_CACHE} ${TOOL_PERSIST}`,
    'created=',
    `for p in ${transient.join(' ')}; do`,
    `  [ -e "${TARGET}/$p" ] || [ -L "${TARGET}/$p" ] || created="$created $p"`,
    'done',
    `cleanup() { for p in $created; do rm -rf "${TARGET}/$p"; done; }`,
    'trap cleanup EXIT',
  ];
  if (t.manifest) {
    lines.push(`mkdir -p "${TARGET}$COPA_DBPATH"`, `${rpmq} --initdb`, rebuildDb(t.tool, t.opts));
  }
  lines.push(`${cmd} ${UPGRADE[t.tool]}${t.all ? '' : ' -- "$@"'}`, `${rpmq} -qa --qf '${QUERY_FORMAT}' >${OUT}/packages`);
  if (t.manifest) {
    lines.push(
      `${rpmq} -qa --qf '${MANIFEST_FORMAT}' | grep -v '^gpg-pubkey' >${WORK}/query || true`,
      `sh ${IN}/merge.sh ${TARGET}${MANIFEST_2} ${WORK}/query >${WORK}/manifest-2`,
      `cat ${WORK}/manifest-2 >${TARGET}${MANIFEST_2}`,
      `cp ${WORK}/manifest-2 ${OUT}/container-manifest-2`,
      `if [ -f ${TARGET}${MANIFEST_1} ]; then`,
      `  tab=$(printf '\\t')`,
      `  while IFS="$tab" read -r n vr it bt ven ep sz ar en src; do printf '%s-%s.%s\\n' "$n" "$vr" "$ar"; done <${WORK}/manifest-2 >${WORK}/manifest-1`,
      `  cat ${WORK}/manifest-1 >${TARGET}${MANIFEST_1}`,
      'fi',
    );
  }
  return lines.join('\n');
}
