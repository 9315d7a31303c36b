// Alpine (apk), end to end on the real test bed: the docker plugin and the gateway frontend
// patch the bed's alpine:* images from its signed local APK repository (which has the next
// release of openssl, zlib, busybox and ca-certificates, each with a marker file, and no
// newer musl), and we inspect the pushed results like a user. Reports are made at test time
// from what the repository offers. One patch per scenario; assertions share its result.
import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  apkRepoBranch, apkVersions, fetchConfig, fetchRawManifest, imageFilesystem, listLayers, lookup, readLayerFiles, registryRef,
  run, runBuildctl, testbed, type ApkBumpedPackage, type Platform, type RunResult,
} from '../env/testbed.js';
import { frontendImage } from './support/frontend-image.js';
import { gatewayPatch } from './support/gateway.js';
import { pluginBinary } from './support/plugin.js';
import { reportDir, trivyReport, type Finding } from './support/reports.js';
import { compare as apkCompare } from '../../src/engine/versions/apk.js';

const P320 = () => registryRef('alpine:3.20-pointrelease');
const P319 = () => registryRef('alpine:3.19-pointrelease');
const STATIC = () => registryRef('alpine:3.20-static');
const MULTI = () => registryRef('alpine:3.20-multi');
const TOOLING = () => registryRef('alpine:3.20');
const AMD64: Platform = { architecture: 'amd64' };
const I386: Platform = { architecture: '386' };
const OPENSSL_EDIT = '# copa-testbed: local edit, kept across upgrades';

let frontend: string;
let dockerConfig: string;
let bumped320: ApkBumpedPackage[];
let bumped319: ApkBumpedPackage[];
let bumped320x86: ApkBumpedPackage[];
const asFindings = (b: ApkBumpedPackage[]): Finding[] => b.map((p) => ({ name: p.name, installed: p.from, fixed: p.to }));
const alpineReport = (version: string, findings: Finding[]) => trivyReport({ family: 'alpine', name: version }, findings);

beforeAll(async () => {
  expect(existsSync(pluginBinary), 'npm run build makes build/docker-copa').toBe(true);
  // A private DOCKER_CONFIG with only our plugin: the bed's shared one may be in use by another run.
  dockerConfig = mkdtempSync(join(tmpdir(), 'copa-alpine-docker-'));
  mkdirSync(join(dockerConfig, 'cli-plugins'));
  copyFileSync(pluginBinary, join(dockerConfig, 'cli-plugins', 'docker-copa'));
  chmodSync(join(dockerConfig, 'cli-plugins', 'docker-copa'), 0o755);
  writeFileSync(join(dockerConfig, 'config.json'), '{}');
  frontend = await frontendImage();
  bumped320 = apkRepoBranch('v3.20').packages;
  bumped319 = apkRepoBranch('v3.19').packages;
  bumped320x86 = apkRepoBranch('v3.20', 'x86').packages;
  for (const b of [bumped320, bumped319, bumped320x86]) expect(b.map((p) => p.name)).toContain('libcrypto3');
});

// ------------------------------------------------------------------ running a patch

interface Patched {
  code: number;
  out: string;
  target: string;
}

let seq = 0;
const tag = (what: string) => `e2e-${what}-${Date.now().toString(36)}-${seq++}`;

/** `docker copa patch … --push` through the real docker CLI; the result is <image repo>:<tag>. */
async function plugin(image: string, o: { report?: object; args?: string[] } = {}): Promise<Patched> {
  const t = tag('plugin');
  const args = ['copa', 'patch', '-i', image, '-t', t, '--push', '--addr', testbed().buildkitAddr, '--progress', 'plain', ...(o.args ?? [])];
  if (o.report) args.push('-r', join(reportDir(o.report), 'report.json'));
  const r: RunResult = await run(testbed().docker, args, { env: { DOCKER_HOST: testbed().dockerHost, DOCKER_CONFIG: dockerConfig } });
  return { code: r.code, out: r.stdout + r.stderr, target: `${image.replace(/[:@][^/]*$/, '')}:${t}` };
}

/** The gateway frontend through buildctl, pushed to <registry>/patched:<tag>. */
function gateway(image: string, o: { report?: object; opts?: Record<string, string> } = {}): Promise<Patched> {
  return gatewayPatch(frontend, image, registryRef(`patched:${tag('frontend')}`), o);
}

// ------------------------------------------------------------------ inspecting a result

/** Every bumped package is at its new release or newer (apk ordering) and its marker file is there. */
async function expectFixed(target: string, fixes: ApkBumpedPackage[], platform: Platform = AMD64): Promise<void> {
  const versions = await apkVersions(target, platform);
  const fs = await imageFilesystem(target, platform);
  for (const f of fixes) {
    const v = versions.get(f.name);
    expect(v, `${f.name} missing`).toBeDefined();
    expect(apkCompare(v!, f.to), `${f.name} ${v} < ${f.to}`).toBeGreaterThanOrEqual(0);
    expect(lookup(fs, f.marker), `${f.marker} in ${target}`).toBeDefined();
  }
}

/** The original's layers plus exactly one, its config kept, no apk cache or index in the patch layer. */
async function expectOneLayer(target: string, base: string, platform: Platform = AMD64): Promise<void> {
  const [was, now] = await Promise.all([listLayers(base, platform), listLayers(target, platform)]);
  expect(now.length).toBe(was.length + 1);
  expect(now.slice(0, was.length).map((l) => l.digest)).toEqual(was.map((l) => l.digest));
  const [cfg, orig] = await Promise.all([fetchConfig(target, platform), fetchConfig(base, platform)]);
  for (const k of ['User', 'WorkingDir', 'Entrypoint', 'Cmd', 'Env']) expect(cfg.config[k], k).toEqual(orig.config[k]);
  expect(cfg.architecture).toBe(platform.architecture);
  expect(cfg.config.Labels?.['sh.copa.image.base']).toMatch(/alpine@sha256:[0-9a-f]{64}$/);
  if (platform === AMD64) {
    const top = [...(await readLayerFiles(target, -1)).keys()];
    expect(top.filter((p) => /^(var\/cache\/apk|etc\/apk\/cache|copa-)\/?./.test(p) || /\.apk$|APKINDEX/.test(p) || /^proc(\/|$)/.test(p))).toEqual([]);
    expect(top).toContain('lib/apk/db/installed');
  }
}

async function fileText(ref: string, path: string, platform: Platform = AMD64): Promise<string | undefined> {
  return lookup(await imageFilesystem(ref, platform), path)?.entry.content?.toString('utf8');
}

/** The local edit of /etc/ssl/openssl.cnf survives; apk wrote the packaged file beside it. */
async function expectConfigKept(target: string): Promise<void> {
  expect(await fileText(target, '/etc/ssl/openssl.cnf')).toBe(await fileText(P320(), '/etc/ssl/openssl.cnf'));
  expect((await fileText(target, '/etc/ssl/openssl.cnf'))!.trimEnd().endsWith(OPENSSL_EDIT)).toBe(true);
  expect(await fileText(target, '/etc/ssl/openssl.cnf.apk-new')).not.toContain('copa-testbed');
}

/** Unpatched packages keep their versions. */
async function expectUnchanged(target: string, base: string, names: string[]): Promise<void> {
  const [now, was] = await Promise.all([apkVersions(target), apkVersions(base)]);
  for (const n of names) expect(now.get(n), n).toBe(was.get(n));
}

// ------------------------------------------------------------------ both entry points

const ENTRY_POINTS = [
  { name: 'docker copa (plugin)', patch: (image: string, o: { report?: object; ignoreErrors?: boolean; tooling?: string } = {}) =>
      plugin(image, { report: o.report, args: [...(o.ignoreErrors ? ['--ignore-errors'] : []), ...(o.tooling ? ['--tooling-image', o.tooling] : [])] }) },
  { name: 'gateway frontend', patch: (image: string, o: { report?: object; ignoreErrors?: boolean; tooling?: string } = {}) =>
      gateway(image, { report: o.report, opts: { ...(o.ignoreErrors ? { 'ignore-errors': 'true' } : {}), ...(o.tooling ? { 'tooling-image': o.tooling } : {}) } }) },
] as const;

describe.each(ENTRY_POINTS)('$name on Alpine', ({ name, patch }) => {
  let reportPatch: Patched;

  it('report mode on 3.20: the reported packages fixed in one layer, config and the modified openssl.cnf kept, no apk cache', async () => {
    reportPatch = await patch(P320(), { report: alpineReport('3.20.3', asFindings(bumped320)) });
    expect(reportPatch.code, reportPatch.out).toBe(0);
    await expectFixed(reportPatch.target, bumped320);
    await expectOneLayer(reportPatch.target, P320());
    await expectConfigKept(reportPatch.target);
    await expectUnchanged(reportPatch.target, P320(), ['musl', 'apk-tools', 'alpine-baselayout']);
    expect(reportPatch.out).toMatch(/apk upgrade/);
  });

  it('report mode upgrades only what the report names (and what those need)', async () => {
    const r = await patch(P320(), { report: alpineReport('3.20.3', asFindings(bumped320.filter((p) => p.name === 'zlib'))) });
    expect(r.code, r.out).toBe(0);
    await expectFixed(r.target, bumped320.filter((p) => p.name === 'zlib'));
    await expectUnchanged(r.target, P320(), bumped320.filter((p) => p.name !== 'zlib').map((p) => p.name));
    await expectOneLayer(r.target, P320());
  });

  it('update-all on 3.19: every package with a newer release', async () => {
    const r = await patch(P319());
    expect(r.code, r.out).toBe(0);
    await expectFixed(r.target, bumped319);
    await expectOneLayer(r.target, P319());
  });

  it('re-patching keeps one patch layer and the earlier fixes; patching a fully patched image is "already up to date"', async () => {
    const openssl = bumped320.filter((p) => p.origin === 'openssl');
    const first = await patch(P320(), { report: alpineReport('3.20.3', asFindings(openssl)) });
    expect(first.code, first.out).toBe(0);
    const second = await patch(first.target); // update-all on the patched image
    expect(second.code, second.out).toBe(0);
    await expectFixed(second.target, bumped320);
    await expectOneLayer(second.target, P320());
    expect((await fetchConfig(second.target)).config.Labels['sh.copa.image.base']).toBe((await fetchConfig(first.target)).config.Labels['sh.copa.image.base']);
    const again = await patch(second.target, { report: alpineReport('3.20.3', asFindings(bumped320)) });
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/already up to date/);
  });

  it('a fix the repository lacks (musl) fails naming package and versions; ignore-errors patches the rest', async () => {
    const musl = bumped320.find((p) => p.name === 'zlib')!;
    const report = alpineReport('3.20.3', [{ name: 'musl', installed: '1.2.5-r0', fixed: '1.2.5-r1' }, { name: musl.name, installed: musl.from, fixed: musl.to }]);
    const bad = await patch(P320(), { report });
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/downloaded package musl version 1\.2\.5-r0 lower than required 1\.2\.5-r1 for update/);
    const ok = await patch(P320(), { report, ignoreErrors: true });
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/NOT PATCHED\s+musl|musl\s+NOT PATCHED/);
    await expectFixed(ok.target, [musl]);
    expect((await apkVersions(ok.target)).get('musl')).toBe('1.2.5-r0');
  });

  it('the apk-less 3.20-static is patched through the tooling image and stays without apk', async () => {
    const installed = await apkVersions(STATIC());
    const fixes = bumped320.filter((p) => installed.has(p.name));
    expect(fixes.length).toBeGreaterThan(0);
    const r = await patch(STATIC(), { report: alpineReport('3.20.3', asFindings(fixes)), tooling: TOOLING() });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`apk update in the tooling image ${TOOLING()}`);
    await expectFixed(r.target, fixes);
    await expectOneLayer(r.target, STATIC());
    const fs = await imageFilesystem(r.target);
    for (const p of ['/sbin/apk', '/bin/busybox', '/bin/sh', '/proc']) expect(lookup(fs, p), `${p} in ${name}'s result`).toBeUndefined();
    expect([...(await apkVersions(r.target)).keys()].sort()).toEqual([...installed.keys()].sort());
  });

  it('a non-root image is patched as root and keeps its USER, WORKDIR, ENTRYPOINT, CMD, ENV and labels', async () => {
    const image = registryRef('alpine:3.20-nonroot');
    const zlib = bumped320.filter((p) => p.name === 'zlib');
    const r = await patch(image, { report: alpineReport('3.20.3', asFindings(zlib)) });
    expect(r.code, r.out).toBe(0);
    await expectFixed(r.target, zlib);
    await expectOneLayer(r.target, image);
    const [cfg, orig] = await Promise.all([fetchConfig(r.target), fetchConfig(image)]);
    expect(cfg.config.User).toBe('nobody');
    expect(cfg.config.Labels).toMatchObject(orig.config.Labels);
  });

  it('hostile names are rejected before anything runs', async () => {
    for (const bad of ['zlib;reboot', '$(id)', '-X', 'lib*']) {
      const r = await patch(P320(), { report: alpineReport('3.20.3', [{ name: bad, installed: '1.0-r0', fixed: '1.0-r1' }]) });
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/not a valid Alpine package name/);
      expect(r.out).not.toMatch(/copa: (refresh|apk)/);
    }
  });
});

describe('multi-platform alpine:3.20-multi (linux/amd64 + linux/386)', () => {
  async function expectBothPatched(target: string): Promise<void> {
    const raw = await fetchRawManifest(target);
    expect('manifests' in raw, `${target} is not an index`).toBe(true);
    expect(('manifests' in raw ? raw.manifests : []).map((m) => `${m.platform?.os}/${m.platform?.architecture}`).sort()).toEqual(['linux/386', 'linux/amd64']);
    for (const [platform, fixes] of [[AMD64, bumped320], [I386, bumped320x86]] as const) {
      await expectFixed(target, fixes, platform);
      await expectOneLayer(target, MULTI(), platform);
    }
  }

  it('the frontend patches both platforms into one index (platform=linux/amd64,linux/386)', async () => {
    const r = await gateway(MULTI(), { opts: { platform: 'linux/amd64,linux/386' } });
    expect(r.code, r.out).toBe(0);
    await expectBothPatched(r.target);
  });

  it('the plugin patches both platforms into one index (--platform linux/amd64,linux/386)', async () => {
    const r = await plugin(MULTI(), { args: ['--platform', 'linux/amd64,linux/386'] });
    expect(r.code, r.out).toBe(0);
    await expectBothPatched(r.target);
  });
});

describe('repositories that cannot be fetched', () => {
  it('fail with the repository URL and apk\'s message, in report mode and update-all, before anything is installed', async () => {
    // 3.20-pointrelease whose only repository is a closed port.
    const dead = registryRef('alpine:e2e-dead-repository');
    const dir = mkdtempSync(join(tmpdir(), 'copa-alpine-dead-'));
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${P320()}\nRUN echo http://127.0.0.1:9/v3.20/main > /etc/apk/repositories\n`);
    const b = await runBuildctl(['build', '--frontend', 'dockerfile.v0', '--local', `context=${dir}`, '--local', `dockerfile=${dir}`, '--output', `type=image,name=${dead},push=true,registry.insecure=true`]);
    expect(b.code, b.stderr).toBe(0);
    const results = [await plugin(dead), await gateway(dead, { report: alpineReport('3.20.3', asFindings(bumped320)), opts: { 'ignore-errors': 'true' } })];
    for (const r of results) {
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/apk update in the alpine 3\.20\.3 image could not fetch the package index from http:\/\/127\.0\.0\.1:9\/v3\.20\/main: \S/);
      expect(r.out).not.toMatch(/copa: apk upgrade/);
    }
  });
});
