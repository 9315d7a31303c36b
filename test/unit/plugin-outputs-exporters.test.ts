import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CAP_MULTIPLE_EXPORTERS, imageAttrs, needsInsecureRegistry, planOutputs, registryHostOf } from '../../src/plugin/outputs/exporters.js';
import type { DockerEndpoint } from '../../src/plugin/docker-config.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'copa-exporters-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
const ENGINE: DockerEndpoint = { context: 'default', host: 'unix:///nonexistent/docker.sock' };

describe('registry.insecure defaults', () => {
  it('is true only for loopback hosts with an explicit port', () => {
    for (const h of ['127.0.0.1:5000', 'localhost:5000', '127.1.2.3:443', '[::1]:5000', 'LOCALHOST:1']) expect(needsInsecureRegistry(h)).toBe(true);
    for (const h of ['localhost', '127.0.0.1', 'registry.local:5000', '10.0.0.1:5000', 'docker.io', 'ghcr.io', '127.0.0.256:5000', '[::2]:5000', 'localhost.evil.com:5000'])
      expect(needsInsecureRegistry(h)).toBe(false);
  });
  it('finds the registry host of a reference', () => {
    expect(registryHostOf('127.0.0.1:5000/debian:patched')).toBe('127.0.0.1:5000');
    expect(registryHostOf('debian:12')).toBe('docker.io');
    expect(registryHostOf('ghcr.io/org/img@sha256:' + 'a'.repeat(64))).toBe('ghcr.io');
  });
});

describe('planOutputs', () => {
  it('push: image exporter with push=true, registry.insecure only for local registries, image options', async () => {
    const plan = await planOutputs([{ kind: 'push', name: '127.0.0.1:5000/app:patched' }], { image: { compression: 'zstd', compressionLevel: 3, forceCompression: true, ociMediaTypes: true } });
    expect(plan.exporters).toEqual([
      {
        Type: 'image',
        Attrs: {
          name: '127.0.0.1:5000/app:patched',
          push: 'true',
          'registry.insecure': 'true',
          compression: 'zstd',
          'compression-level': '3',
          'force-compression': 'true',
          'oci-mediatypes': 'true',
        },
      },
    ]);
    expect(plan.targets.size).toBe(0);
    expect(plan.solveFields()).toEqual({ Exporters: plan.exporters, ExporterDeprecated: 'image', ExporterAttrsDeprecated: plan.exporters[0]!.Attrs });
    const remote = await planOutputs([{ kind: 'push', name: ['ghcr.io/o/app:1', 'ghcr.io/o/app:latest'] }]);
    expect(remote.exporters[0]!.Attrs).toEqual({ name: 'ghcr.io/o/app:1,ghcr.io/o/app:latest', push: 'true' });
    const forced = await planOutputs([{ kind: 'push', name: 'localhost:5000/a:b', insecure: false }]);
    expect(forced.exporters[0]!.Attrs['registry.insecure']).toBeUndefined();
    const mixed = await planOutputs([{ kind: 'push', name: ['localhost:5000/a:b', 'ghcr.io/a:b'] }]);
    expect(mixed.exporters[0]!.Attrs['registry.insecure']).toBeUndefined();
    expect(await planOutputs([{ kind: 'push', name: 'x:1' }], { image: { attrs: { 'annotation.foo': 'bar' } } }).then((p) => p.exporters[0]!.Attrs['annotation.foo'])).toBe('bar');
  });

  it('docker: oci exporter for a containerd-store engine, docker exporter otherwise, with a load target', async () => {
    const oci = await planOutputs([{ kind: 'docker', name: 'app:patched', endpoint: ENGINE }], { containerdStore: true });
    expect(oci.exporters).toEqual([{ Type: 'oci', Attrs: { name: 'app:patched' } }]);
    expect(oci.targets.get(0)).toBe(oci.outputs[0]!.target);
    expect(oci.outputs[0]!.describe).toBe('docker load (oci) of app:patched into unix:///nonexistent/docker.sock');
    const classic = await planOutputs([{ kind: 'docker', name: 'app:patched', endpoint: ENGINE }], { containerdStore: false, image: { compression: 'gzip' } });
    expect(classic.exporters).toEqual([{ Type: 'docker', Attrs: { name: 'app:patched', compression: 'gzip' } }]);
    const explicit = await planOutputs([{ kind: 'docker', name: 'app:patched', endpoint: ENGINE, format: 'docker' }], { containerdStore: true });
    expect(explicit.exporters[0]!.Type).toBe('docker');
  });

  it('docker with format auto asks the engine (GET /info)', async () => {
    const dir = tmp();
    const sock = join(dir, 'd.sock');
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ DriverStatus: [['driver-type', 'io.containerd.snapshotter.v1']] }));
    });
    await new Promise<void>((r) => server.listen(sock, r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const plan = await planOutputs([{ kind: 'docker', name: 'a:b', endpoint: { context: 'default', host: `unix://${sock}` } }]);
    expect(plan.exporters[0]!.Type).toBe('oci');
    await expect(planOutputs([{ kind: 'docker', name: 'a:b', endpoint: ENGINE }])).rejects.toThrow(/Docker engine/);
  });

  it('moby: the engine-internal exporter, no FileSend target', async () => {
    const plan = await planOutputs([{ kind: 'moby', name: 'app:patched' }]);
    expect(plan.exporters).toEqual([{ Type: 'moby', Attrs: { name: 'app:patched' } }]);
    expect(plan.targets.size).toBe(0);
    expect(await plan.wait()).toEqual([{ kind: 'moby', index: 0, name: 'app:patched' }]);
  });

  it('oci-dir: oci exporter with tar=true, destination checked before the build', async () => {
    const dir = tmp();
    const plan = await planOutputs([{ kind: 'oci-dir', dest: join(dir, 'layout'), name: 'app:patched' }]);
    expect(plan.exporters).toEqual([{ Type: 'oci', Attrs: { name: 'app:patched', tar: 'true' } }]);
    expect(plan.targets.get(0)).toBeDefined();
    const unnamed = await planOutputs([{ kind: 'oci-dir', dest: join(dir, 'layout') }]);
    expect(unnamed.exporters[0]!.Attrs).toEqual({ tar: 'true' });
    mkdirSync(join(dir, 'busy'));
    writeFileSync(join(dir, 'busy', 'x'), 'x');
    await expect(planOutputs([{ kind: 'oci-dir', dest: join(dir, 'busy') }])).rejects.toThrow(/not empty/);
    await expect(planOutputs([{ kind: 'oci-dir', dest: join(dir, 'a') }, { kind: 'oci-dir', dest: join(dir, 'a') }])).rejects.toThrow(/given twice/);
  });

  it('several outputs need exporter.multiple; targets are keyed by exporter index', async () => {
    const dir = tmp();
    const outs = [
      { kind: 'push' as const, name: '127.0.0.1:5000/a:b' },
      { kind: 'docker' as const, name: 'a:b', endpoint: ENGINE },
      { kind: 'oci-dir' as const, dest: join(dir, 'l') },
    ];
    await expect(planOutputs(outs, { llbCaps: ['exec.meta.base'], containerdStore: true })).rejects.toThrow(/cannot export to several outputs.*push 127\.0\.0\.1:5000\/a:b/);
    const plan = await planOutputs(outs, { llbCaps: [CAP_MULTIPLE_EXPORTERS], containerdStore: false });
    expect(plan.exporters.map((e) => e.Type)).toEqual(['image', 'docker', 'oci']);
    expect([...plan.targets.keys()]).toEqual([1, 2]);
    expect(plan.solveFields().ExporterDeprecated).toBe('image');
    // A single output never needs the cap.
    await planOutputs([outs[0]!], { llbCaps: [] });
  });

  it('wait() fails for an output the daemon never sent; cancel() aborts pending outputs', async () => {
    const dir = tmp();
    const plan = await planOutputs([{ kind: 'oci-dir', dest: join(dir, 'l') }, { kind: 'push', name: 'localhost:5000/x:y' }], { llbCaps: [CAP_MULTIPLE_EXPORTERS] });
    await expect(plan.wait()).rejects.toThrow(/finished the build without sending the output for OCI layout/);
    const plan2 = await planOutputs([{ kind: 'docker', name: 'a:b', endpoint: ENGINE, format: 'oci' }]);
    // The engine is not there: the target fails by itself, and failure() reports it.
    await expect(plan2.targets.get(0)!.open({})).rejects.toThrow(/cannot connect to the Docker engine/);
    await plan2.outputs[0]!.target!.result.catch(() => undefined);
    expect(plan2.failure()?.message).toMatch(/cannot connect to the Docker engine/);
    const plan3 = await planOutputs([{ kind: 'docker', name: 'a:b', endpoint: ENGINE, format: 'oci' }]);
    plan3.cancel(new Error('solve failed'));
    await expect(plan3.outputs[0]!.target!.result).rejects.toThrow('solve failed');
    await new Promise((r) => setImmediate(r));
    expect(plan3.failure()).toBeUndefined();
  });

  it('rejects bad input', async () => {
    await expect(planOutputs([])).rejects.toThrow(/no output/);
    await expect(planOutputs([{ kind: 'push', name: '' }])).rejects.toThrow(/needs an image name/);
    await expect(planOutputs([{ kind: 'push', name: 'app/Upper:tag' }])).rejects.toThrow(/invalid image name/);
    expect(imageAttrs(undefined)).toEqual({});
  });
});
