// unix:// and tcp:// (optionally TLS) streams.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { DialError, StreamTracker, type Dialer, type DialerTls } from './types.js';

export interface SocketTarget {
  /** unix socket path, or host + port. */
  path?: string;
  host?: string;
  port?: number;
  tls?: DialerTls & { skipVerify?: boolean; alpn?: string[] };
}

export interface ConnectContext {
  /** What we are connecting to, for messages: "BuildKit", "the Docker engine". */
  what: string;
  /** The address as the user would write it. */
  address: string;
  /** Suggestion appended when the target is missing or refuses. */
  hint: string;
  timeoutMs?: number;
}

function explain(e: NodeJS.ErrnoException, ctx: ConnectContext, target: SocketTarget): DialError {
  const at = `cannot connect to ${ctx.what} at ${ctx.address}`;
  switch (e.code) {
    case 'ENOENT':
      return new DialError(ctx.address, `${at}: no such file`, { hint: ctx.hint, cause: e });
    case 'ECONNREFUSED':
      return new DialError(ctx.address, `${at}: connection refused (nothing is listening)`, { hint: ctx.hint, cause: e });
    case 'EACCES':
    case 'EPERM':
      return new DialError(ctx.address, `${at}: permission denied`, {
        hint: target.path
          ? `run as a user that may open ${target.path} (e.g. root, or a member of the group that owns it)`
          : 'check firewall rules and permissions',
        cause: e,
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new DialError(ctx.address, `${at}: host ${target.host} not found`, { hint: 'check the host name in the address', cause: e });
    case 'ETIMEDOUT':
      return new DialError(ctx.address, `${at}: timed out`, { hint: ctx.hint, cause: e });
    case 'ENOTSOCK':
      return new DialError(ctx.address, `${at}: ${target.path} is not a socket`, { hint: ctx.hint, cause: e });
    default:
      if (e.code?.startsWith('ERR_TLS') || e.code?.startsWith('CERT_') || /certificate|ssl|tls/i.test(e.message)) {
        return new DialError(ctx.address, `${at}: TLS handshake failed: ${e.message}`, {
          hint: 'check --cacert/--cert/--key (the server name checked is the address host)',
          cause: e,
        });
      }
      return new DialError(ctx.address, `${at}: ${e.message}`, { hint: ctx.hint, cause: e });
  }
}

/** Opens a unix or TCP (optionally TLS) socket and waits until it is connected. */
export function connectSocket(target: SocketTarget, ctx: ConnectContext): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let sock: net.Socket;
    const readyEvent = target.tls ? 'secureConnect' : 'connect';
    if (target.tls) {
      const t = target.tls;
      const opts: tls.ConnectionOptions = {
        ALPNProtocols: t.alpn ?? ['h2'],
        rejectUnauthorized: !t.skipVerify,
      };
      if (target.path) opts.path = target.path;
      else {
        opts.host = target.host!;
        opts.port = target.port!;
      }
      const servername = t.servername ?? target.host;
      if (servername && !net.isIP(servername)) opts.servername = servername;
      if (t.ca) opts.ca = t.ca;
      if (t.cert) opts.cert = t.cert;
      if (t.key) opts.key = t.key;
      sock = tls.connect(opts);
    } else {
      sock = target.path ? net.connect({ path: target.path }) : net.connect({ host: target.host!, port: target.port! });
    }
    const timer = setTimeout(() => {
      const e = Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' });
      sock.destroy(e);
    }, ctx.timeoutMs ?? 15_000);
    const onError = (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(explain(e, ctx, target));
    };
    sock.once('error', onError);
    sock.once(readyEvent, () => {
      clearTimeout(timer);
      sock.off('error', onError);
      sock.setNoDelay(true);
      resolve(sock);
    });
  });
}

export const BUILDKIT_HINT = 'start buildkitd, or pass --addr (docker://, buildx://, tcp://…)';

/** unix:///path */
export function unixDialer(path: string, opts: { describe?: string; hint?: string } = {}): Dialer {
  const tracker = new StreamTracker();
  const describe = opts.describe ?? `unix://${path}`;
  return {
    describe,
    scheme: 'unix',
    dial: async (): Promise<Duplex> =>
      tracker.add(await connectSocket({ path }, { what: 'BuildKit', address: describe, hint: opts.hint ?? BUILDKIT_HINT })),
    close: () => tracker.closeAll(),
  };
}

/** tcp://host:port, with TLS when any of ca/cert/key is given. The TLS server name is the host. */
export function tcpDialer(host: string, port: number, tlsOpts?: DialerTls): Dialer {
  const tracker = new StreamTracker();
  const h = host.includes(':') ? `[${host}]` : host;
  const describe = `tcp://${h}:${port}`;
  const useTls = Boolean(tlsOpts && (tlsOpts.ca || tlsOpts.cert || tlsOpts.key));
  const tlsInfo: DialerTls | undefined = useTls ? { ...tlsOpts, servername: tlsOpts?.servername ?? host } : undefined;
  const d: Dialer = {
    describe,
    scheme: 'tcp',
    dial: async (): Promise<Duplex> =>
      tracker.add(
        await connectSocket(
          { host, port, ...(tlsInfo ? { tls: tlsInfo } : {}) },
          { what: 'BuildKit', address: describe, hint: `check that buildkitd listens on ${describe}, or pass another --addr` },
        ),
      ),
    close: () => tracker.closeAll(),
  };
  if (tlsInfo) d.tls = tlsInfo;
  return d;
}
