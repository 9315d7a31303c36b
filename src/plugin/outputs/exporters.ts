// From the user's output choice to Control.Solve's exporter list plus the FileSend targets
// the session must serve (keyed by exporter index: the daemon's exporter id is the
// exporter's position in SolveRequest.Exporters).
//
//   push       → image exporter {name, push=true[, registry.insecure=true]}
//   docker     → docker (classic image store) or oci (containerd image store) exporter,
//                tarball streamed into the engine's POST /images/load (docker-load.ts)
//   moby       → the Docker engine's own `moby` exporter (only for BuildKit inside
//                Docker, i.e. docker:// builders): the engine stores the image itself
//   oci-dir    → oci exporter {tar=true}, tarball unpacked into a directory (oci-dir.ts)
//
// Several outputs in one Solve need the LLB cap `exporter.multiple` (BuildKit v0.13+).
import { CopaError, quote } from '../../engine/errors.js';
import { InvalidReference, parseReference } from '../../llb/index.js';
import type { DockerEndpoint } from '../docker-config.js';
import type { FileSendTarget } from '../session/filesend.js';
import { createDockerLoadTarget, engineUsesContainerdStore, type DockerApiOptions, type DockerLoadOptions, type DockerLoadResult } from './docker-load.js';
import { checkOciDirDestination, createOciDirTarget, type OciDirOptions, type OciDirResult } from './oci-dir.js';
import type { ExportTarget } from './target.js';

/** LLB cap a daemon advertises when a Solve may carry several exporters. */
export const CAP_MULTIPLE_EXPORTERS = 'exporter.multiple';

/** One entry of SolveRequest.Exporters (field names as the Control schema spells them). */
export interface ExporterSpec {
  Type: string;
  Attrs: Record<string, string>;
}

/** Layer / manifest options shared by every image-producing exporter. */
export interface ImageExportOptions {
  /** Layer compression for new layers (BuildKit default: gzip). */
  compression?: 'gzip' | 'zstd' | 'estargz' | 'uncompressed';
  compressionLevel?: number;
  /** Recompress existing layers too. */
  forceCompression?: boolean;
  /** OCI instead of Docker media types (default: docker/image exporters false, oci exporter true). */
  ociMediaTypes?: boolean;
  /** Extra exporter attributes (annotation.*, rewrite-timestamp, …), set last. */
  attrs?: Record<string, string>;
}

export type OutputRequest =
  | {
      kind: 'push';
      /** Full reference(s) to push to (a list becomes the comma-separated `name`). */
      name: string | string[];
      /**
       * registry.insecure. Default (undefined): true only for a loopback registry host with an
       * explicit port (see needsInsecureRegistry).
       */
      insecure?: boolean;
    }
  | {
      kind: 'docker';
      /** Name(s) the loaded image gets in the engine. */
      name: string | string[];
      /** The engine to load into (from resolveDockerEndpoint()). */
      endpoint: DockerEndpoint;
      /** Tarball format: auto (default) = oci for a containerd-store engine, docker otherwise. */
      format?: 'auto' | 'docker' | 'oci';
      load?: DockerLoadOptions;
    }
  | {
      kind: 'moby';
      /** Name(s) the image gets in the Docker engine that runs this BuildKit. */
      name: string | string[];
    }
  | {
      kind: 'oci-dir';
      /** The layout directory. */
      dest: string;
      /** Optional name recorded in index.json (org.opencontainers.image.ref.name / io.containerd.image.name). */
      name?: string | string[];
      dir?: OciDirOptions;
    };

export type OutputResult =
  | { kind: 'push'; index: number; name: string }
  | { kind: 'moby'; index: number; name: string }
  | { kind: 'docker'; index: number; name: string; format: 'docker' | 'oci'; load: DockerLoadResult }
  | { kind: 'oci-dir'; index: number; name?: string; layout: OciDirResult };

export interface PlannedOutput {
  /** Exporter index (= the daemon's exporter id). */
  index: number;
  request: OutputRequest;
  exporter: ExporterSpec;
  /** The FileSend target, for outputs written on this side (docker, oci-dir). */
  target?: ExportTarget<DockerLoadResult> | ExportTarget<OciDirResult>;
  /** "push 127.0.0.1:5000/x:patched", "docker load into unix:///…", "OCI layout /abs/dir". */
  describe: string;
}

export interface OutputPlan {
  outputs: PlannedOutput[];
  exporters: ExporterSpec[];
  /** FileSend targets by exporter index: `fileSendService(plan.targets)`. */
  targets: Map<number, FileSendTarget>;
  /**
   * Control.Solve's exporter fields: `Exporters`, plus the deprecated single-exporter pair
   * (the first exporter) for daemons older than v0.13, as the Go client sends both.
   */
  solveFields(): { Exporters: ExporterSpec[]; ExporterDeprecated?: string; ExporterAttrsDeprecated?: Record<string, string> };
  /**
   * After Control.Solve resolved: the results of every output. A FileSend output that the
   * daemon never sent fails here with a clear message.
   */
  wait(): Promise<OutputResult[]>;
  /** After Control.Solve failed (or on Ctrl-C): abort every client-side output. */
  cancel(reason?: Error): void;
  /**
   * The first error a client-side output reported by itself (a refused docker load, an
   * unwritable directory), not counting cancel(). When Control.Solve fails because of it, this
   * is the clearer message: the daemon's error wraps it in export/rpc prefixes.
   */
  failure(): Error | undefined;
}

export interface PlanOptions {
  /**
   * The daemon's LLB caps (from the gateway Ping / LLBBridge). When given, more than one
   * output requires `exporter.multiple`; when omitted the caller vouches for it.
   */
  llbCaps?: Iterable<string>;
  /** Image options for every image output. */
  image?: ImageExportOptions;
  /** Overrides containerd-store detection for `docker` outputs with format auto (tests, or a known engine). */
  containerdStore?: boolean;
  /** Connection options for the containerd-store probe (GET /info). */
  dockerApi?: DockerApiOptions;
  /** Skip the early destination check of oci-dir outputs (it is re-checked when writing). */
  skipDestinationCheck?: boolean;
}

const LOOPBACK_V4 = /^127(?:\.(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$/;

/**
 * Whether a registry host ("host:port") gets registry.insecure=true by default: only a
 * loopback host (localhost, 127.0.0.0/8, [::1]) with an explicit port.
 *
 * Why: such a registry is nearly always a local development registry (`registry:2` on
 * localhost:5000) that speaks plain HTTP, so a push would fail on the TLS handshake; and
 * "insecure" (plain HTTP or an unverified certificate) cannot be exploited on loopback,
 * because the traffic never leaves the machine (for BuildKit in a container: the
 * container's own network namespace). Any other host keeps TLS verification; the user opts
 * out explicitly (the buildkitd.toml registry config, or insecure: true).
 */
export function needsInsecureRegistry(registryHost: string): boolean {
  const m = /^(\[[^\]]+\]|[^:]+):([0-9]+)$/.exec(registryHost.trim().toLowerCase());
  if (!m) return false;
  const host = m[1]!;
  return host === 'localhost' || host === '[::1]' || LOOPBACK_V4.test(host);
}

/** The registry host of an image reference ("docker.io" for Docker Hub). */
export function registryHostOf(ref: string): string {
  return parseReference(ref).domain;
}

function names(n: string | string[] | undefined): string[] {
  if (n === undefined) return [];
  const list = (Array.isArray(n) ? n : [n]).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  return list;
}

function validateNames(list: string[], what: string): void {
  for (const n of list) {
    try {
      parseReference(n);
    } catch (e) {
      throw new CopaError('input', `invalid image name ${quote(n)} for ${what}: ${e instanceof InvalidReference ? e.reason : (e as Error).message}`);
    }
  }
}

/** Image exporter attributes shared by image/docker/oci exporters. */
export function imageAttrs(opts: ImageExportOptions | undefined): Record<string, string> {
  const a: Record<string, string> = {};
  if (!opts) return a;
  if (opts.compression) a.compression = opts.compression;
  if (opts.compressionLevel !== undefined) a['compression-level'] = String(opts.compressionLevel);
  if (opts.forceCompression) a['force-compression'] = 'true';
  if (opts.ociMediaTypes !== undefined) a['oci-mediatypes'] = String(opts.ociMediaTypes);
  return a;
}

function describeOutput(r: OutputRequest, format?: string): string {
  switch (r.kind) {
    case 'push':
      return `push ${names(r.name).join(', ')}`;
    case 'moby':
      return `image ${names(r.name).join(', ')} in the Docker engine`;
    case 'docker':
      return `docker load (${format}) of ${names(r.name).join(', ')} into ${r.endpoint.host}`;
    case 'oci-dir':
      return `OCI layout ${r.dest}`;
  }
}

/**
 * Plans the exporters for a set of outputs. Async because a `docker` output with format auto
 * asks the engine whether it uses the containerd image store, and oci-dir destinations are
 * checked before the (long) build starts.
 */
export async function planOutputs(requests: readonly OutputRequest[], opts: PlanOptions = {}): Promise<OutputPlan> {
  if (requests.length === 0) throw new CopaError('input', 'no output was chosen', { hint: 'use --push, load into docker (the default), or --oci-dir DIR' });
  if (requests.length > 1 && opts.llbCaps) {
    const caps = new Set(opts.llbCaps);
    if (!caps.has(CAP_MULTIPLE_EXPORTERS)) {
      throw new CopaError('buildkit', `this BuildKit daemon cannot export to several outputs in one build (${requests.map((r) => describeOutput(r, 'auto')).join('; ')})`, {
        hint: 'BuildKit v0.13 or newer supports several outputs (cap exporter.multiple); otherwise choose one output',
      });
    }
  }
  const dests = new Set<string>();
  const outputs: PlannedOutput[] = [];
  for (const [index, r] of requests.entries()) {
    const base = { ...imageAttrs(opts.image) };
    switch (r.kind) {
      case 'push': {
        const list = names(r.name);
        if (list.length === 0) throw new CopaError('input', 'pushing needs an image name (--tag)');
        validateNames(list, 'the push');
        const attrs: Record<string, string> = { name: list.join(','), push: 'true', ...base };
        const insecure = r.insecure ?? list.every((n) => needsInsecureRegistry(registryHostOf(n)));
        if (insecure) attrs['registry.insecure'] = 'true';
        Object.assign(attrs, opts.image?.attrs);
        outputs.push({ index, request: r, exporter: { Type: 'image', Attrs: attrs }, describe: describeOutput(r) });
        break;
      }
      case 'moby': {
        const list = names(r.name);
        if (list.length === 0) throw new CopaError('input', 'loading into docker needs an image name (--tag)');
        validateNames(list, 'the image');
        const attrs: Record<string, string> = { name: list.join(','), ...base, ...opts.image?.attrs };
        outputs.push({ index, request: r, exporter: { Type: 'moby', Attrs: attrs }, describe: describeOutput(r) });
        break;
      }
      case 'docker': {
        const list = names(r.name);
        if (list.length === 0) throw new CopaError('input', 'loading into docker needs an image name (--tag)');
        validateNames(list, 'docker load');
        let format: 'docker' | 'oci';
        if (r.format === 'docker' || r.format === 'oci') format = r.format;
        else {
          const containerd = opts.containerdStore ?? (await engineUsesContainerdStore(r.endpoint, { ...opts.dockerApi, ...r.load }));
          format = containerd ? 'oci' : 'docker';
        }
        const attrs: Record<string, string> = { name: list.join(','), ...base, ...opts.image?.attrs };
        const target = createDockerLoadTarget(r.endpoint, { ...r.load, format });
        outputs.push({ index, request: r, exporter: { Type: format, Attrs: attrs }, target, describe: describeOutput(r, format) });
        break;
      }
      case 'oci-dir': {
        if (!r.dest) throw new CopaError('input', '--oci-dir needs a directory');
        if (dests.has(r.dest)) throw new CopaError('input', `the OCI layout directory ${quote(r.dest)} is given twice`);
        dests.add(r.dest);
        if (!opts.skipDestinationCheck) await checkOciDirDestination(r.dest);
        const list = names(r.name);
        validateNames(list, 'the OCI layout');
        const attrs: Record<string, string> = { ...(list.length ? { name: list.join(',') } : {}), tar: 'true', ...base, ...opts.image?.attrs };
        const target = createOciDirTarget(r.dest, r.dir);
        outputs.push({ index, request: r, exporter: { Type: 'oci', Attrs: attrs }, target, describe: describeOutput(r) });
        break;
      }
      default:
        throw new CopaError('internal', `unknown output kind ${quote(String((r as { kind?: unknown }).kind))}`);
    }
  }

  const exporters = outputs.map((o) => o.exporter);
  const targets = new Map<number, FileSendTarget>();
  for (const o of outputs) if (o.target) targets.set(o.index, o.target);
  const failures: Error[] = [];
  let cancelling = false;
  for (const o of outputs) {
    o.target?.result.catch((e: unknown) => {
      if (!cancelling) failures.push(e instanceof Error ? e : new Error(String(e)));
    });
  }

  return {
    outputs,
    exporters,
    targets,
    solveFields() {
      const first = exporters[0]!;
      return { Exporters: exporters, ExporterDeprecated: first.Type, ExporterAttrsDeprecated: first.Attrs };
    },
    async wait() {
      const results: OutputResult[] = [];
      for (const o of outputs) {
        const r = o.request;
        const name = names('name' in r ? r.name : undefined).join(',');
        if (o.target && !o.target.opened) {
          o.target.cancel(new CopaError('buildkit', `BuildKit finished the build without sending the output for ${o.describe}`));
        }
        switch (r.kind) {
          case 'push':
            results.push({ kind: 'push', index: o.index, name });
            break;
          case 'moby':
            results.push({ kind: 'moby', index: o.index, name });
            break;
          case 'docker':
            results.push({ kind: 'docker', index: o.index, name, format: o.exporter.Type as 'docker' | 'oci', load: await (o.target as ExportTarget<DockerLoadResult>).result });
            break;
          case 'oci-dir':
            results.push({ kind: 'oci-dir', index: o.index, ...(name ? { name } : {}), layout: await (o.target as ExportTarget<OciDirResult>).result });
            break;
        }
      }
      return results;
    },
    cancel(reason) {
      cancelling = true;
      for (const o of outputs) o.target?.cancel(reason);
    },
    failure() {
      return failures[0];
    },
  };
}
