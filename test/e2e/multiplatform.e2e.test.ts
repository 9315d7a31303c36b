// Multi-platform, end to end: the bed's debian:12-multi index (linux/amd64 and
// linux/386; i386 runs natively on x86-64, no QEMU) patched with no report
// (update everything) by the gateway frontend and by the docker plugin, then
// each platform of the pushed index inspected like a user would: amd64 gets one
// patch layer, i386 (nothing to upgrade) comes back unchanged in the same index.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  registryRef, runBuildctl, testbed, fetchRawManifest, fetchConfig, listLayers, dpkgVersions, upgradableFromSecurity,
  type Platform,
} from '../env/testbed.js';
import { frontendImage } from './support/frontend-image.js';
import { dockerCopa } from './support/plugin.js';
import { expectFixed } from './support/assert.js';
import type { Finding } from './support/reports.js';

const MULTI = () => registryRef('debian:12-multi');
const PLATFORMS: { name: string; platform: Platform }[] = [
  { name: 'linux/amd64', platform: { architecture: 'amd64' } },
  { name: 'linux/386', platform: { architecture: '386' } },
];
/** What apt would upgrade in the unpatched image, per platform architecture. */
const upgradable = new Map<string, Finding[]>();

beforeAll(async () => {
  for (const { platform } of PLATFORMS) {
    const installed = await dpkgVersions(MULTI(), platform);
    const probe = await upgradableFromSecurity(MULTI(), platform);
    upgradable.set(platform.architecture, probe.map((u) => ({ name: u.name, installed: installed.get(u.name)!, fixed: u.version })));
  }
  // The amd64 half lists the security suite and has fixes to apply; the i386 half does not
  // (see testbed.sh), so one platform is patched and the other must come back unchanged.
  expect(upgradable.get('amd64')!.length).toBeGreaterThan(0);
});

async function expectPatchedIndex(target: string): Promise<void> {
  const raw = await fetchRawManifest(target);
  expect('manifests' in raw, `${target} is not an index`).toBe(true);
  const platforms = ('manifests' in raw ? raw.manifests : []).map((d) => `${d.platform?.os}/${d.platform?.architecture}`);
  expect(platforms.sort()).toEqual(PLATFORMS.map((p) => p.name).sort());
  for (const { name, platform } of PLATFORMS) {
    const base = await listLayers(MULTI(), platform);
    const patched = await listLayers(target, platform);
    const fixes = upgradable.get(platform.architecture)!;
    expect(patched.length, name).toBe(base.length + (fixes.length ? 1 : 0));
    expect(patched.slice(0, base.length).map((l) => l.digest), name).toEqual(base.map((l) => l.digest));
    expectFixed(await dpkgVersions(target, platform), fixes);
    expect((await fetchConfig(target, platform)).architecture, name).toBe(platform.architecture);
  }
}

describe('multi-platform debian:12-multi (linux/amd64 + linux/386)', () => {
  it('the frontend patches both platforms into one pushed index', async () => {
    const fe = await frontendImage();
    const target = registryRef('patched:multi');
    const r = await runBuildctl([
      'build', '--progress=plain', '--frontend', 'gateway.v0', '--opt', `source=${fe}`, '--opt', `image=${MULTI()}`,
      '--opt', 'platform=linux/amd64,linux/386',
      '--output', `type=image,name=${target},push=true,registry.insecure=true`,
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectPatchedIndex(target);
  });

  it('docker copa patch --platform linux/amd64,linux/386 --push pushes a patched index', async () => {
    const r = await dockerCopa([
      'patch', '-i', MULTI(), '--platform', 'linux/amd64,linux/386', '-t', '12-multi-patched', '--push',
      '--addr', testbed().buildkitAddr, '--progress', 'plain',
    ]);
    expect(r.code, r.stderr).toBe(0);
    await expectPatchedIndex(registryRef('debian:12-multi-patched'));
  });
});
