// Proves the test bed itself: BuildKit on both addresses, the registry's five
// images, the Docker engine with the containerd image store, and the apt probe.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, linkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyLayers,
  dockerCli,
  fileExistsInImage,
  parseTar,
  type TarEntry,
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

describe('test bed helpers', () => {
  it('parse GNU and PAX tars with long names, links and modes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'copa-tar-'));
    try {
      const root = join(dir, 'root');
      const deep = join(root, 'a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60));
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(deep, 'file.txt'), 'hello');
      symlinkSync(`../../${'x'.repeat(120)}/target`, join(root, 'long-link'));
      linkSync(join(deep, 'file.txt'), join(root, 'hard'));
      execFileSync('chmod', ['4755', join(deep, 'file.txt')]);
      for (const format of ['gnu', 'pax']) {
        const tar = execFileSync('tar', ['-C', root, `--format=${format}`, '-cf', '-', '.']);
        const files = new Map(parseTar(tar).map((e) => [e.path, e.entry]));
        const long = `${'a'.repeat(60)}/${'b'.repeat(60)}/${'c'.repeat(60)}/file.txt`;
        // tar stores whichever name it meets first as the file, the other as a hard link
        const pair = [files.get(long), files.get('hard')];
        const f = pair.find((e) => e?.type === 'file');
        const h = pair.find((e) => e?.type === 'hardlink');
        expect(f?.content?.toString(), format).toBe('hello');
        expect(f?.mode, format).toBe(0o4755);
        expect([long, 'hard'], format).toContain(h?.linkname);
        expect(files.get('long-link'), format).toMatchObject({ type: 'symlink', linkname: `../../${'x'.repeat(120)}/target` });
        expect(files.get(''), format).toMatchObject({ type: 'dir' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('apply whiteouts and opaque directories across layers', () => {
    const file = (c: string): TarEntry => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, content: Buffer.from(c) });
    const dir: TarEntry = { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 };
    const fs = applyLayers([
      [
        { path: 'etc', entry: dir }, { path: 'etc/a', entry: file('a') }, { path: 'etc/b', entry: file('b') },
        { path: 'opt', entry: dir }, { path: 'opt/x', entry: file('x') }, { path: 'opt/sub', entry: dir }, { path: 'opt/sub/y', entry: file('y') },
        { path: 'var', entry: dir }, { path: 'var/z', entry: file('z') },
      ],
      [
        { path: 'etc/.wh.a', entry: file('') },
        { path: 'opt/.wh..wh..opq', entry: file('') }, { path: 'opt/new', entry: file('new') },
        { path: 'var', entry: file('now a file') },
      ],
    ]);
    expect([...fs.keys()].sort()).toEqual(['etc', 'etc/b', 'opt', 'opt/new', 'var']);
    expect(fs.get('var')?.content?.toString()).toBe('now a file');
  });

  it('read a BuildKit-built layer with deletions the way an image is unpacked', async () => {
    const base = registryRef('debian:12-pointrelease');
    const ref = registryRef('testbed-selftest:whiteouts');
    const dir = mkdtempSync(join(tmpdir(), 'copa-wh-'));
    try {
      writeFileSync(
        join(dir, 'Dockerfile'),
        `FROM ${base}\nRUN rm -rf /usr/share/doc/apt && rm -rf /usr/share/doc/dpkg && mkdir /usr/share/doc/dpkg && echo new >/usr/share/doc/dpkg/NEW && echo hi >/srv/hello\n`,
      );
      const r = await runBuildctl([
        'build', '--frontend', 'dockerfile.v0', '--local', `context=${dir}`, '--local', `dockerfile=${dir}`,
        '--output', `type=image,name=${ref},push=true,registry.insecure=true`,
      ]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const top = await readLayerFiles(ref, -1);
    expect(top.has('usr/share/doc/.wh.apt')).toBe(true);
    expect(await fileExistsInImage(base, '/usr/share/doc/apt/copyright')).toBe(true);
    expect(await fileExistsInImage(ref, '/usr/share/doc/apt/copyright')).toBe(false);
    expect(await fileExistsInImage(ref, '/usr/share/doc/dpkg/copyright')).toBe(false);
    expect((await readFileFromImage(ref, '/usr/share/doc/dpkg/NEW')).toString()).toBe('new\n');
    expect((await readFileFromImage(ref, '/srv/hello')).toString()).toBe('hi\n');
    // merged /usr: /bin is a symlink to usr/bin in bookworm
    expect(await fileExistsInImage(ref, '/bin/bash')).toBe(true);
  });
});
