// Normalises the command line for both ways the executable runs:
//
//  - as a docker CLI plugin: the CLI execs us with its own, complete argv (without "docker"),
//    so docker's global flags may come before our name: `--context x -D copa patch -i …`,
//    `help copa`, `__complete copa …`; the environment carries
//    DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND;
//  - standalone: `docker-copa patch -i …`.
//
// `docker-copa docker-cli-plugin-metadata` (argv[1], no plugin name) is the metadata query.
import net from 'node:net';
import { CopaError } from '../engine/errors.js';

/** The docker CLI's global flags (cli/flags/options.go), as given before the plugin name. */
export interface DockerGlobals {
  /** --config DIR: the docker config directory. */
  config?: string;
  /** -c/--context NAME. */
  context?: string;
  /** -H/--host URL (the last one given). */
  host?: string;
  /** -D/--debug. */
  debug: boolean;
  /** -l/--log-level. */
  logLevel?: string;
  /** --tls. */
  tls: boolean;
  /** --tlsverify (implies --tls). */
  tlsVerify: boolean;
  tlsCaCert?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export type Invocation =
  /** `docker-copa docker-cli-plugin-metadata`: print the metadata JSON. */
  | { mode: 'metadata' }
  /** `docker-copa copa docker-cli-plugin-hooks '<json>'`: a CLI hook (we register none). */
  | { mode: 'hooks'; plugin: true; globals: DockerGlobals; request: string }
  /** `__complete copa …`: shell completion; args after the plugin name, last = word being completed. */
  | { mode: 'complete'; plugin: boolean; globals: DockerGlobals; args: string[] }
  /** Everything else: args are our own command line (`patch -i …`, `--help`, `--version`). */
  | { mode: 'run'; plugin: boolean; globals: DockerGlobals; args: string[] };

export const METADATA_SUBCOMMAND = 'docker-cli-plugin-metadata';
export const HOOKS_SUBCOMMAND = 'docker-cli-plugin-hooks';
/** Set by the docker CLI in the plugin's environment (its own argv[0]). */
export const PLUGIN_ENV = 'DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND';

export function emptyGlobals(): DockerGlobals {
  return { debug: false, tls: false, tlsVerify: false };
}

/** True when the docker CLI started us as a plugin. */
export function runningAsPlugin(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env[PLUGIN_ENV]);
}

/**
 * The user arguments of this process: argv without the node binary and script. In a Node
 * single-executable application argv[1] repeats the executable path, so slice(2) holds there too.
 */
export function processArgs(argv: readonly string[] = process.argv): string[] {
  return argv.slice(2);
}

type ValueFlag = 'config' | 'context' | 'host' | 'logLevel' | 'tlsCaCert' | 'tlsCert' | 'tlsKey';
type BoolFlag = 'debug' | 'tls' | 'tlsVerify';

const LONG_VALUE: Record<string, ValueFlag> = {
  config: 'config',
  context: 'context',
  host: 'host',
  'log-level': 'logLevel',
  tlscacert: 'tlsCaCert',
  tlscert: 'tlsCert',
  tlskey: 'tlsKey',
};
const LONG_BOOL: Record<string, BoolFlag> = { debug: 'debug', tls: 'tls', tlsverify: 'tlsVerify' };
const SHORT_VALUE: Record<string, ValueFlag> = { c: 'context', H: 'host', l: 'logLevel' };
const SHORT_BOOL: Record<string, BoolFlag> = { D: 'debug' };

function parseBool(flag: string, v: string): boolean {
  if (/^(1|t|true|TRUE|True)$/.test(v)) return true;
  if (/^(0|f|false|FALSE|False)$/.test(v)) return false;
  throw new CopaError('input', `invalid value "${v}" for docker flag ${flag}: use true or false`);
}

/**
 * Parses docker global flags from the front of argv. Returns the globals and the index of the
 * first positional argument (argv.length when there is none).
 */
export function parseDockerGlobals(argv: readonly string[]): { globals: DockerGlobals; next: number } {
  const g = emptyGlobals();
  const setValue = (k: ValueFlag, v: string) => {
    g[k] = v;
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      i++;
      break;
    }
    if (!tok.startsWith('-') || tok === '-') break;
    const needValue = (flag: string): string => {
      if (i + 1 >= argv.length) throw new CopaError('input', `docker flag ${flag} needs an argument`);
      return argv[++i]!;
    };
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
      const inline = eq === -1 ? undefined : tok.slice(eq + 1);
      if (LONG_VALUE[name]) {
        setValue(LONG_VALUE[name], inline ?? needValue(`--${name}`));
      } else if (LONG_BOOL[name]) {
        g[LONG_BOOL[name]] = inline === undefined ? true : parseBool(`--${name}`, inline);
      } else {
        throw new CopaError('input', `unknown docker global flag ${tok} before the plugin name`, {
          hint: 'docker global flags are --config, -c/--context, -D/--debug, -H/--host, -l/--log-level, --tls, --tlsverify, --tlscacert, --tlscert, --tlskey',
        });
      }
      continue;
    }
    // Short flags, possibly clustered: -D, -c ctx, -cctx, -c=ctx, -Dc ctx.
    const body = tok.slice(1);
    for (let j = 0; j < body.length; j++) {
      const ch = body[j]!;
      if (SHORT_BOOL[ch]) {
        if (body[j + 1] === '=') {
          g[SHORT_BOOL[ch]] = parseBool(`-${ch}`, body.slice(j + 2));
          break;
        }
        g[SHORT_BOOL[ch]] = true;
        continue;
      }
      if (SHORT_VALUE[ch]) {
        let rest = body.slice(j + 1);
        if (rest.startsWith('=')) rest = rest.slice(1);
        setValue(SHORT_VALUE[ch], rest !== '' ? rest : needValue(`-${ch}`));
        break;
      }
      throw new CopaError('input', `unknown docker global flag -${ch} (in ${tok}) before the plugin name`);
    }
  }
  if (g.tlsVerify) g.tls = true;
  return { globals: g, next: i };
}

/**
 * Turns the process arguments into an Invocation.
 * @param argv the user arguments (see processArgs)
 */
export function parseArgv(argv: readonly string[] = processArgs(), env: NodeJS.ProcessEnv = process.env): Invocation {
  if (argv[0] === METADATA_SUBCOMMAND) return { mode: 'metadata' };
  const plugin = runningAsPlugin(env);
  if (!plugin) {
    // Standalone: our own command line as given. `help [cmd]` is accepted as a courtesy.
    if (argv[0] === 'help') return { mode: 'run', plugin, globals: emptyGlobals(), args: [...argv.slice(1), '--help'] };
    if (argv[0] === '__complete') return { mode: 'complete', plugin, globals: emptyGlobals(), args: argv.slice(1) };
    return { mode: 'run', plugin, globals: emptyGlobals(), args: [...argv] };
  }

  const { globals, next } = parseDockerGlobals(argv);
  const rest = argv.slice(next);
  const first = rest[0];
  if (first === undefined) return { mode: 'run', plugin, globals, args: ['--help'] };
  if (first === 'help') {
    // `docker help copa [cmd]` → `copa [cmd] --help`
    return { mode: 'run', plugin, globals, args: [...rest.slice(2), '--help'] };
  }
  if (first === '__complete') return { mode: 'complete', plugin, globals, args: rest.slice(2) };
  // rest[0] is our plugin name (whatever the binary is called).
  const args = rest.slice(1);
  if (args[0] === HOOKS_SUBCOMMAND) return { mode: 'hooks', plugin: true, globals, request: args[1] ?? '' };
  return { mode: 'run', plugin, globals, args };
}

/**
 * Under the docker CLI, DOCKER_CLI_PLUGIN_SOCKET names a (usually abstract) unix socket; the CLI
 * closes it to ask the plugin to stop (Ctrl-C when stdout is not a terminal). Connects to it and
 * calls onTerminate once on EOF. The socket does not keep the process alive.
 */
export function watchPluginSocket(onTerminate: () => void, env: NodeJS.ProcessEnv = process.env): net.Socket | undefined {
  const addr = env.DOCKER_CLI_PLUGIN_SOCKET;
  if (!addr) return undefined;
  const path = addr.startsWith('@') ? '\0' + addr.slice(1) : addr;
  let fired = false;
  const fire = () => {
    if (!fired) {
      fired = true;
      onTerminate();
    }
  };
  const sock = net.connect({ path });
  let connected = false;
  sock.on('connect', () => {
    connected = true;
    sock.unref();
  });
  sock.on('data', () => {}); // nothing is ever sent; keep the stream flowing to see EOF
  sock.on('end', fire);
  sock.on('close', () => {
    if (connected) fire();
  });
  sock.on('error', () => {}); // no socket: nothing to watch
  sock.unref();
  return sock;
}
