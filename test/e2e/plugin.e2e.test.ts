// `docker copa patch` end to end: the real docker CLI runs our bundled plugin, which
// talks to the test bed's BuildKit and loads, pushes or writes the patched image.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testbed, registryRef, dpkgVersions, upgradableFromSecurity, readFileFromImage, listLayers, fetchRawManifest, run } from '../env/testbed.js';
import { reportDir, trivyReport, type Finding } from './support/reports.js';
import { docker, dockerCopa, dpkgInContainer, installPlugin, pluginBinary } from './support/plugin.js';
import { expectFixed } from './support/assert.js';

const POINT = () => registryRef('debian:12-pointrelease');
let findings: Finding[];
let report: string;


beforeAll(async () => {
  expect(existsSync(pluginBinary), 'npm run build makes build/docker-copa').toBe(true);
  installPlugin();
  const installed = await dpkgVersions(POINT());
  findings = (await upgradableFromSecurity(POINT())).map((u) => ({ name: u.name, installed: installed.get(u.name)!, fixed: u.version }));
  const version = (await readFileFromImage(POINT(), '/etc/debian_version')).toString().trim();
  report = join(reportDir(trivyReport({ family: 'debian', name: version }, findings)), 'report.json');
});

describe('docker copa as a docker CLI plugin', () => {
  it('is listed by docker --help and answers --version', async () => {
    const help = await docker(['--help']);
    expect(help.stdout).toMatch(/copa\*?\s+Patch OS-package vulnerabilities/);
    const v = await dockerCopa(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/\d+\.\d+\.\d+/);
  });

  it('patches into the Docker engine; docker run shows the fixed versions', async () => {
    const r = await dockerCopa(['patch', '-i', POINT(), '-r', report, '-t', '12-patched', '--addr', testbed().buildkitAddr, '--progress', 'plain']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/patched/);
    expectFixed(await dpkgInContainer(registryRef('debian:12-patched')), findings);
  });

  it('pushes with --push and writes an OpenVEX document naming the fixed CVEs and the digest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'copa-vex-'));
    const vex = join(dir, 'vex.json');
    const r = await dockerCopa(['patch', '-i', POINT(), '-r', report, '-t', '12-pushed', '--push', '-o', vex, '--addr', testbed().buildkitTcpAddr, '--progress', 'plain']);
    expect(r.code, r.stderr).toBe(0);
    const target = registryRef('debian:12-pushed');
    expectFixed(await dpkgVersions(target), findings);
    const layers = await listLayers(target);
    expect(layers.length).toBe((await listLayers(POINT())).length + 1);
    // a pushed patch layer is gzip like the rest, even after a local (uncompressed) export of
    // the same result (the test before this one loads it), and the original layers are the
    // original's blobs, not recompressed copies
    expect(layers.at(-1)!.mediaType).toMatch(/tar\+gzip$|tar\.gzip$/);
    expect(layers.slice(0, -1).map((l) => l.digest)).toEqual((await listLayers(POINT())).map((l) => l.digest));
    const doc = JSON.parse(readFileSync(vex, 'utf8'));
    expect(doc['@context']).toMatch(/openvex/);
    const ids = doc.statements.map((s: any) => s.vulnerability.name ?? s.vulnerability['@id']);
    for (let i = 0; i < findings.length; i++) expect(ids).toContain(`CVE-2099-${1000 + i}`);
    const manifestDigest = (await run('curl', ['-sI', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json', `http://${testbed().registry}/v2/debian/manifests/12-pushed`])).stdout.match(/docker-content-digest:\s*(\S+)/i)?.[1];
    expect(manifestDigest).toMatch(/^sha256:/);
    expect(decodeURIComponent(JSON.stringify(doc.statements[0].products))).toContain(manifestDigest!);
  });

  it('writes an OCI layout with --oci-dir', async () => {
    const dest = join(mkdtempSync(join(tmpdir(), 'copa-oci-')), 'layout');
    const r = await dockerCopa(['patch', '-i', POINT(), '-r', report, '-t', '12-oci', '--oci-dir', dest, '--addr', testbed().buildkitAddr, '--progress', 'quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dest, 'oci-layout'), 'utf8')).imageLayoutVersion).toBe('1.0.0');
    const index = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8'));
    expect(index.manifests.length).toBeGreaterThan(0);
  });

  it('a repeat patch keeps the package lists: it re-checks the release files only and reuses the install step', async () => {
    const patch = (tag: string) => dockerCopa(['patch', '-i', POINT(), '-r', report, '-t', tag, '--push', '--addr', testbed().buildkitAddr, '--progress', 'plain']);
    const first = await patch('12-repeat-1');
    expect(first.code, first.stderr).toBe(0);
    const again = await patch('12-repeat-2');
    expect(again.code, again.stderr).toBe(0);
    const refresh = again.stderr.split('\n').filter((l) => /^#\d+ \d/.test(l) && /InRelease|Packages/.test(l));
    expect(refresh.join('\n')).toMatch(/bookworm InRelease/); // the refresh did run
    // bookworm's main index (~9 MB) only changes at a point release: it came from the lists cache
    expect(refresh.join('\n')).not.toMatch(/bookworm\/main amd64 Packages/);
    expect(again.stderr).toMatch(/copa: apt-get install --only-upgrade[^\n]*\n#\d+ CACHED/);
    expectFixed(await dpkgVersions(registryRef('debian:12-repeat-2')), findings);
  });

  it('exits 0 and says so when there is nothing to update', async () => {
    const r = await dockerCopa(['patch', '-i', registryRef('debian:12-slim'), '-t', '12-slim-patched', '--addr', testbed().buildkitAddr, '--progress', 'plain']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/already up to date/);
  });
});

describe('--frontend-image', () => {
  it('runs the same engine as the gateway frontend inside BuildKit', async () => {
    const { frontendImage } = await import('./support/frontend-image.js');
    const fe = await frontendImage();
    const r = await dockerCopa(['patch', '-i', POINT(), '-r', report, '-t', '12-via-frontend', '--push', '--frontend-image', fe, '--addr', testbed().buildkitAddr, '--progress', 'plain']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/copa: summary/);
    const target = registryRef('debian:12-via-frontend');
    expectFixed(await dpkgVersions(target), findings);
    expect((await listLayers(target)).length).toBe((await listLayers(POINT())).length + 1);
  });
});

describe('addresses', () => {
  it('docker:// uses the Docker engine (containerd store) and its own BuildKit', async () => {
    // The bed's engine has no bridge network (it must not touch the host's), so downloads use the host network.
    const r = await dockerCopa(['patch', '-i', POINT(), '-r', report, '-t', '12-via-docker', '--network', 'host', '--addr', `docker://${testbed().dockerHost}`, '--progress', 'plain']);
    expect(r.code, r.stderr).toBe(0);
    expectFixed(await dpkgInContainer(registryRef('debian:12-via-docker')), findings);
  });

  it('buildx:// uses the test bed builder', async () => {
    const r = await dockerCopa(['patch', '-i', POINT(), '-r', report, '-t', '12-via-buildx', '--push', '--addr', `buildx://${testbed().buildxBuilder}`, '--progress', 'plain']);
    expect(r.code, r.stderr).toBe(0);
    expectFixed(await dpkgVersions(registryRef('debian:12-via-buildx')), findings);
  });

  // docker-container:// is not run here: the test bed's Docker engine runs chrooted in a private
  // mount namespace, and `docker exec` there lands in the host's mount namespace instead of the
  // container's, so `buildctl dial-stdio` cannot be reached inside a container. The dialer's
  // command line and stream handling are covered by test/unit/plugin-address.test.ts.
});

describe('errors', () => {
  it('a wrong address, an unknown image and a bad report each get one clear message and exit 1', async () => {
    const noBk = await dockerCopa(['patch', '-i', POINT(), '-r', report, '--addr', 'unix:///nonexistent/buildkitd.sock']);
    expect(noBk.code).toBe(1);
    expect(noBk.stderr).toMatch(/cannot reach BuildKit/);

    const unknown = await dockerCopa(['patch', '-i', registryRef('debian:no-such-tag'), '-r', report, '--addr', testbed().buildkitAddr, '--progress', 'quiet']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no-such-tag/);

    const bad = join(mkdtempSync(join(tmpdir(), 'copa-bad-')), 'r.json');
    writeFileSync(bad, JSON.stringify(trivyReport({ family: 'debian', name: '12.0' }, [{ name: '$(reboot)', installed: '1', fixed: '2' }])));
    const hostile = await dockerCopa(['patch', '-i', POINT(), '-r', bad, '--addr', testbed().buildkitAddr]);
    expect(hostile.code).toBe(1);
    expect(hostile.stderr).toMatch(/report invalid/);
    expect(hostile.stderr).toMatch(/\$\(reboot\)/);
  });

  it('honours EXPERIMENTAL_BUILDKIT_SOURCE_POLICY to use a local tooling image', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'copa-policy-'));
    const policy = join(dir, 'policy.json');
    writeFileSync(policy, JSON.stringify({ rules: [{ action: 'CONVERT', selector: { identifier: 'docker-image://docker.io/library/debian:12-slim' }, updates: { identifier: `docker-image://${registryRef('debian:12-slim')}` } }] }));
    const image = registryRef('debian:12-distroless');
    const installed = await dpkgVersions(image);
    const version = (await readFileFromImage(POINT(), '/etc/debian_version')).toString().trim();
    const list = findings.filter((f) => installed.has(f.name)).map((f) => ({ ...f, installed: installed.get(f.name)! }));
    const rep = join(reportDir(trivyReport({ family: 'debian', name: version }, list)), 'report.json');
    const r = await dockerCopa(['patch', '-i', image, '-r', rep, '-t', '12-distroless-patched', '--push', '--addr', testbed().buildkitAddr, '--progress', 'plain'], {
      EXPERIMENTAL_BUILDKIT_SOURCE_POLICY: policy,
    });
    expect(r.code, r.stderr).toBe(0);
    expectFixed(await dpkgVersions(registryRef('debian:12-distroless-patched')), list);
  });

  it('leaves no tag behind when BuildKit dies mid-patch', async () => {
    const t = testbed();
    const root = mkdtempSync(join(tmpdir(), 'copa-bk-kill-'));
    const sock = join(root, 'bk.sock');
    const cfg = join(root, 'buildkitd.toml');
    writeFileSync(cfg, `[registry."${t.registry}"]\n  http = true\n  insecure = true\n`);
    const { spawn } = await import('node:child_process');
    // A private mount namespace: the mounts of a SIGKILLed buildkitd vanish with it.
    const bk = spawn('unshare', ['-m', '--propagation', 'private', t.buildkitd, '--config', cfg, '--root', join(root, 'state'), '--addr', `unix://${sock}`, '--oci-worker-net=host', '--containerd-worker=false'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
      const tag = `killed-${Date.now()}`;
      const child = spawn(t.docker, ['copa', 'patch', '-i', POINT(), '-r', report, '-t', tag, '--addr', `unix://${sock}`, '--progress', 'plain'], {
        env: { ...process.env, DOCKER_HOST: t.dockerHost, DOCKER_CONFIG: t.dockerConfig },
      });
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
        if (/apt-get|refresh package lists/.test(err) && bk.exitCode === null) bk.kill('SIGKILL');
      });
      const code: number = await new Promise((r) => child.on('close', (c) => r(c ?? 1)));
      expect(code).toBe(1);
      const inspect = await docker(['image', 'inspect', registryRef(`debian:${tag}`)]);
      expect(inspect.code).not.toBe(0);
    } finally {
      bk.kill('SIGKILL');
      await new Promise((r) => (bk.exitCode !== null || bk.signalCode !== null ? r(null) : bk.once('exit', r)));
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('tty progress', () => {
  it('draws the live view in a real terminal (tmux)', async () => {
    const t = testbed();
    const session = `copa-tty-${Date.now()}`;
    const out = join(mkdtempSync(join(tmpdir(), 'copa-tty-')), 'screen.txt');
    const cmd = [
      `DOCKER_HOST=${t.dockerHost}`, `DOCKER_CONFIG=${t.dockerConfig}`,
      t.docker, 'copa', 'patch', '-i', POINT(), '-r', report, '-t', '12-tty', '--push', '--addr', t.buildkitAddr, '--progress', 'tty',
      '; echo COPA_EXIT=$?; sleep 30',
    ].join(' ');
    expect((await run('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '40', cmd])).code).toBe(0);
    try {
      const screens: string[] = [];
      for (let i = 0; i < 600; i++) {
        const cap = await run('tmux', ['capture-pane', '-p', '-t', session]);
        screens.push(cap.stdout);
        if (/COPA_EXIT=\d+/.test(cap.stdout)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      writeFileSync(out, screens.join('\n=====\n'));
      const last = screens.at(-1)!;
      expect(last, `screens in ${out}`).toMatch(/COPA_EXIT=0/);
      // While running, the live view showed a header with a timer and step count.
      expect(screens.some((s) => /\[\+\] Patching \d+\.\d+s \(\d+\/\d+\)/.test(s)), `screens in ${out}`).toBe(true);
      expect(last).toMatch(/patched/);
    } finally {
      await run('tmux', ['kill-session', '-t', session]);
    }
  });
});
