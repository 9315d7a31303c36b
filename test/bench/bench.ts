// `npm run bench`: the numbers users feel, printed as tables. Runs against the test bed
// (raised if needed). Speed and size targets live here, not in timed tests.
//
// "Cold" means BuildKit's cache was pruned first (the image is pulled from the bed registry
// and unpacked again, the package lists fetched again); "warm" is the same patch again. Each
// cold plugin patch also prints where its time went, from BuildKit's own vertex timings.
// `npm run bench -- --against <git ref> [--rounds N]` adds before/after medians of the Debian
// patches, alternating that commit's plugin and frontend with this tree's (against.ts).
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../e2e/support/repo.js';
import { testbed, registryRef, runBuildctl, dpkgVersions, upgradableFromSecurity, readFileFromImage, fetchManifest, apkRepoBranch } from '../env/testbed.js';
import { frontendImage } from '../e2e/support/frontend-image.js';
import { reportDir, trivyReport, type Finding } from '../e2e/support/reports.js';
import { dockerCopa } from '../e2e/support/plugin.js';
import { buildImage } from '../e2e/support/images.js';
import { gatewayPatch } from '../e2e/support/gateway.js';
import { alternate, baselineSide, currentSide, type Side } from './against.js';
import { breakdown, progress } from './timings.js';

const root = repoRoot();
const binary = join(root, 'build/docker-copa');
const rows: Array<[string, string]> = [];
const breakdowns: Array<[string, Array<[string, number]>]> = [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function up() {
  const r = spawnSync('bash', [join(root, 'test/env/testbed.sh'), 'up', '--owner-pid', String(process.pid)], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error('testbed.sh up failed');
}

async function prune() {
  const r = await runBuildctl(['prune', '--all']);
  if (r.code !== 0) throw new Error(r.stderr);
}

/** Wall time of `fn`; it must succeed. */
async function timed<T extends { code: number; stderr: string; stdout?: string }>(fn: () => Promise<T>): Promise<{ s: number; r: T }> {
  const t0 = performance.now();
  const r = await fn();
  if (r.code !== 0) throw new Error((r.stderr + (r.stdout ?? '')).slice(-3000));
  return { s: (performance.now() - t0) / 1000, r };
}

/** A plugin patch pushed to the bed registry, with rawjson progress for the breakdown. */
function pluginPatch(image: string, report: string | null, tag: string, env: Record<string, string> = {}) {
  return () => dockerCopa(['patch', '-i', image, ...(report ? ['-r', report] : []), '-t', tag, '--push', '--addr', testbed().buildkitAddr, '--progress', 'rawjson'], env);
}

/** The same patch through a frontend image (buildctl, gateway.v0), with rawjson progress. */
function frontendPatch(frontend: string, image: string, report: { report: object }, tag: string) {
  return async () => {
    const r = await gatewayPatch(frontend, image, registryRef(`bench:${tag}`), { report: report.report, progress: 'rawjson' });
    return { code: r.code, stderr: r.out };
  };
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (!v || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

/** Cold (pruned) then warm: two rows and the cold run's breakdown. */
async function coldWarm(what: string, run: (tag: string) => () => Promise<{ code: number; stderr: string; stdout?: string }>) {
  await prune();
  const cold = await timed(run(`bench-${Date.now()}-c`));
  rows.push([`${what}, cold BuildKit cache`, `${cold.s.toFixed(1)} s`]);
  breakdowns.push([`${what}, cold`, breakdown(progress(cold.r.stderr + (cold.r.stdout ?? '')), cold.s)]);
  const warm = await timed(run(`bench-${Date.now()}-w`));
  rows.push([`${what}, warm BuildKit cache`, `${warm.s.toFixed(1)} s`]);
}

async function debianReport(image: string): Promise<{ file: string; report: object; findings: Finding[] }> {
  const installed = await dpkgVersions(image);
  const findings = (await upgradableFromSecurity(image)).map((u) => ({ name: u.name, installed: installed.get(u.name)!, fixed: u.version }));
  const version = (await readFileFromImage(image, '/etc/debian_version')).toString().trim();
  const report = trivyReport({ family: 'debian', name: version }, findings);
  return { file: join(reportDir(report), 'report.json'), report, findings };
}

async function main() {
  up();

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
  rows.push(['frontend image size (compressed layers)', `${(m.layers.reduce((n: number, l: { size: number }) => n + l.size, 0) / 2 ** 20).toFixed(1)} MiB`]);

  const point = registryRef('debian:12-pointrelease');
  // The bench image with more updates: the point release plus openssl and ca-certificates as
  // bookworm (main) shipped them, so bookworm-security has fixes for them too.
  const openssl = await buildImage(
    'bench-openssl',
    `FROM ${point}\nRUN apt-get update -q && apt-get install -y -q --no-install-recommends openssl/bookworm libssl3/bookworm ca-certificates/bookworm && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n`,
    'bench',
  );
  const big = await debianReport(openssl);
  const small = await debianReport(point);

  await coldWarm(`docker copa patch debian:12-pointrelease + openssl, ${big.findings.length} packages`, (t) => pluginPatch(openssl, big.file, t));
  await coldWarm(`docker copa patch debian:12-pointrelease, ${small.findings.length} packages`, (t) => pluginPatch(point, small.file, t));
  await coldWarm('docker copa patch debian:12-pointrelease, update-all (no report)', (t) => pluginPatch(point, null, t));

  const viaFrontend = (tag: string) => frontendPatch(fe, openssl, big, tag);
  await coldWarm(`frontend (buildctl gateway.v0): debian:12-pointrelease + openssl, ${big.findings.length} packages`, viaFrontend);

  // The frontend's start-up inside BuildKit: from the solve's start to its first request
  // (the image it is asked to patch being resolved), with the frontend image cached.
  const st = await timed(viaFrontend(`bench-${Date.now()}-s`));
  const vs = progress(st.r.stderr).vertices;
  const t0 = vs.reduce((m, v) => (v.started ? Math.min(m, Date.parse(v.started)) : m), Infinity);
  const first = vs.find((v) => v.started && (v.name ?? '').includes('bench:bench-openssl'));
  if (first) rows.push(['frontend start-up inside BuildKit (solve start to its first request)', `${((Date.parse(first.started!) - t0) / 1000).toFixed(2)} s`]);

  // Alpine: report mode against the bed's signed APK repository.
  const alpine = registryRef('alpine:3.20-pointrelease');
  const bumped = apkRepoBranch('v3.20').packages;
  const alpineReport = join(
    reportDir(
      trivyReport(
        { family: 'alpine', name: '3.20.3' },
        bumped.map((p) => ({ name: p.name, installed: p.from, fixed: p.to })),
      ),
    ),
    'report.json',
  );
  await coldWarm(`docker copa patch alpine:3.20-pointrelease, ${bumped.length} packages`, (t) => pluginPatch(alpine, alpineReport, t));

  const against = option('--against');
  const comparison: Array<[string, string, string, string]> = [];
  if (against) {
    const rounds = Number(option('--rounds') ?? 3);
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a whole number ≥ 1');
    const { side: before, dispose } = await baselineSide(root, against);
    let disposeAfter = () => {};
    try {
      const current = await currentSide(root);
      disposeAfter = current.dispose;
      const after = current.side;
      const scenarios: Array<[string, (side: Side, tag: string) => () => Promise<{ code: number; stderr: string; stdout?: string }>]> = [
        [`plugin, debian:12-pointrelease + openssl (${big.findings.length} packages)`, (s, t) => pluginPatch(openssl, big.file, t, { DOCKER_CONFIG: s.dockerConfig })],
        ['plugin, debian:12-pointrelease update-all', (s, t) => pluginPatch(point, null, t, { DOCKER_CONFIG: s.dockerConfig })],
        [`frontend, debian:12-pointrelease + openssl (${big.findings.length} packages)`, (s, t) => frontendPatch(s.frontend, openssl, big, t)],
      ];
      for (const [what, run] of scenarios) {
        const t = await alternate([before, after], rounds, prune, async (s, tag) => (await timed(run(s, tag))).s);
        const [b, a] = [t.get(before)!, t.get(after)!];
        const list = (xs: number[]) => `${median(xs).toFixed(1)} s (${xs.map((x) => x.toFixed(1)).join(' ')})`;
        comparison.push([`${what}, cold`, list(b.cold), list(a.cold), `${(median(a.cold) / median(b.cold)).toFixed(2)}×`]);
        comparison.push([`${what}, warm`, list(b.warm), list(a.warm), `${(median(a.warm) / median(b.warm)).toFixed(2)}×`]);
      }
      comparison.unshift(['', `before: ${before.label}`, `after: ${after.label}`, `medians of ${rounds}`]);
    } finally {
      dispose();
      disposeAfter();
    }
  }

  const w = rows.reduce((n, [k]) => Math.max(n, k.length), 0);
  console.log(`\n${'metric'.padEnd(w)}  value\n${'-'.repeat(w)}  -----`);
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
  for (const [what, steps] of breakdowns) {
    console.log(`\n${what}: where the time went (BuildKit's steps and their sub-tasks, s)`);
    for (const [name, s] of [...steps.slice(0, -1).slice(0, 8), ...steps.slice(-1)]) console.log(`  ${s.toFixed(2).padStart(6)}  ${name}`);
  }
  if (comparison.length) {
    const cw = comparison.map((row) => row.map((c) => c.length)).reduce((m, r) => m.map((x, i) => Math.max(x, r[i]!)));
    console.log('\nbefore / after, alternating runs on the same BuildKit (cold = pruned first)');
    for (const row of comparison) console.log(row.map((c, i) => c.padEnd(cw[i]!)).join('  ').trimEnd());
  }
}

main().then(
  () => {
    spawnSync('bash', [join(root, 'test/env/testbed.sh'), 'release', String(process.pid)], { stdio: 'inherit' });
  },
  (e) => {
    console.error(`bench failed: ${(e as Error).message}`);
    spawnSync('bash', [join(root, 'test/env/testbed.sh'), 'release', String(process.pid)], { stdio: 'inherit' });
    process.exit(1);
  },
);
