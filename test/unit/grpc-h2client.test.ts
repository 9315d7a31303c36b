import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import {
  FrameParser,
  GrpcChannel,
  GrpcCode,
  GrpcError,
  decodeGrpcMessage,
  encodeTimeout,
  frameMessage,
  parseAddress,
  rawCodec,
  type MethodDef,
} from '../../src/llb/grpc/h2client.js';
import { encodeStatus } from '../../src/llb/grpc/status.js';
import { createTestServer, duplexPair, type TestHandler, type TestServer } from '../../src/llb/grpc/test-server.js';

const raw = (p: string): MethodDef<Uint8Array, Uint8Array> => ({ path: p, requestCodec: rawCodec, responseCodec: rawCodec });
const b = (s: string): Buffer => Buffer.from(s, 'utf8');
const s = (u: Uint8Array): string => Buffer.from(u).toString('utf8');

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(handlers: Record<string, TestHandler>, opts: Parameters<typeof GrpcChannel.fromDuplex>[1] = {}): { server: TestServer; channel: GrpcChannel } {
  const server = createTestServer(handlers);
  const [client, srv] = duplexPair();
  server.attach(srv);
  const channel = GrpcChannel.fromDuplex(client, opts);
  cleanups.push(() => server.close(), () => channel.destroy());
  return { server, channel };
}

const echo: TestHandler = async (call) => {
  const msgs = await call.readAll();
  for (const m of msgs) await call.send(Buffer.concat([b('echo:'), m]));
  call.end();
};

describe('framing', () => {
  it('frames with a zero flag and a big-endian length', () => {
    const f = frameMessage(b('abc'));
    expect([...f]).toEqual([0, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
  });

  it('parses messages split at every byte boundary and several per chunk', () => {
    const all = Buffer.concat([frameMessage(b('hello')), frameMessage(new Uint8Array()), frameMessage(b('x'.repeat(300)))]);
    for (let cut = 0; cut <= all.length; cut++) {
      const p = new FrameParser();
      const out = [...p.push(all.subarray(0, cut)), ...p.push(all.subarray(cut))];
      expect(out.map(s)).toEqual(['hello', '', 'x'.repeat(300)]);
      expect(p.pending).toBe(0);
    }
    const p = new FrameParser();
    const out: Buffer[] = [];
    for (const byte of all) out.push(...p.push(Buffer.from([byte])));
    expect(out.map(s)).toEqual(['hello', '', 'x'.repeat(300)]);
  });

  it('rejects compressed and oversized frames', () => {
    expect(() => new FrameParser().push(Buffer.from([1, 0, 0, 0, 1, 0]))).toThrow(/compressed/);
    const big = Buffer.alloc(5);
    big.writeUInt32BE(17 * 1024 * 1024, 1);
    try {
      new FrameParser().push(big);
      expect.unreachable();
    } catch (e) {
      expect((e as GrpcError).code).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    }
  });

  it('percent-decodes grpc-message and encodes grpc-timeout', () => {
    expect(decodeGrpcMessage('a%20b%25c')).toBe('a b%c');
    expect(decodeGrpcMessage(encodeURIComponent('exit code: 100 ✓ "x"'))).toBe('exit code: 100 ✓ "x"');
    expect(decodeGrpcMessage('100%')).toBe('100%');
    expect(encodeTimeout(15000)).toBe('15000m');
    expect(encodeTimeout(2e8)).toBe('200000S');
  });

  it('parses addresses', () => {
    expect(parseAddress('unix:///run/buildkit/buildkitd.sock')).toEqual({ kind: 'unix', path: '/run/buildkit/buildkitd.sock' });
    expect(parseAddress('unix:/tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(parseAddress('/tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(parseAddress('tcp://127.0.0.1:1234')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 1234 });
    expect(parseAddress('localhost:1234')).toEqual({ kind: 'tcp', host: 'localhost', port: 1234 });
    expect(parseAddress('tcp://[::1]:99')).toEqual({ kind: 'tcp', host: '::1', port: 99 });
    expect(() => parseAddress('docker-container://bk')).toThrow(/unsupported/);
  });
});

describe('GrpcChannel over a Duplex', () => {
  it('makes unary calls and sends standard headers and metadata (repeated values as separate fields)', async () => {
    const { server, channel } = setup({ '/t.S/Echo': echo }, { metadata: { 'x-default': 'd' } });
    const res = await channel.unary(raw('/t.S/Echo'), b('hi'), {
      metadata: { 'x-one': 'v', 'x-multi': ['a', 'b,c'], 'x-data-bin': Buffer.from([0, 1, 2]) },
      timeoutMs: 5000,
    });
    expect(s(res)).toBe('echo:hi');
    const h = server.calls[0]!.headers;
    expect(h['content-type']).toBe('application/grpc');
    expect(h.te).toBe('trailers');
    expect(h[':authority']).toBe('localhost');
    expect(h['x-one']).toBe('v');
    expect(h['x-default']).toBe('d');
    expect(h['grpc-timeout']).toMatch(/^\d+m$/);
    expect(Buffer.from(String(h['x-data-bin']), 'base64')).toEqual(Buffer.from([0, 1, 2]));
    const rawHeaders = server.calls[0]!.rawHeaders;
    const multi: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i] === 'x-multi') multi.push(rawHeaders[i + 1]!);
    expect(multi).toEqual(['a', 'b,c']);
  });

  it('runs concurrent calls on one connection', async () => {
    const { channel } = setup({ '/t.S/Echo': echo });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => channel.unary(raw('/t.S/Echo'), b(String(i)))));
    expect(results.map(s)).toEqual(Array.from({ length: 50 }, (_, i) => `echo:${i}`));
  });

  it('transfers messages larger than 64 KiB both ways (up to the 16 MiB limit)', async () => {
    const { channel } = setup({
      '/t.S/Big': async (call) => {
        const [m] = await call.readAll();
        const out = Buffer.alloc(m!.length * 2);
        m!.copy(out, 0);
        m!.copy(out, m!.length);
        await call.send(out);
        call.end();
      },
    });
    const req = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < req.length; i++) req[i] = (i * 31) & 0xff;
    const res = await channel.unary(raw('/t.S/Big'), req);
    expect(res.length).toBe(req.length * 2);
    expect(Buffer.from(res.subarray(req.length)).equals(req)).toBe(true);
    const small = await channel.unary(raw('/t.S/Big'), Buffer.alloc(70 * 1024, 1));
    expect(small.length).toBe(140 * 1024);
  });

  it('refuses to send messages over the limit', async () => {
    const { channel } = setup({ '/t.S/Echo': echo });
    await expect(channel.unary(raw('/t.S/Echo'), Buffer.alloc(16 * 1024 * 1024 + 1))).rejects.toMatchObject({ code: GrpcCode.RESOURCE_EXHAUSTED });
    // The channel is still usable.
    expect(s(await channel.unary(raw('/t.S/Echo'), b('ok')))).toBe('echo:ok');
  });

  it('rejects received messages over the limit', async () => {
    const { channel } = setup(
      {
        '/t.S/Huge': async (call) => {
          await call.readAll();
          await call.send(Buffer.alloc(2 * 1024 * 1024));
          call.end();
        },
      },
      { maxMessageSize: 1024 * 1024 },
    );
    await expect(channel.unary(raw('/t.S/Huge'), b(''))).rejects.toMatchObject({ code: GrpcCode.RESOURCE_EXHAUSTED });
  });

  it('reads trailers-only errors with status details', async () => {
    const details = encodeStatus({
      code: 2,
      message: 'ignored',
      details: [
        { typeUrl: 'github.com/moby/buildkit/errdefs.Vertex+json', value: b('{"digest":"sha256:abc"}') },
        { typeUrl: 'github.com/moby/buildkit/stack.Stack+json', value: b('{"frames":[]}') },
      ],
    });
    const { channel } = setup({
      '/t.S/Fail': (call) => call.end({ code: GrpcCode.NOT_FOUND, message: 'open /etc/x: no such file or directory ✗', details }),
    });
    const err = (await channel.unary(raw('/t.S/Fail'), b('')).catch((e: unknown) => e)) as GrpcError;
    expect(err).toBeInstanceOf(GrpcError);
    expect(err.code).toBe(GrpcCode.NOT_FOUND);
    expect(err.grpcMessage).toBe('open /etc/x: no such file or directory ✗');
    expect(err.details).toEqual([{ kind: 'vertex', digest: 'sha256:abc' }, { kind: 'stack' }]);
    expect(err.message).toContain('sha256:abc');
    expect(err.method).toBe('/t.S/Fail');
  });

  it('reads errors in trailers after messages', async () => {
    const { channel } = setup({
      '/t.S/Half': async (call) => {
        await call.readAll();
        await call.send(b('partial'));
        call.end({ code: GrpcCode.INTERNAL, message: 'boom' });
      },
    });
    await expect(channel.unary(raw('/t.S/Half'), b(''))).rejects.toMatchObject({ code: GrpcCode.INTERNAL, grpcMessage: 'boom' });
  });

  it('reports unknown methods and calls with no response message', async () => {
    const { channel } = setup({
      '/t.S/Empty': async (call) => {
        await call.readAll();
        call.sendHeaders();
        call.end();
      },
    });
    await expect(channel.unary(raw('/t.S/Nope'), b(''))).rejects.toMatchObject({ code: GrpcCode.UNIMPLEMENTED });
    await expect(channel.unary(raw('/t.S/Empty'), b(''))).rejects.toMatchObject({ code: GrpcCode.UNIMPLEMENTED });
  });

  it('fails a stream that ends in the middle of a message', async () => {
    const { channel } = setup({
      '/t.S/Trunc': async (call) => {
        await call.readAll();
        await call.sendRaw(Buffer.from([0, 0, 0, 0, 10, 1, 2]));
        call.end();
      },
    });
    await expect(channel.unary(raw('/t.S/Trunc'), b(''))).rejects.toMatchObject({ code: GrpcCode.INTERNAL });
  });

  it('maps non-200 HTTP responses without grpc-status', async () => {
    const { channel } = setup({
      '/t.S/Http': (call) => {
        call.stream.respond({ ':status': 503, 'content-type': 'text/plain' }, { endStream: true });
      },
    });
    await expect(channel.unary(raw('/t.S/Http'), b(''))).rejects.toMatchObject({ code: GrpcCode.UNAVAILABLE });
  });

  it('streams server messages', async () => {
    const { channel } = setup({
      '/t.S/Count': async (call) => {
        const [m] = await call.readAll();
        const n = Number(s(m!));
        for (let i = 0; i < n; i++) await call.send(b(String(i)));
        call.end();
      },
    });
    const got: string[] = [];
    for await (const m of channel.serverStream(raw('/t.S/Count'), b('100'))) got.push(s(m));
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });

  it('applies backpressure to slow stream consumers without losing messages', async () => {
    const { channel } = setup({
      '/t.S/Flood': async (call) => {
        await call.readAll();
        for (let i = 0; i < 200; i++) await call.send(Buffer.alloc(32 * 1024, i & 0xff));
        call.end();
      },
    });
    let i = 0;
    for await (const m of channel.serverStream(raw('/t.S/Flood'), b(''))) {
      expect(m.length).toBe(32 * 1024);
      expect(m[0]).toBe(i & 0xff);
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
      i++;
    }
    expect(i).toBe(200);
  });

  it('ends a server stream with an error status after its messages', async () => {
    const { channel } = setup({
      '/t.S/Err': async (call) => {
        await call.readAll();
        await call.send(b('one'));
        call.end({ code: GrpcCode.ABORTED, message: 'stop' });
      },
    });
    const got: string[] = [];
    const err = await (async () => {
      for await (const m of channel.serverStream(raw('/t.S/Err'), b(''))) got.push(s(m));
    })().catch((e: unknown) => e);
    expect(got).toEqual(['one']);
    expect(err).toMatchObject({ code: GrpcCode.ABORTED, grpcMessage: 'stop' });
  });

  it('runs bidi calls (ping-pong, then half-close)', async () => {
    const { channel } = setup({
      '/t.S/Bidi': async (call) => {
        for await (const m of call.messages) await call.send(Buffer.concat([b('re:'), m]));
        call.end();
      },
    });
    const bidi = channel.bidi(raw('/t.S/Bidi'));
    const it = bidi[Symbol.asyncIterator]();
    for (const word of ['a', 'b', 'c']) {
      await bidi.write(b(word));
      const r = await it.next();
      expect(s(r.value!)).toBe(`re:${word}`);
    }
    bidi.end();
    expect((await it.next()).done).toBe(true);
    await expect(bidi.status).resolves.toBeUndefined();
  });

  it('honours deadlines', async () => {
    const { channel } = setup({ '/t.S/Hang': () => undefined });
    const t0 = Date.now();
    await expect(channel.unary(raw('/t.S/Hang'), b(''), { timeoutMs: 150 })).rejects.toMatchObject({ code: GrpcCode.DEADLINE_EXCEEDED });
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(channel.unary(raw('/t.S/Hang'), b(''), { deadline: Date.now() - 1 })).rejects.toMatchObject({ code: GrpcCode.DEADLINE_EXCEEDED });
  });

  it('honours AbortSignal', async () => {
    const { channel } = setup({ '/t.S/Hang': () => undefined });
    const ac = new AbortController();
    const p = channel.unary(raw('/t.S/Hang'), b(''), { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user pressed ctrl-c')), 50);
    await expect(p).rejects.toMatchObject({ code: GrpcCode.CANCELLED, message: expect.stringContaining('ctrl-c') });
    await expect(channel.unary(raw('/t.S/Hang'), b(''), { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: GrpcCode.CANCELLED });
  });

  it('cancels a server stream when the consumer breaks out', async () => {
    let serverSawClose = false;
    const { channel } = setup({
      '/t.S/Endless': async (call) => {
        call.stream.on('close', () => (serverSawClose = true));
        for (let i = 0; i < 10000 && !call.stream.closed; i++) await call.send(b(String(i)));
      },
      '/t.S/Echo': echo,
    });
    let n = 0;
    for await (const m of channel.serverStream(raw('/t.S/Endless'), b(''))) {
      void m;
      if (++n === 3) break;
    }
    for (let i = 0; i < 500 && !serverSawClose; i++) await new Promise((r) => setTimeout(r, 20));
    expect(serverSawClose).toBe(true);
    expect(s(await channel.unary(raw('/t.S/Echo'), b('still')))).toBe('echo:still');
  });

  it('rejects pending and later calls when the peer closes the connection', async () => {
    const server = createTestServer({ '/t.S/Hang': () => undefined });
    const [client, srv] = duplexPair();
    server.attach(srv);
    let closedWith: Error | undefined | null = null;
    const channel = GrpcChannel.fromDuplex(client, { onClose: (e) => (closedWith = e) });
    cleanups.push(() => server.close());
    const pending = channel.unary(raw('/t.S/Hang'), b(''));
    const stream = channel.serverStream(raw('/t.S/Hang'), b(''));
    await new Promise((r) => setTimeout(r, 50));
    // The peer goes away: its end of the pipe ends (like stdin reaching EOF).
    srv.end();
    srv.destroy();
    const err = (await pending.catch((e: unknown) => e)) as GrpcError;
    expect(err).toBeInstanceOf(GrpcError);
    expect(err.code).toBe(GrpcCode.UNAVAILABLE);
    expect(err.message).toMatch(/closed/);
    await expect((async () => { for await (const _ of stream) void _; })()).rejects.toMatchObject({ code: GrpcCode.UNAVAILABLE });
    await channel.whenClosed();
    expect(channel.closed).toBe(true);
    expect(closedWith).toBeInstanceOf(Error);
    await expect(channel.unary(raw('/t.S/Hang'), b(''))).rejects.toMatchObject({ code: GrpcCode.UNAVAILABLE });
  });

  it('closes gracefully after running calls', async () => {
    const { channel } = setup({
      '/t.S/Slow': async (call) => {
        await call.readAll();
        await new Promise((r) => setTimeout(r, 50));
        await call.send(b('late'));
        call.end();
      },
    });
    const p = channel.unary(raw('/t.S/Slow'), b(''));
    await new Promise((r) => setTimeout(r, 10));
    const closing = channel.close();
    expect(s(await p)).toBe('late');
    await closing;
    await expect(channel.unary(raw('/t.S/Slow'), b(''))).rejects.toMatchObject({ code: GrpcCode.UNAVAILABLE });
  });
});

describe('GrpcChannel.close', () => {
  it('cancels calls still running after the grace period', async () => {
    const { channel } = setup({ '/t.S/Hang': () => undefined });
    const p = channel.unary(raw('/t.S/Hang'), b('')).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    await channel.close({ graceMs: 100 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await p).toMatchObject({ code: GrpcCode.UNAVAILABLE });
  });
});

describe('GrpcChannel.connect', () => {
  it('connects over a unix socket', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'copa-grpc-'));
    const sock = path.join(dir, 's.sock');
    const server = createTestServer({ '/t.S/Echo': echo });
    await server.listen(sock);
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }), () => server.close());
    const channel = await GrpcChannel.connect(`unix://${sock}`);
    cleanups.push(() => channel.destroy());
    expect(s(await channel.unary(raw('/t.S/Echo'), b('unix')))).toBe('echo:unix');
    await channel.close();
  });

  it('fails clearly when nothing listens', async () => {
    await expect(GrpcChannel.connect('unix:///nonexistent/copa.sock')).rejects.toMatchObject({
      code: GrpcCode.UNAVAILABLE,
      message: expect.stringContaining('cannot connect to unix:///nonexistent/copa.sock'),
    });
  });
});

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!haveOpenssl())('GrpcChannel.connect with TLS', () => {
  it('verifies the server with ca/servername and presents a client certificate', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'copa-grpc-tls-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
    ossl('req', '-x509', ...ec, '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=copa test ca');
    fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:buildkitd.test\n');
    for (const who of ['server', 'client']) {
      ossl('req', ...ec, '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? 'buildkitd.test' : 'copa'}`);
      ossl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '2', ...(who === 'server' ? ['-extfile', 'ext.cnf'] : []));
    }
    const read = (f: string) => fs.readFileSync(path.join(dir, f));
    let clientCN: string | undefined;
    const sockets = new Set<tls.TLSSocket>();
    const grpcServer = createTestServer({ '/t.S/Echo': echo });
    const tlsServer = tls.createServer(
      { key: read('server.key'), cert: read('server.pem'), ca: read('ca.pem'), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] },
      (sock) => {
        sockets.add(sock);
        clientCN = String(sock.getPeerCertificate().subject?.CN);
        grpcServer.attach(sock);
      },
    );
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', () => r()));
    const port = (tlsServer.address() as { port: number }).port;
    tlsServer.on('connection', (sock) => sock.on('error', () => undefined));
    cleanups.push(
      () => new Promise<void>((r) => tlsServer.close(() => r())),
      () => grpcServer.close(),
      () => {
        for (const sk of sockets) sk.destroy();
      },
    );

    const ch = await GrpcChannel.connect(`tcp://127.0.0.1:${port}`, {
      tls: { ca: read('ca.pem'), cert: read('client.pem'), key: read('client.key'), servername: 'buildkitd.test' },
    });
    cleanups.push(() => ch.destroy());
    expect(s(await ch.unary(raw('/t.S/Echo'), b('tls')))).toBe('echo:tls');
    expect(clientCN).toBe('copa');
    expect(grpcServer.calls[0]!.headers[':scheme']).toBe('https');

    // Wrong server name or unknown CA: refused before any call.
    await expect(GrpcChannel.connect(`tcp://127.0.0.1:${port}`, { tls: { ca: read('ca.pem'), cert: read('client.pem'), key: read('client.key'), servername: 'other.test' } })).rejects.toMatchObject({ code: GrpcCode.UNAVAILABLE });
    await expect(GrpcChannel.connect(`tcp://127.0.0.1:${port}`, { tls: { cert: read('client.pem'), key: read('client.key'), servername: 'buildkitd.test' } })).rejects.toMatchObject({ code: GrpcCode.UNAVAILABLE });
  }, 30_000);
});
