#!/usr/bin/env node
// Why this exists: no RPM mirror is reachable here, so the test bed builds its
// own signed RPM repositories. This script turns world.json into .spec files,
// builds them with rpmbuild (gzip payloads, no automatic dependencies: the
// payload files are placeholders), signs every package with the bed's GPG key
// (rpmsign), makes yum/dnf metadata (createrepo_c) and signs repodata/repomd.xml
// (repomd.xml.asc, for repo_gpgcheck). The real centos-release-7 package is
// copied unchanged into its own repository (it keeps CentOS's signature).
//
//   node make-repo.mjs --world world.json --fixtures DIR/rpm --out DIR \
//     --gnupghome DIR --key-id HEX [--summary packages.json]
//
// The summary (see README.md) lists per repository the packages that have a
// newer release (old/new EVR, marker file) and those that do not.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    world: { type: 'string' },
    fixtures: { type: 'string' },
    out: { type: 'string' },
    gnupghome: { type: 'string' },
    'key-id': { type: 'string' },
    summary: { type: 'string' },
  },
});
for (const k of ['world', 'fixtures', 'out', 'gnupghome', 'key-id']) if (!a[k]) fail(`--${k} is required`);

function fail(msg) {
  console.error(`make-repo: ${msg}`);
  process.exit(1);
}
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });

const world = JSON.parse(readFileSync(a.world, 'utf8'));
const work = join(a.out, '.build');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const MARKER_DIR = '/usr/share/copa-testbed';
const subst = (s, v) => s.replaceAll('${name}', v.name).replaceAll('${vr}', v.vr).replaceAll('${evr}', v.evr);
const splitVr = (vr) => {
  const i = vr.lastIndexOf('-');
  return { version: vr.slice(0, i), release: vr.slice(i + 1) };
};
const evrOf = (epoch, vr) => `${epoch ?? 0}:${vr}`;

// One spec per source and version; subpackages use %package -n so every
// binary package has exactly the name world.json gives it.
function writeSpec(src, vr, vendor, isFix, stage) {
  const { version, release } = splitVr(vr);
  const evr = evrOf(src.epoch, vr);
  const L = [
    `Name: ${src.source}`,
    ...(src.epoch !== undefined ? [`Epoch: ${src.epoch}`] : []),
    `Version: ${version}`,
    `Release: ${release}`,
    `Summary: copa-ts test bed stand-in for ${src.source}`,
    'License: MIT',
    `Vendor: ${vendor}`,
    'URL: https://github.com/project-copacetic/copacetic',
    ...(src.arch === 'noarch' ? ['BuildArch: noarch'] : []),
    'AutoReqProv: no',
    // A binary package named like its source is the spec's main package.
    ...(src.packages.find((p) => p.name === src.source)?.requires ?? []).map((r) => `Requires: ${subst(r, { name: src.source, vr, evr })}`),
    '',
    '%description',
    `Placeholder files for ${src.source} ${vr}, made by the copa-ts test bed (test/env/rpm).`,
    '',
  ];
  for (const p of src.packages.filter((x) => x.name !== src.source)) {
    L.push(`%package -n ${p.name}`, `Summary: copa-ts test bed stand-in for ${p.name}`, 'AutoReqProv: no');
    for (const r of p.requires ?? []) L.push(`Requires: ${subst(r, { name: p.name, vr, evr })}`);
    L.push('', `%description -n ${p.name}`, `Placeholder files for ${p.name} ${vr} (copa-ts test bed).`, '');
  }
  L.push('%install', `cp -a ${stage}/. %{buildroot}/`, '');
  for (const p of src.packages) {
    L.push(`%files -n ${p.name}`, '%defattr(-,root,root,-)');
    const files = [...p.files];
    if (isFix) files.push({ path: `${MARKER_DIR}/${p.name}-${vr}` });
    for (const f of files) {
      const path = f.path;
      if (f.dir) L.push(`%dir ${path}`);
      else L.push(`${f.config ? '%config(noreplace) ' : ''}${path}`);
      const full = join(stage, path);
      if (f.dir) mkdirSync(full, { recursive: true });
      else {
        mkdirSync(dirname(full), { recursive: true });
        const content = f.content !== undefined ? subst(f.content, { name: p.name, vr, evr })
          : path.startsWith(MARKER_DIR) ? `copa-ts test bed: ${p.name} ${vr} (fixed release)\n`
          : `copa-ts test bed placeholder for ${path} of ${p.name} ${vr}\n`;
        writeFileSync(full, content);
      }
      chmodSync(full, parseInt(f.mode ?? (f.dir ? '0755' : '0644'), 8));
    }
    L.push('');
  }
  return L.join('\n');
}

const summary = { keyId: a['key-id'], repos: [] };
const signList = [];
for (const repo of world.repos) {
  const dir = join(a.out, repo.path);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const entry = { id: repo.id, path: repo.path, packages: [], unchanged: [], files: [] };
  for (const src of repo.sources) {
    src.versions.forEach((vr, i) => {
      const tag = `${src.source}-${vr}`;
      const top = join(work, tag);
      const stage = join(top, 'stage');
      mkdirSync(stage, { recursive: true });
      const spec = join(top, `${src.source}.spec`);
      writeFileSync(spec, writeSpec(src, vr, repo.vendor, i > 0, stage));
      try {
        run('rpmbuild', ['-bb', '--quiet', '--target', src.arch === 'noarch' ? 'noarch' : src.arch,
          '--define', `_topdir ${top}`, '--define', '_buildhost copa-testbed',
          '--define', '_binary_payload w6.gzdio', '--define', '_build_id_links none', spec]);
      } catch (e) {
        fail(`rpmbuild ${tag}: ${e.stderr || e.message}`);
      }
      const rpmsDir = join(top, 'RPMS', src.arch);
      for (const f of readdirSync(rpmsDir)) {
        copyFileSync(join(rpmsDir, f), join(dir, f));
        signList.push(join(dir, f));
        entry.files.push(f);
      }
    });
    const first = src.versions[0];
    const last = src.versions.at(-1);
    for (const p of src.packages) {
      const base = { name: p.name, source: src.source, arch: src.arch, epoch: src.epoch ?? 0 };
      if (src.versions.length > 1) {
        entry.packages.push({ ...base, from: first, to: last, fromEvr: evrOf(src.epoch, first), toEvr: evrOf(src.epoch, last),
          marker: `${MARKER_DIR}/${p.name}-${last}` });
      } else entry.unchanged.push({ ...base, version: first, evr: evrOf(src.epoch, first) });
    }
  }
  entry.files.sort();
  summary.repos.push(entry);
}

// Sign everything in one rpmsign run (each call starts a gpg).
const gpgDefs = ['--define', `_gpg_name ${a['key-id']}`, '--define', `_gpg_path ${a.gnupghome}`, '--define', '_gpg_digest_algo sha256',
  // Debian's rpm names gpg2, which Debian does not ship under that name.
  '--define', `__gpg ${run('sh', ['-c', 'command -v gpg']).trim()}`];
try {
  run('rpmsign', ['--addsign', ...gpgDefs, ...signList], { env: { ...process.env, GNUPGHOME: a.gnupghome } });
} catch (e) {
  fail(`rpmsign: ${e.stderr || e.message}`);
}

// The real CentOS pair: only the new one goes into the repository, untouched.
const c = world.centos;
const cdir = join(a.out, c.path);
rmSync(cdir, { recursive: true, force: true });
mkdirSync(cdir, { recursive: true });
copyFileSync(join(a.fixtures, 'packages', c.new), join(cdir, c.new));
const q = (f, fmt) => run('rpm', ['-qp', '--nosignature', '--qf', fmt, f]).trim();
const cnew = join(cdir, c.new);
const cold = join(a.fixtures, 'packages', c.old);
summary.repos.push({
  id: c.id, path: c.path,
  packages: [{ name: 'centos-release', source: 'centos-release', arch: 'x86_64', epoch: 0,
    from: q(cold, '%{VERSION}-%{RELEASE}'), to: q(cnew, '%{VERSION}-%{RELEASE}'),
    fromEvr: q(cold, '%{EPOCHNUM}:%{VERSION}-%{RELEASE}'), toEvr: q(cnew, '%{EPOCHNUM}:%{VERSION}-%{RELEASE}'),
    marker: '/etc/centos-release', signedBy: q(cnew, '%{RSAHEADER:pgpsig}') }],
  unchanged: [], files: [c.new],
});

for (const r of summary.repos) {
  const dir = join(a.out, r.path);
  try {
    run('createrepo_c', ['--quiet', '--checksum', 'sha256', '--general-compress-type', 'gz', '--no-database', dir]);
    run('gpg', ['--batch', '--yes', '--local-user', a['key-id'], '--detach-sign', '--armor', join(dir, 'repodata', 'repomd.xml')],
      { env: { ...process.env, GNUPGHOME: a.gnupghome } });
  } catch (e) {
    fail(`metadata for ${r.path}: ${e.stderr || e.message}`);
  }
}
rmSync(work, { recursive: true, force: true });
if (a.summary) writeFileSync(a.summary, JSON.stringify(summary, null, 2) + '\n');
console.error(`make-repo: ${summary.repos.map((r) => `${r.path} (${r.files.length} rpms, ${r.packages.length} with fixes)`).join(', ')}`);
