// docker-copa entry point: the docker CLI plugin protocol (metadata, global flags before
// the plugin name, termination socket) around `patch`. Exit 0 on success and when there
// is nothing to update, 130 after Ctrl-C (SIGINT), 143 after SIGTERM, 1 on any other error,
// with one message that says what to do next.
import { parseArgv, watchPluginSocket } from './argv.js';
import { completions, parseCommandLine, UsageError } from './cli.js';
import { metadataJson } from './metadata.js';
import { isCopaError, type CopaError } from '../engine/errors.js';
import { escapeControls } from '../engine/text.js';
import { CANCELLED_NOTHING_WRITTEN, Interrupted, isInterrupted, type InterruptCause } from './interrupt.js';
import { longTimeout, type LongTimer } from './timer.js';
import { fsErrorCategory } from './outputs/writable.js';

const TITLES: Record<CopaError['category'], string> = {
  report: 'report invalid',
  input: 'invalid input',
  image: 'image problem',
  buildkit: 'cannot use BuildKit',
  auth: 'authentication failed',
  validation: 'validation failed',
  internal: 'internal error',
  interrupted: '', // the message says it: "interrupted (SIGINT): …"
  system: 'system error',
};

/** After an interrupt, how long the patch may take to cancel its build and clean up. */
const CANCEL_GRACE_MS = 5000;

function categorize(e: unknown): CopaError['category'] | null {
  if (isCopaError(e)) return e.category;
  if (fsErrorCategory(e) === 'system') return 'system';
  const msg = (e as Error)?.message ?? '';
  if (/401|403|unauthorized|authentication required|denied/i.test(msg)) return 'auth';
  return null;
}

/** Every line made inert: messages quote report, image and daemon text. */
function safeLines(s: string): string {
  return s.split('\n').map(escapeControls).join('\n');
}

async function main(): Promise<number> {
  const inv = parseArgv();
  if (inv.mode === 'metadata') {
    process.stdout.write(metadataJson());
    return 0;
  }
  if (inv.mode === 'hooks') return 0;
  if (inv.mode === 'complete') {
    process.stdout.write(completions(inv.args));
    return 0;
  }
  const prog = inv.plugin ? 'docker copa' : 'docker-copa';
  const aborter = new AbortController();
  const stop = (by: InterruptCause, detail = CANCELLED_NOTHING_WRITTEN) => {
    if (!aborter.signal.aborted) aborter.abort(new Interrupted(by, detail));
  };
  // Once: a second Ctrl-C ends the process at once (the default action).
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  watchPluginSocket(() => stop('docker-cli'));
  try {
    const cmd = parseCommandLine(inv.args, { prog, debug: inv.globals.debug });
    if (cmd.kind !== 'patch') {
      process.stdout.write(cmd.text);
      return 0;
    }
    const command = { ...cmd.command, debug: cmd.command.debug || inv.globals.debug };
    let grace: NodeJS.Timeout | undefined;
    // The patch itself rejects with the Interrupted reason once it has cancelled its build;
    // this only bounds how long that may take.
    const stopped = new Promise<never>((_, reject) => {
      const onAbort = () => {
        grace = setTimeout(() => reject(aborter.signal.reason), CANCEL_GRACE_MS);
        grace.unref();
      };
      if (aborter.signal.aborted) onAbort();
      else aborter.signal.addEventListener('abort', onAbort, { once: true });
    });
    stopped.catch(() => undefined);
    const timer: LongTimer = longTimeout(() => stop('timeout', `the patch exceeded the --timeout of ${command.timeout}; ${CANCELLED_NOTHING_WRITTEN}`), command.timeoutMs);
    try {
      // Loaded only for `patch`: `docker --help` runs the metadata query of every plugin.
      const { runPatch } = await import('./patch.js');
      return await Promise.race([runPatch(command, { globals: inv.globals, prog, signal: aborter.signal }), stopped]);
    } finally {
      timer.clear();
      clearTimeout(grace);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(e.format(prog));
      return 1;
    }
    const cat = categorize(e);
    const text = isCopaError(e) ? e.describe() : ((e as Error)?.message ?? String(e));
    process.stderr.write(`${prog}: ${cat && TITLES[cat] ? TITLES[cat] + ': ' : ''}${safeLines(text)}\n`);
    if (inv.globals.debug && e instanceof Error && e.stack) process.stderr.write(`${safeLines(e.stack)}\n`);
    return isInterrupted(e) ? e.exitCode : 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    // Child dialers or sockets must not keep a finished command alive.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (e) => {
    process.stderr.write(`docker-copa: internal error: ${(e as Error)?.stack ?? e}\n`);
    process.exit(1);
  },
);
