// Stopping a running `docker copa patch`: Ctrl-C (SIGINT), SIGTERM, the docker CLI closing
// the plugin socket, or --timeout. Each aborts one AbortSignal whose reason is an Interrupted
// error; the patch cancels its BuildKit build on it (nothing is exported) and the process
// exits with the shell's code for the signal.
import { CopaError } from '../engine/errors.js';

export type InterruptCause = 'SIGINT' | 'SIGTERM' | 'docker-cli' | 'timeout';

const EXIT: Record<InterruptCause, number> = { SIGINT: 130, SIGTERM: 143, 'docker-cli': 130, timeout: 1 };

const WHAT: Record<InterruptCause, string> = {
  SIGINT: 'interrupted (SIGINT)',
  SIGTERM: 'terminated (SIGTERM)',
  'docker-cli': 'stopped by the docker CLI',
  timeout: 'timed out',
};

export class Interrupted extends CopaError {
  /** 130 for SIGINT, 143 for SIGTERM (128 + signal number, as a shell reports it), 1 for --timeout. */
  readonly exitCode: number;

  constructor(
    readonly by: InterruptCause,
    detail: string,
  ) {
    super('interrupted', `${WHAT[by]}: ${detail}`);
    this.name = 'Interrupted';
    this.exitCode = EXIT[by];
  }

  /** The same interruption, saying what had already happened when it arrived. */
  withDetail(detail: string): Interrupted {
    return new Interrupted(this.by, detail);
  }
}

export const CANCELLED_NOTHING_WRITTEN = 'the build was cancelled; nothing was pushed, loaded or written';

export function isInterrupted(e: unknown): e is Interrupted {
  return e instanceof Interrupted;
}

/** The Interrupted reason of an aborted signal (a generic one when something else aborted it). */
export function interruption(signal: AbortSignal): Interrupted {
  const r = signal.reason as unknown;
  return r instanceof Interrupted ? r : new Interrupted('SIGINT', CANCELLED_NOTHING_WRITTEN);
}

/** Rejects with the signal's Interrupted reason as soon as it aborts; otherwise settles like p. */
export function withAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(interruption(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(interruption(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Throws the signal's Interrupted reason when it has aborted. */
export function throwIfInterrupted(signal: AbortSignal): void {
  if (signal.aborted) throw interruption(signal);
}
