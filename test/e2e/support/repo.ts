import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root, found from this file (works from sources and from the bench bundle). */
export function repoRoot(): string {
  let dir = import.meta.dirname;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'copa-ts') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the copa-ts repository above ${import.meta.dirname}`);
    dir = up;
  }
}
