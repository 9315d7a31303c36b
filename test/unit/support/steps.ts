// What a family asked BuildKit to run, read back from the definitions a FakeBridge was given:
// every exec by step name, with its argv, env, network, cache flag and where each mount
// starts from (an image's identifier, another step's name, or null for an empty mount).
import { expect } from 'vitest';
import { decodeOp, digestOf } from '../../../src/llb/index.js';
import { CopaError } from '../../../src/engine/errors.js';
import type { FakeBridge } from './fake-bridge.js';

export interface ExecMount {
  dest: string;
  readonly: boolean;
  tmpfs: boolean;
  selector: string;
  from: string | null;
}

export interface Exec {
  name: string;
  args: string[];
  env: string[];
  mounts: ExecMount[];
  ignoreCache: boolean;
  network: string;
}

type PbExec = { meta: { args: string[]; env?: string[] }; mounts: Array<{ dest: string; input?: number; readonly?: boolean; selector?: string; TmpfsOpt?: unknown }>; network?: number };

export function execs(bridge: FakeBridge): Map<string, Exec> {
  const out = new Map<string, Exec>();
  for (const { def } of bridge.solved) {
    const ops = new Map(def.def.map((b) => [digestOf(b), decodeOp(b)]));
    const producer = (digest: string | undefined): string | null => {
      const op = digest ? (ops.get(digest) as { source?: { identifier?: string } } | undefined) : undefined;
      if (!op) return null;
      return op.source?.identifier ?? def.metadata[digest!]?.description?.['llb.customname'] ?? 'unnamed';
    };
    for (const [dg, op] of ops) {
      const exec = op.exec as PbExec | undefined;
      if (!exec) continue;
      const inputs = (op.inputs as Array<{ digest: string }> | undefined) ?? [];
      const meta = def.metadata[dg];
      const name = meta?.description?.['llb.customname'] ?? 'unnamed';
      out.set(name, {
        name,
        args: exec.meta.args,
        env: exec.meta.env ?? [],
        mounts: exec.mounts.map((m) => ({ dest: m.dest, readonly: !!m.readonly, tmpfs: !!m.TmpfsOpt, selector: m.selector ?? '', from: (m.input ?? 0) < 0 ? null : producer(inputs[m.input ?? 0]?.digest) })),
        ignoreCache: !!meta?.ignore_cache,
        network: String(exec.network ?? 0),
      });
    }
  }
  return out;
}

/** The CopaError a patch fails with (the test fails if it succeeds). */
export async function fails(p: Promise<unknown>): Promise<CopaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CopaError);
    return e as CopaError;
  }
  throw new Error('expected the patch to fail');
}
