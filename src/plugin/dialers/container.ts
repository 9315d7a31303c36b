// docker-container://NAME[?context=CTX] (and podman-container://, nerdctl-container://):
// `docker [--context CTX] exec -i NAME buildctl dial-stdio`, whose stdin/stdout is the stream.
import { spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { spawnStdio } from './spawn.js';
import { DialError, StreamTracker, type Dialer } from './types.js';
import { dockerCommand, dockerGlobalArgs } from './docker-cli.js';
import type { DockerGlobals } from '../argv.js';

export interface ContainerDialerOptions {
  runtime?: 'docker' | 'podman' | 'nerdctl';
  container: string;
  /** docker context to run in (?context=). */
  context?: string;
  /** docker host to run against (a buildx node endpoint that is a URL). */
  host?: string;
  globals?: Partial<DockerGlobals>;
  env?: NodeJS.ProcessEnv;
  /** Run `docker start NAME` and retry once when the container is stopped (buildx builders). */
  startIfStopped?: boolean;
  /** Overrides the address shown in messages. */
  describe?: string;
}

function runQuiet(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.on('error', (e) => resolve({ code: -1, output: e.message }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

export function containerDialer(opts: ContainerDialerOptions): Dialer {
  const runtime = opts.runtime ?? 'docker';
  const env = opts.env ?? process.env;
  const command = runtime === 'docker' ? dockerCommand(env) : runtime;
  const override: { context?: string; host?: string } = {};
  if (opts.context) override.context = opts.context;
  if (opts.host) override.host = opts.host;
  const globalArgs = runtime === 'docker' ? dockerGlobalArgs(opts.globals, override) : [];
  const args = [...globalArgs, 'exec', '-i', opts.container, 'buildctl', 'dial-stdio'];
  const describe =
    opts.describe ?? `${runtime}-container://${opts.container}${opts.context ? `?context=${encodeURIComponent(opts.context)}` : ''}`;
  const tracker = new StreamTracker();
  const hint = `check that the container ${opts.container} runs buildkitd ('${command} ${[...globalArgs, 'ps'].join(' ')}'), or pass another --addr`;

  const once = async (): Promise<Duplex> => {
    const s = await spawnStdio({ command, args, env, address: describe, describe: `${command} ${args.join(' ')}`, hint });
    return s;
  };

  return {
    describe,
    scheme: `${runtime}-container` as Dialer['scheme'],
    dial: async () => {
      if (opts.startIfStopped) {
        // A stopped buildx container makes exec fail at once; start it first (cheap when running).
        const r = await runQuiet(command, [...globalArgs, 'inspect', '--format', '{{.State.Running}}', opts.container], env);
        if (r.code === 0 && r.output.trim() === 'false') {
          const s = await runQuiet(command, [...globalArgs, 'start', opts.container], env);
          if (s.code !== 0) throw new DialError(describe, `cannot start the builder container ${opts.container}: ${s.output.trim()}`, { hint });
        }
      }
      return tracker.add(await once());
    },
    close: () => tracker.closeAll(),
  };
}
