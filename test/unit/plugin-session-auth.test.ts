import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authService, AUTH_VERIFY_TOKEN_AUTHORITY } from '../../src/plugin/session/auth.js';
import { protoCodec } from '../../src/llb/grpc/codec.js';
import { SESSION_METHODS } from '../../src/llb/proto/session.js';

type Creds = { Username: string; Secret: string };
const reqCodec = protoCodec<{ Host: string }>('moby.filesync.v1.CredentialsRequest');
const resCodec = protoCodec<Creds>('moby.filesync.v1.CredentialsResponse');

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let dir: string;
const savedEnv = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, PATH: process.env.PATH, DOCKER_AUTH_CONFIG: process.env.DOCKER_AUTH_CONFIG };
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'copa-auth-'));
  const cfg = join(dir, 'config');
  const bin = join(dir, 'bin');
  mkdirSync(cfg);
  mkdirSync(bin);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  writeFileSync(
    join(cfg, 'config.json'),
    JSON.stringify({
      auths: {
        '127.0.0.1:5000': { auth: b64('local-user:local-pass') },
        'https://index.docker.io/v1/': { auth: b64('hub-user:hub-pass') },
        'https://ghcr.io': { identitytoken: 'ghcr-identity-token' },
        'broken-with-inline.example': { auth: b64('inline-user:inline-pass') },
      },
      credHelpers: {
        'helper.example': 'fake',
        'token.example': 'fake',
        'broken.example': 'broken',
        'broken-with-inline.example': 'broken',
        'missing.example': 'not-installed',
      },
    }),
  );
  // docker-credential-fake: answers from the server URL on stdin.
  writeFileSync(
    join(bin, 'docker-credential-fake'),
    `#!/bin/sh
read url
case "$url" in
  helper.example) echo '{"ServerURL":"helper.example","Username":"helper-user","Secret":"helper-secret"}' ;;
  token.example) echo '{"ServerURL":"token.example","Username":"<token>","Secret":"refresh-token"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
  );
  writeFileSync(join(bin, 'docker-credential-broken'), '#!/bin/sh\necho \'error getting credentials - err: exit status 1, out: keychain locked\' >&2\nexit 1\n');
  chmodSync(join(bin, 'docker-credential-fake'), 0o755);
  chmodSync(join(bin, 'docker-credential-broken'), 0o755);
  process.env.DOCKER_CONFIG = cfg;
  process.env.PATH = `${bin}:${savedEnv.PATH}`;
  delete process.env.DOCKER_AUTH_CONFIG;
  cleanups.push(() => {
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dir, { recursive: true, force: true });
  });
});

async function serve(service: ReturnType<typeof authService>): Promise<grpc.Client> {
  const server = new grpc.Server();
  server.addService(service.definition, service.implementation);
  const addr = `unix://${join(dir, 'auth.sock')}`;
  await new Promise<void>((res, rej) => server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  const client = new grpc.Client(addr, grpc.credentials.createInsecure());
  cleanups.push(
    () => new Promise<void>((r) => server.tryShutdown(() => r())),
    () => client.close(),
  );
  return client;
}

function credentials(client: grpc.Client, host: string): Promise<Creds> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      SESSION_METHODS.authCredentials,
      (r: { Host: string }) => Buffer.from(reqCodec.encode(r)),
      (b: Buffer) => resCodec.decode(b),
      { Host: host },
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
}

function rawCall(client: grpc.Client, path: string): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]),
      (err) => resolve(err),
    ),
  );
}

describe('session Auth service', () => {
  it('answers Credentials from config.json auths, with Docker Hub under its legacy key and identity tokens as Secret', async () => {
    const client = await serve(authService());
    expect(await credentials(client, '127.0.0.1:5000')).toEqual({ Username: 'local-user', Secret: 'local-pass' });
    expect(await credentials(client, 'registry-1.docker.io')).toEqual({ Username: 'hub-user', Secret: 'hub-pass' });
    expect(await credentials(client, 'docker.io')).toEqual({ Username: 'hub-user', Secret: 'hub-pass' });
    expect(await credentials(client, 'ghcr.io')).toEqual({ Username: '', Secret: 'ghcr-identity-token' });
    expect(await credentials(client, 'quay.io')).toEqual({ Username: '', Secret: '' });
    expect(await credentials(client, '')).toEqual({ Username: '', Secret: '' });
  });

  it('asks credential helpers (a "<token>" user name means an identity token)', async () => {
    const lookups: Array<[string, boolean]> = [];
    const client = await serve(authService({ onLookup: (h, f) => lookups.push([h, f]) }));
    expect(await credentials(client, 'helper.example')).toEqual({ Username: 'helper-user', Secret: 'helper-secret' });
    expect(await credentials(client, 'token.example')).toEqual({ Username: '', Secret: 'refresh-token' });
    expect(lookups).toEqual([
      ['helper.example', true],
      ['token.example', true],
    ]);
  });

  it('answers anonymous with one warning when a credential helper fails or is missing, and uses inline auths as a fallback', async () => {
    const warnings: string[] = [];
    const client = await serve(authService({ warn: (m) => warnings.push(m) }));
    expect(await credentials(client, 'broken.example')).toEqual({ Username: '', Secret: '' });
    expect(await credentials(client, 'broken.example')).toEqual({ Username: '', Secret: '' });
    expect(await credentials(client, 'missing.example')).toEqual({ Username: '', Secret: '' });
    expect(await credentials(client, 'broken-with-inline.example')).toEqual({ Username: 'inline-user', Secret: 'inline-pass' });
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/cannot get registry credentials for broken\.example: .*docker-credential-broken.*keychain locked.*continuing without credentials/);
    expect(warnings[1]).toMatch(/missing\.example: .*docker-credential-not-installed is not installed/);
    expect(warnings[2]).toMatch(/using the credentials stored in config\.json instead/);
  });

  it('never fails the call when the credential source throws', async () => {
    const warnings: string[] = [];
    const client = await serve(
      authService({
        warn: (m) => warnings.push(m),
        credentials: {
          credentialsFor: (host) => {
            if (host === 'sync.example') throw new Error('sync boom');
            return Promise.reject(new Error('async boom'));
          },
        },
      }),
    );
    expect(await credentials(client, 'sync.example')).toEqual({ Username: '', Secret: '' });
    expect(await credentials(client, 'async.example')).toEqual({ Username: '', Secret: '' });
    expect(warnings).toEqual([
      'cannot get registry credentials for sync.example: sync boom; continuing without credentials',
      'cannot get registry credentials for async.example: async boom; continuing without credentials',
    ]);
  });

  it('answers FetchToken, GetTokenAuthority and VerifyTokenAuthority with UNIMPLEMENTED', async () => {
    const service = authService();
    expect(Object.values(service.definition).map((m) => m.path)).toEqual([
      SESSION_METHODS.authCredentials,
      SESSION_METHODS.authFetchToken,
      SESSION_METHODS.authGetTokenAuthority,
      AUTH_VERIFY_TOKEN_AUTHORITY,
    ]);
    const client = await serve(service);
    for (const path of [SESSION_METHODS.authFetchToken, SESSION_METHODS.authGetTokenAuthority, AUTH_VERIFY_TOKEN_AUTHORITY]) {
      const err = await rawCall(client, path);
      expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    }
  });
});
