// The built single executable (build/docker-copa, from `npm run build`) under the real docker
// CLI: plugin discovery, metadata, --version, help, and global flags before the plugin name.
// Skipped when the executable or the docker CLI is not there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const exe = join(import.meta.dirname, '..', '..', 'build', 'docker-copa');
const docker = (process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'docker')).find((p) => existsSync(p));
let cfg = '';

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: cfg, DOCKER_HOST: 'unix:///nonexistent.sock' }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!existsSync(exe))('build/docker-copa', () => {
  beforeAll(() => {
    cfg = mkdtempSync(join(tmpdir(), 'copa-bin-'));
    mkdirSync(join(cfg, 'cli-plugins'));
    copyFileSync(exe, join(cfg, 'cli-plugins', 'docker-copa'));
  });
  afterAll(() => rmSync(cfg, { recursive: true, force: true }));

  it('answers the metadata query', () => {
    const r = run(exe, ['docker-cli-plugin-metadata']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ SchemaVersion: '0.1.0', ShortDescription: expect.any(String) });
  }, 60_000);

  it.skipIf(!docker)('is found and run by the docker CLI', () => {
    const help = run(docker!, ['--help']);
    expect(help.out).toMatch(/copa\*\s+Patch OS-package vulnerabilities in container images/);
    const v = run(docker!, ['copa', '--version']);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^docker-copa version \S+/);
    const ph = run(docker!, ['copa', 'patch', '--help']);
    expect(ph.code).toBe(0);
    expect(ph.out).toContain('Usage:  docker copa patch [OPTIONS]');
    const g = run(docker!, ['--context', 'default', '-D', 'copa', 'patch', '--help']);
    expect(g.code).toBe(0);
    expect(g.out).toContain('Usage:  docker copa patch [OPTIONS]');
    const bad = run(docker!, ['copa', 'patch', '--bogus']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('unknown flag: --bogus');
  }, 120_000);
});
