// Derived test images, built and pushed on the bed with BuildKit's built-in Dockerfile
// frontend (no image is pulled from the internet).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registryRef, runBuildctl } from '../../env/testbed.js';

/** Build `dockerfile` and push it as <registry>/<repo>:<tag>; returns the reference. */
export async function buildImage(tag: string, dockerfile: string, repo = 'safety-input'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'copa-df-'));
  try {
    writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    const ref = registryRef(`${repo}:${tag}`);
    const r = await runBuildctl(['build', '--progress=plain', '--frontend', 'dockerfile.v0', '--local', `context=${dir}`, '--local', `dockerfile=${dir}`, '--output', `type=image,name=${ref},push=true,registry.insecure=true`]);
    if (r.code !== 0) throw new Error(`building ${ref} failed:\n${(r.stdout + r.stderr).slice(-3000)}`);
    return ref;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
