// --addr: where BuildKit is, and how to open a stream to its gRPC server.
//
//   unix:///path                         a buildkitd socket
//   tcp://host:port                      buildkitd over TCP; TLS with --cacert/--cert/--key
//   docker://[host|context]              the Docker engine's BuildKit (POST /grpc, h2c upgrade)
//   buildx://[builder]                   a buildx builder (docker buildx dial-stdio)
//   docker-container://NAME[?context=C]  buildkitd in a container (docker exec … buildctl dial-stdio)
//   podman-container://NAME, nerdctl-container://NAME, ssh://[user@]host[:port][?socket=PATH]
//   (none)                               auto: the Docker engine, then the current buildx builder,
//                                        then unix:///run/buildkit/buildkitd.sock
import { readFileSync } from 'node:fs';
import { CopaError, quote } from '../engine/errors.js';
import type { DockerGlobals } from './argv.js';
import { currentContextName, dockerConfigDir as defaultConfigDir, resolveDockerEndpoint, type DockerEndpoint } from './docker-config.js';
import { buildxDialer, readBuildxStore, type BuildxTarget } from './dialers/buildx.js';
import { containerDialer } from './dialers/container.js';
import { dockerCommand, dockerGlobalArgs } from './dialers/docker-cli.js';
import { dockerEngineDialer } from './dialers/docker-engine.js';
import { tcpDialer, unixDialer } from './dialers/socket.js';
import { spawnStdio } from './dialers/spawn.js';
import { failingDialer, StreamTracker, type Dialer, type DialerTls } from './dialers/types.js';

export type { Dialer, DialerScheme, DialerTls } from './dialers/types.js';
export { DialError } from './dialers/types.js';

export const DEFAULT_BUILDKIT_ADDRESS = 'unix:///run/buildkit/buildkitd.sock';
export const SUPPORTED_SCHEMES = [
  'unix://',
  'tcp://',
  'docker://',
  'buildx://',
  'docker-container://',
  'podman-container://',
  'nerdctl-container://',
  'ssh://',
] as const;

export type ParsedAddress =
  | { scheme: 'unix'; path: string }
  | { scheme: 'tcp'; host: string; port: number }
  | { scheme: 'docker'; host?: string; context?: string }
  | { scheme: 'buildx'; builder?: string }
  | { scheme: 'docker-container' | 'podman-container' | 'nerdctl-container'; container: string; context?: string }
  | { scheme: 'ssh'; host: string; user?: string; port?: number; socket?: string };

function bad(addr: string, why: string, hint?: string): never {
  throw new CopaError('input', `--addr ${quote(addr)} ${why}`, {
    hint: hint ?? `use one of ${SUPPORTED_SCHEMES.join(', ')} — e.g. ${DEFAULT_BUILDKIT_ADDRESS}, docker://, buildx://mybuilder, tcp://127.0.0.1:1234`,
  });
}

/** Parses an --addr value. Throws CopaError('input') naming --addr. */
export function parseAddress(addr: string): ParsedAddress {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(addr.trim());
  if (!m) bad(addr, 'is not an address (scheme://…)');
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  switch (scheme) {
    case 'unix': {
      if (rest === '') bad(addr, 'has no socket path', 'e.g. unix:///run/buildkit/buildkitd.sock');
      return { scheme: 'unix', path: rest };
    }
    case 'tcp': {
      let u: URL;
      try {
        u = new URL(`http://${rest}`);
      } catch {
        bad(addr, 'is not tcp://HOST:PORT', 'e.g. tcp://127.0.0.1:1234');
      }
      if (!u.hostname || !u.port || (u.pathname !== '/' && u.pathname !== '')) bad(addr, 'is not tcp://HOST:PORT', 'e.g. tcp://127.0.0.1:1234');
      return { scheme: 'tcp', host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
    }
    case 'docker': {
      if (rest === '') return { scheme: 'docker' };
      // A value without ":/" is a docker context name.
      if (!rest.includes(':/')) return { scheme: 'docker', context: rest };
      if (!/^(unix|tcp|ssh|npipe|http|https|fd):\/\//.test(rest)) bad(addr, 'has a Docker host this plugin cannot use', 'e.g. docker://unix:///var/run/docker.sock, docker://tcp://host:2376, docker://mycontext');
      return { scheme: 'docker', host: rest };
    }
    case 'buildx': {
      if (rest.includes('/') || rest.includes('?')) bad(addr, 'has a path; buildx:// takes only a builder name', 'e.g. buildx://mybuilder');
      return rest === '' ? { scheme: 'buildx' } : { scheme: 'buildx', builder: rest };
    }
    case 'docker-container':
    case 'podman-container':
    case 'nerdctl-container': {
      const q = rest.indexOf('?');
      const container = decodeURIComponent(q < 0 ? rest : rest.slice(0, q));
      if (!container || container.includes('/')) bad(addr, 'has no container name', `e.g. ${scheme}://buildkitd`);
      const out: ParsedAddress = { scheme, container };
      if (q >= 0) {
        const params = new URLSearchParams(rest.slice(q + 1));
        for (const k of params.keys()) if (k !== 'context') bad(addr, `has an unknown option ${quote(k)}`, `only ?context=NAME is accepted`);
        const ctx = params.get('context');
        if (ctx) out.context = ctx;
      }
      return out;
    }
    case 'ssh': {
      let u: URL;
      try {
        u = new URL(`ssh://${rest}`);
      } catch {
        bad(addr, 'is not ssh://[USER@]HOST[:PORT]');
      }
      if (!u.hostname) bad(addr, 'has no host');
      const out: ParsedAddress = { scheme: 'ssh', host: u.hostname };
      if (u.username) out.user = decodeURIComponent(u.username);
      if (u.port) out.port = Number(u.port);
      const socket = u.searchParams.get('socket');
      if (socket) out.socket = socket;
      return out;
    }
    default:
      bad(addr, `uses the unsupported scheme ${quote(scheme + '://')}`);
  }
}

export interface AddressEnv {
  /** docker's global flags (context, host, config, TLS). */
  globals?: Partial<DockerGlobals>;
  /** The docker config directory (default: --config > $DOCKER_CONFIG > ~/.docker). */
  dockerConfigDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Debug sink for child-process stderr lines. */
  debug?: (line: string) => void;
}

/** --cacert/--cert/--key file paths (tcp:// only). */
export interface TlsFlags {
  cacert?: string;
  cert?: string;
  key?: string;
}

function readTlsFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CopaError('input', `cannot read ${flag} ${quote(path)}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

function loadTls(flags: TlsFlags & { servername?: string }): DialerTls | undefined {
  if (!flags.cacert && !flags.cert && !flags.key) return undefined;
  const t: DialerTls = {};
  if (flags.cacert) t.ca = readTlsFile(flags.cacert, '--cacert');
  if (flags.cert) t.cert = readTlsFile(flags.cert, '--cert');
  if (flags.key) t.key = readTlsFile(flags.key, '--key');
  if (flags.servername) t.servername = flags.servername;
  return t;
}

function describeEndpoint(ep: DockerEndpoint): string {
  return ep.context === 'default' ? `docker://${ep.host}` : `docker://${ep.context}`;
}

function engineDialer(ep: DockerEndpoint, env: AddressEnv, dockerArgs: string[]): Dialer {
  const e = env.env ?? process.env;
  return dockerEngineDialer({ endpoint: ep, describe: describeEndpoint(ep), dockerCommand: dockerCommand(e), dockerArgs, env: e });
}

function dockerDialer(p: { host?: string; context?: string }, env: AddressEnv, configDir: string): Dialer {
  const e = env.env ?? process.env;
  const globals = env.globals ?? {};
  if (p.host) {
    const ep: DockerEndpoint = { context: 'default', host: p.host };
    // Reuse the TLS settings of the flags/environment when the host is the same.
    const cur = safeEndpoint({ ...globals, host: p.host, context: undefined }, e, configDir);
    if (cur?.tls) ep.tls = cur.tls;
    return engineDialer(ep, env, dockerGlobalArgs(globals, { host: p.host }));
  }
  const ep = resolveDockerEndpoint({ globals, env: e, configDir, ...(p.context ? { context: p.context } : {}) });
  return engineDialer(ep, env, dockerGlobalArgs(globals, p.context ? { context: p.context } : {}));
}

function safeEndpoint(globals: Partial<DockerGlobals>, env: NodeJS.ProcessEnv, configDir: string): DockerEndpoint | undefined {
  try {
    return resolveDockerEndpoint({ globals, env, configDir });
  } catch {
    return undefined;
  }
}

function buildxTargetDialer(t: BuildxTarget, env: AddressEnv, configDir: string): Dialer {
  const e = env.env ?? process.env;
  const describe = `buildx://${t.builder}`;
  switch (t.driver) {
    case 'docker-container':
      return containerDialer({
        container: t.container,
        ...(t.context ? { context: t.context } : {}),
        ...(t.host ? { host: t.host } : {}),
        ...(env.globals ? { globals: env.globals } : {}),
        env: e,
        startIfStopped: true,
        describe: `${describe} (docker-container://${t.container})`,
      });
    case 'remote': {
      const inner = dialerFor(parseAddress(t.address), env, configDir, t.tls);
      return { ...inner, describe: `${describe} (${inner.describe})` };
    }
    case 'docker':
      return dockerDialer(t.host ? { host: t.host } : { context: t.context ?? t.builder }, env, configDir);
  }
}

function sshDialer(p: Extract<ParsedAddress, { scheme: 'ssh' }>, env: NodeJS.ProcessEnv): Dialer {
  const args = [...(p.user ? ['-l', p.user] : []), ...(p.port ? ['-p', String(p.port)] : []), p.host, '--', 'buildctl', ...(p.socket ? ['--addr', `unix://${p.socket}`] : []), 'dial-stdio'];
  const describe = `ssh://${p.user ? p.user + '@' : ''}${p.host}${p.port ? ':' + p.port : ''}`;
  const tracker = new StreamTracker();
  return {
    describe,
    scheme: 'ssh',
    dial: async () =>
      tracker.add(await spawnStdio({ command: 'ssh', args, env, address: describe, hint: `check that 'ssh ${p.host} buildctl --version' works` })),
    close: () => tracker.closeAll(),
  };
}

/** The dialer for one parsed address. */
export function dialerFor(p: ParsedAddress, env: AddressEnv = {}, configDir?: string, tlsFlags: TlsFlags & { servername?: string } = {}): Dialer {
  const e = env.env ?? process.env;
  const dir = configDir ?? env.dockerConfigDir ?? defaultConfigDir(env.globals, e);
  switch (p.scheme) {
    case 'unix':
      return unixDialer(p.path);
    case 'tcp':
      return tcpDialer(p.host, p.port, loadTls(tlsFlags));
    case 'docker':
      return dockerDialer(p, env, dir);
    case 'buildx':
      return buildxDialer({
        ...(p.builder ? { builder: p.builder } : {}),
        ...(env.globals ? { globals: env.globals } : {}),
        env: e,
        ...(env.debug ? { onStderrLine: (l: string) => env.debug!(`buildx: ${l}`) } : {}),
        fallback: () => {
          let ctx = 'default';
          try {
            ctx = currentContextName({ ...(env.globals ? { globals: env.globals } : {}), env: e, configDir: dir });
          } catch {
            /* keep default */
          }
          const target = readBuildxStore({ dockerConfigDir: dir, ...(p.builder ? { builder: p.builder } : {}), env: e, currentContext: ctx });
          return buildxTargetDialer(target, env, dir);
        },
      });
    case 'docker-container':
    case 'podman-container':
    case 'nerdctl-container':
      return containerDialer({
        runtime: p.scheme.slice(0, -'-container'.length) as 'docker' | 'podman' | 'nerdctl',
        container: p.container,
        ...(p.context ? { context: p.context } : {}),
        ...(env.globals ? { globals: env.globals } : {}),
        env: e,
      });
    case 'ssh':
      return sshDialer(p, e);
  }
}

/**
 * The dialers to try, in order. With an address, exactly one. Without (auto): the Docker
 * engine of the current context, then the current buildx builder, then the default buildkitd
 * socket (and, for a non-root user with XDG_RUNTIME_DIR, the rootless one). The caller tries
 * each (e.g. a Ping checking the LLB caps) and uses the first that works.
 */
export async function resolveAddress(addr: string | undefined, env: AddressEnv = {}, tlsFlags: TlsFlags = {}): Promise<Dialer[]> {
  const e = env.env ?? process.env;
  const dir = env.dockerConfigDir ?? defaultConfigDir(env.globals, e);
  if (addr !== undefined && addr !== '') return [dialerFor(parseAddress(addr), env, dir, tlsFlags)];

  const out: Dialer[] = [];
  try {
    out.push(dockerDialer({}, env, dir));
  } catch (err) {
    out.push(failingDialer('docker://', 'docker', err as Error));
  }
  out.push(dialerFor({ scheme: 'buildx' }, env, dir));
  out.push(unixDialer(DEFAULT_BUILDKIT_ADDRESS.slice('unix://'.length)));
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  if (e.XDG_RUNTIME_DIR && uid !== 0) out.push(unixDialer(`${e.XDG_RUNTIME_DIR}/buildkit/buildkitd.sock`));
  return out;
}

/** The image loader an address implies (Copacetic's inference); '' = probe. */
export function loaderForScheme(scheme: Dialer['scheme']): 'docker' | 'podman' | '' {
  if (scheme === 'podman-container') return 'podman';
  if (scheme === 'docker' || scheme === 'buildx' || scheme === 'docker-container') return 'docker';
  return '';
}
