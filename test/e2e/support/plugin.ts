// Running the real docker CLI with our plugin installed, as a user would.
import { copyFileSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot as repoRootOf } from './repo.js';
import { testbed, run, type RunResult } from '../../env/testbed.js';

const repoRoot = repoRootOf();
export const pluginBinary = join(repoRoot, 'build/docker-copa');

let installed = false;
/** Puts build/docker-copa into the bed's DOCKER_CONFIG/cli-plugins (the user's ~/.docker is untouched). */
export function installPlugin(): void {
  if (installed) return;
  const dir = join(testbed().dockerConfig, 'cli-plugins');
  mkdirSync(dir, { recursive: true });
  copyFileSync(pluginBinary, join(dir, 'docker-copa'));
  chmodSync(join(dir, 'docker-copa'), 0o755);
  installed = true;
}

export function dockerEnv(extra: Record<string, string> = {}): Record<string, string> {
  const t = testbed();
  return { DOCKER_HOST: t.dockerHost, DOCKER_CONFIG: t.dockerConfig, ...extra };
}

/** `docker copa …` through the real docker CLI. */
export function dockerCopa(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  installPlugin();
  return run(testbed().docker, ['copa', ...args], { env: dockerEnv(env) });
}

/** `docker …` against the bed's engine. */
export function docker(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(testbed().docker, args, { env: dockerEnv(env) });
}

/** Installed package versions inside an image in the bed's Docker engine, via docker run. */
export async function dpkgInContainer(image: string): Promise<Map<string, string>> {
  const r = await docker(['run', '--rm', '--network', 'host', '--user', '0', '--entrypoint', 'dpkg-query', image, '-W', '-f', '${Package}\t${Version}\n']);
  if (r.code !== 0) throw new Error(`docker run ${image} failed: ${r.stderr}`);
  return new Map(r.stdout.trim().split('\n').map((l) => l.split('\t') as [string, string]));
}
