// Our own protobuf schema for gRPC error statuses and the detail messages BuildKit
// attaches to them. Only the messages and fields copa-ts reads are declared; names,
// packages, field numbers and types follow the wire format.

/** google.protobuf.Any and google.protobuf.Timestamp (well-known types). */
export const GOOGLE_PROTOBUF_PROTO = `
syntax = "proto3";
package google.protobuf;

message Any {
  string type_url = 1;
  bytes value = 2;
}

message Timestamp {
  int64 seconds = 1;
  int32 nanos = 2;
}
`;

/** google.rpc.Status: the payload of grpc-status-details-bin and of Return(error). */
export const GOOGLE_RPC_PROTO = `
syntax = "proto3";
package google.rpc;

message Status {
  int32 code = 1;
  string message = 2;
  repeated .google.protobuf.Any details = 3;
}
`;

/**
 * BuildKit typed-error details (package "errdefs"). BuildKit registers these with a
 * "+json" type URL and sends their JSON encoding in Any.value; the protobuf form below
 * is only a fallback for peers that encode them as protobuf. Fields that would need the
 * LLB schema (Solve.op, Source.info/ranges) are left out here and read from the JSON.
 */
export const ERRDEFS_PROTO = `
syntax = "proto3";
package errdefs;

message Vertex {
  string digest = 1;
}

message Frontend {
  string name = 1;
  string source = 2;
}

message FrontendCap {
  string name = 1;
}

message Subrequest {
  string name = 1;
}

message Solve {
  repeated string inputIDs = 1;
  repeated string mountIDs = 2;
  map<string, string> description = 6;
}
`;

export const STATUS_PROTO_SOURCES: readonly string[] = [GOOGLE_PROTOBUF_PROTO, GOOGLE_RPC_PROTO, ERRDEFS_PROTO];
