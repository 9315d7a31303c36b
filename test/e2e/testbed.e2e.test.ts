// Proves the test bed itself: BuildKit on both addresses, the registry's five
// images, the Docker engine with the containerd image store, and the apt probe.
import { describe, expect, it } from 'vitest';
import {
  dockerCli,
  dpkgVersions,
  fetchConfig,
  listLayers,
  readFileFromImage,
  readLayerFiles,
  registryRef,
  runBuildctl,
  testbed,
  TESTBED_IMAGES,
  upgradableFromSecurity,
} from '../env/testbed.js';

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

describe('test bed', () => {
  it('buildkitd answers on unix and tcp', async () => {
    const tb = testbed();
    for (const addr of [tb.buildkitAddr, tb.buildkitTcpAddr]) {
      const res = await runBuildctl(['debug', 'workers'], { addr });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/^ID\s+PLATFORMS/m);
      expect(res.stdout).toContain('linux/amd64');
    }
    const v = await runBuildctl(['--version']);
    expect(v.stdout).toContain(tb.versions.buildkit);
  });

  it('the registry has the five images with honest configs', async () => {
    for (const name of TESTBED_IMAGES) {
      expect(testbed().images[name]).toBe(registryRef(name));
      const cfg = await fetchConfig(registryRef(name));
      expect(cfg.architecture).toBe('amd64');
      expect(cfg.os).toBe('linux');
      expect(cfg.config.Env).toContain(PATH_ENV);
      const layers = await listLayers(registryRef(name));
      expect(layers).toHaveLength(1);
      expect(layers[0]!.mediaType).toMatch(/tar\+gzip$/);
      expect(cfg.rootfs.diff_ids).toHaveLength(1);
      expect(cfg.history?.filter((h) => !h.empty_layer)).toHaveLength(1);
    }
    expect((await fetchConfig(registryRef('debian:12-slim'))).config.Cmd).toEqual(['bash']);

    const nonroot = (await fetchConfig(registryRef('debian:12-nonroot'))).config;
    expect(nonroot.User).toBe('nobody');
    expect(nonroot.WorkingDir).toBe('/srv');
    expect(nonroot.Entrypoint).toEqual(['/usr/bin/env']);
    expect(nonroot.Cmd).toEqual(['cat', '/etc/debian_version']);
    expect(nonroot.Labels).toMatchObject({ 'org.example.keep': 'yes' });
    expect(nonroot.Env).toContain('COPA_TESTBED=1');
    // Same layer as 12-pointrelease, with /srv present.
    expect(await listLayers(registryRef('debian:12-nonroot'))).toEqual(await listLayers(registryRef('debian:12-pointrelease')));
    const files = await readLayerFiles(registryRef('debian:12-nonroot'), 0);
    expect(files.get('srv')?.type).toBe('dir');

    const osr12 = (await readFileFromImage(registryRef('debian:12-pointrelease'), '/etc/os-release')).toString();
    expect(osr12).toContain('VERSION_CODENAME=bookworm');
    const osr13 = (await readFileFromImage(registryRef('debian:13-pointrelease'), '/etc/os-release')).toString();
    expect(osr13).toContain('VERSION_CODENAME=trixie');
    const sources = (await readFileFromImage(registryRef('debian:12-pointrelease'), '/etc/apt/sources.list')).toString();
    expect(sources).toContain('bookworm-security');
    expect(sources).toContain('bookworm-updates');
    // apt lists cleaned out, as in Docker Hub's images
    const fs12 = await readLayerFiles(registryRef('debian:12-slim'), 0);
    expect([...fs12.keys()].filter((p) => p.startsWith('var/lib/apt/lists/') && fs12.get(p)!.type === 'file')).toEqual([]);
  });

  it('the distroless image has status.d and no dpkg, apt or shell', async () => {
    const ref = registryRef('debian:12-distroless');
    const files = await readLayerFiles(ref, 0);
    for (const pkg of ['base-files', 'netbase', 'tzdata', 'libc6', 'liblzma5', 'libpcre2-8-0']) {
      expect(files.get(`var/lib/dpkg/status.d/${pkg}`)?.type, pkg).toBe('file');
      expect(files.get(`var/lib/dpkg/status.d/${pkg}.md5sums`)?.type, `${pkg}.md5sums`).toBe('file');
    }
    for (const p of ['usr/bin/dpkg', 'bin/dpkg', 'usr/bin/apt', 'usr/bin/apt-get', 'bin/sh', 'usr/bin/sh', 'bin/bash', 'usr/bin/bash', 'var/lib/dpkg/status']) {
      expect(files.has(p), p).toBe(false);
    }
    expect((await readFileFromImage(ref, '/etc/os-release')).toString()).toContain('bookworm');
    await expect(readFileFromImage(ref, '/usr/bin/dpkg')).rejects.toThrow(/no \/usr\/bin\/dpkg/);
    const versions = await dpkgVersions(ref);
    expect(versions.get('libc6')).toMatch(/^2\.36-/);
    expect(versions.has('liblzma5')).toBe(true);

    const full = await dpkgVersions(registryRef('debian:12-pointrelease'));
    expect(full.get('apt')).toBeDefined();
    expect(full.get('libc6')).toMatch(/^2\.36-/);
  });

  it('the Docker engine is 26.x with the containerd image store and pulls from the registry', async () => {
    const v = await dockerCli(['version', '--format', '{{.Server.Version}}']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toMatch(/^26\./);
    const info = await dockerCli(['info', '--format', '{{json .DriverStatus}}']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain('io.containerd.snapshotter.v1');

    const ref = registryRef('debian:12-pointrelease');
    const r = await dockerCli(['run', '--rm', '--network', 'host', '--pull', 'always', ref, 'cat', '/etc/debian_version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^12\.\d+$/);

    const bx = await dockerCli(['buildx', 'version']);
    expect(bx.code, bx.stderr).toBe(0);
    expect(bx.stdout).toContain(testbed().versions.buildx);
  });

  it('apt inside BuildKit finds upgrades for the unpatched point release', async () => {
    const up = await upgradableFromSecurity(registryRef('debian:12-pointrelease'));
    expect(up.length).toBeGreaterThan(0);
    const names = up.map((p) => p.name);
    expect(names.some((n) => n === 'liblzma5' || n === 'tzdata'), names.join(' ')).toBe(true);
    const installed = await dpkgVersions(registryRef('debian:12-pointrelease'));
    for (const p of up) {
      expect(installed.get(p.name), p.name).toBe(p.installed);
      expect(p.version).not.toBe(p.installed);
    }
  });
});
