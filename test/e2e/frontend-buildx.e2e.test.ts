// The frontend as users run it: `docker buildx build --build-arg BUILDKIT_SYNTAX=<image>`
// and a buildx bake file, on a remote-driver builder pointing at the test bed's buildkitd.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { repoRoot } from './support/repo.js';
import { join } from 'node:path';
import { run, testbed, registryRef, dpkgVersions, upgradableFromSecurity, readFileFromImage, listLayers, fetchConfig } from '../env/testbed.js';
import { frontendImage } from './support/frontend-image.js';
import { reportDir, trivyReport, type Finding } from './support/reports.js';
import { docker, dockerEnv } from './support/plugin.js';
import { expectFixed } from './support/assert.js';

let frontend: string;
let findings: Finding[];
let ctxDir: string;
const POINT = () => registryRef('debian:12-pointrelease');


beforeAll(async () => {
  frontend = await frontendImage();
  const installed = await dpkgVersions(POINT());
  findings = (await upgradableFromSecurity(POINT())).map((u) => ({ name: u.name, installed: installed.get(u.name)!, fixed: u.version }));
  const version = (await readFileFromImage(POINT(), '/etc/debian_version')).toString().trim();
  ctxDir = reportDir(trivyReport({ family: 'debian', name: version }, findings));
});

/** A fenced block of README.md marked `recipe=<name>`. */
function recipe(name: string): string {
  const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
  const m = new RegExp('```\\w+ recipe=' + name.replace(/\./g, '\\.') + '\\n([\\s\\S]*?)```').exec(readme);
  if (!m) throw new Error(`README.md has no recipe=${name} block`);
  return m[1]!;
}

/** The README's placeholders replaced by the bed's frontend, image, report directory and target. */
function localize(text: string, target: string): string {
  return text
    .replaceAll('copa-ts/frontend:0.1.0', frontend)
    .replaceAll('docker.io/library/debian:12', POINT())
    .replaceAll('registry.example/debian:12-patched,push=true', `${target},push=true,registry.insecure=true`)
    .replaceAll('./reports', ctxDir);
}

/** A shell command line of the README (with backslash continuations) as argv. */
function argv(text: string): string[] {
  return text.replace(/\\\n/g, ' ').trim().split(/\s+/);
}

describe('frontend through buildx, as README shows it', () => {
  it('docker buildx build --build-arg BUILDKIT_SYNTAX=<frontend> --build-context report=<dir>', async () => {
    const target = registryRef('patched:buildx');
    const [cmd, sub, ...args] = argv(localize(recipe('buildx-build'), target));
    expect([cmd, sub]).toEqual(['docker', 'buildx']);
    const r = await docker([sub!, '--builder', testbed().buildxBuilder, ...args.slice(0, 1), '--progress', 'plain', ...args.slice(1)]);
    expect(r.code, r.stderr).toBe(0);
    expectFixed(await dpkgVersions(target), findings);
    expect((await listLayers(target)).length).toBe((await listLayers(POINT())).length + 1);
    expect((await fetchConfig(target)).config.Cmd).toEqual((await fetchConfig(POINT())).config.Cmd);
  });

  it('docker buildx bake with the README bake file', async () => {
    const target = registryRef('patched:bake');
    writeFileSync(join(ctxDir, 'docker-bake.hcl'), localize(recipe('docker-bake.hcl'), target));
    const [cmd, sub, ...args] = argv(localize(recipe('bake'), target));
    expect([cmd, sub]).toEqual(['docker', 'buildx']);
    // Run where the README's user stands: beside docker-bake.hcl.
    const r = await run(testbed().docker, [sub!, args[0]!, '--builder', testbed().buildxBuilder, '--progress', 'plain', ...args.slice(1)], { env: dockerEnv(), cwd: ctxDir });
    expect(r.code, r.stderr).toBe(0);
    expectFixed(await dpkgVersions(target), findings);
    expect((await listLayers(target)).length).toBe((await listLayers(POINT())).length + 1);
  });
});
