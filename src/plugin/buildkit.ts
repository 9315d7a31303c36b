// The plugin's BuildKit client: connect through the first working address, then run a
// client-side build (Control.Solve waiting for our LLBBridge Return) with a session,
// a Status stream for progress, and the exporters the user asked for.
import { randomBytes } from 'node:crypto';
import { GrpcChannel, GrpcError } from '../llb/grpc/h2client.js';
import { methodDef } from '../llb/grpc/codec.js';
import { CONTROL_METHODS, CONTROL_PACKAGE } from '../llb/proto/control.js';
import { BUILD_ID_METADATA, LLBBridgeClient } from '../llb/bridge-client.js';
import { CopaError } from '../engine/errors.js';
import type { Dialer } from './address.js';
import type { StatusResponse } from './progress/index.js';

type Obj = Record<string, any>;
export const control = {
  Info: methodDef<Obj, Obj>(CONTROL_PACKAGE, CONTROL_METHODS.Info),
  ListWorkers: methodDef<Obj, Obj>(CONTROL_PACKAGE, CONTROL_METHODS.ListWorkers),
  Solve: methodDef<Obj, Obj>(CONTROL_PACKAGE, CONTROL_METHODS.Solve),
  Status: methodDef<Obj, Obj>(CONTROL_PACKAGE, CONTROL_METHODS.Status),
};

export interface Connection {
  channel: GrpcChannel;
  dialer: Dialer;
  version: string;
  /** Worker platforms ("linux/amd64", …) of the first worker. */
  platforms: Array<{ os: string; architecture: string; variant?: string }>;
  /** Whether this is Docker's embedded BuildKit (version suffix -moby). */
  isDocker: boolean;
  close(): Promise<void>;
}

/** Try each candidate address in order; the first that answers Info wins. */
export async function connect(dialers: Dialer[], debug: (l: string) => void): Promise<Connection> {
  const failures: string[] = [];
  for (const dialer of dialers) {
    let channel: GrpcChannel | undefined;
    try {
      const stream = await dialer.dial();
      channel = GrpcChannel.fromDuplex(stream, { authority: 'localhost' });
      const info = await channel.unary(control.Info, {}, { timeoutMs: 15_000 });
      const workers = await channel.unary(control.ListWorkers, {}, { timeoutMs: 15_000 });
      const rec = (workers.record ?? [])[0] ?? {};
      const version = String(info.buildkitVersion?.version ?? 'unknown');
      debug(`connected to BuildKit ${version} at ${dialer.describe}`);
      const ch = channel;
      return {
        channel: ch,
        dialer,
        version,
        platforms: (rec.platforms ?? []).map((p: Obj) => ({ os: p.OS, architecture: p.Architecture, ...(p.Variant ? { variant: p.Variant } : {}) })),
        isDocker: /-moby$/.test(version),
        close: async () => {
          await ch.close({ graceMs: 500 }).catch(() => undefined);
          await dialer.close?.().catch(() => undefined);
        },
      };
    } catch (e) {
      channel?.destroy();
      await dialer.close?.().catch(() => undefined);
      const msg = e instanceof GrpcError ? e.message : (e as Error).message;
      failures.push(`${dialer.describe}: ${msg}${e instanceof CopaError && e.hint ? ` (${e.hint})` : ''}`);
      debug(`cannot use ${dialer.describe}: ${msg}`);
    }
  }
  throw new CopaError('buildkit', `cannot reach BuildKit:\n  ${failures.join('\n  ')}`, {
    hint: 'start buildkitd, or pass --addr: docker:// (Docker with the containerd image store), buildx://[builder], unix:///path/buildkitd.sock, tcp://host:port, docker-container://name',
  });
}

export interface BuildRequest {
  sessionId: string;
  /** Exporters plus the deprecated single-exporter pair (OutputPlan.solveFields()). */
  exporterFields: { Exporters: Array<{ Type: string; Attrs: Record<string, string> }>; ExporterDeprecated?: string; ExporterAttrsDeprecated?: Record<string, string> };
  sourcePolicy?: Obj;
  frontendAttrs?: Record<string, string>;
  /** Run this gateway frontend inside BuildKit instead of building client side. */
  frontend?: string;
  frontendInputs?: Record<string, Obj>;
  entitlements?: string[];
  onStatus: (s: StatusResponse) => void;
  /**
   * Aborting cancels Control.Solve (RST_STREAM CANCEL), which makes BuildKit cancel the build
   * and every export of it (nothing is pushed), and ends the Status stream.
   */
  signal?: AbortSignal;
}

export interface RunningBuild {
  ref: string;
  /** The LLBBridge for a client-side build (absent when a frontend runs in BuildKit). */
  bridge?: LLBBridgeClient;
  /** Resolves with the exporter response once BuildKit has exported the result. */
  done: Promise<Record<string, string>>;
  /** Resolves when the status stream has drained. */
  statusDone: Promise<void>;
}

export async function startBuild(conn: Connection, req: BuildRequest): Promise<RunningBuild> {
  const ref = randomBytes(13).toString('hex');
  const solveReq: Obj = {
    Ref: ref,
    Session: req.sessionId,
    ...req.exporterFields,
    FrontendAttrs: req.frontendAttrs ?? {},
    Entitlements: req.entitlements ?? [],
    ...(req.frontend ? { Frontend: req.frontend, FrontendInputs: req.frontendInputs ?? {} } : {}),
    ...(req.sourcePolicy ? { SourcePolicy: req.sourcePolicy } : {}),
  };
  const call = req.signal ? { signal: req.signal } : {};
  const done = conn.channel.unary(control.Solve, solveReq, call).then((r) => (r.ExporterResponse ?? {}) as Record<string, string>);
  done.catch(() => undefined);
  const statusDone = (async () => {
    try {
      for await (const msg of conn.channel.serverStream(control.Status, { Ref: ref }, call)) req.onStatus(toProgress(msg));
    } catch {
      // The stream ends with the build; its errors surface through Solve.
    }
  })();
  if (req.frontend) return { ref, done, statusDone };
  const bridge = await Promise.race([
    LLBBridgeClient.connect(conn.channel, { metadata: { [BUILD_ID_METADATA]: ref } }),
    done.then(() => {
      throw new CopaError('buildkit', 'BuildKit finished the build before the client connected');
    }),
  ]);
  return { ref, bridge, done, statusDone };
}

function ts(t: Obj | null | undefined): Date | undefined {
  if (!t) return undefined;
  const ms = Number(t.seconds ?? 0) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1e6);
  return ms > 0 ? new Date(ms) : undefined;
}

/** protobuf Timestamps → Dates, the shape the progress renderers take. */
export function toProgress(m: Obj): StatusResponse {
  return {
    vertexes: (m.vertexes ?? []).map((v: Obj) => ({ ...v, started: ts(v.started), completed: ts(v.completed) })),
    statuses: (m.statuses ?? []).map((s: Obj) => ({ ...s, timestamp: ts(s.timestamp), started: ts(s.started), completed: ts(s.completed) })),
    logs: (m.logs ?? []).map((l: Obj) => ({ ...l, timestamp: ts(l.timestamp) })),
    warnings: m.warnings ?? [],
  };
}
