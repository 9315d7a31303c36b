// buildx://[builder]: a buildx builder. Preferred: `docker buildx dial-stdio --progress=plain
// [--builder X]` (buildx ≥ 0.13), which boots the builder if needed and prints, in plain progress
// mode, a line "#N Dialing builder … done" on stderr once the stream is connected.
// Fallback (no buildx, or a buildx without dial-stdio): read the buildx store
// ($BUILDX_CONFIG or $DOCKER_CONFIG/buildx: `current`, `instances/<name>`) and connect to the
// node ourselves (docker-container and remote drivers; the docker driver is the engine).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { spawnStdio } from './spawn.js';
import { DialError, StreamTracker, type Dialer } from './types.js';
import { dockerCommand, dockerGlobalArgs } from './docker-cli.js';
import type { DockerGlobals } from '../argv.js';

/** Where a builder in the buildx store can be reached. */
export type BuildxTarget =
  /** docker-container driver: `docker exec -i <container> buildctl dial-stdio` on an endpoint. */
  | { driver: 'docker-container'; builder: string; container: string; context?: string; host?: string }
  /** remote driver: a BuildKit address with optional TLS files. */
  | { driver: 'remote'; builder: string; address: string; tls: { cacert?: string; cert?: string; key?: string; servername?: string } }
  /** docker driver: the Docker engine of a context (or host). */
  | { driver: 'docker'; builder: string; context?: string; host?: string };

interface StoreNode {
  Name?: string;
  Endpoint?: string;
  DriverOpts?: Record<string, string>;
}
interface StoreGroup {
  Name?: string;
  Driver?: string;
  Nodes?: StoreNode[];
}

/** The buildx store directory: $BUILDX_CONFIG, else <docker config dir>/buildx. */
export function buildxStoreDir(dockerConfigDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.BUILDX_CONFIG || join(dockerConfigDir, 'buildx');
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function endpointTarget(endpoint: string | undefined): { context?: string; host?: string } {
  if (!endpoint) return {};
  return endpoint.includes('://') ? { host: endpoint } : { context: endpoint };
}

/**
 * Finds a builder in the buildx store: the given name, else $BUILDX_BUILDER, else the store's
 * current builder; a name with no instance file is a docker context (docker driver).
 */
export function readBuildxStore(opts: { dockerConfigDir: string; builder?: string; env?: NodeJS.ProcessEnv; currentContext?: string }): BuildxTarget {
  const env = opts.env ?? process.env;
  const dir = buildxStoreDir(opts.dockerConfigDir, env);
  let name = opts.builder || env.BUILDX_BUILDER || '';
  if (!name) {
    const cur = readJson<{ Name?: string; name?: string }>(join(dir, 'current'));
    name = cur?.Name ?? cur?.name ?? '';
  }
  if (!name) {
    // No builder chosen: buildx uses the current docker context with the docker driver.
    const ctx = opts.currentContext ?? 'default';
    return { driver: 'docker', builder: ctx, context: ctx };
  }
  const group = readJson<StoreGroup>(join(dir, 'instances', name));
  if (!group) return { driver: 'docker', builder: name, context: name };
  const node = group.Nodes?.[0];
  switch (group.Driver) {
    case 'docker-container':
      if (!node?.Name) throw new DialError(`buildx://${name}`, `buildx builder ${name} has no nodes in ${join(dir, 'instances', name)}`, { hint: `run 'docker buildx inspect --bootstrap ${name}'` });
      return { driver: 'docker-container', builder: name, container: `buildx_buildkit_${node.Name}`, ...endpointTarget(node.Endpoint) };
    case 'remote': {
      if (!node?.Endpoint) throw new DialError(`buildx://${name}`, `buildx builder ${name} (remote driver) has no endpoint`);
      const o = node.DriverOpts ?? {};
      const tls: { cacert?: string; cert?: string; key?: string; servername?: string } = {};
      if (o.cacert) tls.cacert = o.cacert;
      if (o.cert) tls.cert = o.cert;
      if (o.key) tls.key = o.key;
      if (o.servername) tls.servername = o.servername;
      return { driver: 'remote', builder: name, address: node.Endpoint, tls };
    }
    case 'docker':
      return { driver: 'docker', builder: name, ...endpointTarget(node?.Endpoint ?? name) };
    default:
      throw new DialError(`buildx://${name}`, `buildx builder ${name} uses the ${group.Driver ?? 'unknown'} driver, which copa cannot reach without 'docker buildx dial-stdio'`, {
        hint: 'install a docker buildx plugin ≥ 0.13, or pass --addr with the BuildKit address',
      });
  }
}

/** A dial-stdio stderr line saying the builder connection is up. */
export function isBuildxReadyLine(line: string): boolean {
  const l = line.trim().toLowerCase();
  return /^#\d+ dialing builder\b/.test(l) && /\bdone$/.test(l);
}

/** stderr of a buildx that cannot dial-stdio at all (no plugin, too old). */
function buildxUnavailable(msg: string): boolean {
  return /not a docker command|unknown command|unknown flag|no such file|not found on path/i.test(msg);
}

export interface BuildxDialerOptions {
  builder?: string;
  globals?: Partial<DockerGlobals>;
  env?: NodeJS.ProcessEnv;
  /** Turns a store entry into a dialer when dial-stdio is unavailable (address.ts provides it). */
  fallback?: () => Dialer | Promise<Dialer>;
  readyTimeoutMs?: number;
  onStderrLine?: (line: string) => void;
}

export function buildxDialer(opts: BuildxDialerOptions): Dialer {
  const env = opts.env ?? process.env;
  const command = dockerCommand(env);
  const args = [...dockerGlobalArgs(opts.globals), 'buildx', 'dial-stdio', ...(opts.builder ? ['--builder', opts.builder] : []), '--progress=plain'];
  const describe = `buildx://${opts.builder ?? ''}`;
  const tracker = new StreamTracker();
  let fallback: Dialer | undefined;

  return {
    describe,
    scheme: 'buildx',
    dial: async (): Promise<Duplex> => {
      if (fallback) return fallback.dial();
      try {
        return tracker.add(
          await spawnStdio({
            command,
            args,
            env,
            address: describe,
            describe: `${command} ${args.join(' ')}`,
            hint: opts.builder
              ? `check the builder with 'docker buildx inspect ${opts.builder}', or pass another --addr`
              : "check the current builder with 'docker buildx ls', or pass another --addr",
            ready: isBuildxReadyLine,
            ...(opts.readyTimeoutMs ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
            ...(opts.onStderrLine ? { onStderrLine: opts.onStderrLine } : {}),
          }),
        );
      } catch (e) {
        if (!opts.fallback || !buildxUnavailable((e as Error).message)) throw e;
        try {
          fallback = await opts.fallback();
        } catch (e2) {
          throw new DialError(describe, `${(e as Error).message}; reading the buildx store did not help either: ${(e2 as Error).message}`, {
            hint: 'install the docker buildx plugin (≥ 0.13 has dial-stdio), or pass --addr with the BuildKit address',
          });
        }
        return fallback.dial();
      }
    },
    close: async () => {
      await tracker.closeAll();
      await fallback?.close?.();
    },
  };
}
