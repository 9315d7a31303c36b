// The plugin's outputs against the real test bed: a BuildKitSession serving our Auth and
// FileSend services, Control.Solve with a small Definition, and the three kinds of output:
// an OCI layout directory (oci exporter → FileSend → oci-dir), a docker load into the bed's
// Docker engine (docker/oci exporter → FileSend → POST /images/load), and a push to the
// bed's registry (image exporter; credentials asked through our Auth service).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { testbed, registryRef, fetchManifest, fetchBlob, dockerCli, parseTar, normPath } from '../env/testbed.js';
import { GrpcChannel, GrpcError } from '../../src/llb/grpc/h2client.js';
import { methodDef } from '../../src/llb/grpc/codec.js';
import { BuildKitSession } from '../../src/llb/grpc/session.js';
import { CONTROL_METHODS, CONTROL_PACKAGE } from '../../src/llb/proto/control.js';
import { definitionToProtoObject } from '../../src/llb/definition.js';
import { State, type Platform } from '../../src/llb/index.js';
import { DockerCredentials, type DockerEndpoint } from '../../src/plugin/docker-config.js';
import { authService } from '../../src/plugin/session/auth.js';
import { fileSendService, type FileSendTarget } from '../../src/plugin/session/filesend.js';
import { CAP_MULTIPLE_EXPORTERS, planOutputs, type OutputPlan, type OutputRequest } from '../../src/plugin/outputs/exporters.js';
import { createDockerLoadTarget, engineUsesContainerdStore } from '../../src/plugin/outputs/docker-load.js';
import type { OciIndex } from '../../src/plugin/outputs/oci-dir.js';

type Obj = Record<string, any>;
const Solve = methodDef<Obj, Obj>(CONTROL_PACKAGE, CONTROL_METHODS.Solve);
const PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };
const BASE = () => registryRef('debian:12-pointrelease');

let channel: GrpcChannel;
let engine: DockerEndpoint;
let work: string;
let configDir: string;
const lookups: string[] = [];
const warnings: string[] = [];
const loadedTags: string[] = [];

beforeAll(async () => {
  channel = await GrpcChannel.connect(testbed().buildkitAddr);
  engine = { context: 'default', host: testbed().dockerHost };
  work = mkdtempSync(join(tmpdir(), 'copa-outputs-e2e-'));
  configDir = join(work, 'docker-config'); // no config.json: every registry is anonymous
});

afterAll(async () => {
  await channel?.close();
  for (const t of loadedTags) await dockerCli(['image', 'rm', '-f', t]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The build: base image + one new layer with /hi. */
function definition(nonce: string) {
  return State.image(BASE(), { platform: PLATFORM })
    .run({ args: ['sh', '-c', `echo hi-${nonce} > /hi`], name: `copa outputs e2e ${nonce}`, network: 'none' })
    .root()
    .marshal({ platform: PLATFORM });
}

/** Runs Control.Solve with our session serving Auth + FileSend for the given targets. */
async function solve(nonce: string, fields: Obj, targets: Map<number, FileSendTarget>, credentials?: DockerCredentials): Promise<Obj> {
  const session = BuildKitSession.open(channel, {
    name: 'copa-ts-outputs-e2e',
    services: [
      authService({
        credentials: credentials ?? new DockerCredentials({ configDir, env: {} }),
        warn: (m) => warnings.push(m),
        onLookup: (host) => lookups.push(host),
      }),
      fileSendService(targets, { warn: (m) => warnings.push(m) }),
    ],
  });
  try {
    return await channel.unary(Solve, {
      Ref: randomBytes(12).toString('hex'),
      Session: session.id,
      Definition: definitionToProtoObject(definition(nonce)),
      ...fields,
    });
  } finally {
    await session.close();
  }
}

async function solvePlan(nonce: string, plan: OutputPlan): Promise<Obj> {
  try {
    return await solve(nonce, plan.solveFields(), plan.targets);
  } catch (e) {
    plan.cancel(e as Error);
    throw e;
  }
}

function readJson<T = Obj>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** The files of a gzip (or plain) layer tar. */
function layerFiles(blob: Buffer): Map<string, Buffer | undefined> {
  const tar = blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob;
  return new Map(parseTar(tar).map((e) => [normPath(e.path), e.entry.content]));
}

/**
 * A permissive in-memory registry on 127.0.0.1 (plain HTTP) that answers every request
 * without the right basic-auth header with a 401 challenge. Just enough of the push API:
 * blob HEAD (404), upload POST/PATCH/PUT, manifest PUT.
 */
async function authRegistry(user: string, pass: string) {
  const want = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const uploads = new Map<string, Buffer[]>();
  const st = { unauthorized: 0, badCredentials: 0 };
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      const url = new URL(req.url!, 'http://x');
      res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
      const auth = req.headers.authorization;
      if (auth !== want) {
        if (auth) st.badCredentials++;
        else st.unauthorized++;
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="copa-e2e"', 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      let m: RegExpExecArray | null;
      if (url.pathname === '/v2/') {
        res.writeHead(200).end('{}');
      } else if ((m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)) && (req.method === 'HEAD' || req.method === 'GET')) {
        const b = blobs.get(m[2]!);
        if (!b) res.writeHead(404).end();
        else res.writeHead(200, { 'Content-Length': b.length, 'Docker-Content-Digest': m[2]! }).end(req.method === 'GET' ? b : undefined);
      } else if ((m = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(url.pathname)) && req.method === 'POST') {
        const id = randomBytes(8).toString('hex');
        uploads.set(id, []);
        res.writeHead(202, { Location: `/v2/${m[1]}/blobs/uploads/${id}`, 'Docker-Upload-UUID': id, Range: '0-0' }).end();
      } else if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([0-9a-f]+)$/.exec(url.pathname)) && (req.method === 'PATCH' || req.method === 'PUT')) {
        const chunks = uploads.get(m[2]!) ?? [];
        chunks.push(body);
        uploads.set(m[2]!, chunks);
        const size = chunks.reduce((n, c) => n + c.length, 0);
        if (req.method === 'PATCH') {
          res.writeHead(202, { Location: url.pathname, Range: `0-${Math.max(0, size - 1)}`, 'Docker-Upload-UUID': m[2]! }).end();
        } else {
          const digest = url.searchParams.get('digest')!;
          blobs.set(digest, Buffer.concat(chunks));
          uploads.delete(m[2]!);
          res.writeHead(201, { Location: `/v2/${m[1]}/blobs/${digest}`, 'Docker-Content-Digest': digest }).end();
        }
      } else if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname)) && req.method === 'PUT') {
        const digest = 'sha256:' + createHash('sha256').update(body).digest('hex');
        manifests.set(`${m[1]}:${m[2]}`, body);
        manifests.set(`${m[1]}@${digest}`, body);
        res.writeHead(201, { Location: `/v2/${m[1]}/manifests/${digest}`, 'Docker-Content-Digest': digest }).end();
      } else if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname)) && (req.method === 'HEAD' || req.method === 'GET')) {
        const b = manifests.get(m[2]!.startsWith('sha256:') ? `${m[1]}@${m[2]}` : `${m[1]}:${m[2]}`);
        if (!b) res.writeHead(404).end();
        else res.writeHead(200, { 'Content-Type': JSON.parse(b.toString()).mediaType, 'Content-Length': b.length }).end(req.method === 'GET' ? b : undefined);
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    blobs,
    manifests,
    get unauthorized() {
      return st.unauthorized;
    },
    get badCredentials() {
      return st.badCredentials;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function inspect(tag: string): Promise<Obj[] | null> {
  const r = await dockerCli(['image', 'inspect', tag]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Obj[]) : null;
}

describe('outputs through FileSend and the session Auth service', () => {
  const baseLayers = async () => (await fetchManifest(BASE())).layers.length;

  it('--oci-dir: writes a valid OCI layout with the new layer, and merges a second export', async () => {
    const dest = join(work, 'layout');
    const nonce = randomBytes(4).toString('hex');
    const plan = await planOutputs([{ kind: 'oci-dir', dest, name: 'copa-e2e:one' }]);
    const res = await solvePlan(nonce, plan);
    const [out] = await plan.wait();
    expect(out!.kind).toBe('oci-dir');
    const layout = out!.kind === 'oci-dir' ? out!.layout : undefined!;
    expect(layout.merged).toBe(false);
    expect(readJson(join(dest, 'oci-layout'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = readJson<OciIndex>(join(dest, 'index.json'));
    expect(index.manifests).toHaveLength(1);
    const desc = index.manifests[0]!;
    expect(desc.digest).toBe(res.ExporterResponse['containerimage.digest']);
    expect(desc.annotations?.['org.opencontainers.image.ref.name']).toBe('one');
    expect(layout.exporterMetadata['containerimage.digest']).toBe(desc.digest);
    const blob = (d: string) => readFileSync(join(dest, 'blobs', ...d.split(':')));
    const manifest = JSON.parse(blob(desc.digest).toString()) as Obj;
    expect(manifest.layers).toHaveLength((await baseLayers()) + 1);
    const top = layerFiles(blob(manifest.layers.at(-1).digest));
    expect(top.get('hi')?.toString()).toBe(`hi-${nonce}\n`);
    expect(readdirSync(work).filter((n) => n.includes('copa-tmp'))).toEqual([]);

    // A second image into the same layout: merged, both names present, shared blobs once.
    const nonce2 = randomBytes(4).toString('hex');
    const plan2 = await planOutputs([{ kind: 'oci-dir', dest, name: 'copa-e2e:two' }]);
    await solvePlan(nonce2, plan2);
    const [out2] = await plan2.wait();
    expect(out2!.kind === 'oci-dir' && out2!.layout.merged).toBe(true);
    expect(out2!.kind === 'oci-dir' && out2!.layout.newBlobs).toBe(3); // new layer, config, manifest
    const merged = readJson<OciIndex>(join(dest, 'index.json'));
    expect(merged.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])).toEqual(['one', 'two']);
    expect(readdirSync(work).filter((n) => n.includes('copa-tmp'))).toEqual([]);
  });

  it('docker load: the bed engine uses the containerd store, so auto picks the oci tarball; the tag appears', async () => {
    expect(await engineUsesContainerdStore(engine)).toBe(true);
    const nonce = randomBytes(4).toString('hex');
    const tag = `copa-outputs-e2e:load-${nonce}`;
    const plan = await planOutputs([{ kind: 'docker', name: tag, endpoint: engine }]);
    expect(plan.exporters[0]!.Type).toBe('oci');
    await solvePlan(nonce, plan);
    loadedTags.push(tag);
    const [out] = await plan.wait();
    expect(out!.kind === 'docker' && out!.load.images.join(' ')).toContain(tag);
    const img = await inspect(tag);
    expect(img?.[0]?.RepoTags).toContain(tag);
    const run = await dockerCli(['run', '--rm', '--network', 'none', tag, 'cat', '/hi']);
    expect(run.stdout).toBe(`hi-${nonce}\n`);
  });

  it('docker load of the docker exporter tarball works too', async () => {
    const nonce = randomBytes(4).toString('hex');
    const tag = `copa-outputs-e2e:docker-${nonce}`;
    const plan = await planOutputs([{ kind: 'docker', name: tag, endpoint: engine, format: 'docker' }]);
    expect(plan.exporters[0]!.Type).toBe('docker');
    await solvePlan(nonce, plan);
    loadedTags.push(tag);
    const [out] = await plan.wait();
    expect(out!.kind === 'docker' && out!.load.images.join(' ')).toContain(tag);
    expect((await inspect(tag))?.[0]?.RepoTags).toContain(tag);
  });

  it('a build whose export fails mid-stream leaves no half-loaded tag in the engine', async () => {
    const nonce = randomBytes(4).toString('hex');
    const tag = `copa-outputs-e2e:aborted-${nonce}`;
    const load = createDockerLoadTarget(engine);
    // Pass 1 MiB through to the engine, then fail like a broken pipe would.
    const failing: FileSendTarget = {
      async open(md) {
        const inner = (await load.open(md))!;
        let passed = 0;
        return new Writable({
          write(chunk: Buffer, _e, cb) {
            if (passed > 1024 * 1024) {
              inner.destroy(new Error('simulated failure mid-export'));
              cb(new Error('simulated failure mid-export'));
              return;
            }
            passed += chunk.length;
            if (inner.write(chunk)) cb();
            else inner.once('drain', () => cb());
          },
          final(cb) {
            inner.end(cb);
          },
        });
      },
    };
    const err = (await solve(nonce, { Exporters: [{ Type: 'oci', Attrs: { name: tag } }] }, new Map([[0, failing]])).catch((e: unknown) => e)) as GrpcError;
    expect(err).toBeInstanceOf(GrpcError);
    expect(err.message).toContain('simulated failure mid-export');
    await expect(load.result).rejects.toThrow();
    expect(load.opened).toBe(true);
    expect(warnings.splice(0)).toEqual(['output 0: simulated failure mid-export']);
    expect(await inspect(tag)).toBeNull();
  });

  it('--push: pushes to the bed registry (plain HTTP on 127.0.0.1: registry.insecure)', async () => {
    const nonce = randomBytes(4).toString('hex');
    const ref = registryRef(`copa-outputs-e2e:push-${nonce}`);
    const plan = await planOutputs([{ kind: 'push', name: ref }]);
    expect(plan.exporters[0]!.Attrs).toMatchObject({ push: 'true', 'registry.insecure': 'true' });
    lookups.length = 0;
    const res = await solvePlan(nonce, plan);
    const manifest = await fetchManifest(ref);
    expect(manifest.layers).toHaveLength((await baseLayers()) + 1);
    expect(res.ExporterResponse['containerimage.digest']).toMatch(/^sha256:/);
    const top = layerFiles(await fetchBlob(ref, manifest.layers.at(-1)!.digest));
    expect(top.get('hi')?.toString()).toBe(`hi-${nonce}\n`);
    // The bed registry needs no auth: no challenge, so the daemon never asked.
    expect(warnings).toEqual([]);
  });

  it('--push to a registry that demands basic auth: the daemon gets the credentials from our Auth service', async () => {
    const reg = await authRegistry('copa-user', 'copa-pass');
    try {
      const dir = join(work, 'auth-config');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: Buffer.from('copa-user:copa-pass').toString('base64') } } }));
      const nonce = randomBytes(4).toString('hex');
      const ref = `${reg.host}/copa/auth-e2e:push-${nonce}`;
      const plan = await planOutputs([{ kind: 'push', name: ref }]);
      lookups.length = 0;
      const res = await solve(nonce, plan.solveFields(), plan.targets, new DockerCredentials({ configDir: dir, env: {} }));
      expect(res.ExporterResponse['containerimage.digest']).toMatch(/^sha256:/);
      expect(lookups).toContain(reg.host);
      expect(reg.unauthorized).toBeGreaterThan(0); // challenged first
      expect(reg.badCredentials).toBe(0);
      expect(reg.manifests.get(`copa/auth-e2e:push-${nonce}`)).toBeDefined();
      const manifest = JSON.parse(reg.manifests.get(`copa/auth-e2e:push-${nonce}`)!.toString()) as Obj;
      expect(manifest.layers).toHaveLength((await baseLayers()) + 1);
      expect(reg.blobs.has(manifest.layers.at(-1).digest)).toBe(true);
    } finally {
      await reg.close();
    }
  });

  it('several outputs in one Solve: push + OCI layout', async () => {
    const nonce = randomBytes(4).toString('hex');
    const ref = registryRef(`copa-outputs-e2e:multi-${nonce}`);
    const dest = join(work, `multi-${nonce}`);
    const requests: OutputRequest[] = [
      { kind: 'push', name: ref },
      { kind: 'oci-dir', dest, name: ref },
    ];
    const plan = await planOutputs(requests, { llbCaps: [CAP_MULTIPLE_EXPORTERS] });
    await solvePlan(nonce, plan);
    const results = await plan.wait();
    expect(results.map((r) => r.kind)).toEqual(['push', 'oci-dir']);
    const pushed = await fetchManifest(ref);
    const index = readJson<OciIndex>(join(dest, 'index.json'));
    const local = JSON.parse(readFileSync(join(dest, 'blobs', ...index.manifests[0]!.digest.split(':'))).toString()) as Obj;
    expect(local.layers.at(-1).digest).toBe(pushed.layers.at(-1)!.digest);
  });
});
