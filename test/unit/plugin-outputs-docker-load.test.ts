import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  DockerLoadError,
  DockerLoadStream,
  JsonStreamSplitter,
  createDockerLoadTarget,
  engineUsesContainerdStore,
  infoUsesContainerdStore,
  loadImageTarball,
  parseDockerLoadOutput,
} from '../../src/plugin/outputs/docker-load.js';
import type { DockerEndpoint } from '../../src/plugin/docker-config.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  complete: boolean;
  aborted: boolean;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fake Docker engine on a unix socket. */
async function fakeEngine(handler: Handler): Promise<{ endpoint: DockerEndpoint; seen: Seen[]; closed: Promise<void>[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'copa-fake-docker-'));
  const sock = join(dir, 'docker.sock');
  const seen: Seen[] = [];
  const closed: Promise<void>[] = [];
  const server = http.createServer((req, res) => {
    const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, bytes: 0, complete: false, aborted: false };
    seen.push(s);
    closed.push(
      new Promise((r) => {
        req.on('data', (d: Buffer) => (s.bytes += d.length));
        req.on('end', () => {
          s.complete = true;
          r();
        });
        req.on('aborted', () => {
          s.aborted = true;
          r();
        });
        req.on('close', () => r());
      }),
    );
    handler(req, res, s);
  });
  await new Promise<void>((r) => server.listen(sock, r));
  cleanups.push(
    () => new Promise<void>((r) => server.close(() => r())),
    () => server.closeAllConnections(),
    () => rmSync(dir, { recursive: true, force: true }),
  );
  return { endpoint: { context: 'default', host: `unix://${sock}` }, seen, closed };
}

function bodyThen(req: http.IncomingMessage, f: () => void): void {
  req.on('end', f);
  req.resume();
}

function tarLike(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 256;
  return b;
}

describe('docker load over the Engine API', () => {
  it('streams the tarball as a chunked POST /images/load?quiet=1 and reports the loaded names', async () => {
    const engine = await fakeEngine((req, res) =>
      bodyThen(req, () => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"stream":"Loaded image: localhost/copa:patched\\n"}\r\n');
        res.end('{"stream":"Loaded image ID: sha256:0123\\n"}\r\n');
      }),
    );
    const messages: string[] = [];
    const payload = tarLike(5 * 1024 * 1024 + 7);
    const parts: Buffer[] = [];
    for (let i = 0; i < payload.length; i += 64 * 1024) parts.push(payload.subarray(i, i + 64 * 1024));
    const res = await loadImageTarball(engine.endpoint, Readable.from(parts), { onMessage: (m) => messages.push(m) });
    expect(res).toEqual({
      images: ['localhost/copa:patched'],
      imageIds: ['sha256:0123'],
      messages: ['Loaded image: localhost/copa:patched', 'Loaded image ID: sha256:0123'],
    });
    expect(messages).toHaveLength(2);
    const s = engine.seen[0]!;
    expect(s).toMatchObject({ method: 'POST', url: '/images/load?quiet=1', bytes: payload.length, complete: true });
    expect(s.headers['content-type']).toBe('application/x-tar');
    expect(s.headers['transfer-encoding']).toBe('chunked');
  });

  it('turns an error line in a 200 answer into a DockerLoadError with the engine message', async () => {
    const engine = await fakeEngine((req, res) =>
      bodyThen(req, () => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}\r\n');
      }),
    );
    const err = await loadImageTarball(engine.endpoint, Readable.from([Buffer.from('x')])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerLoadError);
    expect((err as Error).message).toBe('docker load failed: unexpected EOF');
  });

  it('reports a refused request (non-2xx) with the engine message', async () => {
    const engine = await fakeEngine((req, res) =>
      bodyThen(req, () => {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end('{"message":"no space left on device"}');
      }),
    );
    await expect(loadImageTarball(engine.endpoint, Readable.from([Buffer.from('x')]))).rejects.toThrow(/refused: HTTP 500: no space left on device/);
  });

  it('reports the engine error, not a broken pipe, when the engine answers before the upload ended', async () => {
    const engine = await fakeEngine((req, res) => {
      // Fail after the first bytes, without reading the rest.
      req.once('data', () => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"errorDetail":{"message":"invalid tar header"},"error":"invalid tar header"}');
        setTimeout(() => req.socket.destroy(), 20);
      });
    });
    async function* slow() {
      for (let i = 0; i < 200; i++) {
        yield tarLike(256 * 1024);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    await expect(loadImageTarball(engine.endpoint, slow())).rejects.toThrow('docker load failed: invalid tar header');
  });

  it('aborts the upload when the source fails, so the engine never sees a complete body', async () => {
    const engine = await fakeEngine(() => {
      /* never answers */
    });
    async function* failing() {
      yield tarLike(100_000);
      await new Promise((r) => setTimeout(r, 50));
      throw new Error('the build failed');
    }
    await expect(loadImageTarball(engine.endpoint, failing())).rejects.toThrow('the build failed');
    await Promise.all(engine.closed);
    expect(engine.seen[0]!.complete).toBe(false);
    expect(engine.seen[0]!.bytes).toBeGreaterThan(0);
  });

  it('as a FileSend target: finish only after the engine answered; cancel destroys the request', async () => {
    let answer: (() => void) | undefined;
    const engine = await fakeEngine((req, res) =>
      bodyThen(req, () => {
        answer = () => {
          res.writeHead(200);
          res.end('{"stream":"Loaded image: a:b\\n"}');
        };
      }),
    );
    const t = createDockerLoadTarget(engine.endpoint, { format: 'oci' });
    expect(t.describe).toContain('docker load into unix://');
    const w = (await t.open({}))!;
    let finished = false;
    w.on('finish', () => (finished = true));
    w.end(tarLike(10_000));
    for (let i = 0; i < 1000 && !answer; i++) await new Promise((r) => setTimeout(r, 10));
    expect(answer).toBeDefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(finished).toBe(false); // body sent, engine has not answered yet
    answer!();
    expect(await t.result).toMatchObject({ images: ['a:b'] });
    expect(finished).toBe(true);

    const t2 = createDockerLoadTarget(engine.endpoint);
    const w2 = (await t2.open({}))!;
    w2.write(tarLike(50_000));
    await new Promise((r) => setTimeout(r, 50));
    t2.cancel(new Error('BuildKit cancelled the export'));
    await expect(t2.result).rejects.toThrow('BuildKit cancelled the export');
    await Promise.all(engine.closed);
    expect(engine.seen[1]!.complete).toBe(false);
  });

  it('fails clearly when the engine is not there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'copa-nodocker-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const endpoint = { context: 'default', host: `unix://${join(dir, 'none.sock')}` };
    await expect(DockerLoadStream.open(endpoint)).rejects.toThrow(/cannot connect to the Docker engine .*no such file/);
    const t = createDockerLoadTarget(endpoint);
    await expect(t.open({})).rejects.toThrow(/no such file/);
    await expect(t.result).rejects.toThrow(/no such file/);
  });

  it('detects the containerd image store from GET /info', async () => {
    let info: unknown = { Driver: 'overlayfs', DriverStatus: [['driver-type', 'io.containerd.snapshotter.v1']] };
    const engine = await fakeEngine((req, res) =>
      bodyThen(req, () => {
        expect(req.url).toBe('/info');
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(info));
      }),
    );
    expect(await engineUsesContainerdStore(engine.endpoint)).toBe(true);
    info = { Driver: 'overlay2', DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true']] };
    expect(await engineUsesContainerdStore(engine.endpoint)).toBe(false);
    expect(infoUsesContainerdStore({})).toBe(false);
  });
});

describe('load response parsing', () => {
  it('splits concatenated and newline-separated JSON, with braces inside strings', () => {
    const s = new JsonStreamSplitter();
    expect(s.push('{"stream":"a {b}\\n"}{"status":"x\\"}"')).toEqual(['{"stream":"a {b}\\n"}']);
    expect(s.push('}\r\n{"stream":')).toEqual(['{"status":"x\\"}"}']);
    expect(s.push('"c"}\n')).toEqual(['{"stream":"c"}']);
    expect(s.rest()).toBe('');
  });

  it('collects names and ids, and throws on errors', () => {
    expect(parseDockerLoadOutput('{"stream":"Loaded image: x:1\\nLoaded image: y:2\\n"}\n{"status":"Loading layer","id":"abc"}')).toEqual({
      images: ['x:1', 'y:2'],
      imageIds: [],
      messages: ['Loaded image: x:1', 'Loaded image: y:2', 'abc: Loading layer'],
    });
    expect(() => parseDockerLoadOutput('{"stream":"Loaded image: x\\n"}{"error":"boom"}')).toThrow('docker load failed: boom');
    expect(() => parseDockerLoadOutput('{"errorDetail":{"message":"detail wins"},"error":"short"}')).toThrow('docker load failed: detail wins');
  });
});
