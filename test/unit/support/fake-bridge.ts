// A Bridge over directories of real image files, for testing the engine and the family
// modules without BuildKit. Every solve returns a ref named after the step that produced
// it (the head op's llb.customname, or the image it pulls); a test maps step names to
// directories of files ("what the image looks like after that step"). Reads fall back
// along the ref's chain to the original image's directory, as a snapshot would.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decodeOp, definitionHead, digestOf, type Definition, type Platform } from '../../../src/llb/index.js';
import { BridgeFileNotFound, type Bridge, type DirEntry, type ImageConfig, type ResolvedImage, type SolvedRef } from '../../../src/engine/bridge.js';

export interface FakeImage {
  digest: string;
  config: ImageConfig;
  /** Directory holding the image's files. */
  dir: string;
}

export interface FakeBridgeOptions {
  /** Images by normalised reference (docker.io/library/debian:12); a digest-pinned ref resolves by its repository. */
  images: Record<string, FakeImage>;
  /** Step name prefix → directory overlaid on the files the step starts from. */
  steps?: Record<string, string>;
}

interface FakeRef extends SolvedRef {
  readonly dirs: string[];
  readonly name: string;
}

export class FakeBridge implements Bridge {
  readonly llbCaps = new Set(['mergeop', 'diffop']);
  readonly gatewayCaps = new Set<string>();
  readonly solved: Array<{ def: Definition; evaluate: boolean; name: string }> = [];
  readonly warnings: string[] = [];
  private readonly refs = new Map<string, FakeRef>();

  constructor(private readonly opts: FakeBridgeOptions) {}

  async solve(def: Definition, o: { evaluate?: boolean } = {}): Promise<SolvedRef> {
    const name = stepName(def);
    this.solved.push({ def, evaluate: o.evaluate ?? false, name });
    const id = `ref-${this.solved.length}`;
    const dirs: string[] = [];
    const image = imageOf(def);
    const img = image ? this.imageFor(image) : undefined;
    if (img) dirs.push(img.dir);
    for (const [prefix, dir] of Object.entries(this.opts.steps ?? {})) if (name.startsWith(prefix)) dirs.unshift(dir);
    const ref: FakeRef = { id, dirs, name };
    this.refs.set(id, ref);
    return ref;
  }

  async readFile(ref: SolvedRef, path: string): Promise<Buffer> {
    for (const d of this.ref(ref).dirs) {
      const p = join(d, path);
      if (existsSync(p) && statSync(p).isFile()) return readFileSync(p);
    }
    throw new BridgeFileNotFound(path);
  }

  async readDir(ref: SolvedRef, path: string, includePattern?: string): Promise<DirEntry[]> {
    const seen = new Map<string, DirEntry>();
    let found = false;
    for (const d of this.ref(ref).dirs) {
      const p = join(d, path);
      if (!existsSync(p) || !statSync(p).isDirectory()) continue;
      found = true;
      for (const n of readdirSync(p)) {
        if (includePattern && n !== includePattern) continue;
        const st = statSync(join(p, n));
        if (!seen.has(n)) seen.set(n, { path: n, mode: st.isDirectory() ? 2 ** 31 | 0o755 : 0o644, size: st.size });
      }
    }
    if (!found) throw new BridgeFileNotFound(path);
    return [...seen.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  async resolveImageConfig(ref: string, _platform: Platform): Promise<ResolvedImage> {
    const img = this.imageFor(ref);
    if (!img) throw new Error(`${ref}: not found`);
    return { digest: img.digest, config: structuredClone(img.config), ref };
  }

  requireCaps(caps: readonly string[]): void {
    const missing = caps.filter((c) => !this.llbCaps.has(c));
    if (missing.length) throw new Error(`missing LLB capabilities: ${missing.join(', ')}`);
  }

  async warn(short: string): Promise<void> {
    this.warnings.push(short);
  }

  /** Names of the steps solved, in order. */
  stepNames(): string[] {
    return this.solved.map((s) => s.name);
  }

  private imageFor(ref: string): FakeImage | undefined {
    if (this.opts.images[ref]) return this.opts.images[ref];
    const repo = ref.split('@')[0]!;
    for (const [k, v] of Object.entries(this.opts.images)) {
      if (ref.includes('@') && (k === repo || k.startsWith(`${repo}:`)) && ref.endsWith(v.digest)) return v;
    }
    return undefined;
  }

  private ref(ref: SolvedRef): FakeRef {
    const r = this.refs.get(ref.id);
    if (!r) throw new Error(`unknown ref ${ref.id}`);
    return r;
  }
}

function ops(def: Definition): Map<string, Record<string, unknown>> {
  return new Map(def.def.map((b) => [digestOf(b), decodeOp(b)]));
}

/** The head op's custom name, or its image source identifier. */
export function stepName(def: Definition): string {
  const head = definitionHead(def);
  if (!head) return 'scratch';
  const name = def.metadata[head.digest]?.description?.['llb.customname'];
  if (name) return name;
  const op = ops(def).get(head.digest);
  const src = (op?.source as { identifier?: string } | undefined)?.identifier;
  return src ?? 'unnamed';
}

/** The image every path from the head leads to first (docker-image://…), as a reference. */
function imageOf(def: Definition): string | undefined {
  for (const op of ops(def).values()) {
    const src = (op.source as { identifier?: string } | undefined)?.identifier;
    if (src?.startsWith('docker-image://')) return src.slice('docker-image://'.length);
  }
  return undefined;
}

/** A step overlay: the directory holds `files` (path → content). */
export function filesDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'copa-fake-'));
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), body);
  }
  return dir;
}

/** What apt-get update leaves in /copa-status when every source was fetched. */
export function aptUpdateOk(): string {
  return filesDir({ rc: '0\n', 'update.log': 'Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]\nReading package lists...\n' });
}
