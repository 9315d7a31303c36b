// Behaviour of the LLB builder: structure of the ops it marshals (inputs, outputs, mounts,
// caps, platforms, terminal op), the Go-compatible encoder, and the helpers around it.
// Byte-for-byte agreement with Go is in llb-golden.test.ts.
import { describe, expect, it } from 'vitest';
import {
  State,
  FileAction,
  encodeDefinition,
  decodeDefinition,
  decodeOp,
  digestOf,
  definitionHead,
  marshalDeterministic,
  normalizeImageRef,
  normalizePlatform,
  protoRoot,
  registerProtoSources,
  lookupType,
  type Definition,
} from '../../src/llb/index.js';
import { clean, join } from '../../src/llb/paths.js';

const amd64 = { os: 'linux', architecture: 'amd64' };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

type Op = Record<string, any>;

/** Ops of a definition keyed by digest, plus the head op (what the terminal points at). */
function ops(def: Definition): { byDigest: Map<string, Op>; order: string[]; head: Op; headIndex: number; terminal: Op } {
  const byDigest = new Map<string, Op>();
  const order: string[] = [];
  for (const b of def.def) {
    const d = digestOf(b);
    byDigest.set(d, decodeOp(b));
    order.push(d);
  }
  const terminal = byDigest.get(order[order.length - 1]!)!;
  const h = terminal.inputs[0];
  return { byDigest, order, head: byDigest.get(h.digest)!, headIndex: h.index ?? 0, terminal };
}

function headDigest(def: Definition): string {
  return definitionHead(def)!.digest;
}

describe('marshal', () => {
  it('is deterministic: the same graph gives the same bytes and digests', () => {
    const build = () => {
      const base = State.image('debian:12');
      const run = base.run({ args: ['sh', '-c', 'echo x > /x'], env: { B: '2', A: '1' }, mounts: [{ dest: '/out' }, { dest: '/tmp', type: 'tmpfs' }] });
      return State.merge([base, State.diff(base, run.root())]).file(FileAction.mkfile('/y', 0o644, 'y'));
    };
    const a = build().marshal({ platform: amd64 });
    const b = build().marshal({ platform: amd64 });
    expect(a.def.map(hex)).toEqual(b.def.map(hex));
    expect(hex(encodeDefinition(a))).toBe(hex(encodeDefinition(b)));
    const s = build();
    expect(hex(encodeDefinition(s.marshal({ platform: amd64 })))).toBe(hex(encodeDefinition(s.marshal({ platform: amd64 }))));
  });

  it('scratch marshals to an empty definition', () => {
    expect(State.scratch().marshal()).toEqual({ def: [], metadata: {} });
    expect(State.merge([State.scratch(), State.scratch()]).isScratch()).toBe(true);
    expect(State.diff(State.scratch(), State.scratch()).isScratch()).toBe(true);
  });

  it('lists each op once, inputs before users, and ends with a terminal op', () => {
    const base = State.image('debian:12');
    const a = base.run({ args: ['a'] }).root();
    const b = base.run({ args: ['b'] }).root();
    const def = State.merge([a, b, base]).marshal({ platform: amd64 });
    const { order, byDigest, terminal } = ops(def);
    expect(new Set(order).size).toBe(order.length);
    const pos = new Map(order.map((d, i) => [d, i]));
    for (const [d, op] of byDigest) {
      for (const inp of op.inputs ?? []) expect(pos.get(inp.digest)!).toBeLessThan(pos.get(d)!);
    }
    // terminal: only inputs, nothing else
    expect(Object.keys(terminal)).toEqual(['inputs']);
    expect(terminal.inputs).toHaveLength(1);
    expect(def.def).toHaveLength(5); // image, exec a, exec b, merge, terminal
  });

  it('gives every op constraints {}, and a platform only to exec and image sources', () => {
    const base = State.image('debian:12');
    const ex = base.run({ args: ['true'] }).root();
    const f = ex.file(FileAction.mkdir('/d', 0o755));
    const local = State.local('ctx', { sessionId: 's' });
    const def = State.merge([f, State.diff(base, ex), local]).marshal({ platform: amd64 });
    const { byDigest, order } = ops(def);
    for (const d of order.slice(0, -1)) {
      const op = byDigest.get(d)!;
      expect(op.constraints, d).toEqual({});
      const kind = ['exec', 'source', 'file', 'merge', 'diff'].find((k) => op[k]);
      if (kind === 'exec' || (kind === 'source' && op.source.identifier.startsWith('docker-image://'))) {
        expect(op.platform).toEqual({ Architecture: 'amd64', OS: 'linux' });
      } else {
        expect(op.platform, kind).toBeUndefined();
      }
    }
  });

  it('applies the marshal platform, the image platform and the state platform like Go', () => {
    const arm = { os: 'linux', architecture: 'arm64' };
    // image option platform wins for the source op and becomes the state platform
    let { head, byDigest } = ops(State.image('debian:12', { platform: arm }).run({ args: ['x'] }).root().marshal({ platform: amd64 }));
    expect(head.platform).toEqual({ Architecture: 'arm64', OS: 'linux' });
    expect(byDigest.get(head.inputs[0].digest)!.platform).toEqual({ Architecture: 'arm64', OS: 'linux' });
    // withPlatform changes later execs, not the already chosen source
    ({ head, byDigest } = ops(State.image('debian:12').withPlatform({ os: 'linux', architecture: 'arm' }).run({ args: ['x'] }).root().marshal({ platform: amd64 })));
    expect(head.platform).toEqual({ Architecture: 'arm', OS: 'linux', Variant: 'v7' });
    expect(byDigest.get(head.inputs[0].digest)!.platform).toEqual({ Architecture: 'amd64', OS: 'linux' });
    // no platform anywhere: the marshal platform
    ({ head } = ops(State.image('debian:12').run({ args: ['x'] }).root().marshal({ platform: arm })));
    expect(head.platform).toEqual({ Architecture: 'arm64', OS: 'linux' });
  });

  it('defaults to linux and the host architecture', () => {
    const { head } = ops(State.image('debian:12').marshal());
    const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
    if (arch) expect(head.platform).toEqual({ Architecture: arch, OS: 'linux' });
  });
});

describe('exec', () => {
  it('sorts mounts by dest and numbers outputs only for writable binds', () => {
    const img = State.image('debian:12');
    const ex = img.run({
      args: ['true'],
      mounts: [
        { dest: '/z' },
        { dest: '/cache', type: 'cache', cacheId: 'c' },
        { dest: '/ro', source: img, readonly: true },
        { dest: '/a' },
        { dest: '/tmp', type: 'tmpfs' },
        { dest: '/m/n' },
        { dest: '/m' },
        { dest: '/no', noOutput: true },
      ],
    });
    const { head } = ops(ex.marshal({ platform: amd64 }));
    const mounts = head.exec.mounts as Op[];
    expect(mounts.map((m) => m.dest)).toEqual(['/', '/a', '/cache', '/m', '/m/n', '/no', '/ro', '/tmp', '/z']);
    expect(mounts.map((m) => m.output ?? 0)).toEqual([0, 1, -1, 2, 3, -1, -1, -1, 4]);
    // scratch mounts have input -1; root and the read-only image share input 0
    expect(mounts.map((m) => m.input ?? 0)).toEqual([0, -1, -1, -1, -1, -1, 0, -1, -1]);
    expect(head.inputs).toHaveLength(1);

    expect(ops(ex.getMount('/m').marshal({ platform: amd64 })).headIndex).toBe(2);
    expect(ops(ex.getMount('/z').marshal({ platform: amd64 })).headIndex).toBe(4);
    expect(ops(ex.root().marshal({ platform: amd64 })).headIndex).toBe(0);
    // a read-only mount's "result" is its source
    expect(headDigest(ex.getMount('/ro').marshal({ platform: amd64 }))).toBe(headDigest(img.marshal({ platform: amd64 })));
    expect(() => ex.getMount('/tmp')).toThrow(/tmpfs/);
    expect(() => ex.getMount('/no')).toThrow(/no-output/);
    expect(() => ex.getMount('/cache')).toThrow(/cache/);
    expect(() => ex.getMount('/nope')).toThrow(/no mount/);
  });

  it('de-duplicates inputs by (digest, index), also across separately built equal states', () => {
    const a = State.image('debian:12');
    const b = State.image('docker.io/library/debian:12');
    const other = State.image('busybox');
    const ex = a.run({ args: ['true'], mounts: [{ dest: '/b', source: b }, { dest: '/o', source: other, readonly: true }, { dest: '/o2', source: other }] });
    const { head } = ops(ex.marshal({ platform: amd64 }));
    expect(head.inputs).toHaveLength(2);
    expect((head.exec.mounts as Op[]).map((m) => m.input ?? 0)).toEqual([0, 0, 1, 1]);
  });

  it('writes meta like Go: env order, cwd, user, removeMountStubsRecursive, network, exit codes', () => {
    const base = State.image('debian:12', { imageConfig: { Env: ['PATH=/bin', 'A=1'], WorkingDir: '/w' } }).withEnv('B', '2');
    const ex = base.run({ args: ['sh', '-c', 'x'], env: { A: '3', C: '4' }, cwd: 'sub', user: '1000:1000', network: 'host', validExitCodes: [0, 2] });
    const { head } = ops(ex.marshal({ platform: amd64 }));
    expect(head.exec.meta).toEqual({
      args: ['sh', '-c', 'x'],
      env: ['PATH=/bin', 'B=2', 'A=3', 'C=4'],
      cwd: '/w/sub',
      user: '1000:1000',
      removeMountStubsRecursive: true,
      validExitCodes: [0, 2],
    });
    expect(head.exec.network).toBe(1);
    // run options do not leak into the resulting state
    expect(ex.getEnv()).toEqual({ PATH: '/bin', A: '1', B: '2' });
    expect(ex.getCwd()).toBe('/w');
  });

  it('adds a default PATH only when told the daemon lacks exec.meta.setsdefaultpath', () => {
    const st = () => State.image('debian:12').run({ args: ['env'] });
    expect(ops(st().marshal({ platform: amd64 })).head.exec.meta.env).toBeUndefined();
    const without = st().marshal({ platform: amd64, llbCaps: ['exec.meta.base'] });
    expect(ops(without).head.exec.meta.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    const withCap = st().marshal({ platform: amd64, llbCaps: ['exec.meta.setsdefaultpath'] });
    expect(ops(withCap).head.exec.meta.env).toBeUndefined();
    expect(withCap.metadata[headDigest(withCap)]!.caps).toHaveProperty(['exec.meta.setsdefaultpath'], true);
  });

  it('rejects bad mounts and empty args', () => {
    const img = State.image('debian:12');
    expect(() => img.run({ args: [] })).toThrow(/args/);
    expect(() => img.run({ args: ['x'], mounts: [{ dest: 'rel' }] })).toThrow(/absolute/);
    expect(() => img.run({ args: ['x'], mounts: [{ dest: '/a' }, { dest: '/a' }] })).toThrow(/two mounts/);
    expect(() => img.run({ args: ['x'], mounts: [{ dest: '/' }] })).toThrow(/two mounts/);
    expect(() => img.run({ args: ['x'], mounts: [{ dest: '/c', type: 'cache' }] })).toThrow(/cacheId/);
    expect(() => img.run({ args: ['x'], mounts: [{ dest: '/t', type: 'tmpfs', source: img }] })).toThrow(/tmpfs/);
  });
});

describe('caps and metadata', () => {
  it('declares per-op caps exactly as the Go client does', () => {
    const img = State.image('debian:12', { resolveMode: 'pull', name: 'base' });
    const ex = img.run({
      args: ['true'],
      network: 'none',
      ignoreCache: true,
      mounts: [
        { dest: '/s', source: img, selector: '/etc', readonly: true },
        { dest: '/c', type: 'cache', cacheId: 'x', sharing: 'locked' },
        { dest: '/t', type: 'tmpfs', tmpfsSize: 1024 },
      ],
    });
    const f = ex.file(FileAction.symlink('/a', '/b'), { name: 'files' });
    const final = State.merge([img, State.diff(img, f)]);
    const def = final.marshal({ platform: amd64 });
    const { byDigest, order } = ops(def);
    const capsOf = (pred: (op: Op) => boolean) => {
      const d = order.find((x) => pred(byDigest.get(x)!))!;
      return Object.keys(def.metadata[d]!.caps ?? {});
    };
    expect(capsOf((o) => o.source)).toEqual(['source.image', 'source.image.resolvemode']);
    expect(capsOf((o) => o.exec)).toEqual([
      'exec.meta.base',
      'exec.meta.network',
      'exec.mount.bind',
      'exec.mount.cache',
      'exec.mount.cache.sharing',
      'exec.mount.selector',
      'exec.mount.tmpfs',
      'exec.mount.tmpfs.size',
    ]);
    // Go's FileOp declares only file.base (its per-action cap hook never runs)
    expect(capsOf((o) => o.file)).toEqual(['file.base']);
    expect(capsOf((o) => o.merge)).toEqual(['mergeop']);
    expect(capsOf((o) => o.diff)).toEqual(['diffop']);
    const tdg = order[order.length - 1]!;
    expect(def.metadata[tdg]).toEqual({ caps: { constraints: true, platform: true, 'meta.description': true, 'meta.ignorecache': true } });

    const execMd = def.metadata[order.find((x) => byDigest.get(x)!.exec)!]!;
    expect(execMd.ignore_cache).toBe(true);
    const fileMd = def.metadata[order.find((x) => byDigest.get(x)!.file)!]!;
    expect(fileMd.description).toEqual({ 'llb.customname': 'files' });
  });

  it('has no meta.* caps on the terminal op when no op uses them', () => {
    const def = State.image('debian:12').marshal({ platform: amd64 });
    const t = digestOf(def.def[def.def.length - 1]!);
    expect(def.metadata[t]).toEqual({ caps: { constraints: true, platform: true } });
    expect(Object.keys(def.metadata)).toHaveLength(2);
  });
});

describe('file ops', () => {
  it('chains actions through output indices and resolves relative paths', () => {
    const base = State.image('debian:12').withCwd('/work');
    const src = State.image('busybox').withCwd('/bin');
    const fa = FileAction.mkdir('d', 0o40755, { makeParents: true })
      .copy(src, 'sh', 'd/', { mode: 0o755 })
      .copy(src, '/bin/ls', '/work/d/ls')
      .rm('junk', { allowNotFound: true });
    const { head } = ops(base.file(fa).marshal({ platform: amd64 }));
    expect(head.inputs).toHaveLength(2);
    const acts = head.file.actions as Op[];
    expect(acts.map((a) => [a.input ?? 0, a.secondaryInput ?? 0, a.output ?? 0])).toEqual([
      [0, -1, -1],
      [2, 1, -1],
      [3, 1, -1],
      [4, -1, 0],
    ]);
    expect(acts[0]!.mkdir).toEqual({ path: '/work/d', mode: 0o755, makeParents: true, timestamp: -1 });
    expect(acts[1]!.copy).toEqual({ src: '/bin/sh', dest: '/work/d/', mode: 0o755, timestamp: -1 });
    expect(acts[2]!.copy).toEqual({ src: '/bin/ls', dest: '/work/d/ls', mode: -1, timestamp: -1 });
    expect(acts[3]!.rm).toEqual({ path: '/work/junk', allowNotFound: true });
  });

  it('writes owners as oneof ids (0 included) and file data', () => {
    const { head } = ops(State.scratch().file(FileAction.mkfile('/f', 0o600, 'data', { owner: { uid: 0, gid: 0 } })).marshal());
    expect(head.inputs).toBeUndefined();
    expect(head.file.actions[0]).toEqual({
      input: -1,
      secondaryInput: -1,
      mkfile: { path: '/f', mode: 0o600, data: expect.anything(), owner: { user: { byID: 0 }, group: { byID: 0 } }, timestamp: -1 },
    });
    expect(Buffer.from(head.file.actions[0].mkfile.data).toString()).toBe('data');
  });

  it('keeps a trailing slash or /. on copy destinations', () => {
    const dests = ['/a/', 'b/.', '/', '/.', 'c/../d/'].map((d) => {
      const { head } = ops(State.scratch().file(FileAction.copy(State.image('x'), '/s', d)).marshal());
      return head.file.actions[0].copy.dest;
    });
    expect(dests).toEqual(['/a/', '/b/.', '/', '/.', '/d/']);
  });
});

describe('merge and diff', () => {
  it('merge keeps duplicate inputs and orders layers as given; one non-scratch input is returned as is', () => {
    const a = State.image('a');
    const b = State.image('b');
    const { head } = ops(State.merge([a, b, a]).marshal());
    expect(head.inputs).toHaveLength(3);
    expect(head.merge.inputs).toEqual([{}, { input: 1 }, { input: 2 }]);
    expect(State.merge([State.scratch(), b])).toBe(b);
  });

  it('diff writes both sides, -1 for a scratch upper; diff(scratch, x) is x', () => {
    const a = State.image('a');
    expect(ops(State.diff(a, State.scratch()).marshal()).head.diff).toEqual({ lower: {}, upper: { input: -1 } });
    expect(ops(State.diff(a, State.image('b')).marshal()).head.diff).toEqual({ lower: {}, upper: { input: 1 } });
    const b = State.image('b');
    expect(State.diff(State.scratch(), b)).toBe(b);
  });

  it('merge and diff results keep the first/lower state env', () => {
    const a = State.image('a').withEnv('X', '1').withCwd('/w');
    expect(State.merge([a, State.image('b')]).getEnv()).toEqual({ X: '1' });
    expect(State.diff(a, State.image('b')).getCwd()).toBe('/w');
  });
});

describe('fromDefinition', () => {
  it('re-marshals an existing definition with the same ops, head and metadata', () => {
    const base = State.image('debian:12');
    const st = State.merge([base, State.diff(base, base.run({ args: ['x'], name: 'n' }).root())]);
    const def = st.marshal({ platform: amd64 });
    const again = State.fromDefinition(def).marshal({ platform: amd64 });
    expect(new Set(again.def.map(hex))).toEqual(new Set(def.def.map(hex)));
    expect(again.metadata).toEqual(def.metadata);
    expect(definitionHead(again)).toEqual(definitionHead(def));
  });

  it('uses the head of a definition as an input, including its output index', () => {
    const ex = State.image('debian:12').run({ args: ['x'], mounts: [{ dest: '/out' }] });
    const def = ex.getMount('/out').marshal({ platform: amd64 });
    const user = State.image('busybox').run({ args: ['cat'], mounts: [{ dest: '/in', source: State.fromDefinition(def), readonly: true }] });
    const { head } = ops(user.marshal({ platform: amd64 }));
    expect(head.inputs[1]).toEqual(definitionHead(def));
    expect(definitionHead(def)!.index).toBe(1);
    expect(State.fromDefinition({ def: [], metadata: {} }).isScratch()).toBe(true);
  });

  it('names a missing op', () => {
    const def = State.image('debian:12').run({ args: ['x'] }).marshal({ platform: amd64 });
    const broken: Definition = { def: [def.def[1]!, def.def[2]!], metadata: def.metadata };
    expect(() => State.fromDefinition(broken).marshal()).toThrow(/does not contain/);
  });
});

describe('Definition encoding', () => {
  // Go-marshalled pb.Definition of llb.Image("debian:12") at linux/amd64 (v0.34.2).
  const GO_DEF =
    '0a40520e0a05616d64363412056c696e75785a001a2c0a2a646f636b65722d696d6167653a2f2f646f636b65722e696f2f6c6962726172792f64656269616e3a31320a4b0a490a477368613235363a66303333373232373662343866646230353730363131663264363961356336623730336235643635623639343034353930333531643539373930366531396634126a0a477368613235363a33393466306439356336646139383966353063363830383965323565373935306532323266353234663965303965626466383835663535333466313735303039121f2a0f0a0b636f6e73747261696e747310012a0c0a08706c6174666f726d1001125d0a477368613235363a6630333337323237366234386664623035373036313166326436396135633662373033623564363562363934303435393033353164353937393036653139663412122a100a0c736f757263652e696d61676510011a4d0a4b0a477368613235363a663033333732323736623438666462303537303631316632643639613563366237303362356436356236393430343539303335316435393739303665313966341200';

  it('decodes a Go-marshalled Definition and re-encodes it identically', () => {
    const d = decodeDefinition(Buffer.from(GO_DEF, 'hex'));
    expect(d.def).toHaveLength(2);
    expect(d.metadata['sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4']).toEqual({ caps: { 'source.image': true } });
    expect(hex(encodeDefinition(d))).toBe(GO_DEF);
    expect(hex(encodeDefinition(State.image('debian:12').marshal({ platform: amd64 })))).toBe(GO_DEF);
  });

  it('round-trips a marshalled definition', () => {
    const def = State.image('debian:12').run({ args: ['x'], name: 'n', ignoreCache: true }).marshal({ platform: amd64 });
    const back = decodeDefinition(encodeDefinition(def));
    expect(back.def.map(hex)).toEqual(def.def.map(hex));
    expect(back.metadata).toEqual(def.metadata);
    expect(hex(encodeDefinition(back))).toBe(hex(encodeDefinition(def)));
  });
});

describe('deterministic encoder', () => {
  it('omits zero scalars, writes set empty messages, oneof zeros and -1 as 10 bytes', () => {
    expect(hex(marshalDeterministic('pb.Input', { digest: '', index: 0 }))).toBe('');
    expect(hex(marshalDeterministic('pb.Input', { index: -1 }))).toBe('10ffffffffffffffffff01');
    expect(hex(marshalDeterministic('pb.UserOpt', { byID: 0 }))).toBe('1000');
    expect(hex(marshalDeterministic('pb.ChownOpt', { user: {}, group: { byID: 0 } }))).toBe('0a00' + '12021000');
    expect(hex(marshalDeterministic('pb.Meta', { validExitCodes: [0, 1, -1] }))).toBe('620c' + '0001ffffffffffffffffff01');
  });

  it('sorts map entries bytewise and writes key and value even when empty', () => {
    const b = marshalDeterministic('pb.SourceOp', { attrs: { b: '', a: 'x', '10': 'n', '9': 'm', B: 'u' } });
    const keys: string[] = [];
    const m = lookupType('pb.SourceOp').decode(b) as unknown as { attrs: Record<string, string> };
    expect(m.attrs).toEqual({ b: '', a: 'x', '10': 'n', '9': 'm', B: 'u' });
    // walk entries in wire order
    let i = 0;
    while (i < b.length) {
      expect(b[i]).toBe(0x12);
      const len = b[i + 1]!;
      const entry = b.subarray(i + 2, i + 2 + len);
      keys.push(Buffer.from(entry.subarray(2, 2 + entry[1]!)).toString());
      i += 2 + len;
    }
    expect(keys).toEqual(['10', '9', 'B', 'a', 'b']);
    // "b" -> "" is written as key + empty value
    expect(hex(marshalDeterministic('pb.SourceOp', { attrs: { b: '' } }))).toBe('1205' + '0a0162' + '1200');
  });

  it('writes oneof members after the other fields, like protobuf-go', () => {
    const b = marshalDeterministic('pb.Op', { source: { identifier: 'x' }, constraints: {}, inputs: [{ digest: 'd' }] });
    expect(hex(b)).toBe('0a030a0164' + '5a00' + '1a030a0178');
  });

  it('rejects unknown field names', () => {
    expect(() => marshalDeterministic('pb.Input', { digset: 'x' })).toThrow(/no field named "digset"/);
  });
});

describe('image references', () => {
  it.each([
    ['debian', 'docker.io/library/debian:latest'],
    ['debian:12', 'docker.io/library/debian:12'],
    ['library/debian:12', 'docker.io/library/debian:12'],
    ['docker.io/debian', 'docker.io/library/debian:latest'],
    ['index.docker.io/org/app:1', 'docker.io/org/app:1'],
    ['org/app', 'docker.io/org/app:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
    ['127.0.0.1:5000/debian:12-pointrelease', '127.0.0.1:5000/debian:12-pointrelease'],
    ['ghcr.io/org/app@sha256:' + 'a'.repeat(64), 'ghcr.io/org/app@sha256:' + 'a'.repeat(64)],
    ['debian:12@sha256:' + 'b'.repeat(64), 'docker.io/library/debian:12@sha256:' + 'b'.repeat(64)],
    ['Registry.Example/app', 'Registry.Example/app:latest'],
  ])('%s -> %s', (ref, want) => {
    expect(normalizeImageRef(ref)).toBe(want);
  });

  it.each(['Debian', 'org/App', 'a'.repeat(64), 'debian@sha256:abc', 'debian:', ':12', 'a//b'])('rejects %s', (ref) => {
    expect(() => normalizeImageRef(ref)).toThrow();
  });
});

describe('platforms and paths', () => {
  it('normalises platforms like containerd', () => {
    expect(normalizePlatform({ os: 'Linux', architecture: 'x86_64' })).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64', variant: 'v8' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'i386' })).toEqual({ os: 'linux', architecture: '386' });
  });

  it('cleans paths like Go', () => {
    expect(['', '.', '/', '//a//b/', 'a/../..', '/../a', 'a/./b/..', '/a/b/../../..'].map(clean)).toEqual(['.', '.', '/', '/a/b', '..', '/a', 'a', '/']);
    expect(join('/', 'w', '../x')).toBe('/x');
    expect(join('', '')).toBe('');
  });
});

describe('state values', () => {
  it('replacing an env key moves it to the end (Go EnvList order)', () => {
    const s = State.scratch().withEnv('A', '1').withEnv('B', '2').withEnv('A', '3');
    expect(Object.entries(s.getEnv())).toEqual([
      ['B', '2'],
      ['A', '3'],
    ]);
  });

  it('takes env, working dir and user from the image config', () => {
    const s = State.image('debian:12', { imageConfig: { Env: ['PATH=/usr/bin', 'EMPTY=', 'NOVAL', '=bad', 'A=b=c'], WorkingDir: 'srv', User: 'app' } });
    expect(s.getEnv()).toEqual({ PATH: '/usr/bin', EMPTY: '', NOVAL: '', A: 'b=c' });
    expect(s.getCwd()).toBe('/srv');
    expect(s.getUser()).toBe('app');
    expect(s.withCwd('x').getCwd()).toBe('/srv/x');
  });
});

describe('proto root', () => {
  it('lets other schemas refer to pb messages', () => {
    registerProtoSources(`
syntax = "proto3";
package copa.llbtest;
message Wrapper { pb.Definition def = 1; pb.Platform platform = 2; }
`);
    const t = lookupType('copa.llbtest.Wrapper');
    const def = State.image('debian:12').marshal({ platform: amd64 });
    const b = t.encode(t.fromObject({ def: { def: def.def }, platform: { OS: 'linux', Architecture: 'amd64' } })).finish();
    const back = t.toObject(t.decode(b)) as { platform: { OS: string } };
    expect(back.platform.OS).toBe('linux');
    expect(protoRoot().lookupType('pb.Op').fields.inputs!.id).toBe(1);
  });
});
