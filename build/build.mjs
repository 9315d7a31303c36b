// Bundles each entry point into one ESM file with esbuild:
//   build/frontend.mjs   — the BuildKit gateway frontend (copied into the frontend image)
//   build/docker-copa.mjs — the docker CLI plugin (turned into build/docker-copa by sea.mjs)
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const only = process.argv.slice(2);

const entries = [
  { name: 'frontend', entry: 'src/frontend/main.ts', out: 'build/frontend.mjs' },
  { name: 'plugin', entry: 'src/plugin/main.ts', out: 'build/docker-copa.mjs' },
  { name: 'bench', entry: 'test/bench/bench.ts', out: 'build/bench-run.mjs', onlyOnRequest: true },
].filter((e) => (only.length === 0 ? !e.onlyOnRequest : only.includes(e.name)));

for (const e of entries) {
  const t0 = Date.now();
  await build({
    entryPoints: [join(root, e.entry)],
    outfile: join(root, e.out),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    define: { 'process.env.COPA_VERSION': JSON.stringify(pkg.version) },
    // Some CommonJS dependencies call require(); give the ESM bundle one.
    banner: { js: "import { createRequire as __copaRequire } from 'node:module'; const require = __copaRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  console.log(`built ${e.out} in ${Date.now() - t0} ms`);
}
