// docker://: the Docker engine's embedded BuildKit, reached through the Engine API's
// `POST /grpc` with an h2c upgrade. After "101 Switching Protocols" the connection carries
// BuildKit's gRPC (HTTP/2 with prior knowledge); any bytes that arrived together with the 101
// are handed back to the stream with unshift().
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { connectSocket } from './socket.js';
import { spawnStdio } from './spawn.js';
import { DialError, StreamTracker, type Dialer, type DialerTls } from './types.js';
import type { DockerEndpoint } from '../docker-config.js';

export interface DockerEngineDialerOptions {
  /** The endpoint to reach (from resolveDockerEndpoint). */
  endpoint: DockerEndpoint;
  /** How to name it in messages, e.g. "docker://default". */
  describe?: string;
  /** For ssh:// and other hosts Node cannot open itself: the docker CLI to run `system dial-stdio` with. */
  dockerCommand?: string;
  /** Global flags for that docker CLI (e.g. ["--context", "x"] or ["-H", "ssh://…"]). */
  dockerArgs?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

const ENGINE_HINT = 'is the Docker daemon running? Check DOCKER_HOST / --context, or pass another --addr (buildx://, unix://, tcp://…)';

/** Opens a raw connection to the Docker API endpoint. */
export async function connectDockerApi(opts: DockerEngineDialerOptions, address: string): Promise<Duplex> {
  const { endpoint } = opts;
  const host = endpoint.host;
  const ctx = { what: 'the Docker engine', address, hint: ENGINE_HINT, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) };
  if (host.startsWith('unix://')) {
    return connectSocket({ path: host.slice('unix://'.length) }, ctx);
  }
  if (host.startsWith('tcp://') || host.startsWith('http://') || host.startsWith('https://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    const hostname = u.hostname.replace(/^\[|\]$/g, '');
    const useTls = Boolean(endpoint.tls) || host.startsWith('https://');
    const port = Number(u.port || (useTls ? 2376 : 2375));
    if (useTls) {
      const t = endpoint.tls;
      const tlsOpts: DialerTls & { skipVerify?: boolean; alpn?: string[] } = { alpn: ['http/1.1'], servername: hostname };
      if (t?.ca) tlsOpts.ca = t.ca;
      if (t?.cert) tlsOpts.cert = t.cert;
      if (t?.key) tlsOpts.key = t.key;
      if (t?.skipVerify) tlsOpts.skipVerify = true;
      return connectSocket({ host: hostname, port, tls: tlsOpts }, ctx);
    }
    return connectSocket({ host: hostname, port }, ctx);
  }
  // ssh://, npipe://, fd://…: let the docker CLI reach it and proxy stdio.
  const cmd = opts.dockerCommand ?? 'docker';
  const args = [...(opts.dockerArgs ?? ['-H', host]), 'system', 'dial-stdio'];
  return spawnStdio({
    command: cmd,
    args,
    address,
    describe: `${cmd} ${args.join(' ')}`,
    hint: `check that '${cmd} ${(opts.dockerArgs ?? ['-H', host]).join(' ')} version' works`,
    ...(opts.env ? { env: opts.env } : {}),
  });
}

/**
 * Sends `POST /grpc` with `Connection: Upgrade`, `Upgrade: h2c` over an open API connection
 * and resolves with the same connection once the engine answers 101.
 */
export function upgradeToGrpc(conn: Duplex, address: string, timeoutMs = 30_000): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, s?: Duplex) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        conn.destroy();
        reject(err);
      } else resolve(s!);
    };
    const req = http.request({
      method: 'POST',
      path: '/grpc',
      headers: { Host: 'docker', Connection: 'Upgrade', Upgrade: 'h2c', 'Content-Length': '0' },
      createConnection: () => conn as unknown as import('node:net').Socket,
    });
    const timer = setTimeout(() => {
      finish(new DialError(address, `the Docker engine at ${address} did not answer the /grpc upgrade within ${Math.round(timeoutMs / 1000)} s`, { hint: ENGINE_HINT }));
      req.destroy();
    }, timeoutMs);
    req.on('upgrade', (res: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (res.statusCode !== 101) {
        finish(new DialError(address, `the Docker engine at ${address} answered the /grpc upgrade with HTTP ${res.statusCode}`));
        return;
      }
      // Docker starts HTTP/2 right after the 101: early frames may have come with it.
      if (head && head.length > 0) socket.unshift(head);
      finish(null, socket);
    });
    req.on('response', (res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 2048) body += d;
      });
      res.on('end', () => {
        let msg = body.trim();
        try {
          msg = (JSON.parse(msg) as { message?: string }).message ?? msg;
        } catch {
          /* not JSON */
        }
        finish(
          new DialError(address, `the Docker engine at ${address} refused the BuildKit connection (POST /grpc → HTTP ${res.statusCode}${msg ? `: ${msg}` : ''})`, {
            hint:
              res.statusCode === 404
                ? 'docker:// needs Docker Engine 19.03 (API 1.40) or newer with BuildKit; use buildx:// or a standalone buildkitd instead'
                : ENGINE_HINT,
          }),
        );
      });
      res.on('error', () => {});
    });
    req.on('error', (e: Error) => {
      finish(e instanceof DialError ? e : new DialError(address, `the /grpc upgrade with the Docker engine at ${address} failed: ${e.message}`, { hint: ENGINE_HINT, cause: e }));
    });
    req.end();
  });
}

/** docker://[host|context]: BuildKit inside the Docker engine. */
export function dockerEngineDialer(opts: DockerEngineDialerOptions): Dialer {
  const tracker = new StreamTracker();
  const describe = opts.describe ?? `docker://${opts.endpoint.context === 'default' ? opts.endpoint.host : opts.endpoint.context}`;
  const d: Dialer = {
    describe,
    scheme: 'docker',
    dial: async () => {
      const conn = tracker.add(await connectDockerApi(opts, describe));
      return upgradeToGrpc(conn, describe, opts.timeoutMs);
    },
    close: () => tracker.closeAll(),
  };
  if (opts.endpoint.tls) {
    const t: DialerTls = {};
    if (opts.endpoint.tls.ca) t.ca = opts.endpoint.tls.ca;
    if (opts.endpoint.tls.cert) t.cert = opts.endpoint.tls.cert;
    if (opts.endpoint.tls.key) t.key = opts.endpoint.tls.key;
    d.tls = t;
  }
  return d;
}
