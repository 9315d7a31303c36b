// A BuildKit client session over Control.Session. The bidi stream of BytesMessage
// carries a whole HTTP/2 connection on which roles are reversed: the daemon dials *us*,
// so we run a @grpc/grpc-js server over a Duplex wrapping the stream. The session always
// serves grpc.health.v1.Health/Check (the daemon drops sessions that fail it); callers
// add their own services (auth, filesync, filesend) as grpc-js service definitions.
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { CONTROL_METHODS, CONTROL_PACKAGE } from '../proto/control.js';
import { HEALTH_CHECK_METHOD } from '../proto/health.js';
import { protoCodec } from './codec.js';
import { MAX_MESSAGE_SIZE, type BidiStream, type GrpcChannel, type MethodDef } from './h2client.js';

export interface SessionService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

export interface SessionOptions {
  /** Session id (x-docker-expose-session-uuid); random when omitted. */
  id?: string;
  /** x-docker-expose-session-name (informational). */
  name?: string;
  /** x-docker-expose-session-sharedkey (helps local-source cache reuse). */
  sharedKey?: string;
  /** Services served to the daemon in addition to Health. */
  services?: SessionService[];
}

/** A grpc-js method definition for a message type of the shared Root (or raw bytes when type is null). */
export function sessionMethod(path: string, requestType: string | null, responseType: string | null, stream: { request?: boolean; response?: boolean } = {}): grpc.MethodDefinition<unknown, unknown> {
  const codec = (t: string | null) => (t ? protoCodec<unknown>(t) : { encode: (v: unknown) => v as Uint8Array, decode: (b: Uint8Array) => b as unknown });
  const req = codec(requestType);
  const res = codec(responseType);
  const toBuf = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.length));
  return {
    path,
    requestStream: !!stream.request,
    responseStream: !!stream.response,
    requestSerialize: (v: unknown) => toBuf(req.encode(v)),
    requestDeserialize: (b: Buffer) => req.decode(b),
    responseSerialize: (v: unknown) => toBuf(res.encode(v)),
    responseDeserialize: (b: Buffer) => res.decode(b),
  };
}

function healthService(onCheck: () => void): SessionService {
  return {
    definition: {
      Check: sessionMethod(HEALTH_CHECK_METHOD, 'grpc.health.v1.HealthCheckRequest', 'grpc.health.v1.HealthCheckResponse'),
    },
    implementation: {
      Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        onCheck();
        cb(null, { status: 1 /* SERVING */ });
      },
    },
  };
}

type Bytes = { data?: Uint8Array };

/** Wrap the Control.Session bidi call as a Duplex of raw HTTP/2 bytes. */
function streamDuplex(call: BidiStream<Bytes, Bytes>): Duplex {
  const it = call[Symbol.asyncIterator]();
  let reading = false;
  const d = new Duplex({
    read() {
      if (reading) return;
      reading = true;
      const pump = async (): Promise<void> => {
        for (;;) {
          let r: IteratorResult<Bytes>;
          try {
            r = await it.next();
          } catch (err) {
            d.destroy(err as Error);
            return;
          }
          if (r.done) {
            d.push(null);
            return;
          }
          const data = r.value.data;
          if (data && data.length && !d.push(Buffer.from(data.buffer, data.byteOffset, data.length))) {
            reading = false;
            return;
          }
        }
      };
      void pump();
    },
    write(chunk: Buffer, _enc, cb) {
      call.write({ data: chunk }).then(() => cb(), cb);
    },
    final(cb) {
      call.end();
      cb();
    },
    destroy(err, cb) {
      call.cancel(err?.message ?? 'session closed');
      cb(err);
    },
  });
  return d;
}

export class BuildKitSession {
  private closed = false;
  /** Health checks answered so far (the daemon checks every 5 s). */
  healthChecks = 0;
  private constructor(
    readonly id: string,
    /** Full method paths served (as advertised to the daemon). */
    readonly methods: readonly string[],
    private readonly server: grpc.Server,
    private readonly injector: grpc.ConnectionInjector,
    private readonly call: BidiStream<Bytes, Bytes>,
    private readonly duplex: Duplex,
  ) {}

  /** Open a session on a control connection. Use `session.id` as SolveRequest.Session. */
  static open(channel: GrpcChannel, opts: SessionOptions = {}): BuildKitSession {
    const id = opts.id ?? randomBytes(16).toString('hex');
    const server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_SIZE,
      'grpc.max_send_message_length': MAX_MESSAGE_SIZE,
    });
    let session: BuildKitSession | undefined;
    let early = 0;
    const services = [healthService(() => (session ? session.healthChecks++ : early++)), ...(opts.services ?? [])];
    const methods: string[] = [];
    for (const s of services) {
      server.addService(s.definition, s.implementation);
      for (const m of Object.values(s.definition)) methods.push(m.path);
    }
    const metadata: Record<string, string | string[]> = {
      'x-docker-expose-session-uuid': id,
      'x-docker-expose-session-grpc-method': methods,
    };
    if (opts.name) metadata['x-docker-expose-session-name'] = opts.name;
    if (opts.sharedKey) metadata['x-docker-expose-session-sharedkey'] = opts.sharedKey;
    const bytes = protoCodec<Bytes>(`${CONTROL_PACKAGE}.BytesMessage`);
    const method: MethodDef<Bytes, Bytes> = { path: CONTROL_METHODS.Session[0], requestCodec: bytes, responseCodec: bytes };
    const call = channel.bidi(method, { metadata });
    call.status.catch(() => undefined);
    const duplex = streamDuplex(call);
    duplex.on('error', () => undefined);
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    injector.injectConnection(duplex);
    session = new BuildKitSession(id, methods, server, injector, call, duplex);
    session.healthChecks = early;
    return session;
  }

  /** Resolves/rejects when the daemon ends the session stream. */
  get done(): Promise<void> {
    return this.call.status;
  }

  /** Close the session (after Solve returned). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.injector.destroy();
    this.call.end();
    this.duplex.destroy();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }
}
