// `npm run demo`: a newcomer's first patch, for real. Patches a point-release Debian image
// with a report of its pending security updates, then shows what changed the way a user
// would check it: the plan and per-package summary (docker copa's own output), the package
// versions before and after (dpkg-query in the images) and the layer count.
//
// With a working Docker engine it patches docker.io/library/debian:<point release> there;
// otherwise (or with COPA_DEMO_TESTBED=1) it raises the project's own BuildKit, registry and
// Docker engine (test/env/testbed.sh) and patches the bed's debian:12-pointrelease, saying so.
// The report is made from the image itself: what apt lists as upgradable from the security
// suite, written as a Trivy JSON report (no scanner database is reachable offline).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const plugin = join(root, 'build', 'docker-copa');
const say = (s) => process.stdout.write(`\n\x1b[1m== ${s}\x1b[0m\n`);
const fail = (s) => {
  process.stderr.write(`demo: ${s}\n`);
  process.exit(1);
};

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: r.stderr ?? '' };
}

if (!existsSync(plugin)) fail(`${plugin} is missing: run npm run build first`);

// Where to patch: the user's Docker engine, or the project's own test bed.
let env = { ...process.env };
let image;
let ownedBed = false;
const dockerWorks = !process.env.COPA_DEMO_TESTBED && run('docker', ['info', '--format', '{{.ServerVersion}}']).code === 0;
if (dockerWorks) {
  image = process.env.COPA_DEMO_IMAGE || 'docker.io/library/debian:12.7';
  say(`using your Docker engine; patching ${image}`);
  if (run('docker', ['pull', '-q', image], { stdio: 'inherit' }).code !== 0) fail(`docker pull ${image} failed`);
} else {
  say('no working Docker engine here: raising the project\'s own BuildKit, registry and Docker engine (test/env/testbed.sh; a cold start takes a few minutes)');
  const up = run('bash', [join(root, 'test/env/testbed.sh'), 'up', '--owner-pid', String(process.pid)], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (up.code !== 0) fail('testbed.sh up failed');
  ownedBed = true;
  const bed = JSON.parse(readFileSync(join(process.env.COPA_TESTBED_CACHE || join(homedir(), '.cache', 'copa-testbed'), 'run', 'env.json'), 'utf8'));
  env = { ...env, DOCKER_HOST: bed.dockerHost, DOCKER_CONFIG: bed.dockerConfig };
  image = bed.images['debian:12-pointrelease'];
  if (run('docker', ['pull', '-q', image], { env, stdio: 'inherit' }).code !== 0) fail(`docker pull ${image} failed`);
}
const docker = (args, o = {}) => run('docker', args, { env, ...o });
const release = () => {
  if (ownedBed) run('bash', [join(root, 'test/env/testbed.sh'), 'release', String(process.pid)], { stdio: 'inherit' });
};

try {
  // The plugin, as a user installs it (into the Docker config the engine above uses).
  // Always for the user (~/.docker), and for the bed's own Docker config when the bed is used.
  const configDirs = [...new Set([process.env.DOCKER_CONFIG || join(homedir(), '.docker'), env.DOCKER_CONFIG || join(homedir(), '.docker')])];
  for (const c of configDirs) {
    if (run('node', [join(root, 'build/install-plugin.mjs'), '--dir', join(c, 'cli-plugins')], { stdio: 'inherit' }).code !== 0) fail('install-plugin failed');
  }

  say(`what apt would upgrade from the security suite in ${image}`);
  const probe = docker(['run', '--rm', '--network', 'host', '--user', '0', '--entrypoint', 'sh', image, '-c',
    'apt-get update -qq >/dev/null 2>&1 && apt list --upgradable 2>/dev/null | grep -- "-security" || true']);
  if (probe.code !== 0) fail(`could not list upgrades in ${image}: ${probe.err}`);
  const installed = new Map(
    docker(['run', '--rm', '--user', '0', '--entrypoint', 'dpkg-query', image, '-W', '-f', '${Package} ${Version}\n']).out
      .split('\n').filter(Boolean).map((l) => l.split(' ')),
  );
  // "libssl3/bookworm-security 3.0.15-1~deb12u1 amd64 [upgradable from: 3.0.11-1~deb12u2]"
  const updates = probe.out.split('\n').map((l) => /^([^/\s]+)\/\S+\s+(\S+)\s/.exec(l)).filter(Boolean).map((m) => ({ name: m[1], fixed: m[2], installed: installed.get(m[1]) }))
    .filter((u) => u.installed);
  if (updates.length === 0) fail(`${image} has no pending security updates; pick an older point release with COPA_DEMO_IMAGE`);
  for (const u of updates) console.log(`  ${u.name.padEnd(28)} ${u.installed} -> ${u.fixed}`);
  const osName = docker(['run', '--rm', '--entrypoint', 'cat', image, '/etc/debian_version']).out.trim();
  const arch = docker(['image', 'inspect', '--format', '{{.Architecture}}', image]).out.trim() || 'amd64';
  const report = {
    SchemaVersion: 2,
    ArtifactName: image,
    ArtifactType: 'container_image',
    Metadata: { OS: { Family: 'debian', Name: osName }, ImageConfig: { architecture: arch, os: 'linux' } },
    Results: [{ Target: `${image} (debian ${osName})`, Class: 'os-pkgs', Type: 'debian',
      Vulnerabilities: updates.map((u) => ({ VulnerabilityID: `DEMO-${u.name}`, PkgName: u.name, InstalledVersion: u.installed, FixedVersion: u.fixed, Severity: 'HIGH' })) }],
  };
  const dir = mkdtempSync(join(tmpdir(), 'copa-demo-'));
  const reportFile = join(dir, 'report.json');
  writeFileSync(reportFile, JSON.stringify(report, null, 2));

  const tag = 'copa-demo-patched';
  say(`docker copa patch -i ${image} -r ${reportFile} -t ${tag}`);
  const addr = dockerWorks ? [] : ['--addr', JSON.parse(readFileSync(join(process.env.COPA_TESTBED_CACHE || join(homedir(), '.cache', 'copa-testbed'), 'run', 'env.json'), 'utf8')).buildkitAddr];
  const patch = docker(['copa', 'patch', '-i', image, '-r', reportFile, '-t', tag, '--progress', 'plain', ...addr], { stdio: 'inherit' });
  if (patch.code !== 0) fail('docker copa patch failed');
  const patched = `${image.replace(/:[^:/]*$/, '')}:${tag}`;

  say('before -> after, as dpkg-query sees it in the images');
  const after = new Map(docker(['run', '--rm', '--user', '0', '--entrypoint', 'dpkg-query', patched, '-W', '-f', '${Package} ${Version}\n']).out.split('\n').filter(Boolean).map((l) => l.split(' ')));
  let ok = 0;
  for (const u of updates) {
    const now = after.get(u.name);
    const good = now === u.fixed;
    if (good) ok++;
    console.log(`  ${good ? 'fixed  ' : 'NOT FIXED'} ${u.name.padEnd(28)} ${u.installed} -> ${now}`);
  }
  const layers = (ref) => JSON.parse(docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref]).out || '[]').length;
  say(`layers: ${image} has ${layers(image)}, ${patched} has ${layers(patched)} (one patch layer)`);
  console.log(`\n${ok} of ${updates.length} security updates applied. Run it yourself: docker run --rm ${patched} dpkg-query -W`);
  if (ok !== updates.length) process.exitCode = 1;
} finally {
  release();
}
