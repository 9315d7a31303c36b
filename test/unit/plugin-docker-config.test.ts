import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  contextStoreId,
  currentContextName,
  DockerCredentials,
  dockerConfigDir,
  helperServerUrl,
  normalizeRegistryHost,
  resolveDockerEndpoint,
  runCredentialHelper,
} from '../../src/plugin/docker-config.js';

let root: string;
let bin: string;
const b64 = (s: string) => Buffer.from(s).toString('base64');

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'copa-dcfg-'));
  bin = join(root, 'bin');
  mkdirSync(bin);
  // A fake credential helper: answers by server URL, logs what it was asked.
  writeFileSync(
    join(bin, 'docker-credential-fake'),
    `#!/bin/sh
[ "$1" = get ] || { echo "unexpected $1" >&2; exit 2; }
read -r url
echo "$url" >> "${root}/helper.log"
case "$url" in
  https://index.docker.io/v1/) echo '{"ServerURL":"https://index.docker.io/v1/","Username":"hubuser","Secret":"hubpass"}' ;;
  ghcr.io) echo '{"ServerURL":"ghcr.io","Username":"<token>","Secret":"id-token"}' ;;
  broken.example) echo 'garbage' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
  );
  chmodSync(join(bin, 'docker-credential-fake'), 0o755);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function configDir(name: string, config: unknown): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}
const env = (extra: Record<string, string> = {}) => ({ PATH: `${bin}:${process.env.PATH}`, HOME: root, ...extra });

describe('registry hosts', () => {
  it('normalises config keys and Docker Hub aliases', () => {
    expect(normalizeRegistryHost('https://ghcr.io/v2/')).toBe('ghcr.io');
    expect(normalizeRegistryHost('http://LOCALHOST:5000')).toBe('localhost:5000');
    for (const h of ['registry-1.docker.io', 'https://index.docker.io/v1/', 'docker.io', 'index.docker.io']) expect(normalizeRegistryHost(h)).toBe('docker.io');
    expect(helperServerUrl('registry-1.docker.io')).toBe('https://index.docker.io/v1/');
    expect(helperServerUrl('ghcr.io')).toBe('ghcr.io');
  });

  it('finds the config directory', () => {
    expect(dockerConfigDir({ config: '/x' }, { DOCKER_CONFIG: '/y' })).toBe('/x');
    expect(dockerConfigDir(undefined, { DOCKER_CONFIG: '/y' })).toBe('/y');
    expect(dockerConfigDir(undefined, { HOME: '/home/u' })).toBe('/home/u/.docker');
  });
});

describe('credentials', () => {
  it('reads inline auths, with URL keys and Docker Hub mapping', async () => {
    const dir = configDir('inline', {
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub:secret:with:colons') },
        'http://localhost:5000': { auth: b64('local:pw') },
        'quay.io': { identitytoken: 'refresh-tok' },
        'bad.example': { auth: 'bm9jb2xvbg==' },
      },
    });
    const warnings: string[] = [];
    const c = new DockerCredentials({ configDir: dir, env: env(), warn: (m) => warnings.push(m) });
    expect(await c.credentialsFor('registry-1.docker.io')).toEqual({ username: 'hub', secret: 'secret:with:colons' });
    expect(await c.credentialsFor('localhost:5000')).toEqual({ username: 'local', secret: 'pw' });
    expect(await c.credentialsFor('quay.io')).toEqual({ username: '', secret: 'refresh-tok' });
    expect(await c.credentialsFor('ghcr.io')).toEqual({ username: '', secret: '' });
    expect(await c.credentialsFor('bad.example')).toEqual({ username: '', secret: '' });
    expect(warnings.join()).toMatch(/not base64 of "user:password"/);
  });

  it('asks credential helpers (credHelpers before credsStore) with the server URL on stdin', async () => {
    const dir = configDir('helpers', { credsStore: 'fake', credHelpers: { 'ghcr.io': 'fake' }, auths: { 'other.example': { auth: b64('o:p') } } });
    const c = new DockerCredentials({ configDir: dir, env: env() });
    expect(await c.credentialsFor('registry-1.docker.io')).toEqual({ username: 'hubuser', secret: 'hubpass' });
    expect(await c.credentialsFor('ghcr.io')).toEqual({ username: '', secret: 'id-token' }); // "<token>" = identity token
    // not found in the helper: the inline entry, else anonymous
    expect(await c.credentialsFor('other.example')).toEqual({ username: 'o', secret: 'p' });
    expect(await c.credentialsFor('nothing.example')).toEqual({ username: '', secret: '' });
    await expect(c.credentialsFor('broken.example')).rejects.toThrow(/not JSON/);
  });

  it('falls back to inline auths when the helper binary is missing', async () => {
    const dir = configDir('missing-helper', { credsStore: 'nosuch', auths: { 'r.example': { auth: b64('u:p') } } });
    const warnings: string[] = [];
    const c = new DockerCredentials({ configDir: dir, env: env(), warn: (m) => warnings.push(m) });
    expect(await c.credentialsFor('r.example')).toEqual({ username: 'u', secret: 'p' });
    expect(warnings[0]).toMatch(/docker-credential-nosuch is not installed/);
    await expect(c.credentialsFor('s.example')).rejects.toThrow(/docker-credential-nosuch is not installed/);
  });

  it('prefers DOCKER_AUTH_CONFIG', async () => {
    const dir = configDir('envauth', { auths: { 'r.example': { auth: b64('file:pw') } } });
    const c = new DockerCredentials({ configDir: dir, env: env({ DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'https://r.example': { auth: b64('env:pw') } } }) }) });
    expect(await c.credentialsFor('r.example')).toEqual({ username: 'env', secret: 'pw' });
  });

  it('runs a helper directly', async () => {
    expect(await runCredentialHelper('fake', 'ghcr.io', { env: env() })).toEqual({ username: '', secret: 'id-token' });
    expect(await runCredentialHelper('fake', 'unknown', { env: env() })).toBeNull();
  });

  it('reports a config file that is not JSON', async () => {
    const dir = join(root, 'badjson');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{nope');
    await expect(new DockerCredentials({ configDir: dir, env: env() }).credentialsFor('x.example')).rejects.toThrow(/not valid JSON/);
  });
});

describe('contexts', () => {
  function addContext(dir: string, name: string, host: string, tls = false, skip = false) {
    const id = contextStoreId(name);
    mkdirSync(join(dir, 'contexts', 'meta', id), { recursive: true });
    writeFileSync(join(dir, 'contexts', 'meta', id, 'meta.json'), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: skip } } }));
    if (tls) {
      mkdirSync(join(dir, 'contexts', 'tls', id, 'docker'), { recursive: true });
      for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, 'contexts', 'tls', id, 'docker', f), `${name}-${f}`);
    }
  }

  it('picks the context by precedence', () => {
    const dir = configDir('ctx', { currentContext: 'fromconfig' });
    expect(currentContextName({ configDir: dir, env: {} })).toBe('fromconfig');
    expect(currentContextName({ configDir: dir, env: { DOCKER_CONTEXT: 'fromenv' } })).toBe('fromenv');
    expect(currentContextName({ configDir: dir, env: { DOCKER_CONTEXT: 'fromenv', DOCKER_HOST: 'unix:///x.sock' } })).toBe('default');
    expect(currentContextName({ configDir: dir, env: { DOCKER_HOST: 'unix:///x.sock' }, globals: { context: 'fromflag' } })).toBe('fromflag');
    expect(currentContextName({ configDir: configDir('noctx', {}), env: {} })).toBe('default');
  });

  it('resolves named context endpoints with TLS material', () => {
    const dir = configDir('ctx2', { currentContext: 'remote' });
    addContext(dir, 'remote', 'tcp://10.0.0.1:2376', true);
    addContext(dir, 'local', 'unix:///run/user/docker.sock');
    expect(contextStoreId('remote')).toMatch(/^[0-9a-f]{64}$/);
    const ep = resolveDockerEndpoint({ configDir: dir, env: {} });
    expect(ep.context).toBe('remote');
    expect(ep.host).toBe('tcp://10.0.0.1:2376');
    expect(ep.tls?.ca?.toString()).toBe('remote-ca.pem');
    expect(ep.tls?.key?.toString()).toBe('remote-key.pem');
    expect(ep.tls?.skipVerify).toBe(false);
    expect(resolveDockerEndpoint({ configDir: dir, env: {}, globals: { context: 'local' } })).toEqual({ context: 'local', host: 'unix:///run/user/docker.sock' });
    expect(() => resolveDockerEndpoint({ configDir: dir, env: {}, context: 'nope' })).toThrow(/docker context "nope" does not exist/);
  });

  it('resolves the default context from DOCKER_HOST, -H and the TLS environment', () => {
    const dir = configDir('ctx3', {});
    expect(resolveDockerEndpoint({ configDir: dir, env: {} })).toEqual({ context: 'default', host: 'unix:///var/run/docker.sock' });
    expect(resolveDockerEndpoint({ configDir: dir, env: { DOCKER_HOST: 'tcp://h:2375' } }).host).toBe('tcp://h:2375');
    expect(resolveDockerEndpoint({ configDir: dir, env: { DOCKER_HOST: 'tcp://h:2375' }, globals: { host: 'unix:///flag.sock' } }).host).toBe('unix:///flag.sock');
    const certs = join(root, 'certs');
    mkdirSync(certs, { recursive: true });
    writeFileSync(join(certs, 'ca.pem'), 'CA');
    const ep = resolveDockerEndpoint({ configDir: dir, env: { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs } });
    expect(ep.tls).toEqual({ skipVerify: false, ca: Buffer.from('CA') });
  });
});
