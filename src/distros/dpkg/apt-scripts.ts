// Fixed shell programs run inside the image or the tooling image. They are constants:
// package names only ever reach them as positional arguments ("$@") or as lines of a
// data file, never spliced into the script text.

/**
 * apt options used everywhere: no caches or logs written, keep modified conffiles; no
 * translations fetched (descriptions are not needed to patch); dpkg without fsync per file
 * (the step's result is committed by BuildKit as a whole, so a crash mid-step leaves nothing).
 */
const APT = [
  'apt-get',
  '-o Acquire::Retries=3',
  '-o Acquire::Languages=none',
  '-o DPkg::Use-Pty=0',
  '-o Dpkg::Options::=--force-unsafe-io',
  '-o APT::Sandbox::User=root',
  '-o Dir::Cache::pkgcache=',
  '-o Dir::Cache::srcpkgcache=',
  '-o Dpkg::Options::=--force-confold',
  '-o Dpkg::Options::=--force-confdef',
  '-o Dpkg::Options::=--log=/dev/null',
].join(' ');

const PRELUDE = [
  'set -eu',
  'export DEBIAN_FRONTEND=noninteractive',
  'mkdir -p /var/lib/apt/lists/partial /var/cache/apt/archives/partial',
].join('\n');

/** Where the update step keeps apt's lists between patches (a BuildKit cache mount, never in the image). */
export const LISTS_CACHE = '/copa-lists-cache';

/**
 * Refresh the package lists. apt-get update exits 0 even when a source cannot be reached
 * (it warns "Failed to fetch" and keeps stale or no lists), so its exit code and output go
 * to /copa-status for the engine to judge (lists.ts); the step itself always succeeds.
 * apt works on the lists kept in LISTS_CACHE, so a repeat only re-checks each InRelease
 * (and downloads what changed), then hands identical lists on — which lets BuildKit reuse
 * the install step when nothing changed upstream. pkgCacheFile::Generate=false: apt-get update
 * does not build its package cache at the end ("Reading package lists", ~0.5 s) — the step
 * that installs parses the lists anyway, and fails loudly if they cannot be parsed.
 * CompressionTypes::Order gz: indexes come as gzip rather than xz — a third more bytes, but
 * unpacked several times faster (bookworm's main index: 0.6 s instead of 1.0 s on 2 cores at
 * mirror speed), and unpacking, not the transfer, is what a cold refresh waits on.
 */
export const APT_UPDATE = `${PRELUDE}
mkdir -p /copa-status ${LISTS_CACHE}/partial
rc=0
${APT} -o Dir::State::Lists=${LISTS_CACHE} -o pkgCacheFile::Generate=false -o Acquire::CompressionTypes::Order::=gz update >/copa-status/update.log 2>&1 || rc=$?
echo "$rc" > /copa-status/rc
cat /copa-status/update.log
find ${LISTS_CACHE} -maxdepth 1 -type f ! -name lock -exec cp -p {} /var/lib/apt/lists/ \\;`;

/** Upgrade exactly the named packages ("$@"); never installs a package the image lacks. */
export const APT_INSTALL = `${PRELUDE}\n${APT} install --only-upgrade --no-install-recommends -y -- "$@"`;

export const APT_UPGRADE_ALL = `${PRELUDE}\n${APT} upgrade --no-install-recommends -y`;

/** Tooling image: print the candidate stanza of each named package to /out/candidates. */
export const APT_CANDIDATES = `${PRELUDE}
mkdir -p /out
apt-cache show --no-all-versions -- "$@" > /out/candidates 2>/out/candidates.err || true`;

/**
 * Tooling image: download the named packages' debs into /out/debs and unpack each
 * control area into /out/meta/<deb file name>/ (control, md5sums, conffiles).
 * Packages that cannot be downloaded are listed in /out/failed.
 */
export const APT_FETCH = `${PRELUDE}
mkdir -p /out/debs /out/meta
: > /out/failed
cd /out/debs
if ! ${APT} download -- "$@" 2>/out/download.err; then
  for p in "$@"; do ${APT} download -- "$p" 2>>/out/download.err || printf '%s\\n' "$p" >> /out/failed; done
fi
for deb in *.deb; do
  [ -e "$deb" ] || continue
  dpkg-deb -e "$deb" "/out/meta/$deb"
done`;

/**
 * Tooling image, no network: unpack the chosen debs into the target rootfs at /target,
 * skipping locally modified conffiles, then install the regenerated dpkg metadata.
 * /copa-in is made by the engine: debs.list, keep-conffiles, status.d/ or status.
 */
export const DPKG_APPLY = `set -eu
while IFS= read -r deb; do
  [ -n "$deb" ] || continue
  dpkg-deb --fsys-tarfile "/copa-debs/debs/$deb" | tar -x --keep-directory-symlink --anchored --no-wildcards -X /copa-in/keep-conffiles -C /target
done < /copa-in/debs.list
if [ -d /copa-in/status.d ]; then cp -a /copa-in/status.d/. /target/var/lib/dpkg/status.d/; fi
if [ -f /copa-in/status ]; then cp /copa-in/status /target/var/lib/dpkg/status; fi`;
