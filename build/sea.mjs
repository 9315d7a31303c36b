// Builds build/docker-copa: ONE executable (Node single-executable application) that holds
// the docker CLI plugin, so users need no Node installation.
//
//   1. esbuild bundles src/plugin/main.ts as CommonJS (build/docker-copa.cjs): on Node 20 a
//      SEA's main script must be CommonJS and can require() only built-in modules;
//   2. `node --experimental-sea-config` turns it into a blob (with V8's code cache: faster start);
//   3. a copy of this Node binary (debug symbols stripped when `strip` exists) gets the blob
//      injected as the NODE_SEA_BLOB resource with postject, which also flips the SEA fuse.
//
// Usage: node build/sea.mjs [--no-strip] [--no-code-cache] [--out PATH] [--entry src/plugin/main.ts]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const out = outIdx >= 0 ? args[outIdx + 1] : join(root, 'build', 'docker-copa');
const doStrip = !args.includes('--no-strip') && process.platform === 'linux';
const entryIdx = args.indexOf('--entry');
const entry = entryIdx >= 0 ? args[entryIdx + 1] : join(root, 'src/plugin/main.ts');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const t0 = Date.now();

// 1. CommonJS bundle.
const cjs = join(root, 'build', 'docker-copa.cjs');
await build({
  entryPoints: [entry],
  outfile: cjs,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  define: {
    'process.env.COPA_VERSION': JSON.stringify(pkg.version),
    // ESM-only dependencies (yargs) read import.meta.url; give them the executable's URL.
    'import.meta.url': '__copaImportMetaUrl',
    'import.meta.filename': '__copaImportMetaFilename',
    'import.meta.dirname': '__copaImportMetaDirname',
  },
  banner: {
    js: [
      "var __copaImportMetaFilename = typeof __filename === 'string' ? __filename : process.execPath;",
      "var __copaImportMetaDirname = require('node:path').dirname(__copaImportMetaFilename);",
      "var __copaImportMetaUrl = require('node:url').pathToFileURL(__copaImportMetaFilename).href;",
    ].join(' '),
  },
  logLevel: 'error',
});

// 2. The SEA blob.
const work = mkdtempSync(join(tmpdir(), 'copa-sea-'));
try {
  const blob = join(work, 'sea-prep.blob');
  const config = join(work, 'sea-config.json');
  writeFileSync(
    config,
    JSON.stringify({ main: cjs, output: blob, disableExperimentalSEAWarning: true, useCodeCache: !args.includes('--no-code-cache') }, null, 2),
  );
  const prep = spawnSync(process.execPath, ['--experimental-sea-config', config], { encoding: 'utf8' });
  if (prep.status !== 0) {
    console.error(`sea: node --experimental-sea-config failed:\n${prep.stdout}${prep.stderr}`);
    process.exit(1);
  }

  // 3. Copy node, strip it, inject the blob.
  const tmpExe = join(work, 'docker-copa');
  copyFileSync(process.execPath, tmpExe);
  chmodSync(tmpExe, 0o755);
  if (doStrip) {
    const r = spawnSync('strip', ['--strip-debug', tmpExe], { stdio: 'ignore' });
    if (r.error || r.status !== 0) console.warn('sea: strip not available or failed; keeping debug symbols');
  }
  const { inject } = (await import('postject')).default ?? (await import('postject'));
  // LIEF (inside postject) warns about every unnamed ELF note section of Node's binary; harmless.
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk, ...rest) =>
    /Can't find string offset for section name/.test(String(chunk)) ? true : write(chunk, ...rest);
  const warn = console.warn;
  console.warn = (...a) => (/Can't find string offset/.test(a.join(' ')) ? undefined : warn(...a));
  try {
    await inject(tmpExe, 'NODE_SEA_BLOB', readFileSync(blob), {
      sentinelFuse: SENTINEL_FUSE,
      ...(process.platform === 'darwin' ? { machoSegmentName: 'NODE_SEA' } : {}),
    });
  } finally {
    process.stderr.write = write;
    console.warn = warn;
  }
  if (process.platform === 'darwin') spawnSync('codesign', ['--sign', '-', tmpExe], { stdio: 'inherit' });
  copyFileSync(tmpExe, `${out}.tmp`);
  chmodSync(`${out}.tmp`, 0o755);
  renameSync(`${out}.tmp`, out);
} finally {
  rmSync(work, { recursive: true, force: true });
}

// Smoke test: the executable must answer the docker CLI's metadata query.
const meta = spawnSync(out, ['docker-cli-plugin-metadata'], { encoding: 'utf8' });
if (meta.status !== 0 || !meta.stdout.includes('"SchemaVersion"')) {
  console.error(`sea: ${out} does not run: ${meta.stderr || meta.error}`);
  process.exit(1);
}
const mb = (statSync(out).size / 1024 / 1024).toFixed(1);
console.log(`built ${out.startsWith(root) ? out.slice(root.length + 1) : out} (${mb} MiB, node ${process.version}) in ${Date.now() - t0} ms`);
