// docker-copa entry point: the docker CLI plugin protocol (metadata, global flags before
// the plugin name, termination socket) around `patch`. Exit 0 on success and when there
// is nothing to update, 1 on any error, with one message that says what to do next.
import { parseArgv, watchPluginSocket } from './argv.js';
import { completions, parseCommandLine, UsageError } from './cli.js';
import { metadataJson } from './metadata.js';
import { isCopaError, type CopaError } from '../engine/errors.js';

const TITLES: Record<CopaError['category'], string> = {
  report: 'report invalid',
  input: 'invalid input',
  image: 'image problem',
  buildkit: 'cannot use BuildKit',
  auth: 'authentication failed',
  validation: 'validation failed',
  internal: 'internal error',
};

function categorize(e: unknown): CopaError['category'] | null {
  if (isCopaError(e)) return e.category;
  const msg = (e as Error)?.message ?? '';
  if (/401|403|unauthorized|authentication required|denied/i.test(msg)) return 'auth';
  return null;
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
  const stop = () => aborter.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  watchPluginSocket(stop);
  try {
    const cmd = parseCommandLine(inv.args, { prog, debug: inv.globals.debug });
    if (cmd.kind !== 'patch') {
      process.stdout.write(cmd.text);
      return 0;
    }
    const command = { ...cmd.command, debug: cmd.command.debug || inv.globals.debug };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        aborter.abort();
        reject(Object.assign(new Error(`patch exceeded the --timeout of ${command.timeout}`), { category: 'input' }));
      }, command.timeoutMs);
      timer.unref();
    });
    try {
      // Loaded only for `patch`: `docker --help` runs the metadata query of every plugin.
      const { runPatch } = await import('./patch.js');
      return await Promise.race([runPatch(command, { globals: inv.globals, prog, signal: aborter.signal }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(e.format(prog));
      return 1;
    }
    const cat = categorize(e);
    const text = isCopaError(e) ? e.describe() : ((e as Error)?.message ?? String(e));
    process.stderr.write(`${prog}: ${cat ? TITLES[cat] + ': ' : ''}${text}\n`);
    if (inv.globals.debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
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
