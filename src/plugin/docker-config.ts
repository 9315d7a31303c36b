// The docker CLI's configuration as copa needs it:
//  - registry credentials for BuildKit's session Auth service (config.json `auths`,
//    `credHelpers`, `credsStore`, and the DOCKER_AUTH_CONFIG environment variable);
//  - which Docker endpoint is current (contexts), for docker:// and for loading images.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CopaError, quote } from '../engine/errors.js';
import type { DockerGlobals } from './argv.js';

export interface Credentials {
  /** Empty with a non-empty secret: the secret is an identity (refresh) token. */
  username: string;
  secret: string;
}
export const ANONYMOUS: Readonly<Credentials> = Object.freeze({ username: '', secret: '' });

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

/** The parts of config.json copa reads. */
export interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  currentContext?: string;
}

/** Docker Hub's key in config.json and for credential helpers. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The docker config directory: --config > $DOCKER_CONFIG > ~/.docker. */
export function dockerConfigDir(globals?: Pick<DockerGlobals, 'config'>, env: NodeJS.ProcessEnv = process.env): string {
  if (globals?.config) return globals.config;
  if (env.DOCKER_CONFIG) return env.DOCKER_CONFIG;
  return join(env.HOME || homedir(), '.docker');
}

/** Reads $dir/config.json; a missing file is an empty config. */
export function loadDockerConfig(dir: string): DockerConfigFile {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CopaError('input', `cannot read the docker config ${file}: ${(e as Error).message}`);
  }
  if (text.trim() === '') return {};
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as DockerConfigFile) : {};
  } catch (e) {
    throw new CopaError('input', `the docker config ${file} is not valid JSON: ${(e as Error).message}`, {
      hint: 'fix or remove the file, or point DOCKER_CONFIG at another directory',
    });
  }
}

/**
 * A registry's canonical host from a config key, URL or host: "https://ghcr.io/v2/" → "ghcr.io".
 * Every Docker Hub alias becomes "docker.io".
 */
export function normalizeRegistryHost(keyOrUrl: string): string {
  let h = keyOrUrl.trim();
  h = h.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = h.indexOf('/');
  if (slash >= 0) h = h.slice(0, slash);
  h = h.toLowerCase();
  return DOCKER_HUB_HOSTS.has(h) ? 'docker.io' : h;
}

/** The server URL a credential helper is asked for: Docker Hub's legacy URL, else the host. */
export function helperServerUrl(host: string): string {
  const n = normalizeRegistryHost(host);
  return n === 'docker.io' ? DOCKER_HUB_AUTH_KEY : n;
}

function findKey<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  if (!map) return undefined;
  const want = normalizeRegistryHost(host);
  if (want === 'docker.io' && map[DOCKER_HUB_AUTH_KEY] !== undefined) return map[DOCKER_HUB_AUTH_KEY];
  if (map[host] !== undefined) return map[host];
  for (const [k, v] of Object.entries(map)) if (normalizeRegistryHost(k) === want) return v;
  return undefined;
}

function fromAuthEntry(e: AuthEntry | undefined, where: string, warn: (m: string) => void): Credentials | null {
  if (!e || typeof e !== 'object') return null;
  if (e.identitytoken) return { username: '', secret: e.identitytoken };
  if (e.auth) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      warn(`ignoring the "auth" value in ${where}: it is not base64 of "user:password"`);
      return null;
    }
    return { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1).replace(/\0+$/, '') };
  }
  if (e.username || e.password) return { username: e.username ?? '', secret: e.password ?? '' };
  return null;
}

export interface CredentialOptions {
  /** The docker config directory (default: dockerConfigDir()). */
  configDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with non-fatal problems (unreadable entries, a missing helper binary). */
  warn?: (message: string) => void;
  /** Credential helper time limit (default 30 s). */
  helperTimeoutMs?: number;
}

/** Runs `docker-credential-<helper> get` with the server URL on stdin. null = not found. */
export async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Credentials | null> {
  const bin = `docker-credential-${helper}`;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(bin, ['get'], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CopaError('auth', `the credential helper ${bin} did not answer within ${Math.round((opts.timeoutMs ?? 30_000) / 1000)} s`));
    }, opts.timeoutMs ?? 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') {
        reject(new CopaError('auth', `the credential helper ${bin} is not installed (not found on PATH)`, {
          hint: 'install it, or remove "credsStore"/"credHelpers" from the docker config',
        }));
      } else reject(new CopaError('auth', `cannot run the credential helper ${bin}: ${e.message}`));
    });
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve({ code: c, stdout: out, stderr: err });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(serverUrl);
  });
  if (code !== 0) {
    const msg = (stdout + stderr).trim();
    if (/credentials not found/i.test(msg)) return null;
    throw new CopaError('auth', `the credential helper ${bin} failed for ${serverUrl}: ${msg || `exit code ${code}`}`);
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
  } catch {
    throw new CopaError('auth', `the credential helper ${bin} printed something that is not JSON for ${serverUrl}`);
  }
  const username = parsed.Username ?? '';
  const secret = parsed.Secret ?? '';
  if (username === '' && secret === '') return null;
  // "<token>" as the user name means the secret is an identity token.
  return username === '<token>' ? { username: '', secret } : { username, secret };
}

/**
 * Registry credentials the way the docker CLI finds them, keyed by the host BuildKit asks
 * about ("ghcr.io", "localhost:5000", "registry-1.docker.io" for Docker Hub). Results are cached.
 */
export class DockerCredentials {
  private readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly warn: (m: string) => void;
  private readonly timeoutMs: number;
  private config: DockerConfigFile | undefined;
  private envConfig: DockerConfigFile | null | undefined;
  private readonly cache = new Map<string, Promise<Credentials>>();

  constructor(opts: CredentialOptions = {}) {
    this.env = opts.env ?? process.env;
    this.dir = opts.configDir ?? dockerConfigDir(undefined, this.env);
    this.warn = opts.warn ?? (() => {});
    this.timeoutMs = opts.helperTimeoutMs ?? 30_000;
  }

  private file(): DockerConfigFile {
    this.config ??= loadDockerConfig(this.dir);
    return this.config;
  }

  private fromEnv(): DockerConfigFile | null {
    if (this.envConfig === undefined) {
      const raw = this.env.DOCKER_AUTH_CONFIG;
      this.envConfig = null;
      if (raw) {
        try {
          this.envConfig = JSON.parse(raw) as DockerConfigFile;
        } catch {
          this.warn('ignoring DOCKER_AUTH_CONFIG: it is not valid JSON');
        }
      }
    }
    return this.envConfig;
  }

  /** Credentials for a registry host; ANONYMOUS when none are configured. */
  credentialsFor(host: string): Promise<Credentials> {
    const key = normalizeRegistryHost(host);
    let p = this.cache.get(key);
    if (!p) {
      p = this.lookup(host);
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
    }
    return p;
  }

  private async lookup(host: string): Promise<Credentials> {
    // 1. DOCKER_AUTH_CONFIG overrides everything for the registries it names.
    const envCfg = this.fromEnv();
    const fromEnv = fromAuthEntry(findKey(envCfg?.auths, host), 'DOCKER_AUTH_CONFIG', this.warn);
    if (fromEnv) return fromEnv;

    const cfg = this.file();
    const fileEntry = () => fromAuthEntry(findKey(cfg.auths, host), join(this.dir, 'config.json'), this.warn);
    // 2. A per-registry helper, else the default store.
    const helper = findKey(cfg.credHelpers, host) ?? cfg.credsStore;
    if (helper) {
      try {
        const c = await runCredentialHelper(helper, helperServerUrl(host), { env: this.env, timeoutMs: this.timeoutMs });
        if (c) return c;
      } catch (e) {
        const inline = fileEntry();
        if (!inline) throw e;
        this.warn(`${(e as Error).message}; using the credentials stored in config.json instead`);
        return inline;
      }
    }
    // 3. Inline auths.
    return fileEntry() ?? { ...ANONYMOUS };
  }
}

/** One-off lookup; prefer a DockerCredentials instance for repeated calls. */
export function credentialsFor(host: string, opts: CredentialOptions = {}): Promise<Credentials> {
  return new DockerCredentials(opts).credentialsFor(host);
}

// ---------------------------------------------------------------------------------------
// contexts

export const DEFAULT_CONTEXT = 'default';
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

export interface DockerTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Do not verify the server certificate. */
  skipVerify: boolean;
}

export interface DockerEndpoint {
  /** The context name ("default" for DOCKER_HOST / -H / the built-in default). */
  context: string;
  /** The Docker API address: unix:///…, tcp://…, ssh://…, npipe://… */
  host: string;
  /** Present when the endpoint uses TLS. */
  tls?: DockerTls;
}

/** The context store's directory name for a context: hex sha256 of the name. */
export function contextStoreId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

export interface EndpointOptions {
  globals?: Partial<DockerGlobals>;
  env?: NodeJS.ProcessEnv;
  configDir?: string;
}

/**
 * The current context's name: --context > (-H or DOCKER_HOST → "default") > DOCKER_CONTEXT >
 * config.json currentContext > "default".
 */
export function currentContextName(opts: EndpointOptions = {}): string {
  const env = opts.env ?? process.env;
  const g = opts.globals ?? {};
  if (g.context) return g.context;
  if (g.host || env.DOCKER_HOST) return DEFAULT_CONTEXT;
  if (env.DOCKER_CONTEXT) return env.DOCKER_CONTEXT;
  const dir = opts.configDir ?? dockerConfigDir(g, env);
  const cur = loadDockerConfig(dir).currentContext;
  return cur || DEFAULT_CONTEXT;
}

function readIfExists(path: string | undefined): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** The Docker endpoint of a context (default: the current one). */
export function resolveDockerEndpoint(opts: EndpointOptions & { context?: string } = {}): DockerEndpoint {
  const env = opts.env ?? process.env;
  const g = opts.globals ?? {};
  const dir = opts.configDir ?? dockerConfigDir(g, env);
  const name = opts.context ?? currentContextName({ ...opts, configDir: dir });

  if (name === DEFAULT_CONTEXT) {
    const host = g.host || env.DOCKER_HOST || DEFAULT_DOCKER_HOST;
    const verify = Boolean(g.tlsVerify) || Boolean(env.DOCKER_TLS_VERIFY);
    const useTls = Boolean(g.tls) || verify;
    const ep: DockerEndpoint = { context: name, host };
    if (useTls) {
      const certDir = env.DOCKER_CERT_PATH || dir;
      const tls: DockerTls = { skipVerify: !verify };
      const ca = readIfExists(g.tlsCaCert ?? join(certDir, 'ca.pem'));
      const cert = readIfExists(g.tlsCert ?? join(certDir, 'cert.pem'));
      const key = readIfExists(g.tlsKey ?? join(certDir, 'key.pem'));
      if (ca) tls.ca = ca;
      if (cert) tls.cert = cert;
      if (key) tls.key = key;
      ep.tls = tls;
    }
    return ep;
  }

  const id = contextStoreId(name);
  const metaFile = join(dir, 'contexts', 'meta', id, 'meta.json');
  let meta: { Endpoints?: { docker?: { Host?: string; SkipTLSVerify?: boolean } } };
  try {
    meta = JSON.parse(readFileSync(metaFile, 'utf8')) as typeof meta;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CopaError('input', `docker context ${quote(name)} does not exist (no ${metaFile})`, {
        hint: "list contexts with 'docker context ls'; choose one with --context, DOCKER_CONTEXT or 'docker context use'",
      });
    }
    throw new CopaError('input', `cannot read docker context ${quote(name)} from ${metaFile}: ${(e as Error).message}`);
  }
  const docker = meta.Endpoints?.docker;
  if (!docker?.Host) throw new CopaError('input', `docker context ${quote(name)} has no docker endpoint (${metaFile})`);
  const ep: DockerEndpoint = { context: name, host: docker.Host };
  const tlsDir = join(dir, 'contexts', 'tls', id, 'docker');
  const ca = readIfExists(join(tlsDir, 'ca.pem'));
  const cert = readIfExists(join(tlsDir, 'cert.pem'));
  const key = readIfExists(join(tlsDir, 'key.pem'));
  if (ca || cert || key || (docker.SkipTLSVerify && /^(tcp|https):/.test(docker.Host))) {
    const tls: DockerTls = { skipVerify: Boolean(docker.SkipTLSVerify) };
    if (ca) tls.ca = ca;
    if (cert) tls.cert = cert;
    if (key) tls.key = key;
    ep.tls = tls;
  }
  return ep;
}

/** Whether a context exists (the "default" context always does). */
export function contextExists(name: string, configDir: string): boolean {
  return name === DEFAULT_CONTEXT || existsSync(join(configDir, 'contexts', 'meta', contextStoreId(name), 'meta.json'));
}
