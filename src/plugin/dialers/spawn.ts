// A child process's stdin/stdout as one byte stream: `docker exec -i X buildctl dial-stdio`,
// `docker buildx dial-stdio`, `docker system dial-stdio`, `ssh host buildctl dial-stdio`.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Duplex } from 'node:stream';
import { DialError } from './types.js';

const STDERR_KEEP = 8192;

/** The child's stdout is our readable side, its stdin our writable side. */
export class ChildStream extends Duplex {
  readonly child: ChildProcessWithoutNullStreams;
  private stderrTail = '';
  private exited = false;

  constructor(
    child: ChildProcessWithoutNullStreams,
    private readonly describe: string,
    private readonly address: string,
  ) {
    super({ allowHalfOpen: true });
    this.child = child;
    child.stdout.on('data', (d: Buffer) => {
      if (!this.push(d)) child.stdout.pause();
    });
    child.stdout.on('end', () => this.push(null));
    child.stdout.on('error', (e) => this.destroy(e));
    child.stdin.on('error', () => {
      /* EPIPE after the child exits: reported through 'exit' */
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-STDERR_KEEP);
      this.emit('stderr', d);
    });
    child.on('exit', () => {
      this.exited = true;
    });
    // 'close' comes after stderr is drained, so the message can include it.
    child.on('close', (code, signal) => {
      this.exited = true;
      if (this.destroyed || code === 0) return; // on success stdout's 'end' closes the readable side
      const why = code !== null ? `exited with code ${code}` : `was killed by ${signal}`;
      this.destroy(new DialError(this.address, `${this.describe} ${why}${this.stderrSuffix()}`));
    });
  }

  /** The last bytes the child wrote to stderr. */
  get stderr(): string {
    return this.stderrTail;
  }

  stderrSuffix(): string {
    const t = this.stderrTail.trim();
    return t ? `: ${t}` : '';
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.exited || this.child.stdin.destroyed) {
      cb(new DialError(this.address, `${this.describe} has exited${this.stderrSuffix()}`));
      return;
    }
    this.child.stdin.write(chunk, (e) => cb(e ?? null));
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.child.stdin.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (!this.exited) {
      this.child.stdin.destroy();
      this.child.kill('SIGTERM');
      const t = setTimeout(() => {
        if (!this.exited) this.child.kill('SIGKILL');
      }, 2000);
      t.unref();
    }
    cb(err);
  }
}

export interface SpawnStdioOptions {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** For messages: "docker exec -i buildkitd buildctl dial-stdio". */
  describe?: string;
  /** The address the user gave (DialError.address). */
  address: string;
  /** What to do when the command cannot start or fails before it is ready. */
  hint?: string;
  /** The stream is usable once a stderr line satisfies this (default: as soon as the process starts). */
  ready?: (stderrLine: string) => boolean;
  /** How long to wait for `ready` (default 120 s: a builder may need to boot). */
  readyTimeoutMs?: number;
  /** Receives every stderr line (debug logging). */
  onStderrLine?: (line: string) => void;
}

/** Spawns the command and resolves with its stdio stream once it is ready. */
export function spawnStdio(opts: SpawnStdioOptions): Promise<ChildStream> {
  const describe = opts.describe ?? [opts.command, ...opts.args].join(' ');
  return new Promise((resolve, reject) => {
    let settled = false;
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(opts.command, opts.args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      reject(new DialError(opts.address, `cannot run ${describe}: ${(e as Error).message}`, { ...(opts.hint ? { hint: opts.hint } : {}), cause: e }));
      return;
    }
    const stream = new ChildStream(child, describe, opts.address);
    let timer: NodeJS.Timeout | undefined;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      stream.destroy();
      reject(err);
    };
    const succeed = () => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      stream.off('error', onEarlyError);
      resolve(stream);
    };
    const onEarlyError = (e: Error) => {
      const hint = opts.hint;
      fail(e instanceof DialError && hint && !e.hint ? new DialError(opts.address, e.message, { hint, cause: e }) : e);
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        fail(new DialError(opts.address, `cannot run ${describe}: ${opts.command} not found on PATH`, {
          hint: opts.hint ?? `install ${opts.command}, or pass another --addr`,
          cause: e,
        }));
      } else fail(new DialError(opts.address, `cannot run ${describe}: ${e.message}`, { cause: e }));
    });
    stream.on('error', onEarlyError);

    let pending = '';
    const onLine = (line: string) => {
      opts.onStderrLine?.(line);
      if (!settled && opts.ready?.(line)) succeed();
    };
    stream.on('stderr', (d: string) => {
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl).replace(/\r$/, ''));
        pending = pending.slice(nl + 1);
      }
    });
    child.once('close', (code) => {
      if (!settled && code === 0) {
        fail(new DialError(opts.address, `${describe} exited before it was ready${stream.stderrSuffix()}`, opts.hint ? { hint: opts.hint } : {}));
      }
    });

    if (!opts.ready) {
      child.once('spawn', succeed);
    } else {
      timer = setTimeout(() => {
        fail(new DialError(opts.address, `${describe} was not ready after ${Math.round((opts.readyTimeoutMs ?? 120_000) / 1000)} s${stream.stderrSuffix()}`, opts.hint ? { hint: opts.hint } : {}));
      }, opts.readyTimeoutMs ?? 120_000);
      timer.unref();
    }
  });
}
