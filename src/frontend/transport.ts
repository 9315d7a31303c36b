// The gateway frontend's connection to BuildKit: gRPC (HTTP/2 with prior knowledge) over
// the process's stdin/stdout, plus the options BuildKit passes in the environment.
//
// Importing this module redirects console.log/info/debug (and the other console methods
// that print to stdout) to stderr: stdout carries only HTTP/2 frames.
import { Console } from 'node:console';
import { Duplex } from 'node:stream';
import { GrpcChannel } from '../llb/grpc/h2client.js';
import { LLBBridgeClient } from '../llb/bridge-client.js';
import { defaultPlatform as hostPlatform, normalizePlatform, type Platform } from '../llb/platform.js';

// --- keep stdout clean ------------------------------------------------------------------
const stderrConsole = new Console({ stdout: process.stderr, stderr: process.stderr });
{
  const c = console as unknown as Record<string, unknown>;
  const e = stderrConsole as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const k of ['log', 'info', 'debug', 'dir', 'dirxml', 'table', 'count', 'countReset', 'group', 'groupCollapsed', 'groupEnd', 'time', 'timeEnd', 'timeLog']) {
    if (typeof e[k] === 'function') c[k] = e[k]!.bind(stderrConsole);
  }
}

/** A worker as BuildKit describes it in BUILDKIT_WORKERS. */
export interface FrontendWorker {
  ID: string;
  Labels: Record<string, string>;
  Platforms: Platform[];
}

export interface FrontendEnv {
  /** Frontend options (BUILDKIT_FRONTEND_OPT_<i>=key=value). */
  opts: Record<string, string>;
  /** BUILDKIT_SESSION_ID: the client session owning locals, secrets and auth. */
  sessionId: string;
  /** BUILDKIT_WORKERS. */
  workers: FrontendWorker[];
  /** BUILDKIT_EXPORTEDPRODUCT (e.g. "buildkit"), or "". */
  product: string;
}

const OPT_PREFIX = 'BUILDKIT_FRONTEND_OPT_';

function parseWorkers(raw: string | undefined): FrontendWorker[] {
  if (!raw) return [];
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    process.stderr.write('copa-frontend: ignoring unreadable BUILDKIT_WORKERS\n');
    return [];
  }
  if (!Array.isArray(v)) return [];
  return v.map((w: Record<string, unknown>) => {
    const plats = Array.isArray(w?.Platforms) ? (w.Platforms as Array<Record<string, unknown>>) : [];
    return {
      ID: typeof w?.ID === 'string' ? w.ID : '',
      Labels: w?.Labels && typeof w.Labels === 'object' ? (w.Labels as Record<string, string>) : {},
      Platforms: plats
        .filter((p) => p && typeof p.os === 'string' && typeof p.architecture === 'string')
        .map((p) => {
          const out: Platform = { os: p.os as string, architecture: p.architecture as string };
          if (typeof p.variant === 'string' && p.variant) out.variant = p.variant;
          return out;
        }),
    };
  });
}

/** Read what BuildKit passes a gateway frontend in its environment. */
export function parseFrontendEnv(env: NodeJS.ProcessEnv = process.env): FrontendEnv {
  const opts: Record<string, string> = {};
  // Sort by index so that, if a key ever repeats, the later option wins deterministically.
  const entries = Object.entries(env)
    .filter(([k, v]) => k.startsWith(OPT_PREFIX) && v !== undefined)
    .sort(([a], [b]) => Number(a.slice(OPT_PREFIX.length)) - Number(b.slice(OPT_PREFIX.length)));
  for (const [, v] of entries) {
    const s = v as string;
    const i = s.indexOf('=');
    if (i < 0) opts[s] = '';
    else opts[s.slice(0, i)] = s.slice(i + 1);
  }
  return {
    opts,
    sessionId: env.BUILDKIT_SESSION_ID ?? '',
    workers: parseWorkers(env.BUILDKIT_WORKERS),
    product: env.BUILDKIT_EXPORTEDPRODUCT ?? '',
  };
}

export interface FrontendConnection extends FrontendEnv {
  bridge: LLBBridgeClient;
  /** The first worker's platform (normalised), or the host's. */
  defaultPlatform: Platform;
  /**
   * Done with BuildKit (after Return): stop treating a closed connection as an error.
   * It deliberately does NOT close the HTTP/2 connection: if the frontend closes stdout
   * before its process exits, BuildKit fails the build with "frontend grpc server closed
   * unexpectedly", overriding the returned result. Exit the process right after this.
   */
  close(): Promise<void>;
}

export interface ConnectFrontendOptions {
  env?: NodeJS.ProcessEnv;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** Called when BuildKit closes the connection; default: exit the process. */
  onPeerClosed?: (returned: boolean) => void;
}

/** Connect to BuildKit over stdio, Ping it and read the options. */
export async function connectFrontend(o: ConnectFrontendOptions = {}): Promise<FrontendConnection> {
  const env = parseFrontendEnv(o.env ?? process.env);
  const input = (o.input ?? process.stdin) as NodeJS.ReadableStream & NodeJS.EventEmitter;
  const output = (o.output ?? process.stdout) as NodeJS.WritableStream & NodeJS.EventEmitter;
  const duplex = Duplex.from({ readable: input as never, writable: output as never });
  duplex.on('error', (err: Error) => process.stderr.write(`copa-frontend: stdio error: ${err.message}\n`));

  let bridge: LLBBridgeClient | undefined;
  let closingLocally = false;
  const onPeerClosed =
    o.onPeerClosed ??
    ((returned: boolean) => {
      if (!returned) process.stderr.write('copa-frontend: BuildKit closed the connection before a result was returned; exiting\n');
      process.exit(returned ? 0 : 1);
    });
  let peerClosedFired = false;
  const firePeerClosed = (): void => {
    if (closingLocally || peerClosedFired) return;
    peerClosedFired = true;
    onPeerClosed(bridge?.hasReturned ?? false);
  };
  const channel = GrpcChannel.fromDuplex(duplex, { authority: 'localhost', onClose: firePeerClosed });
  // stdin end = BuildKit is done with us: exit first (by default), before pending calls
  // fail and make the caller report a confusing secondary error.
  input.once('end', () => {
    firePeerClosed();
    if (!closingLocally) channel.destroy('BuildKit closed the frontend connection (stdin ended)');
  });

  bridge = await LLBBridgeClient.connect(channel);
  const first = env.workers.find((w) => w.Platforms.length)?.Platforms[0] ?? bridge.workers.find((w) => w.Platforms.length)?.Platforms[0];
  return {
    ...env,
    bridge,
    defaultPlatform: first ? normalizePlatform(first) : hostPlatform(),
    close: async () => {
      closingLocally = true;
    },
  };
}
