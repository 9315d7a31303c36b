import { afterEach, describe, expect, it } from 'vitest';
import { GrpcChannel, GrpcCode } from '../../src/llb/grpc/h2client.js';
import { protoCodec } from '../../src/llb/grpc/codec.js';
import { createTestServer, duplexPair, type TestServerCall } from '../../src/llb/grpc/test-server.js';
import { BUILD_ID_METADATA, DEFAULT_GATEWAY_CAPS, DEFAULT_LLB_CAPS, LLBBridgeClient, READ_CHUNK } from '../../src/llb/bridge-client.js';
import { BridgeFileNotFound } from '../../src/engine/bridge.js';
import { CopaError, toCopaError } from '../../src/engine/errors.js';
import { definitionHead, type Definition } from '../../src/llb/definition.js';
import { FileAction, State } from '../../src/llb/index.js';
import { lookupType } from '../../src/llb/proto/root.js';

type Obj = Record<string, any>;
const GW = 'moby.buildkit.v1.frontend';
const P = '/moby.buildkit.v1.frontend.LLBBridge/';

const ALL_GATEWAY_CAPS = [
  'solve.base', 'solve.inlinereturn', 'resolveimage', 'readfile', 'return', 'returnmap', 'readdir', 'statfile',
  'frontend.inputs', 'gateway.solve.evaluate', 'gateway.evaluate', 'gateway.warnings', 'proto.refarray',
];

interface Fake {
  requests: Array<{ method: string; req: Obj; headers: Obj }>;
  files: Record<string, Buffer>;
  dirs: Record<string, Obj[]>;
  returned?: Obj;
}

function fakeBridge(opts: { gatewayCaps?: string[]; llbCaps?: string[]; notFoundStyle?: 'code' | 'message' } = {}) {
  const fake: Fake = { requests: [], files: {}, dirs: {} };
  const unary = (name: string, reqType: string, resType: string, fn: (req: Obj) => Obj | Promise<Obj>) => ({
    [P + name]: async (call: TestServerCall) => {
      const [m] = await call.readAll();
      const req = protoCodec<Obj>(`${GW}.${reqType}`).decode(m!);
      fake.requests.push({ method: name, req, headers: call.headers });
      try {
        const res = await fn(req);
        await call.send(protoCodec<Obj>(`${GW}.${resType}`).encode(res));
        call.end();
      } catch (e) {
        const err = e as { code?: number; message: string };
        call.end({ code: err.code ?? 2, message: err.message });
      }
    },
  });
  const cap = (ID: string): Obj => ({ ID, Enabled: true });
  const notFound = (path: string) =>
    opts.notFoundStyle === 'code'
      ? Object.assign(new Error(`${path}: not found`), { code: GrpcCode.NOT_FOUND })
      : new Error(`open ${path}: no such file or directory`);
  const handlers = {
    ...unary('Ping', 'PingRequest', 'PongResponse', () => ({
      FrontendAPICaps: (opts.gatewayCaps ?? ALL_GATEWAY_CAPS).map(cap).concat(opts.gatewayCaps?.length === 0 ? [] : [{ ID: 'gateway.exec', Enabled: false, DisabledReasonMsg: 'no' }]),
      LLBCaps: (opts.llbCaps ?? ['source.image', 'exec.meta.base', 'file.base', 'mergeop', 'diffop', 'constraints', 'platform', 'meta.description']).map(cap),
      Workers: [{ ID: 'w1', Labels: { a: 'b' }, platforms: [{ OS: 'linux', Architecture: 'arm64', Variant: 'v8' }] }],
    })),
    ...unary('Solve', 'SolveRequest', 'SolveResponse', (req) => {
      if (req.FrontendOpt?.multi) {
        return { result: { refs: { refs: { 'linux/amd64': { id: 'r-amd64' }, 'linux/arm64': { id: 'r-arm64' } } }, metadata: { k: Buffer.from('v') } } };
      }
      if (!req.Definition?.def?.length) return { result: { ref: { id: '' } } };
      return { result: { ref: { id: `ref-${fake.requests.length}`, def: req.Definition } } };
    }),
    ...unary('Evaluate', 'EvaluateRequest', 'EvaluateResponse', () => ({})),
    ...unary('ReadFile', 'ReadFileRequest', 'ReadFileResponse', (req) => {
      const f = fake.files[req.FilePath];
      if (!f) throw notFound(req.FilePath);
      const r = req.Range;
      if (!r) return { Data: f };
      return { Data: f.subarray(r.Offset, r.Offset + r.Length) };
    }),
    ...unary('ReadDir', 'ReadDirRequest', 'ReadDirResponse', (req) => {
      const d = fake.dirs[req.DirPath];
      if (!d) throw notFound(req.DirPath);
      return { entries: d };
    }),
    ...unary('StatFile', 'StatFileRequest', 'StatFileResponse', () => ({ stat: { path: 'x', mode: 0o644, size: 3 } })),
    ...unary('ResolveImageConfig', 'ResolveImageConfigRequest', 'ResolveImageConfigResponse', (req) => ({
      Digest: 'sha256:' + 'd'.repeat(64),
      Config: Buffer.from(JSON.stringify({ architecture: req.Platform.Architecture, os: req.Platform.OS, config: { Env: ['A=1'] } })),
      Ref: req.Ref === 'alias' ? 'docker.io/library/real:1' : '',
    })),
    ...unary('Warn', 'WarnRequest', 'WarnResponse', () => ({})),
    ...unary('Inputs', 'InputsRequest', 'InputsResponse', () => ({
      Definitions: { report: { def: [Buffer.from('op1'), Buffer.from('op2')], metadata: { 'sha256:x': { description: { 'llb.customname': 'n' } } } } },
    })),
    ...unary('Return', 'ReturnRequest', 'ReturnResponse', (req) => {
      fake.returned = req;
      return {};
    }),
  };
  return { fake, handlers };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: Parameters<typeof fakeBridge>[0] = {}, metadata?: Record<string, string>) {
  const { fake, handlers } = fakeBridge(opts);
  const server = createTestServer(handlers);
  const [c, s] = duplexPair();
  server.attach(s);
  const channel = GrpcChannel.fromDuplex(c);
  cleanups.push(() => server.close(), () => channel.destroy());
  const bridge = await LLBBridgeClient.connect(channel, { metadata });
  return { fake, bridge, channel };
}

const def = (caps: Record<string, boolean> = { 'source.image': true }): Definition => ({
  def: [Buffer.from('opbytes-1'), Buffer.from('opbytes-2')],
  metadata: { ['sha256:' + '1'.repeat(64)]: { caps, description: { 'llb.customname': 'x' } } },
});

describe('LLBBridgeClient', () => {
  it('pings, keeps enabled caps and workers, and sends the build id on every call', async () => {
    const { bridge, fake } = await setup({}, { [BUILD_ID_METADATA]: 'build-123' });
    expect(bridge.gatewayCaps.has('readdir')).toBe(true);
    expect(bridge.gatewayCaps.has('gateway.exec')).toBe(false);
    expect(bridge.llbCaps.has('mergeop')).toBe(true);
    expect(bridge.workers).toEqual([{ ID: 'w1', Labels: { a: 'b' }, Platforms: [{ os: 'linux', architecture: 'arm64', variant: 'v8' }] }]);
    await bridge.solve(def());
    expect(fake.requests.map((r) => r.method)).toEqual(['Ping', 'Solve']);
    for (const r of fake.requests) expect(r.headers[BUILD_ID_METADATA]).toBe('build-123');
    expect(fake.requests[0]!.headers['grpc-timeout']).toMatch(/^1[45]\d{3}m$/);
  });

  it('falls back to the frozen default caps when Ping returns none', async () => {
    const { bridge } = await setup({ gatewayCaps: [], llbCaps: [] });
    expect([...bridge.gatewayCaps].sort()).toEqual([...DEFAULT_GATEWAY_CAPS].sort());
    expect([...bridge.llbCaps].sort()).toEqual([...DEFAULT_LLB_CAPS].sort());
    expect(bridge.llbCaps.has('source.image')).toBe(true);
    expect(() => bridge.requireCaps(['mergeop', 'diffop'])).toThrow(/lacks MergeOp\/DiffOp \(needs BuildKit ≥ v0\.10; on Docker enable the containerd image store\)/);
  });

  it('requireCaps throws an error naming the missing caps, which the engine maps onto a CopaError', async () => {
    const { bridge } = await setup({ llbCaps: ['source.image', 'mergeop'] });
    expect(() => bridge.requireCaps(['mergeop'])).not.toThrow();
    const err = (() => {
      try {
        bridge.requireCaps(['mergeop', 'diffop']);
      } catch (e) {
        // The LLB floor raises its own error; the engine maps it onto a CopaError.
        return toCopaError(e) as CopaError;
      }
    })()!;
    expect(err).toBeInstanceOf(CopaError);
    expect(err.category).toBe('buildkit');
    expect(err.message).toContain('missing LLB capabilities: diffop');
    expect(() => bridge.requireCaps(['exec.mount.ssh'])).toThrow(/lacks required LLB capabilities: exec.mount.ssh/);
  });

  it('solves definitions (lazy and evaluated) and checks their caps', async () => {
    const { bridge, fake } = await setup();
    const ref = await bridge.solve(def());
    expect(ref.id).toMatch(/^ref-/);
    expect(ref.def?.def.map((d) => Buffer.from(d).toString())).toEqual(['opbytes-1', 'opbytes-2']);
    const sent = fake.requests.find((r) => r.method === 'Solve')!.req;
    expect(sent.allowResultReturn).toBe(true);
    expect(sent.allowResultArrayRef).toBe(true);
    expect(sent.Evaluate).toBe(false);
    expect(sent.Definition.def.map((d: Buffer) => d.toString())).toEqual(['opbytes-1', 'opbytes-2']);
    expect(sent.Definition.metadata['sha256:' + '1'.repeat(64)].caps).toEqual({ 'source.image': true });
    await bridge.solve(def(), { evaluate: true });
    expect(fake.requests.at(-1)!.req.Evaluate).toBe(true);
    await expect(bridge.solve(def({ 'exec.mount.ssh': true }))).rejects.toThrow(/exec.mount.ssh/);
    expect((await bridge.solve({ def: [], metadata: {} })).id).toBe('');
  });

  it('evaluates with the Evaluate RPC when inline evaluation is unsupported', async () => {
    const { bridge, fake } = await setup({ gatewayCaps: ['solve.base', 'readfile', 'gateway.evaluate', 'return'] });
    await bridge.solve(def(), { evaluate: true });
    expect(fake.requests.map((r) => r.method)).toEqual(['Ping', 'Solve', 'Evaluate']);
    expect(fake.requests[1]!.req.Evaluate).toBe(false);
  });

  it('returns multi-platform solve results', async () => {
    const { bridge } = await setup();
    const res = await bridge.solveRequest({ frontend: 'dockerfile.v0', frontendOpt: { multi: '1' } });
    expect(res.refs).toEqual({ 'linux/amd64': { id: 'r-amd64' }, 'linux/arm64': { id: 'r-arm64' } });
    expect(Buffer.from(res.metadata.k!).toString()).toBe('v');
  });

  it('reads small and large files in ranges of at most 8 MiB', async () => {
    const { bridge, fake } = await setup();
    fake.files['/etc/os-release'] = Buffer.from('ID=debian\n');
    const big = Buffer.alloc(READ_CHUNK * 2 + 12345);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    fake.files['/big'] = big;
    fake.files['/exact'] = Buffer.alloc(READ_CHUNK, 7);
    expect((await bridge.readFile({ id: 'r' }, '/etc/os-release')).toString()).toBe('ID=debian\n');
    const got = await bridge.readFile({ id: 'r' }, '/big');
    expect(got.equals(big)).toBe(true);
    const ranges = fake.requests.filter((r) => r.method === 'ReadFile' && r.req.FilePath === '/big').map((r) => r.req.Range);
    expect(ranges).toEqual([
      { Offset: 0, Length: READ_CHUNK },
      { Offset: READ_CHUNK, Length: READ_CHUNK },
      { Offset: 2 * READ_CHUNK, Length: READ_CHUNK },
    ]);
    expect((await bridge.readFile({ id: 'r' }, '/exact')).length).toBe(READ_CHUNK);
  });

  it.each(['message', 'code'] as const)('maps a missing file to BridgeFileNotFound (%s style)', async (style) => {
    const { bridge } = await setup({ notFoundStyle: style });
    const err = await bridge.readFile({ id: 'r' }, '/nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BridgeFileNotFound);
    expect((err as BridgeFileNotFound).path).toBe('/nope');
    await expect(bridge.readDir({ id: 'r' }, '/nodir')).rejects.toBeInstanceOf(BridgeFileNotFound);
  });

  it('lists directories with Go FileMode bits', async () => {
    const { bridge, fake } = await setup();
    fake.dirs['/var/lib/dpkg'] = [
      { path: 'status', mode: 0o644, size: 1234 },
      { path: 'info', mode: (1 << 31) >>> 0 | 0o755, size: 4096 },
      { path: 'link', mode: (1 << 27) | 0o777, size: 0, linkname: 'status' },
    ];
    const entries = await bridge.readDir({ id: 'r' }, '/var/lib/dpkg', 'st*');
    expect(entries).toEqual([
      { path: 'status', mode: 0o644, size: 1234 },
      { path: 'info', mode: 0x80000000 + 0o755, size: 4096 },
      { path: 'link', mode: 0x08000000 + 0o777, size: 0 },
    ]);
    expect(entries[1]!.mode & (1 << 31)).not.toBe(0);
    expect(fake.requests.at(-1)!.req.IncludePattern).toBe('st*');
  });

  it('resolves image configs', async () => {
    const { bridge, fake } = await setup();
    const r = await bridge.resolveImageConfig('docker.io/library/debian:12', { os: 'linux', architecture: 'amd64' });
    expect(r.digest).toBe('sha256:' + 'd'.repeat(64));
    expect(r.config).toEqual({ architecture: 'amd64', os: 'linux', config: { Env: ['A=1'] } });
    expect(r.ref).toBe('docker.io/library/debian:12');
    const req = fake.requests.at(-1)!.req;
    expect(req.ResolveMode).toBe('default');
    expect(req.Platform).toMatchObject({ OS: 'linux', Architecture: 'amd64', Variant: '' });
    expect((await bridge.resolveImageConfig('alias', { os: 'linux', architecture: 'arm64', variant: 'v8' })).ref).toBe('docker.io/library/real:1');
  });

  it('warns only when the gateway supports warnings', async () => {
    const a = await setup();
    await a.bridge.warn('copa: 2 packages not patched', ['openssl', 'zlib']);
    const w = a.fake.requests.at(-1)!;
    expect(w.method).toBe('Warn');
    expect(Buffer.from(w.req.short).toString()).toBe('copa: 2 packages not patched');
    expect(w.req.detail.map((d: Buffer) => d.toString())).toEqual(['openssl', 'zlib']);
    expect(w.req.level).toBe(1);
    const b = await setup({ gatewayCaps: ['solve.base', 'readfile'] });
    await b.bridge.warn('ignored');
    expect(b.fake.requests.map((r) => r.method)).toEqual(['Ping']);
  });

  it('attaches warnings to the vertex of the latest evaluated solve', async () => {
    const { bridge, fake } = await setup();
    fake.files['/f'] = Buffer.from('x');
    const d1 = State.image('docker.io/library/debian:12').marshal({ platform: { os: 'linux', architecture: 'amd64' } });
    const d2 = State.scratch().file(FileAction.mkfile('/a', 0o644, 'a')).marshal({ platform: { os: 'linux', architecture: 'amd64' } });
    const r1 = await bridge.solve(d1);
    await bridge.warn('before anything was built');
    expect(fake.requests.at(-1)!.req.digest).toBe('');
    await bridge.readFile(r1, '/f');
    await bridge.solve(d2); // lazy: not in the progress stream yet
    await bridge.warn('w1');
    expect(fake.requests.at(-1)!.req.digest).toBe(definitionHead(d1)!.digest);
    await bridge.solve(d2, { evaluate: true });
    await bridge.warn('w2', [], { url: 'https://example.com/x' });
    expect(fake.requests.at(-1)!.req).toMatchObject({ digest: definitionHead(d2)!.digest, url: 'https://example.com/x' });
    await bridge.warn('w3', [], { digest: 'sha256:explicit' });
    expect(fake.requests.at(-1)!.req.digest).toBe('sha256:explicit');
  });

  it('reads frontend inputs', async () => {
    const { bridge } = await setup();
    const inputs = await bridge.inputs();
    expect(Object.keys(inputs)).toEqual(['report']);
    expect(inputs.report!.def.map((d) => Buffer.from(d).toString())).toEqual(['op1', 'op2']);
    expect(inputs.report!.metadata['sha256:x']).toEqual({ description: { 'llb.customname': 'n' } });
  });

  it('returns single and multi-platform results and errors', async () => {
    const a = await setup();
    await a.bridge.returnResult({ ref: { id: 'ref-9' }, metadata: { 'containerimage.config': '{"os":"linux"}', raw: new Uint8Array([1, 2]) } });
    expect(a.fake.returned!.result.ref).toEqual({ id: 'ref-9', def: null });
    expect(a.fake.returned!.result.metadata['containerimage.config'].toString()).toBe('{"os":"linux"}');
    expect([...a.fake.returned!.result.metadata.raw]).toEqual([1, 2]);
    expect(a.bridge.hasReturned).toBe(true);

    const b = await setup();
    await b.bridge.returnResult({ refs: { 'linux/amd64': { id: 'a' }, 'linux/arm64': { id: 'b' } }, metadata: { 'refs.platforms': '{}' } });
    expect(Object.keys(b.fake.returned!.result.refs.refs).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(b.fake.returned!.result.ref).toBeUndefined();

    const c = await setup();
    await c.bridge.returnError('copa: image not supported');
    expect(c.fake.returned!.error).toMatchObject({ code: 2, message: 'copa: image not supported' });
    expect(c.fake.returned!.result).toBeNull();
  });

  it('fails connect with a clear error when Ping fails', async () => {
    const server = createTestServer({});
    const [c, s] = duplexPair();
    server.attach(s);
    const channel = GrpcChannel.fromDuplex(c);
    cleanups.push(() => server.close(), () => channel.destroy());
    await expect(LLBBridgeClient.connect(channel)).rejects.toThrow(/Ping failed/);
  });

  it('the shared root resolves every gRPC schema', () => {
    for (const t of [
      'moby.buildkit.v1.frontend.SolveRequest',
      'moby.buildkit.v1.frontend.ReturnRequest',
      'moby.buildkit.v1.frontend.PongResponse',
      'moby.buildkit.v1.SolveRequest',
      'moby.buildkit.v1.StatusResponse',
      'moby.buildkit.v1.ListWorkersResponse',
      'moby.buildkit.v1.InfoResponse',
      'grpc.health.v1.HealthCheckResponse',
      'moby.filesync.v1.CredentialsResponse',
      'google.rpc.Status',
    ]) {
      expect(() => lookupType(t)).not.toThrow();
    }
  });
});
