// The frontend as users run it: `docker buildx build --build-arg BUILDKIT_SYNTAX=<image>`
// and a buildx bake file, on a remote-driver builder pointing at the test bed's buildkitd.
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testbed, registryRef, dpkgVersions, upgradableFromSecurity, readFileFromImage, listLayers, fetchConfig } from '../env/testbed.js';
import { frontendImage } from './support/frontend-image.js';
import { reportDir, trivyReport, type Finding } from './support/reports.js';
import { docker } from './support/plugin.js';
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

describe('frontend through buildx', () => {
  it('docker buildx build --build-arg BUILDKIT_SYNTAX=<frontend> --build-context report=<dir>', async () => {
    const target = registryRef('patched:buildx');
    const r = await docker([
      'buildx', 'build', '--builder', testbed().buildxBuilder, '--progress', 'plain',
      '--build-arg', `BUILDKIT_SYNTAX=${frontend}`, '--build-arg', `image=${POINT()}`, '--build-arg', 'report=report.json',
      '--build-context', `report=${ctxDir}`, '-f', '/dev/null',
      '--output', `type=image,name=${target},push=true,registry.insecure=true`, ctxDir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expectFixed(await dpkgVersions(target), findings);
    expect((await listLayers(target)).length).toBe((await listLayers(POINT())).length + 1);
    expect((await fetchConfig(target)).config.Cmd).toEqual((await fetchConfig(POINT())).config.Cmd);
  });

  it('docker buildx bake with a bake file', async () => {
    const target = registryRef('patched:bake');
    const bake = join(ctxDir, 'docker-bake.json');
    writeFileSync(
      bake,
      JSON.stringify({
        target: {
          patch: {
            context: ctxDir,
            'dockerfile-inline': '# patched by the copa frontend\n',
            args: { BUILDKIT_SYNTAX: frontend, image: POINT(), report: 'report.json' },
            contexts: { report: ctxDir },
            output: [`type=image,name=${target},push=true,registry.insecure=true`],
          },
        },
      }),
    );
    const r = await docker(['buildx', 'bake', `--allow=fs.read=${ctxDir}`, '--builder', testbed().buildxBuilder, '--progress', 'plain', '-f', bake, 'patch']);
    expect(r.code, r.stderr).toBe(0);
    expectFixed(await dpkgVersions(target), findings);
    expect((await listLayers(target)).length).toBe((await listLayers(POINT())).length + 1);
  });
});
