// The gateway Bridge: all the patch engine sees of BuildKit. The frontend implements it over the LLBBridge
// served on stdio; the plugin implements it over the same LLBBridge forwarded on the
// control connection. The engine never knows which.
import type { Definition } from './definition.js';
import type { Platform } from './platform.js';

/** A solved (lazy) result held by BuildKit. `id` is what ReadFile/Return take. */
export interface SolvedRef {
  readonly id: string;
}

/** OCI image config JSON (only the parts we touch are typed). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    [k: string]: unknown;
  };
  rootfs?: { type: string; diff_ids: string[] };
  history?: Array<Record<string, unknown>>;
  [k: string]: unknown;
}

export interface ResolvedImage {
  /** Manifest digest of the resolved platform image (sha256:…). */
  digest: string;
  config: ImageConfig;
  /** The canonical reference BuildKit resolved (may be rewritten by a source policy). */
  ref: string;
}

export interface DirEntry {
  path: string;
  mode: number; // Go os.FileMode bits (1<<31 = dir, 1<<27 = symlink)
  size: number;
}

export class BridgeFileNotFound extends Error {
  constructor(readonly path: string, cause?: unknown) {
    super(`no such file in image: ${path}`, { cause });
    this.name = 'BridgeFileNotFound';
  }
}

export interface Bridge {
  /** LLB capability ids the daemon supports (from Ping). */
  readonly llbCaps: ReadonlySet<string>;
  /** Gateway API capability ids (from Ping). */
  readonly gatewayCaps: ReadonlySet<string>;
  /** Solve a definition; lazy unless evaluate is set. */
  solve(def: Definition, opts?: { evaluate?: boolean }): Promise<SolvedRef>;
  /** Read a file from a solved ref. Throws BridgeFileNotFound when absent. */
  readFile(ref: SolvedRef, path: string): Promise<Buffer>;
  /** List a directory of a solved ref. Throws BridgeFileNotFound when absent. */
  readDir(ref: SolvedRef, path: string, includePattern?: string): Promise<DirEntry[]>;
  /** Resolve an image reference to its digest and config for one platform. */
  resolveImageConfig(ref: string, platform: Platform): Promise<ResolvedImage>;
  /** Throw a BuildKitError naming what is missing unless every LLB capability is supported. */
  requireCaps(caps: readonly string[]): void;
  /** A warning shown in the user's build progress (best effort). */
  warn(short: string, detail?: string[]): Promise<void>;
}
