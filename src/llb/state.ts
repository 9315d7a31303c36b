// The typed LLB builder: immutable States over a graph of vertices (source, exec, file,
// merge, diff, and already-marshalled definitions), marshalled into a pb.Definition whose
// op bytes and digests equal what BuildKit's Go client (client/llb) produces for the
// same graph.
//
// Go behaviours reproduced here because they change bytes or digests:
//   - post-order DFS over vertex inputs, each op once (by digest), terminal op last;
//   - every op gets `constraints {}`; exec and image/oci sources get `platform`; file,
//     merge, diff and local sources do not;
//   - exec mounts sorted by dest; inputs de-duplicated by (digest, index); outputs
//     numbered only for writable bind mounts, -1 elsewhere; scratch is input -1;
//   - meta.removeMountStubsRecursive = true; env in the state's order (a replaced key
//     moves to the end);
//   - file actions chain through output indices (len(inputs) + action index); only the
//     last action has output 0; copy mode/timestamps default to -1;
//   - per-op metadata caps exactly as the Go client sets them; the terminal op carries
//     constraints/platform and meta.ignorecache/meta.description when any op uses them.

import { randomBytes } from 'node:crypto';
import { digestOf, encodeOp, decodeOp, type Definition, type OpMetadataJson } from './definition.js';
import { clean, isAbs, join } from './paths.js';
import { defaultPlatform, normalizePlatform, type Platform } from './platform.js';
import { normalizeImageRef, type ImageRef } from './reference.js';
import { compareBytewise } from './proto/deterministic.js';

// ---------------------------------------------------------------------------------------
// Public option types

export type NetMode = 'sandbox' | 'host' | 'none';

export interface MountSpec {
  /** Absolute mount point. */
  dest: string;
  /** Omit (or pass a scratch State) for an empty mount. */
  source?: State;
  /** Sub-path of the source to mount (cap exec.mount.selector). */
  selector?: string;
  readonly?: boolean;
  /** Default 'bind'. */
  type?: 'bind' | 'cache' | 'tmpfs';
  /** Required for type 'cache'. */
  cacheId?: string;
  /** Cache sharing mode (default 'shared'). */
  sharing?: 'shared' | 'private' | 'locked';
  /** tmpfs size in bytes (0/omitted = daemon default). */
  tmpfsSize?: number;
  /** Writable but produces no output (Go's llb.ForceNoOutput). */
  noOutput?: boolean;
}

export interface RunOptions {
  /** argv; never a shell string from us. */
  args: string[];
  /** Set over the state's env for this exec only, in object order. */
  env?: Record<string, string>;
  /** Working directory for this exec; relative paths resolve against the state's. */
  cwd?: string;
  user?: string;
  network?: NetMode;
  mounts?: MountSpec[];
  /** Vertex name shown in progress (llb.customname). */
  name?: string;
  ignoreCache?: boolean;
  validExitCodes?: number[];
}

export interface ImageOptions {
  /** Platform of the image to pull; also becomes the state's platform. */
  platform?: Platform;
  /** 'default' adds no attribute (like Go). */
  resolveMode?: 'default' | 'pull' | 'local';
  name?: string;
  /** Image config defaults for run(): env, working dir and user. */
  imageConfig?: { Env?: string[] | null; WorkingDir?: string; User?: string };
}

export interface LocalOptions {
  sessionId?: string;
  includePatterns?: string[];
  excludePatterns?: string[];
  followPaths?: string[];
  sharedKeyHint?: string;
  differ?: 'none' | 'metadata';
  /** Whether the daemon must support the differ (adds cap source.local.differ). */
  differRequired?: boolean;
  name?: string;
}

export interface MarshalOptions {
  /** Default: linux/<host arch>, like Go's normalised platforms.DefaultSpec(). */
  platform?: Platform;
  /**
   * The daemon's LLB caps (from Ping), like Go's llb.WithCaps. When given: if
   * exec.meta.setsdefaultpath is present each exec declares it, otherwise a default
   * PATH is added to exec env. When omitted, neither happens (Go without WithCaps).
   */
  llbCaps?: Iterable<string>;
  /** local.unique for local sources without a session (default: random per marshal, like Go). */
  localUniqueId?: string;
}

export interface ConstraintOptions {
  name?: string;
  ignoreCache?: boolean;
}

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyOptions {
  createDestPath?: boolean;
  allowWildcard?: boolean;
  allowEmptyWildcard?: boolean;
  copyDirContentsOnly?: boolean;
  followSymlinks?: boolean;
  /** File mode to set; omitted = keep source modes (-1 on the wire). */
  mode?: number;
  owner?: Owner;
  includePatterns?: string[];
  excludePatterns?: string[];
}

// ---------------------------------------------------------------------------------------
// Graph internals

interface MarshalCtx {
  platform: Platform;
  caps?: ReadonlySet<string>;
  localUniqueId: string;
  cache: Map<Vertex, Marshalled>;
}

interface Marshalled {
  digest: string;
  bytes: Uint8Array;
  meta?: OpMetadataJson;
}

interface PbInput {
  digest: string;
  index: number;
}

/** Per-op constraints: platform override and metadata. */
interface OpConstraints {
  platform?: Platform;
  ignoreCache: boolean;
  description?: Record<string, string>;
}

function constraintsFrom(o: ConstraintOptions | undefined, platform?: Platform): OpConstraints {
  const c: OpConstraints = { ignoreCache: o?.ignoreCache === true };
  if (o?.name !== undefined) c.description = { 'llb.customname': o.name };
  if (platform) c.platform = platform;
  return c;
}

function opMetadata(c: OpConstraints, caps: Iterable<string>): OpMetadataJson {
  const m: OpMetadataJson = {};
  if (c.ignoreCache) m.ignore_cache = true;
  if (c.description && Object.keys(c.description).length > 0) m.description = { ...c.description };
  const capObj: Record<string, boolean> = {};
  for (const k of [...caps].sort(compareBytewise)) capObj[k] = true;
  if (Object.keys(capObj).length > 0) m.caps = capObj;
  return m;
}

function pbPlatform(p: Platform): Record<string, unknown> {
  const o: Record<string, unknown> = { Architecture: p.architecture, OS: p.os };
  if (p.variant) o.Variant = p.variant;
  return o;
}

/** Go's mergeMetadata: later ignore_cache/description/caps add to earlier ones. */
function mergeMetadata(m1: OpMetadataJson | undefined, m2: OpMetadataJson): OpMetadataJson {
  const r: OpMetadataJson = { ...(m1 ?? {}) };
  if (m2.ignore_cache) r.ignore_cache = true;
  if (m2.description && Object.keys(m2.description).length > 0) r.description = { ...(r.description ?? {}), ...m2.description };
  if (m2.export_cache) r.export_cache = m2.export_cache;
  if (m2.caps) {
    for (const k of Object.keys(m2.caps)) r.caps = { ...(r.caps ?? {}), [k]: true };
  }
  if (m2.progress_group) r.progress_group = m2.progress_group;
  if (m2.linux_resources) r.linux_resources = m2.linux_resources;
  return r;
}

abstract class Vertex {
  /** Inputs in the order the Go client walks them (DFS order), de-duplicated by identity. */
  abstract inputs(): Output[];
  protected abstract build(ctx: MarshalCtx): { bytes: Uint8Array; meta?: OpMetadataJson; digest?: string };
  /** Human-readable kind, for error messages. */
  abstract describe(): string;

  marshal(ctx: MarshalCtx): Marshalled {
    let m = ctx.cache.get(this);
    if (!m) {
      const b = this.build(ctx);
      m = { digest: b.digest ?? digestOf(b.bytes), bytes: b.bytes, meta: b.meta };
      ctx.cache.set(this, m);
    }
    return m;
  }
}

class Output {
  constructor(
    readonly vertex: Vertex,
    private readonly indexFn: () => number,
    /** Platform carried by the output (raw, as Go's output.platform). */
    readonly platform?: Platform,
  ) {}

  index(): number {
    return this.indexFn();
  }

  toInput(ctx: MarshalCtx): PbInput {
    const index = this.index();
    return { digest: this.vertex.marshal(ctx).digest, index };
  }
}

function addInputDedup(inputs: PbInput[], inp: PbInput): number {
  const i = inputs.findIndex((x) => x.digest === inp.digest && x.index === inp.index);
  if (i >= 0) return i;
  inputs.push(inp);
  return inputs.length - 1;
}

function pbInputs(inputs: PbInput[]): Array<Record<string, unknown>> {
  return inputs.map((i) => ({ digest: i.digest, index: i.index }));
}

// ---------------------------------------------------------------------------------------
// Source ops

class SourceVertex extends Vertex {
  readonly output: Output;

  constructor(
    readonly identifier: string,
    readonly attrs: Record<string, string>,
    readonly caps: Set<string>,
    readonly constraints: OpConstraints,
  ) {
    super();
    this.output = new Output(this, () => 0, constraints.platform);
  }

  inputs(): Output[] {
    return [];
  }

  describe(): string {
    return `source ${this.identifier}`;
  }

  protected build(ctx: MarshalCtx): { bytes: Uint8Array; meta: OpMetadataJson } {
    const attrs = { ...this.attrs };
    const caps = new Set(this.caps);
    if (this.identifier.startsWith('local://') && attrs['local.session'] === undefined) {
      attrs['local.unique'] = ctx.localUniqueId;
      caps.add('source.local.unique');
    }
    const op: Record<string, unknown> = {
      source: { identifier: this.identifier, attrs },
      constraints: {},
    };
    if (this.identifier.startsWith('docker-image://') || this.identifier.startsWith('oci-layout://')) {
      op.platform = pbPlatform(this.constraints.platform ?? ctx.platform);
    }
    return { bytes: encodeOp(op), meta: opMetadata(this.constraints, caps) };
  }
}

/** Go's json.Marshal of a string slice (HTML-escaping <, >, &, and U+2028/U+2029). */
function goJSONStrings(a: string[]): string {
  return JSON.stringify(a)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

// ---------------------------------------------------------------------------------------
// Exec op

interface ExecMount {
  target: string;
  source: Output | null;
  readonly: boolean;
  selector: string;
  cacheId: string;
  sharing: 0 | 1 | 2;
  tmpfs: boolean;
  tmpfsSize: number;
  noOutput: boolean;
  /** What getMount() returns: an output, a state's output (readonly), or why there is none. */
  output: Output | null | { error: string };
}

const DEFAULT_PATH_UNIX = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NETMODE: Record<NetMode, number> = { sandbox: 0, host: 1, none: 2 };
const SHARING: Record<NonNullable<MountSpec['sharing']>, 0 | 1 | 2> = { shared: 0, private: 1, locked: 2 };

function isWritableOutput(m: ExecMount): boolean {
  return !m.noOutput && !m.readonly && !m.tmpfs && m.cacheId === '';
}

class ExecVertex extends Vertex {
  readonly mounts: ExecMount[];
  readonly rootOutput: Output;

  constructor(
    readonly base: StateValues,
    readonly args: string[],
    readonly network: NetMode,
    readonly validExitCodes: number[] | undefined,
    mounts: ExecMount[],
    readonly constraints: OpConstraints,
  ) {
    super();
    // Sorted once, by dest, bytewise (Go sorts with strings.Compare before use).
    this.mounts = mounts.slice().sort((a, b) => compareBytewise(a.target, b.target));
    const root = this.mounts.find((m) => m.target === '/')!;
    this.rootOutput = new Output(this, () => this.outputIndexOf(root), constraints.platform);
    root.output = this.rootOutput;
    for (const m of this.mounts) {
      if (m === root) continue;
      if (m.readonly) m.output = m.source;
      else if (m.tmpfs) m.output = { error: `tmpfs mount for ${m.target} can't be used as a parent` };
      else if (m.noOutput) m.output = { error: `mount marked no-output and ${m.target} can't be used as a parent` };
      else if (m.cacheId !== '') m.output = { error: `cache mount ${m.target} has no output` };
      else m.output = new Output(this, () => this.outputIndexOf(m), constraints.platform);
    }
  }

  describe(): string {
    const name = this.constraints.description?.['llb.customname'];
    return `exec ${name !== undefined ? JSON.stringify(name) : JSON.stringify(this.args.join(' '))}`;
  }

  private outputIndexOf(m: ExecMount): number {
    let i = 0;
    for (const m2 of this.mounts) {
      if (!isWritableOutput(m2)) continue;
      if (m2 === m) return i;
      i++;
    }
    throw new Error(`invalid mount: ${m.target}`);
  }

  inputs(): Output[] {
    const seen = new Set<Output>();
    const out: Output[] = [];
    for (const m of this.mounts) {
      if (m.source && !seen.has(m.source)) {
        seen.add(m.source);
        out.push(m.source);
      }
    }
    return out;
  }

  protected build(ctx: MarshalCtx): { bytes: Uint8Array; meta: OpMetadataJson } {
    const caps = new Set<string>();
    const env = this.base.env.slice();
    if (ctx.caps) {
      if (!ctx.caps.has('exec.meta.setsdefaultpath')) {
        if (ctx.platform.os !== 'windows' && !env.some(([k]) => k === 'PATH')) env.push(['PATH', DEFAULT_PATH_UNIX]);
      } else {
        caps.add('exec.meta.setsdefaultpath');
      }
    }
    if (this.args.length === 0) throw new Error('exec: arguments are required');
    if (this.base.dir === '') throw new Error('exec: working directory is required');

    const meta: Record<string, unknown> = {
      args: this.args,
      env: env.map(([k, v]) => `${k}=${v}`),
      cwd: this.base.dir,
      user: this.base.user,
      removeMountStubsRecursive: true,
    };
    if (this.validExitCodes && this.validExitCodes.length > 0) {
      meta.validExitCodes = this.validExitCodes;
      caps.add('exec.validexitcode');
    }
    const network = NETMODE[this.network];
    if (network !== 0) caps.add('exec.meta.network');
    caps.add('exec.meta.base');
    for (const m of this.mounts) {
      if (m.selector !== '') caps.add('exec.mount.selector');
      if (m.cacheId !== '') {
        caps.add('exec.mount.cache');
        caps.add('exec.mount.cache.sharing');
      } else if (m.tmpfs) {
        caps.add('exec.mount.tmpfs');
        if (m.tmpfsSize > 0) caps.add('exec.mount.tmpfs.size');
      } else if (m.source) {
        caps.add('exec.mount.bind');
      }
    }

    const platform = this.constraints.platform ?? this.base.platform ?? ctx.platform;
    const inputs: PbInput[] = [];
    const mounts: Array<Record<string, unknown>> = [];
    let outIndex = 0;
    for (const m of this.mounts) {
      let input = -1;
      if (m.source) {
        if (m.tmpfs) throw new Error(`exec: tmpfs mount ${m.target} must use scratch`);
        input = addInputDedup(inputs, m.source.toInput(ctx));
      }
      let output = -1;
      if (isWritableOutput(m)) output = outIndex++;
      const pm: Record<string, unknown> = { input, selector: m.selector, dest: m.target, output, readonly: m.readonly };
      if (m.cacheId !== '') {
        pm.mountType = 3;
        pm.cacheOpt = { ID: m.cacheId, sharing: m.sharing };
      }
      if (m.tmpfs) {
        pm.mountType = 4;
        pm.TmpfsOpt = { size: m.tmpfsSize };
      }
      mounts.push(pm);
    }

    const op: Record<string, unknown> = {
      inputs: pbInputs(inputs),
      exec: { meta, mounts, network },
      platform: pbPlatform(platform),
      constraints: {},
    };
    return { bytes: encodeOp(op), meta: opMetadata(this.constraints, caps) };
  }
}

// ---------------------------------------------------------------------------------------
// File op

type FileActionSpec =
  | { kind: 'mkdir'; path: string; mode: number; makeParents: boolean; owner?: Owner }
  | { kind: 'mkfile'; path: string; mode: number; data: Uint8Array; owner?: Owner }
  | { kind: 'rm'; path: string; allowNotFound: boolean; allowWildcard: boolean }
  | { kind: 'copy'; src: State; srcPath: string; destPath: string; opts: CopyOptions }
  | { kind: 'symlink'; oldpath: string; newpath: string };

/** A chain of file actions, applied in order by State.file(). Immutable. */
export class FileAction {
  /** @internal */
  constructor(
    /** @internal */ readonly _prev: FileAction | undefined,
    /** @internal */ readonly _spec: FileActionSpec,
  ) {}

  static mkdir(path: string, mode: number, opts?: { makeParents?: boolean; owner?: Owner }): FileAction {
    return new FileAction(undefined, mkdirSpec(path, mode, opts));
  }
  static mkfile(path: string, mode: number, data: Uint8Array | string, opts?: { owner?: Owner }): FileAction {
    return new FileAction(undefined, mkfileSpec(path, mode, data, opts));
  }
  static rm(path: string, opts?: { allowNotFound?: boolean; allowWildcard?: boolean }): FileAction {
    return new FileAction(undefined, rmSpec(path, opts));
  }
  static copy(src: State, srcPath: string, destPath: string, opts?: CopyOptions): FileAction {
    return new FileAction(undefined, copySpec(src, srcPath, destPath, opts));
  }
  /** A symlink at `newpath` pointing to `oldpath` (both used verbatim, as Go does). */
  static symlink(oldpath: string, newpath: string): FileAction {
    return new FileAction(undefined, { kind: 'symlink', oldpath, newpath });
  }

  mkdir(path: string, mode: number, opts?: { makeParents?: boolean; owner?: Owner }): FileAction {
    return new FileAction(this, mkdirSpec(path, mode, opts));
  }
  mkfile(path: string, mode: number, data: Uint8Array | string, opts?: { owner?: Owner }): FileAction {
    return new FileAction(this, mkfileSpec(path, mode, data, opts));
  }
  rm(path: string, opts?: { allowNotFound?: boolean; allowWildcard?: boolean }): FileAction {
    return new FileAction(this, rmSpec(path, opts));
  }
  copy(src: State, srcPath: string, destPath: string, opts?: CopyOptions): FileAction {
    return new FileAction(this, copySpec(src, srcPath, destPath, opts));
  }
  symlink(oldpath: string, newpath: string): FileAction {
    return new FileAction(this, { kind: 'symlink', oldpath, newpath });
  }

  /** @internal Actions first to last. */
  _list(): FileActionSpec[] {
    const out: FileActionSpec[] = [];
    for (let a: FileAction | undefined = this; a; a = a._prev) out.push(a._spec);
    return out.reverse();
  }
}

function mkdirSpec(path: string, mode: number, opts?: { makeParents?: boolean; owner?: Owner }): FileActionSpec {
  return { kind: 'mkdir', path, mode, makeParents: opts?.makeParents === true, owner: opts?.owner };
}
function mkfileSpec(path: string, mode: number, data: Uint8Array | string, opts?: { owner?: Owner }): FileActionSpec {
  const bytes = typeof data === 'string' ? new Uint8Array(Buffer.from(data, 'utf8')) : new Uint8Array(data);
  return { kind: 'mkfile', path, mode, data: bytes, owner: opts?.owner };
}
function rmSpec(path: string, opts?: { allowNotFound?: boolean; allowWildcard?: boolean }): FileActionSpec {
  return { kind: 'rm', path, allowNotFound: opts?.allowNotFound === true, allowWildcard: opts?.allowWildcard === true };
}
function copySpec(src: State, srcPath: string, destPath: string, opts?: CopyOptions): FileActionSpec {
  return { kind: 'copy', src, srcPath, destPath, opts: { ...(opts ?? {}) } };
}

/** Go's normalizePath for file actions (relative paths resolve against the state's dir). */
function normalizeFilePath(parent: string, p: string, keepSlash: boolean): string {
  const orig = p;
  let r = clean(p);
  if (!isAbs(r)) r = join('/', parent, r);
  if (keepSlash) {
    if (orig.endsWith('/') && !r.endsWith('/')) r += '/';
    else if (orig.endsWith('/.')) {
      if (r !== '/') r += '/';
      r += '.';
    }
  }
  return r;
}

function chown(owner: Owner | undefined): Record<string, unknown> | undefined {
  if (!owner) return undefined;
  return { user: { byID: owner.uid >>> 0 }, group: { byID: owner.gid >>> 0 } };
}

class FileVertex extends Vertex {
  readonly output: Output;
  private readonly actions: FileActionSpec[];

  constructor(
    readonly base: State,
    action: FileAction,
    readonly constraints: OpConstraints,
  ) {
    super();
    this.actions = action._list();
    this.output = new Output(this, () => 0);
  }

  describe(): string {
    const name = this.constraints.description?.['llb.customname'];
    return `file op ${name !== undefined ? JSON.stringify(name) : `(${this.actions.map((a) => a.kind).join(', ')})`}`;
  }

  inputs(): Output[] {
    // Go walks from the last action back: the base state, then each copy source.
    const seen = new Set<Output>();
    const out: Output[] = [];
    const add = (o: Output | null) => {
      if (o && !seen.has(o)) {
        seen.add(o);
        out.push(o);
      }
    };
    for (let i = this.actions.length - 1; i >= 0; i--) {
      add(this.base._out);
      const a = this.actions[i]!;
      if (a.kind === 'copy') add(a.src._out);
    }
    return out;
  }

  protected build(ctx: MarshalCtx): { bytes: Uint8Array; meta: OpMetadataJson } {
    const inputs: PbInput[] = [];
    const st: Array<{ base: number; input: number | null; input2: number }> = [];
    for (let i = 0; i < this.actions.length; i++) {
      const a = this.actions[i]!;
      const base = this.base._out ? addInputDedup(inputs, this.base._out.toInput(ctx)) : -1;
      let input2 = -1;
      if (a.kind === 'copy' && a.src._out) input2 = addInputDedup(inputs, a.src._out.toInput(ctx));
      st.push({ base, input: i === 0 ? base : null, input2 });
    }
    const parent = this.base._v.dir;
    const actions = this.actions.map((a, i) => {
      const s = st[i]!;
      const fa: Record<string, unknown> = {
        input: s.input ?? inputs.length + (i - 1),
        secondaryInput: s.input2,
        output: i === this.actions.length - 1 ? 0 : -1,
      };
      switch (a.kind) {
        case 'mkdir':
          fa.mkdir = {
            path: normalizeFilePath(parent, a.path, false),
            mode: a.mode & 0o777,
            makeParents: a.makeParents,
            owner: chown(a.owner),
            timestamp: -1,
          };
          break;
        case 'mkfile':
          fa.mkfile = {
            path: normalizeFilePath(parent, a.path, false),
            mode: a.mode & 0o777,
            data: a.data,
            owner: chown(a.owner),
            timestamp: -1,
          };
          break;
        case 'rm':
          fa.rm = { path: normalizeFilePath(parent, a.path, false), allowNotFound: a.allowNotFound, allowWildcard: a.allowWildcard };
          break;
        case 'copy': {
          const p = clean(a.srcPath);
          const dir = isAbs(p) ? '/' : a.src._v.dir;
          const o = a.opts;
          fa.copy = {
            src: join(dir, p),
            dest: normalizeFilePath(parent, a.destPath, true),
            owner: chown(o.owner),
            mode: o.mode !== undefined ? o.mode | 0 : -1,
            followSymlink: o.followSymlinks === true,
            dirCopyContents: o.copyDirContentsOnly === true,
            createDestPath: o.createDestPath === true,
            allowWildcard: o.allowWildcard === true,
            allowEmptyWildcard: o.allowEmptyWildcard === true,
            timestamp: -1,
            include_patterns: o.includePatterns,
            exclude_patterns: o.excludePatterns,
          };
          break;
        }
        case 'symlink':
          fa.symlink = { oldpath: a.oldpath, newpath: a.newpath, timestamp: -1 };
          break;
      }
      return fa;
    });
    const op: Record<string, unknown> = { inputs: pbInputs(inputs), file: { actions }, constraints: {} };
    // Go's FileOp declares only file.base: its per-action cap hook runs over an empty list.
    return { bytes: encodeOp(op), meta: opMetadata(this.constraints, ['file.base']) };
  }
}

// ---------------------------------------------------------------------------------------
// Merge and diff ops

class MergeVertex extends Vertex {
  readonly output: Output;

  constructor(
    readonly sources: Output[],
    readonly constraints: OpConstraints,
  ) {
    super();
    this.output = new Output(this, () => 0);
  }

  describe(): string {
    const name = this.constraints.description?.['llb.customname'];
    return `merge ${name !== undefined ? JSON.stringify(name) : `of ${this.sources.length}`}`;
  }

  inputs(): Output[] {
    return this.sources.slice();
  }

  protected build(ctx: MarshalCtx): { bytes: Uint8Array; meta: OpMetadataJson } {
    const inputs = this.sources.map((s) => s.toInput(ctx));
    const op: Record<string, unknown> = {
      inputs: pbInputs(inputs),
      merge: { inputs: inputs.map((_, i) => ({ input: i })) },
      constraints: {},
    };
    return { bytes: encodeOp(op), meta: opMetadata(this.constraints, ['mergeop']) };
  }
}

class DiffVertex extends Vertex {
  readonly output: Output;

  constructor(
    readonly lower: Output,
    readonly upper: Output | null,
    readonly constraints: OpConstraints,
  ) {
    super();
    this.output = new Output(this, () => 0);
  }

  describe(): string {
    const name = this.constraints.description?.['llb.customname'];
    return `diff${name !== undefined ? ` ${JSON.stringify(name)}` : ''}`;
  }

  inputs(): Output[] {
    return this.upper ? [this.lower, this.upper] : [this.lower];
  }

  protected build(ctx: MarshalCtx): { bytes: Uint8Array; meta: OpMetadataJson } {
    const inputs: PbInput[] = [this.lower.toInput(ctx)];
    const lower = { input: 0 };
    let upper = { input: -1 };
    if (this.upper) {
      upper = { input: inputs.length };
      inputs.push(this.upper.toInput(ctx));
    }
    const op: Record<string, unknown> = { inputs: pbInputs(inputs), diff: { lower, upper }, constraints: {} };
    return { bytes: encodeOp(op), meta: opMetadata(this.constraints, ['diffop']) };
  }
}

// ---------------------------------------------------------------------------------------
// Already-marshalled definitions

class DefGraph {
  private readonly vertices = new Map<string, DefVertex>();
  private readonly outputs = new Map<string, Output>();

  constructor(
    readonly ops: Map<string, { bytes: Uint8Array; inputs: PbInput[] }>,
    readonly metadata: Record<string, OpMetadataJson>,
  ) {}

  vertex(digest: string): DefVertex {
    let v = this.vertices.get(digest);
    if (!v) {
      const op = this.ops.get(digest);
      if (!op) throw new Error(`definition refers to op ${digest}, which it does not contain`);
      v = new DefVertex(this, digest, op.bytes, op.inputs, this.metadata[digest]);
      this.vertices.set(digest, v);
    }
    return v;
  }

  output(digest: string, index: number): Output {
    const key = `${digest}#${index}`;
    let o = this.outputs.get(key);
    if (!o) {
      const v = this.vertex(digest);
      o = new Output(v, () => index);
      this.outputs.set(key, o);
    }
    return o;
  }
}

class DefVertex extends Vertex {
  constructor(
    private readonly graph: DefGraph,
    readonly digest: string,
    readonly bytes: Uint8Array,
    readonly pbIn: PbInput[],
    readonly meta: OpMetadataJson | undefined,
  ) {
    super();
  }

  describe(): string {
    const name = this.meta?.description?.['llb.customname'];
    return `definition op ${this.digest}${name !== undefined ? ` ${JSON.stringify(name)}` : ''}`;
  }

  inputs(): Output[] {
    return this.pbIn.map((i) => this.graph.output(i.digest, i.index));
  }

  protected build(): { bytes: Uint8Array; meta?: OpMetadataJson; digest: string } {
    return { bytes: this.bytes, meta: this.meta, digest: this.digest };
  }
}

// ---------------------------------------------------------------------------------------
// State

/** The values a state carries for run(): env (ordered), working dir, user, platform. */
interface StateValues {
  readonly env: ReadonlyArray<readonly [string, string]>;
  readonly dir: string;
  readonly user: string;
  /** Normalised; undefined = the marshal platform. */
  readonly platform?: Platform;
}

const EMPTY_VALUES: StateValues = { env: [], dir: '/', user: '' };

function withEnvValue(v: StateValues, key: string, value: string): StateValues {
  return { ...v, env: [...v.env.filter(([k]) => k !== key), [key, value] as const] };
}

function withDirValue(v: StateValues, dir: string): StateValues {
  let d = dir;
  if (!isAbs(d)) d = join(v.dir === '' ? '/' : v.dir, d);
  return { ...v, dir: d };
}

function valuesForOutput(o: Output | null): StateValues {
  return o?.platform ? { ...EMPTY_VALUES, platform: normalizePlatform(o.platform) } : EMPTY_VALUES;
}

function newLocalUniqueId(): string {
  const b = randomBytes(17);
  b[0]! |= 0x80;
  return BigInt('0x' + b.toString('hex')).toString(36).slice(1, 26);
}

/**
 * An immutable LLB state: a filesystem (the output of some op, or scratch) plus the
 * env/cwd/user/platform used by run(). Every method returns a new State.
 */
export class State {
  /** @internal */
  constructor(
    /** @internal */ readonly _out: Output | null,
    /** @internal */ readonly _v: StateValues,
  ) {}

  static scratch(): State {
    return new State(null, EMPTY_VALUES);
  }

  /** A registry image: a parsed reference, or a string normalised like Go (docker.io/library/…:latest). */
  static image(ref: string | ImageRef, opts?: ImageOptions): State {
    const normalized = typeof ref === 'string' ? normalizeImageRef(ref) : ref.ref;
    const attrs: Record<string, string> = {};
    const caps = new Set(['source.image']);
    const mode = opts?.resolveMode ?? 'default';
    if (mode !== 'default') {
      attrs['image.resolvemode'] = mode;
      if (mode === 'pull') caps.add('source.image.resolvemode');
    }
    const src = new SourceVertex('docker-image://' + normalized, attrs, caps, constraintsFrom({ name: opts?.name }, opts?.platform));
    let v = valuesForOutput(src.output);
    const cfg = opts?.imageConfig;
    if (cfg) {
      for (const e of cfg.Env ?? []) {
        const eq = e.indexOf('=');
        const k = eq === -1 ? e : e.slice(0, eq);
        if (k.length > 0) v = withEnvValue(v, k, eq === -1 ? '' : e.slice(eq + 1));
      }
      v = withDirValue(v, cfg.WorkingDir ?? '');
      if (cfg.User) v = { ...v, user: cfg.User };
    }
    return new State(src.output, v);
  }

  /** A directory from the client session (local://name). */
  static local(name: string, opts?: LocalOptions): State {
    const attrs: Record<string, string> = {};
    const caps = new Set<string>();
    if (opts?.sessionId) {
      attrs['local.session'] = opts.sessionId;
      caps.add('source.local.sessionid');
    }
    if (opts?.includePatterns?.length) {
      attrs['local.includepattern'] = goJSONStrings(opts.includePatterns);
      caps.add('source.local.includepatterns');
    }
    if (opts?.followPaths?.length) {
      attrs['local.followpaths'] = goJSONStrings(opts.followPaths);
      caps.add('source.local.followpaths');
    }
    if (opts?.excludePatterns?.length) {
      attrs['local.excludepatterns'] = goJSONStrings(opts.excludePatterns);
      caps.add('source.local.excludepatterns');
    }
    if (opts?.sharedKeyHint) {
      attrs['local.sharedkeyhint'] = opts.sharedKeyHint;
      caps.add('source.local.sharedkeyhint');
    }
    if (opts?.differ) {
      attrs['local.differ'] = opts.differ;
      if (opts.differRequired) caps.add('source.local.differ');
    }
    caps.add('source.local');
    const src = new SourceVertex('local://' + name, attrs, caps, constraintsFrom({ name: opts?.name }));
    return new State(src.output, EMPTY_VALUES);
  }

  /** Layers stacked in order (later wins). Scratch inputs are dropped; one input is returned as is. */
  static merge(states: State[], opts?: { name?: string }): State {
    const filtered = states.filter((s) => s._out !== null);
    if (filtered.length === 0) return State.scratch();
    if (filtered.length === 1) return filtered[0]!;
    const m = new MergeVertex(
      filtered.map((s) => s._out!),
      constraintsFrom({ name: opts?.name }),
    );
    return new State(m.output, filtered[0]!._v);
  }

  /** The changes from lower to upper. diff(scratch, x) is x; diff(scratch, scratch) is scratch. */
  static diff(lower: State, upper: State, opts?: { name?: string }): State {
    if (lower._out === null) return upper._out === null ? State.scratch() : upper;
    const d = new DiffVertex(lower._out, upper._out, constraintsFrom({ name: opts?.name }));
    return new State(d.output, lower._v);
  }

  /** Wraps an already-marshalled Definition (e.g. a solved Ref's def) as a state. Empty = scratch. */
  static fromDefinition(def: Definition): State {
    if (def.def.length === 0) return State.scratch();
    const ops = new Map<string, { bytes: Uint8Array; inputs: PbInput[] }>();
    let last = '';
    for (const bytes of def.def) {
      const dg = digestOf(bytes);
      const op = decodeOp(bytes);
      const inputs = ((op.inputs as Array<{ digest?: string; index?: number }> | undefined) ?? []).map((i) => ({
        digest: i.digest ?? '',
        index: i.index ?? 0,
      }));
      ops.set(dg, { bytes, inputs });
      last = dg;
    }
    const terminal = ops.get(last)!;
    if (terminal.inputs.length === 0) throw new Error('invalid definition with no inputs on last vertex');
    const graph = new DefGraph(ops, def.metadata);
    const head = terminal.inputs[0]!;
    return new State(graph.output(head.digest, head.index), EMPTY_VALUES);
  }

  /** True when this state is the empty filesystem. */
  isScratch(): boolean {
    return this._out === null;
  }

  /** Runs a process with this state as the root filesystem (mounted at "/", writable). */
  run(opts: RunOptions): ExecState {
    if (!opts.args || opts.args.length === 0) throw new Error('run: args are required');
    let base = this._v;
    for (const [k, val] of Object.entries(opts.env ?? {})) base = withEnvValue(base, k, val);
    if (opts.cwd !== undefined) base = withDirValue(base, opts.cwd);
    if (opts.user !== undefined) base = { ...base, user: opts.user };

    const mounts: ExecMount[] = [mountFromSpec({ dest: '/', source: this })];
    const seen = new Set(['/']);
    for (const spec of opts.mounts ?? []) {
      if (!isAbs(spec.dest)) throw new Error(`run: mount dest ${JSON.stringify(spec.dest)} must be absolute`);
      if (seen.has(spec.dest)) throw new Error(`run: two mounts at ${spec.dest}`);
      seen.add(spec.dest);
      mounts.push(mountFromSpec(spec));
    }
    const exec = new ExecVertex(
      base,
      [...opts.args],
      opts.network ?? 'sandbox',
      opts.validExitCodes ? [...opts.validExitCodes] : undefined,
      mounts,
      constraintsFrom({ name: opts.name, ignoreCache: opts.ignoreCache }),
    );
    return new ExecState(exec.rootOutput, this._v, exec);
  }

  /** Applies a chain of file actions to this state. */
  file(action: FileAction, opts?: ConstraintOptions): State {
    const f = new FileVertex(this, action, constraintsFrom(opts));
    return new State(f.output, this._v);
  }

  withEnv(key: string, value: string): State {
    return new State(this._out, withEnvValue(this._v, key, value));
  }
  /** Relative dirs resolve against the current one. */
  withCwd(dir: string): State {
    return new State(this._out, withDirValue(this._v, dir));
  }
  withUser(user: string): State {
    return new State(this._out, { ...this._v, user });
  }
  /** Platform used by later run() ops (normalised). Does not change an image already chosen. */
  withPlatform(p: Platform): State {
    return new State(this._out, { ...this._v, platform: normalizePlatform(p) });
  }

  /** The env run() will use, in order. */
  getEnv(): Record<string, string> {
    const o: Record<string, string> = {};
    for (const [k, v] of this._v.env) o[k] = v;
    return o;
  }
  getCwd(): string {
    return this._v.dir;
  }
  getUser(): string {
    return this._v.user;
  }
  getPlatform(): Platform | undefined {
    return this._v.platform;
  }

  /**
   * Marshals the graph behind this state into a Definition (synchronous). Scratch gives
   * an empty Definition.
   */
  marshal(opts?: MarshalOptions): Definition {
    if (this._out === null) return { def: [], metadata: {} };
    const ctx: MarshalCtx = {
      platform: opts?.platform ?? defaultPlatform(),
      caps: opts?.llbCaps ? new Set(opts.llbCaps) : undefined,
      localUniqueId: opts?.localUniqueId ?? newLocalUniqueId(),
      cache: new Map(),
    };
    const def: Uint8Array[] = [];
    const metadata: Record<string, OpMetadataJson> = {};
    const seenDigests = new Set<string>();
    const visited = new Set<Vertex>();

    // Go's source-map collector records every op digest, with no locations of ours.
    const locations: Record<string, Record<string, unknown>> = {};

    const visit = (v: Vertex): void => {
      if (visited.has(v)) return;
      for (const inp of v.inputs()) visit(inp.vertex);
      let m: Marshalled;
      try {
        m = v.marshal(ctx);
      } catch (e) {
        throw new Error(`llb: cannot marshal ${v.describe()}: ${(e as Error).message}`, { cause: e });
      }
      visited.add(v);
      if (m.meta) metadata[m.digest] = mergeMetadata(metadata[m.digest], m.meta);
      locations[m.digest] = {};
      if (!seenDigests.has(m.digest)) {
        seenDigests.add(m.digest);
        def.push(m.bytes);
      }
    };
    visit(this._out.vertex);

    const terminal = encodeOp({ inputs: [this._out.toInput(ctx)] });
    const tdg = digestOf(terminal);
    def.push(terminal);
    const tmd: OpMetadataJson = { ...(metadata[tdg] ?? {}) };
    const caps: Record<string, boolean> = { constraints: true, platform: true };
    for (const m of Object.values(metadata)) {
      if (m.ignore_cache) caps['meta.ignorecache'] = true;
      if (m.description) caps['meta.description'] = true;
      if (m.export_cache) caps['meta.exportcache'] = true;
    }
    tmd.caps = caps;
    metadata[tdg] = tmd;
    return { def, metadata, source: { locations } };
  }
}

function mountFromSpec(spec: MountSpec): ExecMount {
  const type = spec.type ?? 'bind';
  const source = spec.source?._out ?? null;
  if (type === 'cache' && !spec.cacheId) throw new Error(`run: cache mount ${spec.dest} needs a cacheId`);
  if (type === 'tmpfs' && source) throw new Error(`run: tmpfs mount ${spec.dest} cannot have a source`);
  return {
    target: spec.dest,
    source,
    readonly: spec.readonly === true,
    selector: spec.selector ?? '',
    cacheId: type === 'cache' ? spec.cacheId! : '',
    sharing: type === 'cache' ? SHARING[spec.sharing ?? 'shared'] : 0,
    tmpfs: type === 'tmpfs',
    tmpfsSize: type === 'tmpfs' ? (spec.tmpfsSize ?? 0) : 0,
    noOutput: spec.noOutput === true,
    output: null,
  };
}

/** The state after an exec: its root filesystem, plus access to its other mounts. */
export class ExecState extends State {
  /** @internal */
  constructor(
    out: Output,
    v: StateValues,
    /** @internal */ readonly _exec: ExecVertex,
  ) {
    super(out, v);
  }

  /** The exec's root filesystem as a plain State (same as using the ExecState itself). */
  root(): State {
    return new State(this._out, this._v);
  }

  /**
   * The filesystem of the mount at `dest` after the exec. Writable bind mounts give the
   * exec's output; read-only mounts give their source. tmpfs, cache and no-output mounts
   * have no result and throw. The returned state has no env/cwd/user (like Go's GetMount).
   */
  getMount(dest: string): State {
    const m = this._exec.mounts.find((x) => x.target === dest);
    if (!m) throw new Error(`getMount: the exec has no mount at ${dest}`);
    const o = m.output;
    if (o && !(o instanceof Output)) throw new Error(`getMount: ${o.error}`);
    return new State(o, valuesForOutput(o));
  }
}
