// A package-index refresh must run on every patch (an index fetched yesterday misses today's
// fixes), yet its cache mounts should persist so that a repeat only re-checks what changed.
// BuildKit's ignore_cache gives a step a fresh, empty cache mount each time, so instead the
// step carries a value unique to the patch in its environment: its cache key is new on every
// patch, its cache mounts are kept, and the steps after it are still reused when the refreshed
// indexes come out byte-identical (BuildKit keys them by content).
import type { ImageView } from './package-manager.js';

/** The variable the refresh step carries; package managers ignore it. */
export const REFRESH_ENV = 'COPA_REFRESH';

/** The environment for a step that must run on every patch: `env` plus this patch's token. */
export function everyPatch(view: Pick<ImageView, 'refreshToken'>, env: Record<string, string> = {}): Record<string, string> {
  return { ...env, [REFRESH_ENV]: view.refreshToken };
}
