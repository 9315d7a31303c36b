// The LLB builder against a real buildkitd (the test bed's):
//  (a) the daemon recomputes every vertex digest by re-marshalling our ops with Go's
//      deterministic proto; each digest it reports must equal the one we computed;
//  (b) the first end-to-end proof of the patch shape: base image + exec writing a file,
//      patch layer = diff(base, after) merged onto base, exported to the registry.
import { beforeAll, describe, expect, it } from 'vitest';
import { registryRef, runBuildctl, fetchManifest, fetchConfig, listLayers, readLayerFiles } from '../env/testbed.js';
import {
  State,
  FileAction,
  encodeDefinition,
  encodeOp,
  decodeOp,
  digestOf,
  definitionHead,
  defaultPlatform,
  type Definition,
} from '../../src/llb/index.js';

const BASE = () => registryRef('debian:12-pointrelease');
const platform = defaultPlatform();

interface RawVertex {
  digest: string;
  name?: string;
  error?: string;
  cached?: boolean;
  completed?: string;
}

/** Our ops (without the terminal) as digest -> human label, for failure messages. */
function opLabels(def: Definition): Map<string, string> {
  const labels = new Map<string, string>();
  for (const b of def.def.slice(0, -1)) {
    const d = digestOf(b);
    const op = decodeOp(b) as Record<string, any>;
    const kind = ['exec', 'source', 'file', 'merge', 'diff'].find((k) => op[k]) ?? 'unknown';
    const name =
      def.metadata[d]?.description?.['llb.customname'] ??
      (kind === 'source' ? op.source.identifier : kind === 'exec' ? op.exec.meta.args.join(' ') : '');
    labels.set(d, `${kind} op ${JSON.stringify(name)}`);
  }
  return labels;
}

/** Every vertex a `--progress=rawjson` run reported, merged by digest. */
function rawVertices(output: string): Map<string, RawVertex> {
  const out = new Map<string, RawVertex>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    let status: { vertexes?: RawVertex[] };
    try {
      status = JSON.parse(line);
    } catch {
      continue;
    }
    for (const v of status.vertexes ?? []) out.set(v.digest, { ...out.get(v.digest), ...v });
  }
  return out;
}

async function solve(def: Definition, extra: string[] = []) {
  const r = await runBuildctl(['build', '--progress=rawjson', ...extra], { stdin: Buffer.from(encodeDefinition(def)) });
  return { ...r, vertices: rawVertices(r.stderr + '\n' + r.stdout) };
}

/** Differences between our op digests and the vertices the daemon reported, naming the op. */
function digestProblems(def: Definition, vertices: Map<string, RawVertex>, ignore: (v: RawVertex) => boolean = () => false): string[] {
  const ours = opLabels(def);
  const unknown = [...vertices.values()]
    .filter((v) => !ours.has(v.digest) && !ignore(v))
    .map((v) => `daemon vertex ${v.digest} (${v.name}) is none of ours`);
  const missing = [...ours].filter(([d]) => !vertices.has(d)).map(([d, label]) => `${label} ${d} was not reported by the daemon (its bytes differ from Go's)`);
  return [...missing, ...unknown];
}

/** Top-level fields of an Op re-assembled in strict field-number order (not Go's order). */
function reorderByFieldNumber(op: Uint8Array): Uint8Array {
  const fields: Array<{ num: number; bytes: Uint8Array }> = [];
  const varint = (at: number): [number, number] => {
    let v = 0;
    let shift = 0;
    let i = at;
    for (;;) {
      const b = op[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return [v, i];
      shift += 7;
    }
  };
  let i = 0;
  while (i < op.length) {
    const start = i;
    const [tag, afterTag] = varint(i);
    if ((tag & 7) !== 2) throw new Error('expected only length-delimited fields in an Op');
    const [len, afterLen] = varint(afterTag);
    i = afterLen + len;
    fields.push({ num: Math.floor(tag / 8), bytes: op.subarray(start, i) });
  }
  fields.sort((a, b) => a.num - b.num);
  return new Uint8Array(Buffer.concat(fields.map((f) => f.bytes)));
}

describe('LLB against buildkitd', () => {
  let baseCmd: string[] | null | undefined;
  beforeAll(async () => {
    baseCmd = (await fetchConfig(BASE())).config?.Cmd;
  });

  it('(a) every vertex digest the daemon reports equals ours', async () => {
    const base = State.image(BASE(), { platform, name: 'base image' });
    const work = base.run({
      args: ['sh', '-c', 'echo hello > /out/hello && mkdir -p /etc/llbtest && echo x > /etc/llbtest/x && ls /ro > /out/ro-listing && test -d /cache'],
      env: { LLB_E2E: '1', LC_ALL: 'C' },
      cwd: '/tmp',
      user: 'root',
      network: 'none',
      ignoreCache: true,
      validExitCodes: [0],
      name: 'llb e2e exec',
      mounts: [
        { dest: '/out' },
        { dest: '/tmp', type: 'tmpfs', tmpfsSize: 16 << 20 },
        { dest: '/cache', type: 'cache', cacheId: 'copa-llb-e2e', sharing: 'locked' },
        { dest: '/ro', source: base, readonly: true, selector: '/etc' },
      ],
    });
    const files = State.scratch().file(
      FileAction.mkdir('/d/e', 0o755, { makeParents: true, owner: { uid: 1000, gid: 1000 } })
        .mkfile('/d/e/f', 0o644, 'file op\n', { owner: { uid: 0, gid: 0 } })
        .copy(work.getMount('/out'), '/hello', '/d/hello', { createDestPath: true, mode: 0o600 })
        .copy(work.getMount('/out'), '/ro-*', '/d/', { allowWildcard: true })
        .symlink('/d/e/f', '/d/link')
        .mkfile('/d/junk', 0o644, 'x')
        .rm('/d/junk', { allowNotFound: true }),
      { name: 'llb e2e files' },
    );
    const final = State.merge([base, State.diff(base, work.root(), { name: 'llb e2e diff' }), files], { name: 'llb e2e merge' });
    const def = final.marshal({ platform });

    const r = await solve(def);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(digestProblems(def, r.vertices)).toEqual([]);
    expect(r.vertices.size).toBe(def.def.length - 1);
    const failed = [...r.vertices.values()].filter((v) => v.error);
    expect(failed).toEqual([]);
    // the terminal op is not a vertex; the head op is
    expect(r.vertices.has(definitionHead(def)!.digest)).toBe(true);
  });

  it('(a) the check catches an op whose bytes differ from Go\'s (fields in plain number order)', async () => {
    const base = State.image(BASE(), { platform });
    const good = base.run({ args: ['true'], name: 'reordered exec' }).marshal({ platform });
    // [source, exec, terminal]: re-encode the exec with its oneof before platform/constraints
    const exec = reorderByFieldNumber(good.def[1]!);
    expect(Buffer.compare(exec, good.def[1]!)).not.toBe(0);
    const execDigest = digestOf(exec);
    const terminal = encodeOp({ inputs: [{ digest: execDigest, index: 0 }] });
    const oldExec = digestOf(good.def[1]!);
    const oldTerminal = digestOf(good.def[2]!);
    const metadata = { ...good.metadata, [execDigest]: good.metadata[oldExec]!, [digestOf(terminal)]: good.metadata[oldTerminal]! };
    delete metadata[oldExec];
    delete metadata[oldTerminal];
    const bad: Definition = { def: [good.def[0]!, exec, terminal], metadata };

    const r = await solve(bad);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const problems = digestProblems(bad, r.vertices);
    expect(problems).toContain(`exec op "reordered exec" ${execDigest} was not reported by the daemon (its bytes differ from Go's)`);
    // the daemon reported the canonical (Go) digest instead: ours
    expect(r.vertices.has(oldExec)).toBe(true);
  });

  it('(b) patch layer = diff(base, after) merged onto base, pushed to the registry', async () => {
    const base = State.image(BASE(), { platform });
    const after = base.run({ args: ['sh', '-c', 'echo "llb proof" > /llbproof.txt'], user: 'root', name: 'write the proof file' }).root();
    const patched = State.merge([base, State.diff(base, after, { name: 'extract patch layer' })], { name: 'base + patch layer' });
    const def = patched.marshal({ platform });
    const target = registryRef('llbproof:test');

    const r = await solve(def, ['--output', `type=image,name=${target},push=true,registry.insecure=true`]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    // our ops keep their digests; the exporter adds its own bookkeeping vertices
    expect(digestProblems(def, r.vertices, (v) => /^export|^pushing|^\[internal\]/.test(v.name ?? ''))).toEqual([]);

    const [baseLayers, layers] = await Promise.all([listLayers(BASE()), listLayers(target)]);
    expect(layers).toHaveLength(baseLayers.length + 1);
    // base layers are reused blob for blob, the patch layer is on top
    expect(layers.slice(0, -1).map((l) => l.digest)).toEqual(baseLayers.map((l) => l.digest));
    const top = await readLayerFiles(target, -1);
    expect(top.get('llbproof.txt')?.content?.toString()).toBe('llb proof\n');
    // nothing but the proof file (and no whiteouts) in the patch layer
    expect([...top.keys()].filter((p) => p !== 'llbproof.txt')).toEqual([]);

    // With a raw definition (no frontend) there is no containerimage.config in the result
    // metadata, so the exporter writes its default config: the base config is NOT carried
    // over. Preserving it is the frontend's job (it returns containerimage.config), which
    // the frontend e2e test covers. What is true here: same platform, rootfs = base + 1.
    const [cfg, baseCfg] = await Promise.all([fetchConfig(target), fetchConfig(BASE())]);
    expect(cfg.os).toBe(baseCfg.os);
    expect(cfg.architecture).toBe(baseCfg.architecture);
    const diffIds = (c: unknown) => (c as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
    expect(diffIds(cfg).slice(0, -1)).toEqual(diffIds(baseCfg));
    expect(diffIds(cfg)).toHaveLength(diffIds(baseCfg).length + 1);
    expect(cfg.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(cfg.config?.Cmd ?? null).toBeNull();
    expect(baseCmd).toBeTruthy(); // the base does have a Cmd, which the raw export drops
    expect((await fetchManifest(target)).config.digest).toMatch(/^sha256:/);
  });
});
