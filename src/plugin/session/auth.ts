// moby.filesync.v1.Auth: registry credentials for the daemon's pulls and pushes.
//
// The daemon asks GetTokenAuthority first; UNIMPLEMENTED makes it fall back to
// Credentials{Host} and do the bearer-token / basic-auth exchange itself. So we answer
// FetchToken, GetTokenAuthority and VerifyTokenAuthority with UNIMPLEMENTED and serve
// Credentials from the docker CLI configuration (config.json auths, credHelpers,
// credsStore, DOCKER_AUTH_CONFIG):
//  - Docker Hub arrives as "registry-1.docker.io" and is looked up under the config key
//    "https://index.docker.io/v1/" (DockerCredentials does the mapping);
//  - an identity token is returned as Secret with an empty Username;
//  - no credentials, or a failing credential helper, is answered as anonymous (empty
//    Username and Secret), with a warning for the failure: a pull of a public image must
//    not fail because a helper is broken.
import * as grpc from '@grpc/grpc-js';
import { sessionMethod, type SessionService } from '../../llb/grpc/session.js';
import { SESSION_METHODS } from '../../llb/proto/session.js';
import { DockerCredentials, type Credentials } from '../docker-config.js';

export const AUTH_CREDENTIALS_REQUEST = 'moby.filesync.v1.CredentialsRequest';
export const AUTH_CREDENTIALS_RESPONSE = 'moby.filesync.v1.CredentialsResponse';
export const AUTH_VERIFY_TOKEN_AUTHORITY = '/moby.filesync.v1.Auth/VerifyTokenAuthority';

/** Anything that can answer "credentials for this registry host". */
export interface CredentialSource {
  credentialsFor(host: string): Promise<Credentials>;
}

export interface AuthServiceOptions {
  /** Where credentials come from (default: a DockerCredentials over DOCKER_CONFIG / ~/.docker). */
  credentials?: CredentialSource;
  /** Warnings (a failing credential helper); each distinct message is reported once. */
  warn?: (message: string) => void;
  /** Debug trace of every lookup: host and whether credentials were found (never the secret). */
  onLookup?: (host: string, found: boolean) => void;
}

/** The Auth service for a BuildKitSession (`services: [authService({ warn })]`). */
export function authService(opts: AuthServiceOptions = {}): SessionService {
  const warned = new Set<string>();
  const warn = (m: string): void => {
    if (warned.has(m)) return;
    warned.add(m);
    opts.warn?.(m);
  };
  const source: CredentialSource = opts.credentials ?? new DockerCredentials({ warn });

  const credentials = (
    call: grpc.ServerUnaryCall<{ Host?: string }, { Username: string; Secret: string }>,
    cb: grpc.sendUnaryData<{ Username: string; Secret: string }>,
  ): void => {
    const host = (call.request?.Host ?? '').trim();
    if (!host) {
      cb(null, { Username: '', Secret: '' });
      return;
    }
    let p: Promise<Credentials>;
    try {
      p = source.credentialsFor(host);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (c) => {
        const found = Boolean(c.username || c.secret);
        opts.onLookup?.(host, found);
        cb(null, { Username: c.username ?? '', Secret: c.secret ?? '' });
      },
      (e: unknown) => {
        warn(`cannot get registry credentials for ${host}: ${e instanceof Error ? e.message : String(e)}; continuing without credentials`);
        opts.onLookup?.(host, false);
        cb(null, { Username: '', Secret: '' });
      },
    );
  };

  const unimplemented = (_call: unknown, cb: grpc.sendUnaryData<unknown>): void => {
    cb({ code: grpc.status.UNIMPLEMENTED, details: 'not implemented by copa: the daemon fetches registry tokens itself' });
  };

  return {
    definition: {
      Credentials: sessionMethod(SESSION_METHODS.authCredentials, AUTH_CREDENTIALS_REQUEST, AUTH_CREDENTIALS_RESPONSE),
      // Answered UNIMPLEMENTED without reading the request: raw bytes both ways.
      FetchToken: sessionMethod(SESSION_METHODS.authFetchToken, null, null),
      GetTokenAuthority: sessionMethod(SESSION_METHODS.authGetTokenAuthority, null, null),
      VerifyTokenAuthority: sessionMethod(AUTH_VERIFY_TOKEN_AUTHORITY, null, null),
    },
    implementation: {
      Credentials: credentials as grpc.handleUnaryCall<unknown, unknown>,
      FetchToken: unimplemented,
      GetTokenAuthority: unimplemented,
      VerifyTokenAuthority: unimplemented,
    },
  };
}
