import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { parseFrontendEnv } from '../../src/frontend/transport.js';
import { protoCodec } from '../../src/llb/grpc/codec.js';
import { createTestServer, type TestServerCall } from '../../src/llb/grpc/test-server.js';

type Obj = Record<string, any>;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('frontend environment', () => {
  it('splits BUILDKIT_FRONTEND_OPT_<i> on the first "=" and reads session and workers', () => {
    const env = parseFrontendEnv({
      BUILDKIT_FRONTEND_OPT_0: 'source=ghcr.io/x/copa-frontend:1',
      BUILDKIT_FRONTEND_OPT_3: 'build-arg:image=docker.io/library/debian:12',
      BUILDKIT_FRONTEND_OPT_12: 'label:a=b=c==',
      BUILDKIT_FRONTEND_OPT_2: 'no-cache=',
      BUILDKIT_FRONTEND_OPT_5: 'flagonly',
      BUILDKIT_FRONTEND_OPTX: 'ignored=1',
      BUILDKIT_SESSION_ID: 'sess-1',
      BUILDKIT_EXPORTEDPRODUCT: 'buildkit',
      BUILDKIT_WORKERS: JSON.stringify([
        { ID: 'w0', Labels: { 'org.mobyproject.buildkit.worker.executor': 'oci' }, Platforms: [{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm', os: 'linux', variant: 'v7' }] },
      ]),
    });
    expect(env.opts).toEqual({
      source: 'ghcr.io/x/copa-frontend:1',
      'build-arg:image': 'docker.io/library/debian:12',
      'label:a': 'b=c==',
      'no-cache': '',
      flagonly: '',
    });
    expect(env.sessionId).toBe('sess-1');
    expect(env.product).toBe('buildkit');
    expect(env.workers).toEqual([
      {
        ID: 'w0',
        Labels: { 'org.mobyproject.buildkit.worker.executor': 'oci' },
        Platforms: [
          { architecture: 'amd64', os: 'linux' },
          { architecture: 'arm', os: 'linux', variant: 'v7' },
        ],
      },
    ]);
  });

  it('tolerates a missing or broken BUILDKIT_WORKERS', () => {
    expect(parseFrontendEnv({}).workers).toEqual([]);
    expect(parseFrontendEnv({}).sessionId).toBe('');
    const spy = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      expect(parseFrontendEnv({ BUILDKIT_WORKERS: '{nope' }).workers).toEqual([]);
    } finally {
      process.stderr.write = spy;
    }
  });
});

// A real frontend process: bundle a tiny entry point on top of transport.ts and run it
// with its stdin/stdout connected to an in-process fake BuildKit gateway.
const GW = 'moby.buildkit.v1.frontend';
const P = '/moby.buildkit.v1.frontend.LLBBridge/';
let outDir: string;
let script: string;

beforeAll(async () => {
  outDir = fs.mkdtempSync(path.join(ROOT, 'node_modules', '.copa-grpc-transport-'));
  const entry = path.join(outDir, 'entry.ts');
  fs.writeFileSync(
    entry,
    `
import { connectFrontend } from ${JSON.stringify(path.join(ROOT, 'src/frontend/transport.ts'))};
console.log('noise from console.log');
console.info('noise from console.info');
const fe = await connectFrontend();
console.debug('connected', fe.opts);
if (fe.opts.mode === 'hang') {
  await fe.bridge.readFile({ id: 'r' }, '/hang');
} else {
  const data = await fe.bridge.readFile({ id: 'r' }, '/etc/os-release');
  await fe.bridge.returnResult({ ref: { id: 'r' }, metadata: { 'containerimage.config': JSON.stringify({ os: 'linux', got: data.toString(), opts: fe.opts, session: fe.sessionId, platform: fe.defaultPlatform }) } });
  await fe.close();
  process.exit(0);
}
`,
  );
  script = path.join(outDir, 'frontend.mjs');
  await build({ entryPoints: [entry], outfile: script, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'silent' });
}, 60_000);

afterAll(() => {
  if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
});

function runFrontend(env: Record<string, string>): {
  child: ChildProcessWithoutNullStreams;
  returned: Promise<Obj>;
  stdoutGarbage: () => boolean;
  stderr: () => string;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let resolveReturn!: (o: Obj) => void;
  const returned = new Promise<Obj>((r) => (resolveReturn = r));
  const unary = (name: string, reqT: string, resT: string, fn: (req: Obj) => Obj | undefined) => ({
    [P + name]: async (call: TestServerCall) => {
      const [m] = await call.readAll();
      const res = fn(protoCodec<Obj>(`${GW}.${reqT}`).decode(m!));
      if (!res) return; // hang
      await call.send(protoCodec<Obj>(`${GW}.${resT}`).encode(res));
      call.end();
    },
  });
  const server = createTestServer({
    ...unary('Ping', 'PingRequest', 'PongResponse', () => ({ FrontendAPICaps: [{ ID: 'readfile', Enabled: true }, { ID: 'return', Enabled: true }], LLBCaps: [] })),
    ...unary('ReadFile', 'ReadFileRequest', 'ReadFileResponse', (req) => (req.FilePath === '/hang' ? undefined : { Data: Buffer.from('ID=debian\nVERSION_ID="12"\n') })),
    ...unary('Return', 'ReturnRequest', 'ReturnResponse', (req) => {
      resolveReturn(req);
      return {};
    }),
  });
  // Sniff stdout: it must be exactly an HTTP/2 connection (starts with the client preface).
  let first: Buffer | undefined;
  child.stdout.once('data', (d: Buffer) => (first ??= d));
  server.attach(Duplex.from({ readable: child.stdout, writable: child.stdin }));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // No server.close() after exit: the pipes are gone and the session ends by itself
  // (destroying an HTTP/2 session over a dead JSStreamSocket trips a Node assertion).
  return {
    child,
    returned,
    stdoutGarbage: () => !first || !first.subarray(0, 24).equals(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')),
    stderr: () => stderr,
    exit,
  };
}

describe('frontend stdio transport (child process)', () => {
  it('speaks gRPC on stdout only, logs to stderr, and returns a result', async () => {
    const run = runFrontend({
      BUILDKIT_FRONTEND_OPT_0: 'image=docker.io/library/debian:12',
      BUILDKIT_FRONTEND_OPT_1: 'k=a=b',
      BUILDKIT_SESSION_ID: 'sess-xyz',
      BUILDKIT_WORKERS: JSON.stringify([{ ID: 'w', Labels: {}, Platforms: [{ os: 'linux', architecture: 'arm64', variant: 'v8' }] }]),
    });
    const req = await run.returned;
    const cfg = JSON.parse(Buffer.from(req.result.metadata['containerimage.config']).toString());
    expect(cfg.got).toBe('ID=debian\nVERSION_ID="12"\n');
    expect(cfg.opts).toEqual({ image: 'docker.io/library/debian:12', k: 'a=b' });
    expect(cfg.session).toBe('sess-xyz');
    expect(cfg.platform).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(req.result.ref.id).toBe('r');
    expect(await run.exit).toBe(0);
    expect(run.stdoutGarbage()).toBe(false);
    expect(run.stderr()).toContain('noise from console.log');
    expect(run.stderr()).toContain('noise from console.info');
    expect(run.stderr()).toContain('connected');
  }, 30_000);

  it('exits when BuildKit closes stdin, failing pending calls', async () => {
    const run = runFrontend({ BUILDKIT_FRONTEND_OPT_0: 'mode=hang' });
    // Wait until the frontend is blocked in its ReadFile, then hang up.
    for (let i = 0; i < 200 && !run.stderr().includes('connected'); i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 100));
    run.child.stdin.end();
    const code = await run.exit;
    expect(code).toBe(1);
    expect(run.stderr()).toMatch(/BuildKit closed the connection before a result was returned/);
  }, 30_000);
});
