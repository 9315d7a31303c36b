// Fixed shell programs that run apk, in the image itself or in a tooling image against the
// image mounted at /target. They are constants (one per way of running apk, below): package
// names only ever reach them as positional arguments ("$@", after "--"), never spliced into
// the script text. Never --allow-untrusted (signatures are always checked against the
// image's /etc/apk/keys), never --force-overwrite, never --clean-protected: a locally
// modified file under /etc stays as the user left it and apk writes the packaged one
// beside it as <file>.apk-new.

/** Where apk keeps its index cache and the packages it downloads: always a mount, never the image. */
export const IN_IMAGE_CACHE = '/var/cache/apk';
export const TOOLING_CACHE = '/copa-apk-cache';
/** Where the tooling image sees the image being patched. */
export const TARGET = '/target';

export type ApkRunner = 'image' | 'tooling' | 'tooling-no-scripts';

// --cache-dir makes apk use the mount for the index and the packages, whatever the image
// says (an /etc/apk/cache of the image would otherwise collect the downloaded .apk files).
// With --root, apk reads the *target's* /etc/apk/repositories(.d), /etc/apk/keys and
// /etc/apk/arch (its defaults are relative to the root), so the image's own repositories
// and keys are used.
const APK: Record<ApkRunner, string> = {
  image: `apk --no-progress --no-interactive --cache-dir ${IN_IMAGE_CACHE}`,
  tooling: `apk --root ${TARGET} --no-progress --no-interactive --cache-dir ${TOOLING_CACHE}`,
  'tooling-no-scripts': `apk --root ${TARGET} --no-progress --no-interactive --cache-dir ${TOOLING_CACHE}`,
};

/** Options of the upgrade itself: scripts run chrooted into the target, which an image without /bin/sh cannot do. */
const UPGRADE: Record<ApkRunner, string> = {
  image: 'upgrade',
  tooling: 'upgrade',
  'tooling-no-scripts': 'upgrade --no-scripts',
};

/**
 * With --root, apk creates <root>/proc to mount proc there while it runs (and unmounts it);
 * an image that had no /proc must not gain one in the patch layer.
 */
const PRELUDE: Record<ApkRunner, string> = {
  image: '',
  tooling: `[ -e ${TARGET}/proc ] || trap 'rmdir ${TARGET}/proc 2>/dev/null || true' EXIT\n`,
  'tooling-no-scripts': `[ -e ${TARGET}/proc ] || trap 'rmdir ${TARGET}/proc 2>/dev/null || true' EXIT\n`,
};

const RUNNERS: readonly ApkRunner[] = ['image', 'tooling', 'tooling-no-scripts'];
const each = (f: (r: ApkRunner) => string) => Object.fromEntries(RUNNERS.map((r) => [r, f(r)])) as Record<ApkRunner, string>;

/**
 * Refresh the indexes. apk update exits with the number of repositories it could not fetch
 * (or a stale count), after warning "updating and opening <url>: <reason>"; its exit code
 * and output go to /copa-status for the engine to judge (refresh.ts), and the step itself
 * always succeeds. On success, the names of installed packages with a newer release go to
 * /copa-status/upgradable (`apk version -l '<'`, names only).
 */
export const APK_UPDATE = each(
  (r) => `set -u
${PRELUDE[r]}mkdir -p /copa-status
rc=0
${APK[r]} update >/copa-status/update.log 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
  ${APK[r]} version -q -l '<' >/copa-status/upgradable 2>>/copa-status/update.log || rc=$?
fi
echo "$rc" >/copa-status/rc
cat /copa-status/update.log`,
);

/**
 * Upgrade exactly the named packages ("$@"). `apk upgrade <names>` leaves /etc/apk/world as
 * it is, so it never installs a named package the image lacks (and fails on a name no
 * repository or database knows, which the engine's plan never passes).
 */
export const APK_UPGRADE = each((r) => `set -eu\n${PRELUDE[r]}${APK[r]} ${UPGRADE[r]} -- "$@"`);

/** Upgrade every installed package with a newer release (the world stays as it is). */
export const APK_UPGRADE_ALL = each((r) => `set -eu\n${PRELUDE[r]}${APK[r]} ${UPGRADE[r]}`);
