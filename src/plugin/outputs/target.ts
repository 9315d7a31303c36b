// What the client-side outputs (docker load, OCI directory) have in common: a FileSend
// target with a result and a way to abort it.
import type { FileSendTarget } from '../session/filesend.js';

export interface ExportTarget<R> extends FileSendTarget {
  /** What it is, for messages: "docker load into unix:///var/run/docker.sock", "OCI layout ./out". */
  readonly describe: string;
  /** Whether the daemon has started sending (open() was called). */
  readonly opened: boolean;
  /**
   * Settles when the output is complete (resolves) or failed / was cancelled (rejects).
   * Never rejects unhandled: a handler is attached internally.
   */
  readonly result: Promise<R>;
  /**
   * Aborts the output: an upload in progress is destroyed (nothing half-loaded stays
   * behind), temporary files are removed, and `result` rejects with the reason. No effect
   * once the output completed.
   */
  cancel(reason?: Error): void;
}

/** A promise with its resolve/reject exposed, pre-marked as handled. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void; settled: () => boolean } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  let done = false;
  const promise = new Promise<T>((res, rej) => {
    resolve = (v) => {
      done = true;
      res(v);
    };
    reject = (e) => {
      done = true;
      rej(e);
    };
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject, settled: () => done };
}
