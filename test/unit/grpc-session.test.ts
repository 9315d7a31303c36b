import { afterEach, describe, expect, it } from 'vitest';
import { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { GrpcChannel, GrpcCode, type MethodDef } from '../../src/llb/grpc/h2client.js';
import { protoCodec } from '../../src/llb/grpc/codec.js';
import { BuildKitSession, sessionMethod } from '../../src/llb/grpc/session.js';
import { createTestServer, duplexPair, type TestServerCall } from '../../src/llb/grpc/test-server.js';

type Obj = Record<string, any>;
const bytesCodec = protoCodec<Obj>('moby.buildkit.v1.BytesMessage');

/** What the daemon does with Control.Session: treat the stream as a connection and dial it. */
function daemonSide(call: TestServerCall): GrpcChannel {
  const it = call.messages[Symbol.asyncIterator]();
  const duplex = new Duplex({
    read() {
      it.next().then((r) => {
        if (r.done) this.push(null);
        else this.push(Buffer.from(bytesCodec.decode(r.value).data));
      });
    },
    write(chunk: Buffer, _e, cb) {
      call.send(bytesCodec.encode({ data: chunk })).then(() => cb(), cb);
    },
    final(cb) {
      call.end();
      cb();
    },
  });
  return GrpcChannel.fromDuplex(duplex);
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('BuildKitSession', () => {
  it('serves Health/Check and extra services to the daemon over Control.Session', async () => {
    let daemon: GrpcChannel | undefined;
    let sessionCall: TestServerCall | undefined;
    const server = createTestServer({
      '/moby.buildkit.v1.Control/Session': (call) => {
        sessionCall = call;
        call.sendHeaders();
        daemon = daemonSide(call);
      },
    });
    const [c, s] = duplexPair();
    server.attach(s);
    const channel = GrpcChannel.fromDuplex(c);
    cleanups.push(() => server.close(), () => channel.destroy(), () => daemon?.destroy());

    const creds = sessionMethod('/moby.filesync.v1.Auth/Credentials', 'moby.filesync.v1.CredentialsRequest', 'moby.filesync.v1.CredentialsResponse');
    const session = BuildKitSession.open(channel, {
      id: 'sess-123',
      name: 'copa',
      sharedKey: 'key',
      services: [
        {
          definition: { Credentials: creds },
          implementation: {
            Credentials: (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) =>
              call.request.Host === 'registry.example'
                ? cb(null, { Username: 'u', Secret: 's' })
                : call.request.Host.startsWith('big')
                  ? cb(null, { Username: String(call.request.Host.length), Secret: call.request.Host })
                  : cb({ code: grpc.status.NOT_FOUND, details: 'no creds' }),
          },
        },
      ],
    });
    cleanups.push(() => session.close());
    expect(session.id).toBe('sess-123');
    for (let i = 0; i < 1000 && !daemon; i++) await new Promise((r) => setTimeout(r, 10));
    expect(daemon).toBeDefined();

    const h = sessionCall!.headers;
    expect(h['x-docker-expose-session-uuid']).toBe('sess-123');
    expect(h['x-docker-expose-session-name']).toBe('copa');
    expect(h['x-docker-expose-session-sharedkey']).toBe('key');
    const raw = sessionCall!.rawHeaders;
    const methods: string[] = [];
    for (let i = 0; i < raw.length; i += 2) if (raw[i] === 'x-docker-expose-session-grpc-method') methods.push(raw[i + 1]!);
    expect(methods).toEqual(['/grpc.health.v1.Health/Check', '/moby.filesync.v1.Auth/Credentials']);

    const health: MethodDef<Obj, Obj> = {
      path: '/grpc.health.v1.Health/Check',
      requestCodec: protoCodec('grpc.health.v1.HealthCheckRequest'),
      responseCodec: protoCodec('grpc.health.v1.HealthCheckResponse'),
    };
    expect(await daemon!.unary(health, {})).toEqual({ status: 1 });
    expect(await daemon!.unary(health, {})).toEqual({ status: 1 });
    expect(session.healthChecks).toBe(2);

    const credsDef: MethodDef<Obj, Obj> = {
      path: creds.path,
      requestCodec: protoCodec('moby.filesync.v1.CredentialsRequest'),
      responseCodec: protoCodec('moby.filesync.v1.CredentialsResponse'),
    };
    expect(await daemon!.unary(credsDef, { Host: 'registry.example' })).toEqual({ Username: 'u', Secret: 's' });
    await expect(daemon!.unary(credsDef, { Host: 'other' })).rejects.toMatchObject({ code: GrpcCode.NOT_FOUND, grpcMessage: 'no creds' });
    // Bigger than one HTTP/2 frame and one BytesMessage, both ways.
    const big = 'big' + 'h'.repeat(300 * 1024);
    expect(await daemon!.unary(credsDef, { Host: big })).toEqual({ Username: String(big.length), Secret: big });

    await session.close();
  });
});
