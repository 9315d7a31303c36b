// `npm run bench`: the numbers users feel, printed as a table. Runs against the test bed
// (raised if needed). Speed targets live here, not in timed tests.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../e2e/support/repo.js';
import { testbed, registryRef, runBuildctl, dpkgVersions, upgradableFromSecurity, readFileFromImage, fetchManifest } from '../env/testbed.js';
import { frontendImage } from '../e2e/support/frontend-image.js';
import { reportDir, trivyReport } from '../e2e/support/reports.js';
import { dockerCopa } from '../e2e/support/plugin.js';

const root = repoRoot();
const binary = join(root, 'build/docker-copa');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function up() {
  const r = spawnSync('bash', [join(root, 'test/env/testbed.sh'), 'up'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error('testbed.sh up failed');
}

async function timed(fn: () => Promise<{ code: number; stderr: string }>): Promise<number> {
  const t0 = performance.now();
  const r = await fn();
  if (r.code !== 0) throw new Error(r.stderr.slice(-3000));
  return (performance.now() - t0) / 1000;
}

async function main() {
  up();
  const rows: Array<[string, string]> = [];

  const runs: number[] = [];
  for (let i = 0; i < 11; i++) {
    const t0 = performance.now();
    const r = spawnSync(binary, ['--version'], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error('docker-copa --version failed');
    runs.push(performance.now() - t0);
  }
  rows.push(['docker-copa --version (median of 11)', `${median(runs).toFixed(0)} ms`]);
  rows.push(['bundled binary size', `${(statSync(binary).size / 2 ** 20).toFixed(1)} MiB`]);

  const fe = await frontendImage();
  const m = await fetchManifest(fe);
  const feSize = m.layers.reduce((n: number, l: { size: number }) => n + l.size, 0);
  rows.push(['frontend image size (compressed layers)', `${(feSize / 2 ** 20).toFixed(1)} MiB`]);

  const point = registryRef('debian:12-pointrelease');
  const installed = await dpkgVersions(point);
  const findings = (await upgradableFromSecurity(point)).map((u) => ({ name: u.name, installed: installed.get(u.name)!, fixed: u.version }));
  const version = (await readFileFromImage(point, '/etc/debian_version')).toString().trim();
  const report = join(reportDir(trivyReport({ family: 'debian', name: version }, findings)), 'report.json');
  const patch = (tag: string) => () => dockerCopa(['patch', '-i', point, '-r', report, '-t', tag, '--push', '--addr', testbed().buildkitAddr, '--progress', 'quiet']);

  const prune = await runBuildctl(['prune', '--all']);
  if (prune.code !== 0) throw new Error(prune.stderr);
  rows.push([`docker copa patch debian:12-pointrelease, ${findings.length} packages, cold BuildKit cache`, `${(await timed(patch('bench-cold'))).toFixed(1)} s`]);
  rows.push([`docker copa patch debian:12-pointrelease, ${findings.length} packages, warm BuildKit cache`, `${(await timed(patch('bench-warm'))).toFixed(1)} s`]);

  const ctx = reportDir(trivyReport({ family: 'debian', name: version }, findings));
  const viaFrontend = (tag: string) => () =>
    runBuildctl(['build', '--progress=quiet', '--frontend', 'gateway.v0', '--opt', `source=${fe}`, '--opt', `image=${point}`,
      '--local', `report=${ctx}`, '--opt', 'context:report=local:report', '--opt', 'report=report.json',
      '--output', `type=image,name=${registryRef(`debian:${tag}`)},push=true,registry.insecure=true`]);
  const prune2 = await runBuildctl(['prune', '--all']);
  if (prune2.code !== 0) throw new Error(prune2.stderr);
  rows.push([`frontend: same patch via buildctl gateway.v0, cold BuildKit cache`, `${(await timed(viaFrontend('bench-fe-cold'))).toFixed(1)} s`]);
  rows.push([`frontend: same patch via buildctl gateway.v0, warm BuildKit cache`, `${(await timed(viaFrontend('bench-fe-warm'))).toFixed(1)} s`]);

  const w = Math.max(...rows.map(([k]) => k.length));
  console.log(`\n${'metric'.padEnd(w)}  value\n${'-'.repeat(w)}  -----`);
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

main().catch((e) => {
  console.error(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
