// setTimeout takes at most 2^31-1 ms (about 24.8 days, 596.5 hours); a longer delay fires
// after 1 ms. --timeout accepts any Go duration, so long delays are waited in chunks.

export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/** Calls fn once after ms milliseconds, for any ms (Infinity: never). The timer does not keep the process alive. */
export function longTimeout(fn: () => void, ms: number, now: () => number = Date.now): LongTimer {
  const deadline = now() + ms;
  let t: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = () => {
    if (cleared || !Number.isFinite(deadline)) return;
    const left = deadline - now();
    if (left <= 0) {
      fn();
      return;
    }
    t = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    t.unref?.();
  };
  arm();
  return {
    clear() {
      cleared = true;
      if (t) clearTimeout(t);
    },
  };
}
