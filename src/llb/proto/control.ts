// Our own schema for BuildKit's control API (package moby.buildkit.v1, service Control)
// plus the worker types and source policies it references. Only the messages and fields
// copa-ts uses are declared; names, packages, field numbers and types follow the wire
// format. pb.Definition and pb.Platform come from ops.ts in the shared Root.

/** moby.buildkit.v1.types: worker records (ListWorkers, Ping). */
export const WORKER_TYPES_PROTO = `
syntax = "proto3";
package moby.buildkit.v1.types;

message WorkerRecord {
  string ID = 1;
  map<string, string> Labels = 2;
  repeated .pb.Platform platforms = 3;
  repeated GCPolicy GCPolicy = 4;
  BuildkitVersion BuildkitVersion = 5;
}

message GCPolicy {
  bool all = 1;
  int64 keepDuration = 2;
  int64 reservedSpace = 3;
  repeated string filters = 4;
  int64 maxUsedSpace = 5;
  int64 minFreeSpace = 6;
}

message BuildkitVersion {
  string package = 1;
  string version = 2;
  string revision = 3;
  string dockerfileVersion = 4;
}
`;

/** moby.buildkit.v1.sourcepolicy: source policies (pinning/converting image refs). */
export const SOURCEPOLICY_PROTO = `
syntax = "proto3";
package moby.buildkit.v1.sourcepolicy;

enum PolicyAction {
  ALLOW = 0;
  DENY = 1;
  CONVERT = 2;
}

enum AttrMatch {
  EQUAL = 0;
  NOTEQUAL = 1;
  MATCHES = 2;
}

enum MatchType {
  WILDCARD = 0;
  EXACT = 1;
  REGEX = 2;
}

message Policy {
  int64 version = 1;
  repeated Rule rules = 2;
}

message Rule {
  PolicyAction action = 1;
  Selector selector = 2;
  Update updates = 3;
}

message Selector {
  string identifier = 1;
  MatchType match_type = 2;
  repeated AttrConstraint constraints = 3;
}

message AttrConstraint {
  string key = 1;
  string value = 2;
  AttrMatch condition = 3;
}

message Update {
  string identifier = 1;
  map<string, string> attrs = 2;
}
`;

export const CONTROL_PROTO = `
syntax = "proto3";
package moby.buildkit.v1;

message SolveRequest {
  string Ref = 1;
  .pb.Definition Definition = 2;
  string ExporterDeprecated = 3;
  map<string, string> ExporterAttrsDeprecated = 4;
  string Session = 5;
  string Frontend = 6;
  map<string, string> FrontendAttrs = 7;
  CacheOptions Cache = 8;
  repeated string Entitlements = 9;
  map<string, .pb.Definition> FrontendInputs = 10;
  bool Internal = 11;
  .moby.buildkit.v1.sourcepolicy.Policy SourcePolicy = 12;
  repeated Exporter Exporters = 13;
  bool EnableSessionExporter = 14;
  string SourcePolicySession = 15;
  int64 CompatibilityVersion = 16;
  bool ProxyNetwork = 17;
}

message Exporter {
  string Type = 1;
  map<string, string> Attrs = 2;
}

message CacheOptions {
  string ExportRefDeprecated = 1;
  repeated string ImportRefsDeprecated = 2;
  map<string, string> ExportAttrsDeprecated = 3;
  repeated CacheOptionsEntry Exports = 4;
  repeated CacheOptionsEntry Imports = 5;
}

message CacheOptionsEntry {
  string Type = 1;
  map<string, string> Attrs = 2;
}

message SolveResponse {
  map<string, string> ExporterResponse = 1;
}

message StatusRequest {
  string Ref = 1;
}

message StatusResponse {
  repeated Vertex vertexes = 1;
  repeated VertexStatus statuses = 2;
  repeated VertexLog logs = 3;
  repeated VertexWarning warnings = 4;
}

message Vertex {
  string digest = 1;
  repeated string inputs = 2;
  string name = 3;
  bool cached = 4;
  .google.protobuf.Timestamp started = 5;
  .google.protobuf.Timestamp completed = 6;
  string error = 7;
}

message VertexStatus {
  string ID = 1;
  string vertex = 2;
  string name = 3;
  int64 current = 4;
  int64 total = 5;
  .google.protobuf.Timestamp timestamp = 6;
  .google.protobuf.Timestamp started = 7;
  .google.protobuf.Timestamp completed = 8;
}

message VertexLog {
  string vertex = 1;
  .google.protobuf.Timestamp timestamp = 2;
  int64 stream = 3;
  bytes msg = 4;
}

message VertexWarning {
  string vertex = 1;
  int64 level = 2;
  bytes short = 3;
  repeated bytes detail = 4;
  string url = 5;
}

message BytesMessage {
  bytes data = 1;
}

message ListWorkersRequest {
  repeated string filter = 1;
}

message ListWorkersResponse {
  repeated .moby.buildkit.v1.types.WorkerRecord record = 1;
}

message InfoRequest {}

message InfoResponse {
  .moby.buildkit.v1.types.BuildkitVersion buildkitVersion = 1;
}
`;

export const CONTROL_PROTO_SOURCES: readonly string[] = [WORKER_TYPES_PROTO, SOURCEPOLICY_PROTO, CONTROL_PROTO];

const CONTROL = '/moby.buildkit.v1.Control/';

/** Method paths of the Control service (name → [path, request type, response type]). */
export const CONTROL_METHODS = {
  Solve: [CONTROL + 'Solve', 'SolveRequest', 'SolveResponse'],
  Status: [CONTROL + 'Status', 'StatusRequest', 'StatusResponse'],
  Session: [CONTROL + 'Session', 'BytesMessage', 'BytesMessage'],
  ListWorkers: [CONTROL + 'ListWorkers', 'ListWorkersRequest', 'ListWorkersResponse'],
  Info: [CONTROL + 'Info', 'InfoRequest', 'InfoResponse'],
} as const;

/** Package prefix of the control message types. */
export const CONTROL_PACKAGE = 'moby.buildkit.v1';
