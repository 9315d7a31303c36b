// Our own schema for the services a BuildKit client session serves back to the daemon
// (package moby.filesync.v1: Auth credentials and the raw byte frames of FileSend /
// FileSync). Only the messages copa-ts uses are declared.

export const FILESYNC_PROTO = `
syntax = "proto3";
package moby.filesync.v1;

message BytesMessage {
  bytes data = 1;
}

message CredentialsRequest {
  string Host = 1;
}

message CredentialsResponse {
  string Username = 1;
  string Secret = 2;
}

message GetTokenAuthorityRequest {
  string Host = 1;
  bytes Salt = 2;
}

message GetTokenAuthorityResponse {
  bytes PublicKey = 1;
}

message FetchTokenRequest {
  string ClientID = 1;
  string Host = 2;
  string Realm = 3;
  string Service = 4;
  repeated string Scopes = 5;
}

message FetchTokenResponse {
  string Token = 1;
  int64 ExpiresIn = 2;
  int64 IssuedAt = 3;
}
`;

export const SESSION_PROTO_SOURCES: readonly string[] = [FILESYNC_PROTO];

/** Method paths the session may expose (as x-docker-expose-session-grpc-method values). */
export const SESSION_METHODS = {
  healthCheck: '/grpc.health.v1.Health/Check',
  authCredentials: '/moby.filesync.v1.Auth/Credentials',
  authFetchToken: '/moby.filesync.v1.Auth/FetchToken',
  authGetTokenAuthority: '/moby.filesync.v1.Auth/GetTokenAuthority',
  authVerifyTokenAuthority: '/moby.filesync.v1.Auth/VerifyTokenAuthority',
  fileSyncDiffCopy: '/moby.filesync.v1.FileSync/DiffCopy',
  fileSyncTarStream: '/moby.filesync.v1.FileSync/TarStream',
  fileSendDiffCopy: '/moby.filesync.v1.FileSend/DiffCopy',
} as const;
