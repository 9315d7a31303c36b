// Our own schema for the gRPC health-checking protocol (grpc.health.v1). BuildKit's
// daemon calls Health/Check on every client session; the gateway serves it too.

export const HEALTH_PROTO = `
syntax = "proto3";
package grpc.health.v1;

message HealthCheckRequest {
  string service = 1;
}

message HealthCheckResponse {
  enum ServingStatus {
    UNKNOWN = 0;
    SERVING = 1;
    NOT_SERVING = 2;
    SERVICE_UNKNOWN = 3;
  }
  ServingStatus status = 1;
}
`;

export const HEALTH_PROTO_SOURCES: readonly string[] = [HEALTH_PROTO];

/** Full method path of Health/Check. */
export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';
