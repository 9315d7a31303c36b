// The engine's Bridge over BuildKit's LLBBridge gRPC service. The frontend uses it on
// its stdio connection; the plugin uses it on the control connection, with the
// `buildkit-controlapi-buildid` metadata naming its client-side build.
import { BridgeFileNotFound, type Bridge, type DirEntry, type ImageConfig, type ResolvedImage, type SolvedRef } from './bridge.js';
import { BuildKitError } from './errors.js';
import { definitionFromProtoObject, definitionHead, definitionToProtoObject, type Definition } from './definition.js';
import type { Platform } from './platform.js';
import { GATEWAY_PACKAGE, LLB_BRIDGE_METHODS } from './proto/gateway.js';
import { methodDef } from './grpc/codec.js';
import { GrpcCode, GrpcError, type CallOptions, type GrpcChannel, type Metadata, type MethodDef } from './grpc/h2client.js';

/** Metadata key naming the client-side build a forwarded LLBBridge call belongs to. */
export const BUILD_ID_METADATA = 'buildkit-controlapi-buildid';

/** Largest ReadFile range requested at once (BuildKit's message limit is 16 MiB). */
export const READ_CHUNK = 8 * 1024 * 1024;

/** Gateway caps BuildKit assumes when Ping returns none (frozen when caps were introduced). */
export const DEFAULT_GATEWAY_CAPS: readonly string[] = ['solve.base', 'solve.inlinereturn', 'resolveimage', 'readfile'];

/** LLB caps BuildKit assumes when Ping returns none (frozen; note upstream's "soruce" spelling). */
export const DEFAULT_LLB_CAPS: readonly string[] = [
  'source.image',
  'source.local',
  'source.local.unique',
  'source.local.sessionid',
  'source.local.includepatterns',
  'source.local.followpaths',
  'source.local.excludepatterns',
  'source.local.sharedkeyhint',
  'source.git',
  'source.git.keepgitdir',
  'source.git.fullurl',
  'source.http',
  'source.http.checksum',
  'source.http.perm',
  'soruce.http.uidgid',
  'source.buildop.llbfilename',
  'exec.meta.base',
  'exec.meta.proxyenv',
  'exec.mount.bind',
  'exec.mount.cache',
  'exec.mount.cache.sharing',
  'exec.mount.selector',
  'exec.mount.tmpfs',
  'exec.mount.secret',
  'constraints',
  'platform',
  'meta.ignorecache',
  'meta.description',
  'meta.exportcache',
];

/** Worker as reported by Ping (same shape as BUILDKIT_WORKERS). */
export interface BridgeWorker {
  ID: string;
  Labels: Record<string, string>;
  Platforms: Platform[];
}

/** A SolvedRef as returned by this client: the id plus the result's Definition when BuildKit sent it. */
export interface BridgeRef extends SolvedRef {
  readonly def?: Definition;
}

export interface SolveOptions {
  definition?: Definition;
  frontend?: string;
  frontendOpt?: Record<string, string>;
  frontendInputs?: Record<string, Definition>;
  evaluate?: boolean;
  cacheImports?: Array<{ Type: string; Attrs?: Record<string, string> }>;
}

export interface SolveResult {
  ref?: BridgeRef;
  refs?: Record<string, BridgeRef>;
  metadata: Record<string, Uint8Array>;
}

export interface ReturnResult {
  ref?: SolvedRef;
  refs?: Record<string, SolvedRef>;
  metadata?: Record<string, Uint8Array | string>;
}

export interface ResolveImageOptions {
  /** "default" | "pull" | "local" */
  resolveMode?: string;
  logName?: string;
  sessionId?: string;
}

export interface StatEntry extends DirEntry {
  uid: number;
  gid: number;
  modTime: number;
  linkname: string;
}

type Obj = Record<string, unknown>;
type M = MethodDef<Obj, Obj>;

let methods: Record<keyof typeof LLB_BRIDGE_METHODS, M> | undefined;
function m(name: keyof typeof LLB_BRIDGE_METHODS): M {
  if (!methods) {
    const out = {} as Record<keyof typeof LLB_BRIDGE_METHODS, M>;
    for (const k of Object.keys(LLB_BRIDGE_METHODS) as Array<keyof typeof LLB_BRIDGE_METHODS>) {
      out[k] = methodDef(GATEWAY_PACKAGE, LLB_BRIDGE_METHODS[k]);
    }
    methods = out;
  }
  return methods[name];
}

interface PbCap {
  ID?: string;
  Enabled?: boolean;
  DisabledReason?: string;
  DisabledReasonMsg?: string;
  DisabledAlternative?: string;
}

function capSet(list: PbCap[], defaults: readonly string[]): { set: Set<string>; disabled: Map<string, string> } {
  const set = new Set<string>();
  const disabled = new Map<string, string>();
  if (!list.length) {
    for (const c of defaults) set.add(c);
    return { set, disabled };
  }
  for (const c of list) {
    if (!c.ID) continue;
    if (c.Enabled) set.add(c.ID);
    else disabled.set(c.ID, c.DisabledReasonMsg || c.DisabledReason || 'disabled');
  }
  return { set, disabled };
}

function toPbPlatform(p: Platform): Obj {
  const o: Obj = { OS: p.os, Architecture: p.architecture };
  if (p.variant) o.Variant = p.variant;
  return o;
}

function fromPbPlatform(o: Obj | null | undefined): Platform {
  const p: Platform = { os: String(o?.OS ?? ''), architecture: String(o?.Architecture ?? '') };
  if (o?.Variant) p.variant = String(o.Variant);
  return p;
}

/** True when a gRPC error from ReadFile/ReadDir/StatFile means "the path does not exist". */
export function isNotFoundError(err: unknown): boolean {
  if (!(err instanceof GrpcError)) return false;
  if (err.code === GrpcCode.NOT_FOUND) return true;
  const msg = err.grpcMessage.toLowerCase();
  return msg.includes('no such file or directory') || msg.includes('not a directory');
}

const RESULT_MISSING = 'BuildKit returned no result for the solve';

function refFrom(o: Obj | null | undefined): BridgeRef {
  const id = String(o?.id ?? '');
  const def = o?.def as Obj | null | undefined;
  if (def && Array.isArray(def.def) && def.def.length) return { id, def: definitionFromProtoObject(def) };
  return { id };
}

function scratchDefinition(d: Definition): boolean {
  return d.def.length === 0;
}

export class LLBBridgeClient implements Bridge {
  readonly llbCaps: ReadonlySet<string>;
  readonly gatewayCaps: ReadonlySet<string>;
  /** Workers reported by Ping (may be empty). */
  readonly workers: BridgeWorker[];
  private readonly disabledCaps: Map<string, string>;
  private returned = false;
  /**
   * Vertex that warnings attach to: progress UIs drop warnings of vertices they have not
   * seen, so this is the result vertex of the latest solve known to have been evaluated.
   */
  private warnVertex = '';
  private readonly refVertex = new Map<string, string>();

  private constructor(
    readonly channel: GrpcChannel,
    private readonly metadata: Metadata | undefined,
    pong: Obj,
  ) {
    const gw = capSet((pong.FrontendAPICaps as PbCap[]) ?? [], DEFAULT_GATEWAY_CAPS);
    const llb = capSet((pong.LLBCaps as PbCap[]) ?? [], DEFAULT_LLB_CAPS);
    this.gatewayCaps = gw.set;
    this.llbCaps = llb.set;
    this.disabledCaps = new Map([...gw.disabled, ...llb.disabled]);
    this.workers = ((pong.Workers as Obj[]) ?? []).map((w) => ({
      ID: String(w.ID ?? ''),
      Labels: (w.Labels as Record<string, string>) ?? {},
      Platforms: ((w.platforms as Obj[]) ?? []).map(fromPbPlatform),
    }));
  }

  /** Ping the bridge (15 s timeout) and keep its capabilities. */
  static async connect(channel: GrpcChannel, opts: { metadata?: Metadata; pingTimeoutMs?: number } = {}): Promise<LLBBridgeClient> {
    let pong: Obj;
    try {
      pong = await channel.unary(m('Ping'), {}, { metadata: opts.metadata, timeoutMs: opts.pingTimeoutMs ?? 15_000 });
    } catch (err) {
      throw new BuildKitError('buildkit', `cannot reach BuildKit's gateway API (Ping failed): ${(err as Error).message}`, { cause: err });
    }
    return new LLBBridgeClient(channel, opts.metadata, pong);
  }

  private call(name: keyof typeof LLB_BRIDGE_METHODS, req: Obj, opts: CallOptions = {}): Promise<Obj> {
    return this.channel.unary(m(name), req, { ...opts, metadata: this.metadata });
  }

  hasGatewayCap(id: string): boolean {
    return this.gatewayCaps.has(id);
  }
  hasLLBCap(id: string): boolean {
    return this.llbCaps.has(id);
  }

  /** Throw a BuildKitError naming what is missing unless every LLB cap is supported. */
  requireCaps(caps: readonly string[]): void {
    const missing = caps.filter((c) => !this.llbCaps.has(c));
    if (!missing.length) return;
    const reasons = missing
      .map((c) => (this.disabledCaps.has(c) ? `${c} (${this.disabledCaps.get(c)})` : c))
      .join(', ');
    if (missing.some((c) => c === 'mergeop' || c === 'diffop')) {
      throw new BuildKitError('buildkit', `this BuildKit lacks MergeOp/DiffOp (needs BuildKit ≥ v0.10; on Docker enable the containerd image store); missing LLB capabilities: ${reasons}`, {
        hint: 'upgrade BuildKit (or Docker Engine), or with Docker Desktop/Engine enable "Use containerd for pulling and storing images", or use a docker-container/remote buildx builder',
      });
    }
    throw new BuildKitError('buildkit', `this BuildKit lacks required LLB capabilities: ${reasons}`, { hint: 'upgrade BuildKit' });
  }

  private checkDefinitionCaps(def: Definition): void {
    const missing = new Set<string>();
    for (const md of Object.values(def.metadata)) {
      for (const [cap, on] of Object.entries(md.caps ?? {})) if (on && !this.llbCaps.has(cap)) missing.add(cap);
    }
    if (missing.size) this.requireCaps([...missing]);
  }

  /** Solve with every SolveRequest option; returns the whole result. */
  async solveRequest(o: SolveOptions): Promise<SolveResult> {
    if (o.definition) this.checkDefinitionCaps(o.definition);
    const req: Obj = {
      allowResultReturn: true,
      allowResultArrayRef: true,
    };
    if (o.definition) req.Definition = definitionToProtoObject(o.definition);
    if (o.frontend) req.Frontend = o.frontend;
    if (o.frontendOpt) req.FrontendOpt = o.frontendOpt;
    if (o.frontendInputs) {
      const fi: Record<string, Obj> = {};
      for (const [k, v] of Object.entries(o.frontendInputs)) fi[k] = definitionToProtoObject(v);
      req.FrontendInputs = fi;
    }
    if (o.cacheImports?.length) req.CacheImports = o.cacheImports.map((c) => ({ Type: c.Type, Attrs: c.Attrs ?? {} }));
    // Older daemons lack inline evaluation: solve lazily, then force it with evaluate().
    const evaluateInline = !!o.evaluate && this.gatewayCaps.has('gateway.solve.evaluate');
    if (evaluateInline) req.Evaluate = true;
    const res = await this.call('Solve', req);
    const result = res.result as Obj | null | undefined;
    const out: SolveResult = { metadata: {} };
    if (result) {
      out.metadata = (result.metadata as Record<string, Uint8Array>) ?? {};
      if (result.ref) out.ref = refFrom(result.ref as Obj);
      else if (result.refs) {
        const refs: Record<string, BridgeRef> = {};
        const map = ((result.refs as Obj).refs as Record<string, Obj>) ?? {};
        for (const [k, v] of Object.entries(map)) refs[k] = refFrom(v);
        out.refs = refs;
      } else {
        out.ref = { id: '' };
      }
    } else if (typeof res.ref === 'string' && res.ref) {
      out.ref = { id: res.ref };
    } else {
      out.ref = { id: '' };
    }
    if (o.evaluate && !evaluateInline) {
      for (const r of out.ref ? [out.ref] : Object.values(out.refs ?? {})) await this.evaluate(r);
    }
    return out;
  }

  async solve(def: Definition, opts: { evaluate?: boolean } = {}): Promise<BridgeRef> {
    const res = await this.solveRequest({ definition: def, evaluate: opts.evaluate });
    if (res.ref?.id) {
      try {
        const head = definitionHead(def);
        if (head?.digest) {
          this.refVertex.set(res.ref.id, head.digest);
          if (opts.evaluate) this.warnVertex = head.digest;
        }
      } catch {
        /* not a decodable definition: no vertex to remember */
      }
    }
    if (res.ref) return res.ref;
    if (scratchDefinition(def)) return { id: '' };
    throw new BuildKitError('buildkit', RESULT_MISSING);
  }

  /** Force a lazy result to be built (cap gateway.evaluate; falls back to a StatFile of "/"). */
  /** Remember that ref was built (so its vertex is in the progress stream). */
  private evaluated(ref: SolvedRef): void {
    const v = this.refVertex.get(ref.id);
    if (v) this.warnVertex = v;
  }

  async evaluate(ref: SolvedRef): Promise<void> {
    if (!ref.id) return;
    this.evaluated(ref);
    if (this.gatewayCaps.has('gateway.evaluate')) {
      await this.call('Evaluate', { Ref: ref.id });
      return;
    }
    if (this.gatewayCaps.has('statfile')) await this.call('StatFile', { Ref: ref.id, Path: '/' });
    else await this.call('ReadDir', { Ref: ref.id, DirPath: '/', IncludePattern: '.copa-evaluate-none' });
  }

  async readFile(ref: SolvedRef, path: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let offset = 0;
    for (;;) {
      let data: Uint8Array;
      try {
        const res = await this.call('ReadFile', { Ref: ref.id, FilePath: path, Range: { Offset: offset, Length: READ_CHUNK } });
        data = (res.Data as Uint8Array) ?? new Uint8Array();
        this.evaluated(ref);
      } catch (err) {
        if (isNotFoundError(err)) throw new BridgeFileNotFound(path, err);
        throw err;
      }
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
      parts.push(buf);
      offset += buf.length;
      if (buf.length < READ_CHUNK) break;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async readDir(ref: SolvedRef, path: string, includePattern?: string): Promise<DirEntry[]> {
    let res: Obj;
    try {
      const req: Obj = { Ref: ref.id, DirPath: path };
      if (includePattern) req.IncludePattern = includePattern;
      res = await this.call('ReadDir', req);
      this.evaluated(ref);
    } catch (err) {
      if (isNotFoundError(err)) throw new BridgeFileNotFound(path, err);
      throw err;
    }
    return ((res.entries as Obj[]) ?? []).map((e) => ({
      path: String(e.path ?? ''),
      mode: Number(e.mode ?? 0) >>> 0,
      size: Number(e.size ?? 0),
    }));
  }

  /** StatFile (cap statfile). Throws BridgeFileNotFound when absent. */
  async statFile(ref: SolvedRef, path: string): Promise<StatEntry> {
    let res: Obj;
    try {
      res = await this.call('StatFile', { Ref: ref.id, Path: path });
      this.evaluated(ref);
    } catch (err) {
      if (isNotFoundError(err)) throw new BridgeFileNotFound(path, err);
      throw err;
    }
    const s = (res.stat as Obj) ?? {};
    return {
      path: String(s.path ?? ''),
      mode: Number(s.mode ?? 0) >>> 0,
      size: Number(s.size ?? 0),
      uid: Number(s.uid ?? 0),
      gid: Number(s.gid ?? 0),
      modTime: Number(s.modTime ?? 0),
      linkname: String(s.linkname ?? ''),
    };
  }

  async resolveImageConfig(ref: string, platform: Platform, opts: ResolveImageOptions = {}): Promise<ResolvedImage> {
    const req: Obj = {
      Ref: ref,
      Platform: toPbPlatform(platform),
      ResolveMode: opts.resolveMode ?? 'default',
      LogName: opts.logName ?? `[copa] load metadata for ${ref}`,
    };
    if (opts.sessionId) req.SessionID = opts.sessionId;
    const res = await this.call('ResolveImageConfig', req);
    const raw = res.Config as Uint8Array | undefined;
    let config: ImageConfig = {};
    if (raw && raw.length) {
      try {
        config = JSON.parse(Buffer.from(raw).toString('utf8')) as ImageConfig;
      } catch (err) {
        throw new BuildKitError('image', `BuildKit returned an unreadable image config for ${ref}: ${(err as Error).message}`, { cause: err });
      }
    }
    return { digest: String(res.Digest ?? ''), config, ref: String(res.Ref || ref) };
  }

  /**
   * A warning in the user's progress output. It is attached to `opts.digest`, or to the
   * result vertex of the latest solve (progress UIs drop warnings of unknown vertices).
   */
  async warn(short: string, detail: string[] = [], opts: { digest?: string; url?: string } = {}): Promise<void> {
    if (!this.gatewayCaps.has('gateway.warnings')) return;
    try {
      await this.call('Warn', {
        digest: opts.digest ?? this.warnVertex,
        url: opts.url ?? '',
        level: 1,
        short: Buffer.from(short, 'utf8'),
        detail: detail.map((d) => Buffer.from(d, 'utf8')),
      });
    } catch {
      // Warnings are best effort.
    }
  }

  /** The build's frontend inputs (cap frontend.inputs); {} when unsupported. */
  async inputs(): Promise<Record<string, Definition>> {
    if (!this.gatewayCaps.has('frontend.inputs')) return {};
    const res = await this.call('Inputs', {});
    const out: Record<string, Definition> = {};
    for (const [k, v] of Object.entries((res.Definitions as Record<string, Obj>) ?? {})) out[k] = definitionFromProtoObject(v);
    return out;
  }

  /** Hand the build result to BuildKit (once). */
  async returnResult(r: ReturnResult): Promise<void> {
    const metadata: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(r.metadata ?? {})) metadata[k] = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    const result: Obj = { metadata };
    if (r.refs) {
      if (!this.gatewayCaps.has('returnmap') && Object.keys(r.refs).length > 0) {
        throw new BuildKitError('buildkit', 'this BuildKit cannot return multi-platform results (missing gateway cap "returnmap")');
      }
      const refs: Record<string, Obj> = {};
      for (const [k, v] of Object.entries(r.refs)) refs[k] = { id: v.id };
      result.refs = { refs };
    } else {
      result.ref = { id: r.ref?.id ?? '' };
    }
    this.returned = true;
    await this.call('Return', { result });
  }

  /** Report a failure as the build's result. */
  async returnError(message: string, code: number = GrpcCode.UNKNOWN): Promise<void> {
    this.returned = true;
    await this.call('Return', { error: { code, message, details: [] } });
  }

  /** True once returnResult/returnError was called. */
  get hasReturned(): boolean {
    return this.returned;
  }
}
