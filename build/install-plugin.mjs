// Installs the docker CLI plugin: copies build/docker-copa (the single executable made by
// build/sea.mjs) to ${DOCKER_CONFIG:-~/.docker}/cli-plugins/docker-copa, mode 0755.
// Then `docker copa …` works. Usage: node build/install-plugin.mjs [--from PATH] [--dir DIR]
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const from = opt('--from') ?? join(root, 'build', 'docker-copa');
const configDir = process.env.DOCKER_CONFIG || join(homedir(), '.docker');
const dir = opt('--dir') ?? join(configDir, 'cli-plugins');

if (!existsSync(from)) {
  console.error(`install-plugin: ${from} does not exist; build it first with 'npm run build'`);
  process.exit(1);
}
mkdirSync(dir, { recursive: true });
const dest = join(dir, 'docker-copa');
const tmp = `${dest}.${process.pid}.tmp`;
copyFileSync(from, tmp);
chmodSync(tmp, 0o755);
renameSync(tmp, dest); // atomic: a running `docker copa` keeps its old file
console.log(`installed ${dest} (${(statSync(dest).size / 1024 / 1024).toFixed(1)} MiB); try: docker copa patch --help`);
