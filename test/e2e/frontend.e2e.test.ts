// The gateway frontend, end to end: BuildKit runs our frontend image, which patches a
// real Debian image from a real mirror; we then inspect the pushed result like a user.
import { beforeAll, describe, expect, it } from 'vitest';
import { registryRef, listLayers, fetchConfig, dpkgVersions, upgradableFromSecurity, readFileFromImage } from '../env/testbed.js';
import { frontendImage } from './support/frontend-image.js';
import { gatewayPatch } from './support/gateway.js';
import { trivyReport, type Finding } from './support/reports.js';
import { expectFixed } from './support/assert.js';

let frontend: string;
const POINT = registryRef('debian:12-pointrelease');
let upgradable: Finding[];
let debianVersion: string;

interface PatchRun {
  code: number;
  out: string;
  target: string;
}

let seq = 0;
function patch(image: string, o: { report?: object | string; opts?: Record<string, string>; tag?: string } = {}): Promise<PatchRun> {
  return gatewayPatch(frontend, image, registryRef(`patched:${o.tag ?? `t${Date.now()}-${seq++}`}`), o);
}


beforeAll(async () => {
  frontend = await frontendImage();
  const installed = await dpkgVersions(POINT);
  upgradable = (await upgradableFromSecurity(POINT)).map((u) => ({ name: u.name, installed: installed.get(u.name)!, fixed: u.version }));
  debianVersion = (await readFileFromImage(POINT, '/etc/debian_version')).toString().trim();
  expect(upgradable.length).toBeGreaterThan(0);
});

describe('frontend on debian:12-pointrelease', () => {
  it('patches exactly the reported packages in one layer and keeps the config', async () => {
    const r = await patch(POINT, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable) });
    expect(r.code, r.out).toBe(0);
    expectFixed(await dpkgVersions(r.target), upgradable);
    expect((await listLayers(r.target)).length).toBe((await listLayers(POINT)).length + 1);
    const [cfg, base] = await Promise.all([fetchConfig(r.target), fetchConfig(POINT)]);
    expect(cfg.config.Env).toEqual(base.config.Env);
    expect(cfg.config.Cmd).toEqual(base.config.Cmd);
    expect(cfg.config.Labels['sh.copa.image.base']).toMatch(/debian@sha256:[0-9a-f]{64}$/);
    // apt's lists, archives and logs stay out of the patch layer
    const top = await import('../env/testbed.js').then((t) => t.readLayerFiles(r.target, -1));
    const paths = [...top.keys()];
    expect(paths.filter((p) => /^\/?var\/lib\/apt\/lists\/.+/.test(p) || /^\/?var\/cache\/apt\/.+\.(deb|bin)$/.test(p) || /^\/?var\/log\/(apt\/|dpkg\.log)/.test(p))).toEqual([]);
  });

  it('with no report upgrades everything upgradable', async () => {
    const r = await patch(POINT);
    expect(r.code, r.out).toBe(0);
    expectFixed(await dpkgVersions(r.target), upgradable);
    expect((await listLayers(r.target)).length).toBe((await listLayers(POINT)).length + 1);
  });

  it('re-patching a patched image keeps exactly one patch layer and both sets of fixes', async () => {
    const half = Math.max(1, Math.floor(upgradable.length / 2));
    const first = await patch(POINT, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable.slice(0, half)) });
    expect(first.code, first.out).toBe(0);
    const second = await patch(first.target, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable.slice(half)) });
    expect(second.code, second.out).toBe(0);
    expectFixed(await dpkgVersions(second.target), upgradable);
    expect((await listLayers(second.target)).length).toBe((await listLayers(POINT)).length + 1);
    const cfg = await fetchConfig(second.target);
    const base = await fetchConfig(first.target);
    expect(cfg.config.Labels['sh.copa.image.base']).toBe(base.config.Labels['sh.copa.image.base']);
  });

  it('patches a non-root image as root and keeps its USER, WORKDIR, ENTRYPOINT, CMD, ENV and labels', async () => {
    const image = registryRef('debian:12-nonroot');
    const r = await patch(image, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable.slice(0, 2)) });
    expect(r.code, r.out).toBe(0);
    expectFixed(await dpkgVersions(r.target), upgradable.slice(0, 2));
    const [cfg, base] = await Promise.all([fetchConfig(r.target), fetchConfig(image)]);
    for (const k of ['User', 'WorkingDir', 'Entrypoint', 'Cmd', 'Env']) expect(cfg.config[k], k).toEqual(base.config[k]);
    expect(cfg.config.Labels).toMatchObject(base.config.Labels);
  });

  it('fails with a clear message when the fix is not in the mirror, and patches the rest with ignore-errors', async () => {
    const [target, ...rest] = upgradable;
    const findings = [{ ...target!, fixed: '99:1.0' }, ...rest.slice(0, 1)];
    const report = trivyReport({ family: 'debian', name: debianVersion }, findings);
    const r = await patch(POINT, { report });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(new RegExp(`downloaded package ${target!.name} version \\S+ lower than required 99:1.0 for update`));
    const ok = await patch(POINT, { report, opts: { 'ignore-errors': 'true' } });
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain(`NOT PATCHED ${target!.name}`);
    // The summary step names it as well (its name is printed in every progress mode).
    const summary = ok.out.split('\n').find((l) => l.includes('copa: summary for linux/amd64:'));
    expect(summary).toContain(`1 not patched, 0 not installed; NOT PATCHED ${target!.name}`);
    if (rest[0]) expectFixed(await dpkgVersions(ok.target), [rest[0]]);
  });

  it('reports an image that is already up to date without failing', async () => {
    const first = await patch(POINT);
    expect(first.code, first.out).toBe(0);
    const again = await patch(first.target, { report: trivyReport({ family: 'debian', name: debianVersion }, upgradable) });
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/already up to date/);
    expectFixed(await dpkgVersions(again.target), upgradable);
    expect((await listLayers(again.target)).length).toBe((await listLayers(POINT)).length + 1);
  });
});

describe('frontend on a distroless image', () => {
  it('patches status.d packages with a tooling image and leaves no apt or dpkg behind', async () => {
    const image = registryRef('debian:12-distroless');
    const installed = await dpkgVersions(image);
    const findings = upgradable.filter((u) => installed.has(u.name)).map((u) => ({ ...u, installed: installed.get(u.name)! }));
    expect(findings.length).toBeGreaterThan(0);
    const r = await patch(image, { report: trivyReport({ family: 'debian', name: debianVersion }, findings), opts: { 'tooling-image': registryRef('debian:12-slim') } });
    expect(r.code, r.out).toBe(0);
    expectFixed(await dpkgVersions(r.target), findings);
    expect((await listLayers(r.target)).length).toBe((await listLayers(image)).length + 1);
    for (const p of ['/usr/bin/dpkg', '/usr/bin/apt-get', '/var/lib/dpkg/status', '/bin/sh']) {
      await expect(readFileFromImage(r.target, p), p).rejects.toThrow();
    }
  });
});

describe('frontend input errors', () => {
  it('rejects a hostile report before anything runs', async () => {
    for (const name of ['bash;rm -rf /', '$(id)', 'a\nb', '../../etc/passwd', '-oAPT::x=1']) {
      const r = await patch(POINT, { report: trivyReport({ family: 'debian', name: '12.0' }, [{ name, installed: '1', fixed: '2' }]) });
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/not a valid .*package name/i);
      expect(r.out).not.toMatch(/copa: (apt-get|refresh)/);
    }
    const badVersion = await patch(POINT, { report: trivyReport({ family: 'debian', name: '12.0' }, [{ name: 'tzdata', installed: '1', fixed: '2;reboot' }]) });
    expect(badVersion.code).not.toBe(0);
    expect(badVersion.out).toMatch(/version/i);
  });

  it('gives one clear error for a malformed report, a wrong distro, and a missing image', async () => {
    const malformed = await patch(POINT, { report: '{"SchemaVersion": 2, "Results": [' });
    expect(malformed.code).not.toBe(0);
    expect(malformed.out).toMatch(/report\.json.*(JSON|parse)/i);

    const alpine = await patch(POINT, { report: trivyReport({ family: 'alpine', name: '3.19.1' }, [{ name: 'musl', installed: '1.2.4-r2', fixed: '1.2.4-r3' }]) });
    expect(alpine.code).not.toBe(0);
    expect(alpine.out).toMatch(/alpine/i);
    expect(alpine.out).toMatch(/debian/i);

    const missing = await patch(registryRef('debian:does-not-exist'));
    expect(missing.code).not.toBe(0);
    expect(missing.out).toMatch(/cannot resolve image .*does-not-exist/);
  });

  it('names the option when one is malformed', async () => {
    const r = await patch(POINT, { opts: { 'ignore-errors': 'perhaps' } });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/ignore-errors/);
  });
});
