// Ways a patch used to publish a wrong image with exit 0, proven on the real bed: a platform
// the image does not have, a report of another platform, an image that merely carries the
// re-patch label (built FROM a patched base, or labelled by hand), package sources that
// cannot be reached, and an empty report= option. Derived images are built on the bed with
// BuildKit's own Dockerfile frontend.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fetchConfig, fetchRawManifest, imageFilesystem, listLayers, normPath, parseControl, readFileFromImage, readLayerFiles, registryRef, testbed, dpkgVersions, upgradableFromSecurity } from '../env/testbed.js';
import { frontendImage } from './support/frontend-image.js';
import { gatewayPatch } from './support/gateway.js';
import { reportDir, trivyReport, type Finding } from './support/reports.js';
import { dockerCopa } from './support/plugin.js';
import { buildImage } from './support/images.js';

const POINT = () => registryRef('debian:12-pointrelease');
let frontend: string;
let upgradable: Finding[];
let debianVersion: string;
let seq = 0;

function frontendPatch(image: string, o: { report?: object; opts?: Record<string, string> } = {}) {
  return gatewayPatch(frontend, image, registryRef(`safety:f${Date.now()}-${seq++}`), o);
}

async function registryHas(ref: string): Promise<boolean> {
  try {
    await fetchRawManifest(ref);
    return true;
  } catch {
    return false;
  }
}

async function digestOf(ref: string): Promise<string> {
  const { registry } = testbed();
  const [repo, tag] = ref.slice(registry.length + 1).split(':');
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json' } });
  return res.headers.get('docker-content-digest')!;
}

beforeAll(async () => {
  frontend = await frontendImage();
  const installed = await dpkgVersions(POINT());
  upgradable = (await upgradableFromSecurity(POINT())).map((u) => ({ name: u.name, installed: installed.get(u.name)!, fixed: u.version }));
  debianVersion = (await readFileFromImage(POINT(), '/etc/debian_version')).toString().trim();
  expect(upgradable.length).toBeGreaterThan(0);
});

describe('platforms', () => {
  it('the frontend refuses a platform an amd64-only image does not have, naming its platforms', async () => {
    const r = await frontendPatch(POINT(), { opts: { platform: 'linux/arm64' } });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('has no linux/arm64 image; its platforms: linux/amd64');
    expect(await registryHas(r.target)).toBe(false);
  });

  it('docker copa --platform linux/s390x on an amd64-only image fails and pushes nothing', async () => {
    const r = await dockerCopa(['patch', '-i', POINT(), '--platform', 'linux/s390x', '-t', 'safety-s390x', '--push', '--addr', testbed().buildkitAddr, '--progress', 'plain']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('has no linux/s390x image; its platforms: linux/amd64');
    expect(await registryHas(registryRef('debian:safety-s390x'))).toBe(false);
  });

  it('a report scanned from arm64 is refused for the amd64 image (plugin and frontend)', async () => {
    const report = { ...(trivyReport({ family: 'debian', name: debianVersion }, upgradable) as Record<string, unknown>) };
    report.Metadata = { ...(report.Metadata as object), ImageConfig: { architecture: 'arm64', os: 'linux' } };
    const f = await frontendPatch(POINT(), { report, opts: { platform: 'linux/amd64' } });
    expect(f.code).not.toBe(0);
    expect(f.out).toContain('was scanned from a linux/arm64 image');
    const file = join(reportDir(report), 'report.json');
    const p = await dockerCopa(['patch', '-i', POINT(), '-r', file, '-t', 'safety-arm64', '--push', '--addr', testbed().buildkitAddr, '--progress', 'plain']);
    expect(p.code).toBe(1);
    // No --platform: the report's own platform is what is asked for, which the image lacks.
    expect(p.stderr).toContain('has no linux/arm64 image; its platforms: linux/amd64');
    expect(await registryHas(registryRef('debian:safety-arm64'))).toBe(false);
  });
});

describe('the re-patch label is proven, never trusted', () => {
  it('an image built FROM a patched base keeps its own layers, files and config and gets one layer on top', async () => {
    // A real copa output first, then an image built FROM it (it inherits the label).
    const first = await frontendPatch(POINT(), { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable.slice(0, 1)) });
    expect(first.code, first.out).toBe(0);
    const derived = await buildImage(
      'from-patched',
      `FROM ${first.target}\nRUN echo built-on-top > /etc/from-derived\nUSER nobody\nENTRYPOINT ["/bin/cat"]\nCMD ["/etc/from-derived"]\n`,
    );
    const derivedLayers = await listLayers(derived);
    expect((await fetchConfig(derived)).config.Labels['sh.copa.image.base']).toBeTruthy();
    const r = await frontendPatch(derived, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable) });
    expect(r.code, r.out).toBe(0);
    const layers = await listLayers(r.target);
    expect(layers.length).toBe(derivedLayers.length + 1);
    expect(layers.slice(0, -1).map((l) => l.digest)).toEqual(derivedLayers.map((l) => l.digest));
    expect((await readFileFromImage(r.target, '/etc/from-derived')).toString()).toBe('built-on-top\n');
    const cfg = await fetchConfig(r.target);
    expect(cfg.config.User).toBe('nobody');
    expect(cfg.config.Entrypoint).toEqual(['/bin/cat']);
    expect(cfg.config.Labels['sh.copa.image.base']).toBe(`${registryRef('safety-input').replace(/:[^:/]*$/, '')}@${await digestOf(derived)}`);
  });

  it('a label set by hand naming another image is not followed', async () => {
    const slim = registryRef('debian:12-slim');
    const pinned = `${slim.replace(/:[^:/]*$/, '')}@${await digestOf(slim)}`;
    const labelled = await buildImage('hand-labelled', `FROM ${POINT()}\nRUN echo mine > /etc/hand-labelled\nLABEL sh.copa.image.base=${pinned}\n`);
    const r = await frontendPatch(labelled, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable) });
    expect(r.code, r.out).toBe(0);
    expect((await readFileFromImage(r.target, '/etc/hand-labelled')).toString()).toBe('mine\n');
    expect((await listLayers(r.target)).length).toBe((await listLayers(labelled)).length + 1);
  });
});

describe('package sources that cannot be reached', () => {
  it('update-all, report mode and ignore-errors all fail naming the source and apt\'s message', async () => {
    const dead = await buildImage('dead-mirror', `FROM ${POINT()}\nRUN echo 'deb http://127.0.0.1:9/debian bookworm main' > /etc/apt/sources.list\n`);
    const runs = [
      await frontendPatch(dead),
      await frontendPatch(dead, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable) }),
      await frontendPatch(dead, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable), opts: { 'ignore-errors': 'true' } }),
    ];
    for (const r of runs) {
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toMatch(/could not fetch the package lists from http:\/\/127\.0\.0\.1:9\/debian\/dists\/bookworm\/InRelease: .*(Could not connect|Connection refused|Failed)/);
      expect(r.out).not.toContain('already up to date');
      expect(await registryHas(r.target)).toBe(false);
    }
    const p = await dockerCopa(['patch', '-i', dead, '-t', 'dead-patched', '--push', '--addr', testbed().buildkitAddr, '--progress', 'plain']);
    expect(p.code).toBe(1);
    expect(p.stderr).toContain('could not fetch the package lists from http://127.0.0.1:9/debian');
  });
});

describe('what apt leaves in the patch layer', () => {
  // The layer must hold only what the upgrade changed; dpkg keeps an edited conffile, so that
  // file must stay out of it.
  it('an edited conffile stays edited and out of the layer, and no layer entry repeats the original file', async () => {
    const status = parseControl((await readFileFromImage(POINT(), '/var/lib/dpkg/status')).toString());
    const names = new Set(upgradable.map((u) => u.name));
    const owner = status.find((p) => names.has(p.Package!) && /^\/\S+ [0-9a-f]{32}$/m.test(p.Conffiles ?? ''));
    expect(owner, 'an upgradable package that owns a conffile').toBeTruthy();
    const conffile = /^(\/\S+) [0-9a-f]{32}$/m.exec(owner!.Conffiles!)![1]!;
    const edited = await buildImage('edited-conffile', `FROM ${POINT()}\nRUN echo '# edited by the site' >> ${conffile}\n`);
    const before = await imageFilesystem(edited);

    const r = await frontendPatch(edited, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable) });
    expect(r.code, r.out).toBe(0);
    const versions = await dpkgVersions(r.target);
    for (const u of upgradable) expect(versions.get(u.name), u.name).toBe(u.fixed);
    expect((await readFileFromImage(r.target, conffile)).toString()).toMatch(/# edited by the site\n$/);

    const layer = await readLayerFiles(r.target, -1);
    expect(layer.has(normPath(conffile)), `${conffile} in the patch layer`).toBe(false);
    const unchanged = [...layer]
      .filter(([path, e]) => {
        const b = before.get(path);
        return e.type === 'file' && b?.type === 'file' && b.mode === e.mode && b.uid === e.uid && b.gid === e.gid && b.mtime === e.mtime && b.content!.equals(e.content!);
      })
      .map(([path]) => path);
    expect(unchanged).toEqual([]);
    expect([...layer.keys()].filter((p) => p.startsWith('var/cache/apt/') || p.includes('.dpkg-'))).toEqual([]);
  });
});

describe('options', () => {
  it('an empty report= option is an error, not "update everything"', async () => {
    const r = await frontendPatch(POINT(), { opts: { report: '' } });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('option report is empty');
    expect(await registryHas(r.target)).toBe(false);
  });
});
