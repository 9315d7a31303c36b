// The rpm family's command lines (tdnf, yum and microdnf do not exist on this machine: their
// lines are checked against their documented options, see src/distros/rpm/tools.ts), the
// manifest merge (run with the real /bin/sh over the real Mariner manifest), and the refresh
// judgement over what each tool prints for an unreachable repository.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MANIFEST_MERGE, inImageInstallScript, refreshScript, toolingInstallScript, queryScript } from '../../src/distros/rpm/scripts.js';
import { REFRESH, UPGRADE, chooseTool, toolCommand, RPM_TOOLS, type RpmTool } from '../../src/distros/rpm/tools.js';
import { refreshFailures } from '../../src/distros/rpm/refresh.js';
import { parseManifest, versionsOf } from '../../src/distros/rpm/db.js';

const IMAGES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const MANIFEST = readFileSync(join(IMAGES, 'rpm-mariner-2.0-distroless/var/lib/rpmmanifest/container-manifest-2'), 'utf8');
const ROOT = { root: true, targetRepos: true, releasever: true, noscripts: true };

describe('tool choice', () => {
  it('tdnf > dnf > yum > microdnf; SUSE only zypper', () => {
    expect(chooseTool(new Set<RpmTool>(['microdnf', 'dnf', 'tdnf']), 'cbl-mariner')).toBe('tdnf');
    expect(chooseTool(new Set<RpmTool>(['microdnf', 'yum', 'dnf']), 'redhat')).toBe('dnf');
    expect(chooseTool(new Set<RpmTool>(['microdnf', 'yum']), 'centos')).toBe('yum');
    expect(chooseTool(new Set<RpmTool>(['microdnf']), 'redhat')).toBe('microdnf');
    expect(chooseTool(new Set<RpmTool>(['dnf']), 'sles')).toBeNull();
    expect(chooseTool(new Set<RpmTool>(['zypper', 'dnf']), 'opensuse-leap')).toBe('zypper');
  });
});

describe('command lines', () => {
  it('in the image: non-interactive, metadata failures fatal, logs to the tmpfs, no weak dependencies', () => {
    expect(toolCommand('dnf')).toBe('dnf -y --setopt=skip_if_unavailable=False --setopt=logdir=/copa-log --setopt=install_weak_deps=False');
    expect(toolCommand('yum')).toBe('yum -y --setopt=skip_if_unavailable=False --setopt=logfile=/copa-log/yum.log');
    expect(toolCommand('tdnf')).toBe('tdnf -y');
    expect(toolCommand('microdnf')).toBe('microdnf -y --setopt=install_weak_deps=0');
    expect(toolCommand('zypper')).toBe('zypper --non-interactive');
  });
  it('from a tooling image: --installroot, host-side cache/state, the target\'s repositories, its release, no scripts without a shell', () => {
    expect(toolCommand('dnf', ROOT)).toBe(
      'dnf -y --setopt=skip_if_unavailable=False --setopt=logdir=/copa-log --setopt=install_weak_deps=False --installroot=/target --setopt=cachedir=/copa-cache --setopt=persistdir=/copa-persist --setopt=reposdir=/target/etc/yum.repos.d --releasever="$COPA_RELEASEVER" --setopt=tsflags=noscripts',
    );
    expect(toolCommand('tdnf', ROOT)).toBe('tdnf -y --installroot=/target --setopt=cachedir=/copa-cache --setopt=reposdir=/target/etc/yum.repos.d --releasever="$COPA_RELEASEVER" --setopt=tsflags=noscripts');
    expect(toolCommand('yum', ROOT)).toContain('--installroot=/target --setopt=cachedir=/copa-cache --setopt=persistdir=/copa-persist --setopt=reposdir=/target/etc/yum.repos.d');
    // microdnf's tsflags know only nodocs and test.
    expect(toolCommand('microdnf', ROOT)).toBe('microdnf -y --setopt=install_weak_deps=0 --installroot=/target --setopt=cachedir=/copa-cache --setopt=reposdir=/target/etc/yum.repos.d --releasever="$COPA_RELEASEVER"');
    expect(toolCommand('zypper', ROOT)).toBe('zypper --non-interactive --root /target --cache-dir /copa-cache');
    expect(toolCommand('dnf', { ...ROOT, targetRepos: false, releasever: false, noscripts: false })).not.toMatch(/reposdir|releasever|tsflags/);
  });
  it('never disables signature checks, and upgrades (never installs) the named packages', () => {
    for (const t of RPM_TOOLS) {
      for (const s of [toolCommand(t), toolCommand(t, ROOT), refreshScript(t), inImageInstallScript(t, false), toolingInstallScript({ tool: t, opts: ROOT, manifest: false, all: false })]) {
        expect(s).not.toMatch(/nogpgcheck|no-gpg-checks|skipsignature|gpg-auto-import|gpgcheck=0|gpgcheck=False|--nodigest|--nosignature/);
      }
      expect(UPGRADE[t]).toMatch(/\b(upgrade|update)\b/);
      expect(inImageInstallScript(t, false)).toContain(`${UPGRADE[t]} -- "$@"`);
      expect(inImageInstallScript(t, true)).not.toContain('"$@"');
    }
    expect(REFRESH.dnf).toBe('makecache --refresh');
    expect(UPGRADE.zypper).toBe('--no-refresh update --no-recommends');
  });
  it('the refresh step records exit code and log and always succeeds', () => {
    const s = refreshScript('dnf');
    expect(s).toContain('makecache --refresh >/copa-status/update.log 2>&1 || rc=$?');
    expect(s).toContain('echo "$rc" >/copa-status/rc');
    expect(s).not.toContain('set -e');
  });
  it('distroless: rebuild the database (dnf: one signed justdb transaction; tdnf/microdnf: download + rpm --justdb), upgrade, rewrite the manifest, drop the database', () => {
    const dnf = toolingInstallScript({ tool: 'dnf', opts: ROOT, manifest: true, all: false });
    expect(dnf).toContain('--setopt=tsflags=justdb install -- $(cat /copa-in/installed)');
    // The rebuild registers headers only: no noscripts (justdb runs none), and no file is written.
    expect(dnf).toMatch(/--releasever="\$COPA_RELEASEVER" --setopt=tsflags=justdb install/);
    expect(dnf).toContain('rpm --root /target --dbpath "$COPA_DBPATH" --initdb');
    expect(dnf).toContain('sh /copa-in/merge.sh /target/var/lib/rpmmanifest/container-manifest-2 /copa-work/query');
    expect(dnf).toMatch(/for p in .* "\$\{COPA_DBPATH#\/\}"; do/); // the rebuilt database is removed again
    const tdnf = toolingInstallScript({ tool: 'tdnf', opts: ROOT, manifest: true, all: true });
    expect(tdnf).toContain('install --downloadonly --downloaddir=/copa-work/old -- $(cat /copa-in/installed)');
    expect(tdnf).toContain('rpm --root /target --dbpath "$COPA_DBPATH" -i --justdb --nodeps --noscripts --notriggers "$@"');
    expect(tdnf).toMatch(/tsflags=noscripts upgrade$/m);
    expect(toolingInstallScript({ tool: 'microdnf', opts: ROOT, manifest: true, all: false })).toContain('(cd /copa-work/old && microdnf');
    // A database image: keep its database, only a new lock file goes.
    expect(toolingInstallScript({ tool: 'dnf', opts: ROOT, manifest: false, all: false })).toContain('"${COPA_DBPATH#/}/.rpm.lock"');
    expect(queryScript(true)).toContain('rpm --root /target --dbpath "$COPA_DBPATH" -qa');
  });
  it('the scripts are valid sh', () => {
    for (const t of RPM_TOOLS) {
      for (const s of [refreshScript(t), refreshScript(t, ROOT), inImageInstallScript(t, false), toolingInstallScript({ tool: t, opts: ROOT, manifest: true, all: false }), queryScript(false), MANIFEST_MERGE]) {
        execFileSync('sh', ['-n', '-c', s]);
      }
    }
  });
});

describe('manifest merge (real sh, real Mariner manifest)', () => {
  const merge = (query: string) => {
    const d = mkdtempSync(join(tmpdir(), 'copa-rpm-'));
    writeFileSync(join(d, 'm2'), MANIFEST);
    writeFileSync(join(d, 'q'), query);
    return execFileSync('sh', ['-c', MANIFEST_MERGE.replaceAll('/copa-work', d), 'merge', join(d, 'm2'), join(d, 'q')], { encoding: 'utf8' });
  };
  const lines = MANIFEST.trimEnd().split('\n');
  it('keeps unchanged lines as they were (install times included) and puts upgraded ones in their place', () => {
    // What rpm -qa prints after a justdb rebuild + upgrade: new install times for everything.
    const query = lines
      .map((l) => l.split('\t'))
      .map((f) => {
        if (f[0] === 'openssl' || f[0] === 'openssl-libs') return [f[0], '1.1.1k-16.cm2', '1800000000', '1799999999', f[4], f[5], f[6], f[7], f[8], 'openssl-1.1.1k-16.cm2.src.rpm'];
        return [f[0], f[1], '1800000000', ...f.slice(3)];
      })
      .reverse()
      .map((f) => f.join('\t'))
      .join('\n');
    const out = merge(query + '\n').trimEnd().split('\n');
    expect(out).toHaveLength(lines.length);
    lines.forEach((l, i) => {
      if (l.startsWith('openssl')) {
        expect(out[i]).toMatch(/^openssl(-libs)?\t1\.1\.1k-16\.cm2\t1800000000\t1799999999\tMicrosoft Corporation\t\(none\)\t\d+\tx86_64\t0\topenssl-1\.1\.1k-16\.cm2\.src\.rpm$/);
      } else {
        expect(out[i]).toBe(l);
      }
    });
    const v = versionsOf(parseManifest(out.join('\n')));
    expect([v.get('openssl'), v.get('openssl-libs'), v.get('glibc')]).toEqual(['1.1.1k-16.cm2', '1.1.1k-16.cm2', '2.35-2.cm2']);
  });
  it('appends packages new to the image and drops removed ones', () => {
    const query = lines.filter((l) => !l.startsWith('tzdata\t')).join('\n') + '\nnewdep\t1.0-1.cm2\t1\t1\tMicrosoft Corporation\t(none)\t1\tnoarch\t0\tnewdep-1.0-1.cm2.src.rpm\n';
    const out = merge(query).trimEnd().split('\n');
    expect(out.some((l) => l.startsWith('tzdata\t'))).toBe(false);
    expect(out.at(-1)).toMatch(/^newdep\t1\.0-1\.cm2\t/);
    expect(out).toHaveLength(lines.length);
  });
});

describe('refresh judgement', () => {
  const URL = 'http://127.0.0.1:9/copa-testbed/el9/x86_64/repodata/repomd.xml';
  it('dnf: names the repository URL and curl\'s words', () => {
    const log = [
      'Errors during downloading metadata for repository \'copa-testbed\':',
      `  - Curl error (7): Couldn't connect to server for ${URL} [Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server]`,
      "Error: Failed to download metadata for repo 'copa-testbed': Cannot download repomd.xml: Cannot download repodata/repomd.xml: All mirrors were tried",
    ].join('\n');
    const [f, ...rest] = refreshFailures(log, 1, 'dnf');
    expect(rest).toEqual([]);
    expect(f!.url).toBe(URL);
    expect(f!.message).toContain("Curl error (7): Couldn't connect to server");
    expect(f!.message).toContain("Failed to download metadata for repo 'copa-testbed'");
  });
  it('dnf exiting 0 but ignoring a repository is still a failure', () => {
    const log = `Errors during downloading metadata for repository 'x':\n  - Status code: 404 for ${URL} (IP: 127.0.0.1)\nIgnoring repositories: x\nMetadata cache created.\n`;
    expect(refreshFailures(log, 0, 'dnf')[0]!.url).toBe(URL);
  });
  it('yum, microdnf, zypper, tdnf', () => {
    expect(refreshFailures(`${URL}: [Errno 14] curl#7 - "Failed to connect to 127.0.0.1 port 9: Connection refused"\nTrying other mirror.\n`, 1, 'yum')[0]!.url).toBe(URL);
    expect(refreshFailures(`error: cannot update repo 'x': Cannot download repomd.xml: Curl error (7): Couldn't connect to server for ${URL} [x]\n`, 1, 'microdnf')[0]).toMatchObject({ url: URL });
    const z = refreshFailures(`Retrieving repository 'x' metadata [error]\nDownload (curl) error for '${URL}':\nError code: Connection failed\nError message: Failed to connect to 127.0.0.1 port 9: Connection refused\n`, 4, 'zypper');
    expect(z[0]!.url).toBe(URL);
    expect(z[0]!.message).toContain('Connection refused');
    expect(refreshFailures('curl#7: Couldn\'t connect to server\nError(1622) : ...\n', 1, 'tdnf')[0]).toMatchObject({ url: '' });
  });
  it('a clean refresh passes; a failure without words still says the exit code; control characters are escaped', () => {
    expect(refreshFailures('copa-testbed 1.2 MB/s | 3 kB\nMetadata cache created.\n', 0, 'dnf')).toEqual([]);
    expect(refreshFailures('', 137, 'dnf')).toEqual([{ url: '', message: 'dnf exited with code 137' }]);
    expect(refreshFailures(`Error: bad\x1b[2J ${URL} x\n`, 1, 'dnf')[0]!.message).not.toContain('\x1b');
  });
});
