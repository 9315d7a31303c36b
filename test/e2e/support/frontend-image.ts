// Builds the frontend image the way a user would (Dockerfile.frontend), but on the
// test bed's own Node base image, since no image can be pulled from the internet here.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot as repoRootOf } from './repo.js';
import { registryRef, runBuildctl, fetchManifest } from '../../env/testbed.js';

const repoRoot = repoRootOf();

async function exists(ref: string): Promise<boolean> {
  try {
    await fetchManifest(ref);
    return true;
  } catch {
    return false;
  }
}

async function buildctlOk(args: string[]) {
  const r = await runBuildctl(args);
  if (r.code !== 0) throw new Error(`buildctl ${args.join(' ')} failed (${r.code}):\n${r.stderr.slice(-4000)}`);
  return r;
}

/** A Node 20 runtime image: the bed's debian:12-slim plus this machine's node binary (and CA bundle, when it has one). */
export async function nodeBaseImage(): Promise<string> {
  const node = readFileSync(process.execPath);
  const CA = '/etc/ssl/certs/ca-certificates.crt';
  const ca = existsSync(CA) ? readFileSync(CA) : null;
  const tag = createHash('sha256').update(node).update(ca ?? '').digest('hex').slice(0, 12);
  const ref = registryRef(`node:20-testbed-${tag}`);
  if (await exists(ref)) return ref;
  const dir = mkdtempSync(join(tmpdir(), 'copa-node-'));
  try {
    copyFileSync(process.execPath, join(dir, 'node'));
    if (ca) writeFileSync(join(dir, 'ca-certificates.crt'), ca);
    const caLine = ca ? 'COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n' : '';
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${registryRef('debian:12-slim')}\nCOPY node /usr/local/bin/node\n${caLine}CMD ["node"]\n`);
    await buildctlOk([
      'build', '--frontend', 'dockerfile.v0', '--local', `context=${dir}`, '--local', `dockerfile=${dir}`,
      '--output', `type=image,name=${ref},push=true,registry.insecure=true`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return ref;
}

/**
 * The frontend image built from Dockerfile.frontend and build/frontend.mjs, tagged by content;
 * of this checkout, or of another (the bench's baseline worktree).
 */
export async function frontendImage(root = repoRoot): Promise<string> {
  const bundle = readFileSync(join(root, 'build/frontend.mjs'));
  const dockerfile = readFileSync(join(root, 'Dockerfile.frontend'));
  const base = await nodeBaseImage();
  const tag = createHash('sha256').update(bundle).update(dockerfile).update(base).digest('hex').slice(0, 12);
  const ref = registryRef(`copa-frontend:${tag}`);
  if (await exists(ref)) return ref;
  await buildctlOk([
    'build', '--frontend', 'dockerfile.v0', '--local', `context=${root}`, '--local', `dockerfile=${root}`,
    '--opt', 'filename=Dockerfile.frontend', '--opt', `build-arg:NODE_IMAGE=${base}`,
    '--output', `type=image,name=${ref},push=true,registry.insecure=true`,
  ]);
  return ref;
}
