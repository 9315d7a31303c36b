// `npm run bench -- --against <git ref>`: before and after in one run, on the same BuildKit.
// A change meant to be faster is judged by medians of alternating cold runs (single runs on
// two cores vary by a second or more), so this builds the plugin and the frontend image of
// another commit in a throwaway git worktree and runs both sides in turn.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frontendImage } from '../e2e/support/frontend-image.js';

/** One side of the comparison: a plugin (in its own DOCKER_CONFIG) and a frontend image. */
export interface Side {
  label: string;
  dockerConfig: string;
  frontend: string;
}

function sh(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${(r.stdout + r.stderr).slice(-3000)}`);
  return r.stdout.trim();
}

/** A DOCKER_CONFIG whose only CLI plugin is `binary`. */
function configWith(binary: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'copa-bench-config-'));
  mkdirSync(join(dir, 'cli-plugins'));
  copyFileSync(binary, join(dir, 'cli-plugins', 'docker-copa'));
  writeFileSync(join(dir, 'config.json'), '{}\n');
  return dir;
}

/** This checkout's side (already built by `npm run bench`). */
export async function currentSide(root: string): Promise<{ side: Side; dispose: () => void }> {
  const dirty = sh('git', ['status', '--porcelain'], root) ? '+changes' : '';
  const dockerConfig = configWith(join(root, 'build/docker-copa'));
  const side = { label: `this tree (${sh('git', ['rev-parse', '--short', 'HEAD'], root)}${dirty})`, dockerConfig, frontend: await frontendImage(root) };
  return { side, dispose: () => rmSync(dockerConfig, { recursive: true, force: true }) };
}

/** The other commit's side, built in a worktree that `dispose` removes. */
export async function baselineSide(root: string, ref: string): Promise<{ side: Side; dispose: () => void }> {
  const commit = sh('git', ['rev-parse', '--verify', `${ref}^{commit}`], root);
  const tree = mkdtempSync(join(tmpdir(), 'copa-bench-baseline-'));
  sh('git', ['worktree', 'add', '--detach', tree, commit], root);
  let dockerConfig = '';
  const dispose = () => {
    spawnSync('git', ['worktree', 'remove', '--force', tree], { cwd: root, stdio: 'ignore' });
    rmSync(tree, { recursive: true, force: true });
    if (dockerConfig) rmSync(dockerConfig, { recursive: true, force: true });
  };
  try {
    symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
    sh(process.execPath, ['build/build.mjs'], tree);
    sh(process.execPath, ['build/sea.mjs'], tree);
    dockerConfig = configWith(join(tree, 'build/docker-copa'));
    return { side: { label: `${ref} (${commit.slice(0, 7)})`, dockerConfig, frontend: await frontendImage(tree) }, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

export interface Timing {
  cold: number[];
  warm: number[];
}

/**
 * `rounds` rounds; in each, every side runs cold (after `prune`) and then warm, and the
 * order of the sides alternates from round to round.
 */
export async function alternate(sides: Side[], rounds: number, prune: () => Promise<void>, run: (side: Side, tag: string) => Promise<number>): Promise<Map<Side, Timing>> {
  const out = new Map(sides.map((s) => [s, { cold: [] as number[], warm: [] as number[] }]));
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 ? [...sides].reverse() : sides) {
      await prune();
      out.get(side)!.cold.push(await run(side, `ab-${Date.now()}-c`));
      out.get(side)!.warm.push(await run(side, `ab-${Date.now()}-w`));
    }
  }
  return out;
}
