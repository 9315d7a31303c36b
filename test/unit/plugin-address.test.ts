import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { DialError, parseAddress, resolveAddress, loaderForScheme, type Dialer } from '../../src/plugin/address.js';
import { isBuildxReadyLine, readBuildxStore } from '../../src/plugin/dialers/buildx.js';
import { upgradeToGrpc } from '../../src/plugin/dialers/docker-engine.js';

let root: string;
let bin: string;
const dialers: Dialer[] = [];
const servers: net.Server[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'copa-addr-'));
  bin = join(root, 'bin');
  mkdirSync(bin);
  // A fake docker CLI: logs its arguments, then plays the part the arguments ask for.
  writeFileSync(
    join(bin, 'docker'),
    `#!/bin/bash
echo "$*" >> "$FAKE_DOCKER_LOG"
args=" $* "
case "$args" in
  *" buildx dial-stdio "*)
    if [ -n "$FAKE_NO_BUILDX" ]; then echo "docker: 'buildx' is not a docker command." >&2; exit 1; fi
    echo '#1 [internal] connecting' >&2
    echo '#1 Dialing builder' >&2
    sleep 0.2
    echo '#1 Dialing builder 0.1s done' >&2
    exec cat ;;
  *" exec -i missing "*)
    echo "Error response from daemon: No such container: missing" >&2; exit 1 ;;
  *" exec -i "*) exec cat ;;
  *" inspect --format "*) echo "$FAKE_RUNNING" ;;
  *" start "*) echo started ;;
  *) echo "fake docker: unexpected $*" >&2; exit 3 ;;
esac
`,
  );
  chmodSync(join(bin, 'docker'), 0o755);
});
afterEach(async () => {
  for (const d of dialers.splice(0)) await d.close?.();
  for (const s of servers.splice(0)) s.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function fakeEnv(name: string, extra: Record<string, string> = {}) {
  const log = join(root, `${name}.log`);
  writeFileSync(log, '');
  return { log, env: { PATH: `${bin}:${process.env.PATH}`, HOME: root, FAKE_DOCKER_LOG: log, ...extra } };
}
const logLines = (log: string) => readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);

/** Writes msg, then reads exactly `expect` (default: msg) back without ending the stream. */
function roundTrip(s: Duplex, msg: string, expectText = msg): Promise<string> {
  const n = Buffer.byteLength(expectText);
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const cleanup = () => {
      s.off('data', onData);
      s.off('error', onErr);
      s.off('end', onEnd);
    };
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length < n) return;
      cleanup();
      s.pause();
      if (got.length > n) s.unshift(got.subarray(n));
      resolve(got.subarray(0, n).toString());
    };
    const onErr = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onEnd = () => {
      cleanup();
      resolve(got.toString());
    };
    s.on('data', onData);
    s.on('error', onErr);
    s.on('end', onEnd);
    s.resume();
    if (msg) s.write(msg);
  });
}

async function one(addr: string | undefined, env: NodeJS.ProcessEnv, configDir = join(root, 'cfg')): Promise<Dialer> {
  const ds = await resolveAddress(addr, { env, dockerConfigDir: configDir });
  dialers.push(...ds);
  return ds[0]!;
}

describe('parseAddress', () => {
  it('parses every scheme', () => {
    expect(parseAddress('unix:///run/buildkit/buildkitd.sock')).toEqual({ scheme: 'unix', path: '/run/buildkit/buildkitd.sock' });
    expect(parseAddress('tcp://127.0.0.1:1234')).toEqual({ scheme: 'tcp', host: '127.0.0.1', port: 1234 });
    expect(parseAddress('tcp://[::1]:1234')).toEqual({ scheme: 'tcp', host: '::1', port: 1234 });
    expect(parseAddress('docker://')).toEqual({ scheme: 'docker' });
    expect(parseAddress('docker://mycontext')).toEqual({ scheme: 'docker', context: 'mycontext' });
    expect(parseAddress('docker://unix:///var/run/docker.sock')).toEqual({ scheme: 'docker', host: 'unix:///var/run/docker.sock' });
    expect(parseAddress('docker://tcp://h:2376')).toEqual({ scheme: 'docker', host: 'tcp://h:2376' });
    expect(parseAddress('buildx://')).toEqual({ scheme: 'buildx' });
    expect(parseAddress('buildx://mybuilder')).toEqual({ scheme: 'buildx', builder: 'mybuilder' });
    expect(parseAddress('docker-container://buildkitd')).toEqual({ scheme: 'docker-container', container: 'buildkitd' });
    expect(parseAddress('docker-container://Build_kit.1?context=remote')).toEqual({ scheme: 'docker-container', container: 'Build_kit.1', context: 'remote' });
    expect(parseAddress('podman-container://bk')).toEqual({ scheme: 'podman-container', container: 'bk' });
    expect(parseAddress('ssh://me@host:2222?socket=/run/bk.sock')).toEqual({ scheme: 'ssh', host: 'host', user: 'me', port: 2222, socket: '/run/bk.sock' });
  });

  it('explains bad addresses', () => {
    expect(() => parseAddress('/run/buildkit/buildkitd.sock')).toThrow(/not an address/);
    expect(() => parseAddress('tcp://host')).toThrow(/tcp:\/\/HOST:PORT/);
    expect(() => parseAddress('kube-pod://x')).toThrow(/unsupported scheme "kube-pod:\/\/"/);
    expect(() => parseAddress('buildx://a/b')).toThrow(/only a builder name/);
    expect(() => parseAddress('docker-container://x?foo=1')).toThrow(/unknown option "foo"/);
    try {
      parseAddress('grpc://x');
    } catch (e) {
      expect((e as { hint?: string }).hint).toMatch(/unix:\/\/, tcp:\/\/, docker:\/\/, buildx:\/\//);
    }
  });

  it('infers the loader from the scheme', () => {
    expect(loaderForScheme('docker')).toBe('docker');
    expect(loaderForScheme('podman-container')).toBe('podman');
    expect(loaderForScheme('tcp')).toBe('');
  });
});

describe('auto detection', () => {
  it('tries the Docker engine, then buildx, then the default socket', async () => {
    const { env } = fakeEnv('auto', { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    const ds = await resolveAddress(undefined, { env, dockerConfigDir: join(root, 'cfg') });
    dialers.push(...ds);
    expect(ds.map((d) => d.describe)).toEqual(['docker://unix:///nonexistent/docker.sock', 'buildx://', 'unix:///run/buildkit/buildkitd.sock']);
    expect(ds.map((d) => d.scheme)).toEqual(['docker', 'buildx', 'unix']);
  });

  it('keeps a broken docker context as a failing candidate', async () => {
    const { env } = fakeEnv('auto2', { DOCKER_CONTEXT: 'gone' });
    const ds = await resolveAddress(undefined, { env, dockerConfigDir: join(root, 'cfg') });
    dialers.push(...ds);
    await expect(ds[0]!.dial()).rejects.toThrow(/docker context "gone" does not exist/);
  });
});

describe('unix and tcp', () => {
  it('connects to a unix socket', async () => {
    const path = join(root, 'bk.sock');
    const srv = net.createServer((c) => c.on('error', () => {}).pipe(c));
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(path, r));
    const d = await one(`unix://${path}`, {});
    const s = await d.dial();
    expect(await roundTrip(s, 'hello')).toBe('hello');
    s.destroy();
  });

  it('says what failed and what to do when the socket is missing', async () => {
    const d = await one('unix:///nonexistent/buildkitd.sock', {});
    const err = await d.dial().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DialError);
    expect((err as DialError).message).toBe('cannot connect to BuildKit at unix:///nonexistent/buildkitd.sock: no such file');
    expect((err as DialError).hint).toMatch(/start buildkitd, or pass --addr/);
  });

  it('connects over tcp and reports refusals', async () => {
    const srv = net.createServer((c) => c.on('error', () => {}).pipe(c));
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const s = await (await one(`tcp://127.0.0.1:${port}`, {})).dial();
    expect(await roundTrip(s, 'abc')).toBe('abc');
    s.destroy();
    srv.close();
    await once(srv, 'close');
    await expect((await one(`tcp://127.0.0.1:${port}`, {})).dial()).rejects.toThrow(/connection refused/);
  });

  it('reads --cacert/--cert/--key for tcp and names a missing file', async () => {
    await expect(resolveAddress('tcp://127.0.0.1:1', {}, { cacert: join(root, 'nope.pem') })).rejects.toThrow(/cannot read --cacert .*no such file/);
    writeFileSync(join(root, 'ca.pem'), 'CA');
    const [d] = await resolveAddress('tcp://buildkit.example:1234', {}, { cacert: join(root, 'ca.pem') });
    expect(d!.tls).toEqual({ ca: Buffer.from('CA'), servername: 'buildkit.example' });
  });
});

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasOpenssl)('tcp:// with TLS', () => {
  it('verifies the server against --cacert, sends the client cert and offers h2', async () => {
    const dir = mkdtempSync(join(root, 'tls-'));
    const sh = (...a: string[]) => execFileSync('openssl', a, { cwd: dir, stdio: 'ignore' });
    sh('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost\n');
    sh('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'srv.key', '-out', 'srv.csr');
    sh('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'ext.cnf', '-out', 'srv.pem');
    sh('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=client', '-keyout', 'cli.key', '-out', 'cli.csr');
    sh('x509', '-req', '-in', 'cli.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'cli.pem');
    const f = (n: string) => readFileSync(join(dir, n));
    let alpn: string | false | null = false;
    let clientCN = '';
    const srv = tls.createServer({ key: f('srv.key'), cert: f('srv.pem'), ca: f('ca.pem'), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] }, (c) => {
      alpn = c.alpnProtocol;
      clientCN = String(c.getPeerCertificate().subject?.CN);
      c.on('error', () => {}).pipe(c);
    });
    servers.push(srv as unknown as net.Server);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const flags = { cacert: join(dir, 'ca.pem'), cert: join(dir, 'cli.pem'), key: join(dir, 'cli.key') };
    const [d] = await resolveAddress(`tcp://localhost:${port}`, {}, flags);
    dialers.push(d!);
    const s = await d!.dial();
    expect(await roundTrip(s, 'secure')).toBe('secure');
    expect(alpn).toBe('h2');
    expect(clientCN).toBe('client');
    s.destroy();
    // 127.0.0.1 is not in the certificate: the handshake must fail with a clear message.
    const [bad] = await resolveAddress(`tcp://127.0.0.1:${port}`, {}, flags);
    dialers.push(bad!);
    await expect(bad!.dial()).rejects.toThrow(/TLS handshake failed/);
  });
});

describe('docker:// (POST /grpc upgrade)', () => {
  function fakeEngine(path: string, opts: { status?: number; early?: string } = {}) {
    const requests: string[] = [];
    const srv = net.createServer((c) => {
      c.on('error', () => {});
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        c.off('data', onData);
        requests.push(buf.subarray(0, end).toString());
        const rest = buf.subarray(end + 4);
        if (opts.status && opts.status !== 101) {
          const body = JSON.stringify({ message: 'page not found' });
          c.end(`HTTP/1.1 ${opts.status} Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
          return;
        }
        // The 101 and the first HTTP/2 bytes in ONE write, as the engine may send them.
        c.write(`HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n${opts.early ?? ''}`);
        if (rest.length) c.write(rest);
        c.pipe(c);
      };
      c.on('data', onData);
    });
    servers.push(srv);
    return new Promise<{ requests: string[] }>((r) => srv.listen(path, () => r({ requests })));
  }

  it('upgrades and hands back the bytes that came with the 101', async () => {
    const sock = join(root, 'docker.sock');
    const engine = await fakeEngine(sock, { early: 'EARLY-H2-BYTES' });
    const d = await one(`docker://unix://${sock}`, {});
    expect(d.describe).toBe(`docker://unix://${sock}`);
    const s = await d.dial();
    expect(await roundTrip(s, '', 'EARLY-H2-BYTES')).toBe('EARLY-H2-BYTES');
    expect(await roundTrip(s, 'PRI * HTTP/2.0')).toBe('PRI * HTTP/2.0');
    s.destroy();
    const req = engine.requests[0]!;
    expect(req.split('\r\n')[0]).toBe('POST /grpc HTTP/1.1');
    expect(req).toMatch(/\r\nConnection: Upgrade\r\n/i);
    expect(req).toMatch(/\r\nUpgrade: h2c/i);
  });

  it('uses DOCKER_HOST and contexts', async () => {
    const sock = join(root, 'docker2.sock');
    await fakeEngine(sock, { early: 'X' });
    const viaEnv = await one('docker://', { DOCKER_HOST: `unix://${sock}` });
    const s = await viaEnv.dial();
    expect(await roundTrip(s, '', 'X')).toBe('X');
    s.destroy();

    const cfg = join(root, 'cfgctx');
    const { createHash } = await import('node:crypto');
    const id = createHash('sha256').update('mine').digest('hex');
    mkdirSync(join(cfg, 'contexts', 'meta', id), { recursive: true });
    writeFileSync(join(cfg, 'contexts', 'meta', id, 'meta.json'), JSON.stringify({ Name: 'mine', Endpoints: { docker: { Host: `unix://${sock}` } } }));
    const viaCtx = await one('docker://mine', {}, cfg);
    expect(viaCtx.describe).toBe('docker://mine');
    const s2 = await viaCtx.dial();
    expect(await roundTrip(s2, '', 'X')).toBe('X');
    s2.destroy();
  });

  it('explains an engine without /grpc', async () => {
    const sock = join(root, 'old.sock');
    await fakeEngine(sock, { status: 404 });
    const err = (await (await one(`docker://unix://${sock}`, {})).dial().catch((e: unknown) => e)) as DialError;
    expect(err.message).toMatch(/refused the BuildKit connection \(POST \/grpc → HTTP 404: page not found\)/);
    expect(err.hint).toMatch(/Docker Engine 19\.03/);
  });

  it('upgradeToGrpc works on any duplex', async () => {
    const sock = join(root, 'docker3.sock');
    await fakeEngine(sock, { early: 'Z' });
    const raw = net.connect(sock);
    await once(raw, 'connect');
    const s = await upgradeToGrpc(raw, 'test');
    expect(await roundTrip(s, 'q', 'Zq')).toBe('Zq');
    s.destroy();
  });
});

describe('docker-container:// and buildx:// through the docker CLI', () => {
  it('spawns docker [--context] exec -i NAME buildctl dial-stdio', async () => {
    const { log, env } = fakeEnv('container');
    const s = await (await one('docker-container://buildkitd?context=remote', env)).dial();
    expect(await roundTrip(s, 'ping')).toBe('ping');
    s.end();
    s.resume();
    await once(s, 'close');
    expect(logLines(log)).toEqual(['--context remote exec -i buildkitd buildctl dial-stdio']);
  });

  it('surfaces the CLI stderr when the container is missing', async () => {
    const { env } = fakeEnv('missing');
    const s = await (await one('docker-container://missing', env)).dial();
    const [err] = (await once(s, 'error')) as [DialError];
    expect(err).toBeInstanceOf(DialError);
    expect(err.message).toMatch(/exited with code 1: Error response from daemon: No such container: missing/);
  });

  it('reports a missing docker CLI', async () => {
    const err = (await (await one('docker-container://x', { PATH: join(root, 'empty') })).dial().catch((e: unknown) => e)) as DialError;
    expect(err.message).toMatch(/docker not found on PATH/);
  });

  it('spawns docker buildx dial-stdio and waits for "Dialing builder … done"', async () => {
    const { log, env } = fakeEnv('buildx');
    const t0 = Date.now();
    const s = await (await one('buildx://mybuilder', env)).dial();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(await roundTrip(s, 'ping')).toBe('ping');
    s.destroy();
    expect(logLines(log)).toEqual(['buildx dial-stdio --builder mybuilder --progress=plain']);
    expect(isBuildxReadyLine('#1 Dialing builder 0.1s done')).toBe(true);
    expect(isBuildxReadyLine('#1 dialing builder done')).toBe(true);
    expect(isBuildxReadyLine('#1 Dialing builder')).toBe(false);
  });

  it('passes docker global flags through', async () => {
    const { log, env } = fakeEnv('globals');
    const ds = await resolveAddress('buildx://', { env, dockerConfigDir: join(root, 'cfg'), globals: { config: '/c', context: 'ctx', debug: false, tls: false, tlsVerify: false } });
    dialers.push(...ds);
    const s = await ds[0]!.dial();
    s.destroy();
    expect(logLines(log)).toEqual(['--config /c --context ctx buildx dial-stdio --progress=plain']);
  });

  it('falls back to the buildx store without buildx', async () => {
    const cfg = join(root, 'cfgbx');
    mkdirSync(join(cfg, 'buildx', 'instances'), { recursive: true });
    writeFileSync(join(cfg, 'buildx', 'current'), JSON.stringify({ Key: 'unix:///var/run/docker.sock', Name: 'mybuilder', Global: false }));
    writeFileSync(
      join(cfg, 'buildx', 'instances', 'mybuilder'),
      JSON.stringify({ Name: 'mybuilder', Driver: 'docker-container', Nodes: [{ Name: 'mybuilder0', Endpoint: 'ctx1', Platforms: null }] }),
    );
    const { log, env } = fakeEnv('bxstore', { FAKE_NO_BUILDX: '1', FAKE_RUNNING: 'false' });
    const s = await (await one('buildx://', env, cfg)).dial();
    expect(await roundTrip(s, 'ping')).toBe('ping');
    s.destroy();
    expect(logLines(log)).toEqual([
      'buildx dial-stdio --progress=plain',
      '--context ctx1 inspect --format {{.State.Running}} buildx_buildkit_mybuilder0',
      '--context ctx1 start buildx_buildkit_mybuilder0',
      '--context ctx1 exec -i buildx_buildkit_mybuilder0 buildctl dial-stdio',
    ]);
  });

  it('reads remote and docker drivers from the store', () => {
    const cfg = join(root, 'cfgbx2');
    mkdirSync(join(cfg, 'buildx', 'instances'), { recursive: true });
    writeFileSync(join(cfg, 'buildx', 'instances', 'rem'), JSON.stringify({ Name: 'rem', Driver: 'remote', Nodes: [{ Name: 'rem0', Endpoint: 'tcp://10.1.1.1:1234', DriverOpts: { cacert: '/ca.pem', servername: 'bk' } }] }));
    expect(readBuildxStore({ dockerConfigDir: cfg, builder: 'rem', env: {} })).toEqual({ driver: 'remote', builder: 'rem', address: 'tcp://10.1.1.1:1234', tls: { cacert: '/ca.pem', servername: 'bk' } });
    expect(readBuildxStore({ dockerConfigDir: cfg, env: {}, currentContext: 'default' })).toEqual({ driver: 'docker', builder: 'default', context: 'default' });
    expect(readBuildxStore({ dockerConfigDir: cfg, env: { BUILDX_BUILDER: 'somectx' } })).toEqual({ driver: 'docker', builder: 'somectx', context: 'somectx' });
  });
});
