// Our own gRPC stack (src/llb/grpc) against the test bed's real buildkitd over its unix
// socket: the Control API, a client session, and a client-side build driving the
// LLBBridge on the same connection with the buildkit-controlapi-buildid metadata.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build as esbuild } from 'esbuild';
import { testbed, registryRef, readFileFromImage, runBuildctl, fetchManifest } from '../env/testbed.js';
import { nodeBaseImage } from './support/frontend-image.js';
import { GrpcChannel, GrpcError } from '../../src/llb/grpc/h2client.js';
import { exitCodeOf } from '../../src/llb/grpc/status.js';
import { methodDef } from '../../src/llb/grpc/codec.js';
import { BuildKitSession } from '../../src/llb/grpc/session.js';
import { CONTROL_METHODS, CONTROL_PACKAGE } from '../../src/llb/proto/control.js';
import { BUILD_ID_METADATA, LLBBridgeClient } from '../../src/llb/bridge-client.js';
import { BridgeFileNotFound } from '../../src/engine/bridge.js';
import { State, type Platform } from '../../src/llb/index.js';

type Obj = Record<string, any>;
const control = {
  Info: methodDef<Obj, Obj>(CONTROL_PACKAGE, CONTROL_METHODS.Info),
  ListWorkers: methodDef<Obj, Obj>(CONTROL_PACKAGE, CONTROL_METHODS.ListWorkers),
  Solve: methodDef<Obj, Obj>(CONTROL_PACKAGE, CONTROL_METHODS.Solve),
  Status: methodDef<Obj, Obj>(CONTROL_PACKAGE, CONTROL_METHODS.Status),
};
const PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

let channel: GrpcChannel;

beforeAll(async () => {
  channel = await GrpcChannel.connect(testbed().buildkitAddr);
});

afterAll(async () => {
  await channel?.close();
});

/** Start a client-side build: Control.Solve with no Definition/Frontend waits for our Return. */
function startClientBuild(sessionId: string) {
  const ref = randomBytes(12).toString('hex');
  const solve = channel.unary(control.Solve, { Ref: ref, Session: sessionId, FrontendAttrs: { 'copa-test': '1' } });
  solve.catch(() => undefined);
  const vertexes = new Map<string, Obj>();
  const status = (async () => {
    for await (const msg of channel.serverStream(control.Status, { Ref: ref })) {
      for (const v of msg.vertexes as Obj[]) vertexes.set(v.digest, { ...vertexes.get(v.digest), ...v });
    }
  })();
  status.catch(() => undefined);
  return { ref, solve, status, vertexes };
}

describe('Control API over our h2 client', () => {
  it('Info reports the daemon version', async () => {
    const info = await channel.unary(control.Info, {});
    expect(info.buildkitVersion.package).toBe('github.com/moby/buildkit');
    expect(info.buildkitVersion.version).toBe(testbed().versions.buildkit);
  });

  it('ListWorkers lists the OCI worker and its platforms', async () => {
    const res = await channel.unary(control.ListWorkers, {});
    expect(res.record.length).toBeGreaterThan(0);
    const w = res.record[0];
    expect(w.ID).not.toBe('');
    expect(w.Labels['org.mobyproject.buildkit.worker.executor']).toBe('oci');
    expect(w.platforms).toContainEqual(expect.objectContaining({ OS: 'linux', Architecture: 'amd64' }));
    expect(w.BuildkitVersion.version).toBe(testbed().versions.buildkit);
  });
});

describe('client-side build: Control.Solve + LLBBridge on one connection', () => {
  let session: BuildKitSession;
  beforeAll(() => {
    session = BuildKitSession.open(channel, { name: 'copa-ts-e2e' });
  });
  afterAll(async () => {
    await session?.close();
  });

  it('pings, resolves, solves, reads the real /etc/os-release, and returns', async () => {
    const image = registryRef('debian:12-slim');
    const build = startClientBuild(session.id);
    const bridge = await LLBBridgeClient.connect(channel, { metadata: { [BUILD_ID_METADATA]: build.ref } });
    expect(bridge.gatewayCaps.has('solve.base')).toBe(true);
    expect(bridge.gatewayCaps.has('readfile')).toBe(true);
    expect(() => bridge.requireCaps(['mergeop', 'diffop'])).not.toThrow();

    const resolved = await bridge.resolveImageConfig(image, PLATFORM);
    expect(resolved.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(resolved.config.os).toBe('linux');
    expect(resolved.config.architecture).toBe('amd64');

    const def = State.image(image, { platform: PLATFORM }).marshal({ platform: PLATFORM, llbCaps: bridge.llbCaps });
    const ref = await bridge.solve(def);
    expect(ref.id).not.toBe('');

    const osRelease = await bridge.readFile(ref, '/etc/os-release');
    const expected = await readFileFromImage(image, '/etc/os-release');
    expect(osRelease.toString()).toBe(expected.toString());
    expect(osRelease.toString()).toMatch(/^ID=debian$/m);
    expect(osRelease.toString()).toMatch(/^VERSION_ID="12"$/m);

    await expect(bridge.readFile(ref, '/etc/no-such-file')).rejects.toBeInstanceOf(BridgeFileNotFound);
    await expect(bridge.readDir(ref, '/no/such/dir')).rejects.toBeInstanceOf(BridgeFileNotFound);
    const etc = await bridge.readDir(ref, '/etc', 'os-release');
    expect(etc).toEqual([expect.objectContaining({ path: 'os-release', mode: expect.any(Number) })]);
    expect(etc[0]!.mode & (1 << 27)).not.toBe(0); // a symlink, in Go FileMode bits
    const dpkg = await bridge.readDir(ref, '/var/lib/dpkg');
    expect(dpkg.find((e) => e.path === 'info')!.mode & (1 << 31)).not.toBe(0);

    await bridge.warn('copa-ts e2e warning', ['detail line']);
    await bridge.returnResult({ ref, metadata: { 'containerimage.config': JSON.stringify(resolved.config) } });
    const res = await build.solve;
    expect(res.ExporterResponse).toEqual({});
    await build.status;
    expect([...build.vertexes.values()].some((v) => String(v.name).includes('debian:12-slim'))).toBe(true);
  });

  it('reports exec failures with BuildKit error details', async () => {
    const image = registryRef('debian:12-slim');
    const build = startClientBuild(session.id);
    const bridge = await LLBBridgeClient.connect(channel, { metadata: { [BUILD_ID_METADATA]: build.ref } });
    const failing = State.image(image, { platform: PLATFORM })
      .run({ args: ['/bin/sh', '-c', 'echo copa-e2e; exit 3'], name: 'copa e2e: failing step', network: 'none' })
      .root();
    const err = (await bridge.solve(failing.marshal({ platform: PLATFORM, llbCaps: bridge.llbCaps }), { evaluate: true }).catch((e: unknown) => e)) as GrpcError;
    expect(err).toBeInstanceOf(GrpcError);
    expect(err.grpcMessage).toMatch(/did not complete successfully: exit code: 3/);
    expect(err.details.some((d) => d.kind === 'solve')).toBe(true);
    expect(err.details.some((d) => d.kind === 'vertex' && /^sha256:/.test(d.digest))).toBe(true);
    expect(err.message).toContain('in step: copa e2e: failing step');
    expect(exitCodeOf(err)).toBe(3);

    await bridge.returnError('copa: e2e failure', 2);
    const solveErr = (await build.solve.catch((e: unknown) => e)) as GrpcError;
    expect(solveErr).toBeInstanceOf(GrpcError);
    expect(solveErr.message).toContain('copa: e2e failure');
  });

  it('answers the daemon health checks on the session', async () => {
    // The daemon dialled back through Control.Session; it checks health every 5 s.
    for (let i = 0; i < 80 && session.healthChecks === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(session.healthChecks).toBeGreaterThan(0);
  });
});

describe('client-side build without a session', () => {
  it('works for a no-export build with an empty Session id', async () => {
    const build = startClientBuild('');
    const bridge = await LLBBridgeClient.connect(channel, { metadata: { [BUILD_ID_METADATA]: build.ref } });
    const ref = await bridge.solve(State.image(registryRef('debian:12-slim'), { platform: PLATFORM }).marshal({ platform: PLATFORM }));
    expect((await bridge.readFile(ref, '/etc/debian_version')).toString()).toMatch(/^12\./);
    await bridge.returnResult({ ref, metadata: {} });
    await expect(build.solve).resolves.toMatchObject({ ExporterResponse: {} });
  });
});

// A minimal gateway frontend on top of src/frontend/transport.ts, run by buildkitd as
// gateway.v0: exercises the stdio HTTP/2 transport against Go's http2 server.
const MINI_FRONTEND = `
import { connectFrontend } from ${JSON.stringify(resolve(import.meta.dirname, '../../src/frontend/transport.ts'))};
import { State, FileAction } from ${JSON.stringify(resolve(import.meta.dirname, '../../src/llb/index.ts'))};
console.log('stdout must stay clean: this goes to stderr');
const fe = await connectFrontend();
try {
  const platform = fe.defaultPlatform;
  const image = fe.opts.image;
  const resolved = await fe.bridge.resolveImageConfig(image, platform);
  const ref = await fe.bridge.solve(State.image(image, { platform }).marshal({ platform, llbCaps: fe.bridge.llbCaps }));
  const osRelease = await fe.bridge.readFile(ref, '/etc/os-release');
  const out = State.scratch().file(
    FileAction.mkfile('/os-release', 0o644, osRelease)
      .mkfile('/info.json', 0o644, JSON.stringify({ opts: fe.opts, session: fe.sessionId !== '', workers: fe.workers.length, digest: resolved.digest })),
  );
  const outRef = await fe.bridge.solve(out.marshal({ platform, llbCaps: fe.bridge.llbCaps }));
  await fe.bridge.warn('mini frontend warning', ['from copa-ts']);
  await fe.bridge.returnResult({ ref: outRef, metadata: { 'containerimage.config': JSON.stringify(resolved.config) } });
} catch (e) {
  await fe.bridge.returnError('mini frontend failed: ' + (e?.message ?? e));
}
await fe.close();
process.exit(0);
`;

async function miniFrontendImage(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'copa-mini-fe-'));
  try {
    writeFileSync(join(dir, 'entry.ts'), MINI_FRONTEND);
    await esbuild({
      entryPoints: [join(dir, 'entry.ts')],
      outfile: join(dir, 'fe.mjs'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
      logLevel: 'silent',
    });
    const base = await nodeBaseImage();
    const bundle = readFileSync(join(dir, 'fe.mjs'));
    const tag = createHash('sha256').update(bundle).update(base).digest('hex').slice(0, 12);
    const ref = registryRef(`copa-grpc-mini-frontend:${tag}`);
    const have = await fetchManifest(ref).then(() => true, () => false);
    if (!have) {
      writeFileSync(join(dir, 'Dockerfile'), `FROM ${base}\nCOPY fe.mjs /fe.mjs\nLABEL moby.buildkit.frontend.network.none="true"\nENTRYPOINT ["node", "/fe.mjs"]\n`);
      const r = await runBuildctl([
        'build', '--frontend', 'dockerfile.v0', '--local', `context=${dir}`, '--local', `dockerfile=${dir}`,
        '--output', `type=image,name=${ref},push=true,registry.insecure=true`,
      ]);
      if (r.code !== 0) throw new Error(`building the mini frontend failed:\n${r.stderr.slice(-3000)}`);
    }
    return ref;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('gateway frontend over stdio (buildkitd runs our transport)', () => {
  it('connects, solves, reads the real /etc/os-release and returns a result', async () => {
    const frontend = await miniFrontendImage();
    const image = registryRef('debian:12-slim');
    const out = mkdtempSync(join(tmpdir(), 'copa-mini-out-'));
    try {
      const r = await runBuildctl([
        'build', '--progress=plain', '--frontend', 'gateway.v0', '--opt', `source=${frontend}`,
        '--opt', `image=${image}`, '--opt', 'tricky=a=b=c', '--output', `type=local,dest=${out}`,
      ]);
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      expect(r.stderr).toContain('mini frontend warning');
      const expected = await readFileFromImage(image, '/etc/os-release');
      expect(readFileSync(join(out, 'os-release'), 'utf8')).toBe(expected.toString());
      const info = JSON.parse(readFileSync(join(out, 'info.json'), 'utf8'));
      expect(info.opts).toMatchObject({ image, tricky: 'a=b=c', source: frontend });
      expect(info.session).toBe(true);
      expect(info.workers).toBeGreaterThan(0);
      expect(info.digest).toMatch(/^sha256:/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
