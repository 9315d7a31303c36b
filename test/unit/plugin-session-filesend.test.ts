import { afterEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import {
  EXPORTER_ID_METADATA,
  decodeBytesMessage,
  encodeBytesMessage,
  fileSendService,
  type FileSendTarget,
} from '../../src/plugin/session/filesend.js';
import { lookupType } from '../../src/llb/proto/root.js';
import { SESSION_METHODS } from '../../src/llb/proto/session.js';
import { frameMessage } from '../../src/llb/grpc/h2client.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const socketOf = new WeakMap<grpc.Client, string>();

/** Serves the service on a temp unix socket; returns a raw-bytes client. */
async function serve(service: ReturnType<typeof fileSendService>): Promise<grpc.Client> {
  const dir = mkdtempSync(join(tmpdir(), 'copa-filesend-'));
  const server = new grpc.Server();
  server.addService(service.definition, service.implementation);
  const addr = `unix://${join(dir, 's.sock')}`;
  await new Promise<void>((res, rej) => server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  const client = new grpc.Client(addr, grpc.credentials.createInsecure());
  socketOf.set(client, join(dir, 's.sock'));
  cleanups.push(
    () => rmSync(dir, { recursive: true, force: true }),
    () => new Promise<void>((r) => server.tryShutdown(() => r())),
    () => client.close(),
  );
  return client;
}

interface CallResult {
  code: number;
  details: string;
  /** Client writes whose callbacks had fired when the status arrived. */
  acked: number;
}

/** What the daemon does: open DiffCopy with metadata, stream BytesMessages, half-close, wait for the status. */
function daemonSend(
  client: grpc.Client,
  md: Record<string, string>,
  chunks: Buffer[],
  opts: { onAck?: (n: number) => void } = {},
): Promise<CallResult> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  const call = client.makeBidiStreamRequest(
    SESSION_METHODS.fileSendDiffCopy,
    (b: Buffer) => b,
    (b: Buffer) => b,
    meta,
  );
  let acked = 0;
  return new Promise((resolve) => {
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details, acked }));
    (async () => {
      for (const c of chunks) {
        await new Promise<void>((r) => {
          const flushed = call.write(encodeBytesMessage(c), () => {
            acked++;
            opts.onAck?.(acked);
          });
          if (flushed) r();
          else call.once('drain', () => r());
        });
      }
      call.end();
    })().catch(() => undefined);
  });
}

/** A target collecting everything in memory. */
function memoryTarget(): FileSendTarget & { data: () => Buffer; md?: Record<string, string>; finished: boolean } {
  const parts: Buffer[] = [];
  const t = {
    finished: false,
    md: undefined as Record<string, string> | undefined,
    data: () => Buffer.concat(parts),
    async open(md: Record<string, string>) {
      t.md = md;
      const w = new Writable({
        write(chunk: Buffer, _e, cb) {
          parts.push(Buffer.from(chunk));
          cb();
        },
      });
      w.on('finish', () => (t.finished = true));
      return w;
    },
  };
  return t;
}

function payload(n: number, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) out.push(Buffer.alloc(size, i % 251));
  return out;
}

describe('BytesMessage codec', () => {
  it('matches the schema encoding both ways', () => {
    const T = lookupType('moby.filesync.v1.BytesMessage');
    for (const size of [0, 1, 127, 128, 300, 70_000, 3 * 1024 * 1024]) {
      const data = Buffer.alloc(size, 7);
      const ours = encodeBytesMessage(data);
      // (protobufjs writes an empty bytes field; Go and we omit it)
      if (size > 0) expect(Buffer.from(T.encode({ data }).finish()).equals(ours)).toBe(true);
      expect(Buffer.from((T.decode(ours) as unknown as { data: Uint8Array }).data).equals(data)).toBe(true);
      expect(decodeBytesMessage(ours).equals(data)).toBe(true);
    }
    // unknown fields are skipped
    const withExtra = Buffer.concat([Buffer.from([0x10, 0x05, 0x1d, 1, 2, 3, 4]), encodeBytesMessage(Buffer.from('hi'))]);
    expect(decodeBytesMessage(withExtra).toString()).toBe('hi');
    expect(() => decodeBytesMessage(Buffer.from([0x0a, 0x05, 1]))).toThrow(/truncated/);
  });
});

describe('FileSend/DiffCopy (file targets)', () => {
  it('routes by buildkit-attachable-exporter-id (missing = 0) and passes exporter-md-* metadata', async () => {
    const t0 = memoryTarget();
    const t2 = memoryTarget();
    const client = await serve(fileSendService(new Map([[0, t0], [2, t2]])));
    const r2 = await daemonSend(client, { [EXPORTER_ID_METADATA]: '2', 'exporter-md-containerimage.digest': 'sha256:abc', 'exporter-md-image.name': 'a:b' }, [Buffer.from('two-'), Buffer.from('chunks')]);
    expect(r2.code).toBe(grpc.status.OK);
    expect(t2.data().toString()).toBe('two-chunks');
    expect(t2.md).toEqual({ 'containerimage.digest': 'sha256:abc', 'image.name': 'a:b' });
    expect(t2.finished).toBe(true);
    expect(t0.md).toBeUndefined();

    const r0 = await daemonSend(client, {}, [Buffer.from('zero')]);
    expect(r0.code).toBe(grpc.status.OK);
    expect(t0.data().toString()).toBe('zero');
    expect(t0.md).toEqual({});
  });

  it('accepts a plain record of targets and answers NOT_FOUND for an unknown exporter', async () => {
    const warnings: string[] = [];
    const client = await serve(fileSendService({ 1: memoryTarget() }, { warn: (m) => warnings.push(m) }));
    const r = await daemonSend(client, { [EXPORTER_ID_METADATA]: '5' }, [Buffer.from('x')]);
    expect(r.code).toBe(grpc.status.NOT_FOUND);
    expect(r.details).toBe('exporter 5 not found');
    expect(warnings[0]).toMatch(/exporter 5/);
  });

  it('pauses the call while the writable is full and streams everything once it drains', async () => {
    let gate: (() => void) | undefined;
    const gated = new Promise<void>((r) => (gate = r));
    const hash = createHash('sha256');
    let maxBuffered = 0;
    let w!: Writable;
    const target: FileSendTarget = {
      async open() {
        w = new Writable({
          highWaterMark: 256 * 1024,
          write(chunk: Buffer, _e, cb) {
            maxBuffered = Math.max(maxBuffered, w.writableLength);
            hash.update(chunk);
            gated.then(() => setImmediate(cb));
          },
        });
        return w;
      },
    };
    const client = await serve(fileSendService({ 0: target }));
    const chunks = payload(100, 256 * 1024); // 25 MiB
    const expected = createHash('sha256');
    for (const c of chunks) expected.update(c);
    let acked = 0;
    const done = daemonSend(client, {}, chunks, { onAck: (n) => (acked = n) });
    await new Promise((r) => setTimeout(r, 500));
    // With the target blocked, the daemon side cannot push the whole tarball.
    expect(acked).toBeLessThan(chunks.length / 2);
    expect(w.writableLength).toBeLessThanOrEqual(2 * 256 * 1024);
    gate!();
    const res = await done;
    expect(res.code).toBe(grpc.status.OK);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
    expect(maxBuffered).toBeLessThanOrEqual(2 * 256 * 1024);
  });

  it('ends the call only after the writable finished', async () => {
    const events: string[] = [];
    const target: FileSendTarget = {
      async open() {
        return new Writable({
          write(_c, _e, cb) {
            cb();
          },
          final(cb) {
            setTimeout(() => {
              events.push('target finished');
              cb();
            }, 150);
          },
        });
      },
    };
    const client = await serve(fileSendService({ 0: target }));
    const r = await daemonSend(client, {}, [Buffer.from('x')]);
    events.push('status');
    expect(r.code).toBe(grpc.status.OK);
    expect(events).toEqual(['target finished', 'status']);
  });

  it('reports write and finish errors as gRPC errors (with the error grpcCode when set)', async () => {
    const failing = (where: 'write' | 'final', code?: number): FileSendTarget => ({
      async open() {
        const fail = (cb: (e: Error) => void) => {
          const e = Object.assign(new Error(`docker load failed: no space left on device (${where})`), code === undefined ? {} : { grpcCode: code });
          cb(e);
        };
        return new Writable({
          write(_c, _e, cb) {
            if (where === 'write') fail(cb);
            else cb();
          },
          final(cb) {
            fail(cb);
          },
        });
      },
    });
    const warnings: string[] = [];
    const client = await serve(fileSendService({ 0: failing('write'), 1: failing('final', grpc.status.RESOURCE_EXHAUSTED) }, { warn: (m) => warnings.push(m) }));
    const r0 = await daemonSend(client, {}, payload(20, 100_000));
    expect(r0).toMatchObject({ code: grpc.status.UNKNOWN, details: 'docker load failed: no space left on device (write)' });
    const r1 = await daemonSend(client, { [EXPORTER_ID_METADATA]: '1' }, [Buffer.from('x')]);
    expect(r1).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'docker load failed: no space left on device (final)' });
    expect(warnings).toHaveLength(2);
  });

  it('answers ALREADY_EXISTS for a null target and the open error when open fails', async () => {
    const client = await serve(
      fileSendService({
        0: { open: async () => null },
        1: {
          open: async () => {
            throw new Error('cannot write the OCI layout to "/x": it exists and is not a directory');
          },
        },
      }),
    );
    expect(await daemonSend(client, {}, [Buffer.from('x')])).toMatchObject({ code: grpc.status.ALREADY_EXISTS, details: 'target already exists' });
    expect(await daemonSend(client, { [EXPORTER_ID_METADATA]: '1' }, [Buffer.from('x')])).toMatchObject({
      code: grpc.status.UNKNOWN,
      details: 'cannot write the OCI layout to "/x": it exists and is not a directory',
    });
  });

  it('destroys the writable when the daemon cancels mid-stream', async () => {
    let destroyedWith: Error | null | undefined;
    let ended = false;
    let got = 0;
    const target: FileSendTarget = {
      async open() {
        return new Writable({
          write(_c, _e, cb) {
            got++;
            cb();
          },
          final(cb) {
            ended = true;
            cb();
          },
          destroy(err, cb) {
            destroyedWith = err;
            cb(err);
          },
        });
      },
    };
    const client = await serve(fileSendService({ 0: target }));
    await daemonReset(socketOf.get(client)!, payload(5, 10_000), () => got >= 5);
    expect(got).toBe(5);
    for (let i = 0; i < 500 && destroyedWith === undefined; i++) await new Promise((res) => setTimeout(res, 10));
    expect(destroyedWith?.message).toMatch(/cancelled the export/);
    expect(ended).toBe(false);
  });
});

/**
 * What BuildKit (Go gRPC) does when it gives up mid-export: a bare RST_STREAM, no END_STREAM.
 * grpc-js' own cancel() half-closes before it resets, which reads as a complete upload, so this
 * speaks HTTP/2 directly.
 */
async function daemonReset(socket: string, chunks: Buffer[], resetWhen: () => boolean): Promise<void> {
  const session = http2.connect('http://localhost', { createConnection: () => netConnect(socket) });
  session.on('error', () => undefined);
  try {
    const req = session.request(
      { ':method': 'POST', ':path': SESSION_METHODS.fileSendDiffCopy, 'content-type': 'application/grpc', te: 'trailers' },
      { endStream: false },
    );
    req.on('error', () => undefined);
    for (const c of chunks) await new Promise<void>((r) => req.write(frameMessage(encodeBytesMessage(c)), () => r()));
    for (let k = 0; k < 1000 && !resetWhen(); k++) await new Promise((res) => setTimeout(res, 5));
    const closed = new Promise<void>((r) => req.once('close', () => r()));
    req.destroy(new Error('daemon gave up'));
    await closed;
  } finally {
    session.destroy();
  }
}
