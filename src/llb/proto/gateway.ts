// Our own schema for BuildKit's gateway API (the LLBBridge service a frontend talks to,
// also forwarded on the control connection for client-side builds). Only the messages
// and fields copa-ts uses are declared; packages, message names, field numbers and types
// follow the wire format. References into the LLB schema (package pb) are by name:
// pb.Definition and pb.Platform come from ops.ts in the shared Root.

/** moby.buildkit.v1.apicaps: capability records returned by Ping. */
export const APICAPS_PROTO = `
syntax = "proto3";
package moby.buildkit.v1.apicaps;

message APICap {
  string ID = 1;
  bool Enabled = 2;
  bool Deprecated = 3;
  string DisabledReason = 4;
  string DisabledReasonMsg = 5;
  string DisabledAlternative = 6;
}
`;

/** fsutil.types.Stat: directory entries returned by ReadDir/StatFile (mode = Go os.FileMode bits). */
export const FSUTIL_TYPES_PROTO = `
syntax = "proto3";
package fsutil.types;

message Stat {
  string path = 1;
  uint32 mode = 2;
  uint32 uid = 3;
  uint32 gid = 4;
  int64 size = 5;
  int64 modTime = 6;
  string linkname = 7;
  int64 devmajor = 8;
  int64 devminor = 9;
  map<string, bytes> xattrs = 10;
}
`;

export const GATEWAY_PROTO = `
syntax = "proto3";
package moby.buildkit.v1.frontend;

message Result {
  oneof result {
    Ref ref = 3;
    RefMap refs = 4;
  }
  map<string, bytes> metadata = 10;
}

message Ref {
  string id = 1;
  .pb.Definition def = 2;
}

message RefMap {
  map<string, Ref> refs = 1;
}

message ReturnRequest {
  Result result = 1;
  .google.rpc.Status error = 2;
}

message ReturnResponse {}

message InputsRequest {}

message InputsResponse {
  map<string, .pb.Definition> Definitions = 1;
}

message ResolveImageConfigRequest {
  string Ref = 1;
  .pb.Platform Platform = 2;
  string ResolveMode = 3;
  string LogName = 4;
  int32 ResolverType = 5;
  string SessionID = 6;
  string StoreID = 7;
  repeated .moby.buildkit.v1.sourcepolicy.Policy SourcePolicies = 8;
}

message ResolveImageConfigResponse {
  string Digest = 1;
  bytes Config = 2;
  string Ref = 3;
}

message CacheOptionsEntry {
  string Type = 1;
  map<string, string> Attrs = 2;
}

message SolveRequest {
  .pb.Definition Definition = 1;
  string Frontend = 2;
  map<string, string> FrontendOpt = 3;
  bool allowResultReturn = 5;
  bool allowResultArrayRef = 6;
  repeated CacheOptionsEntry CacheImports = 12;
  map<string, .pb.Definition> FrontendInputs = 13;
  bool Evaluate = 14;
  repeated .moby.buildkit.v1.sourcepolicy.Policy SourcePolicies = 15;
}

message SolveResponse {
  string ref = 1;
  Result result = 3;
}

message FileRange {
  int64 Offset = 1;
  int64 Length = 2;
}

message ReadFileRequest {
  string Ref = 1;
  string FilePath = 2;
  FileRange Range = 3;
}

message ReadFileResponse {
  bytes Data = 1;
}

message ReadDirRequest {
  string Ref = 1;
  string DirPath = 2;
  string IncludePattern = 3;
}

message ReadDirResponse {
  repeated .fsutil.types.Stat entries = 1;
}

message StatFileRequest {
  string Ref = 1;
  string Path = 2;
}

message StatFileResponse {
  .fsutil.types.Stat stat = 1;
}

message EvaluateRequest {
  string Ref = 1;
}

message EvaluateResponse {}

message PingRequest {}

message PongResponse {
  repeated .moby.buildkit.v1.apicaps.APICap FrontendAPICaps = 1;
  repeated .moby.buildkit.v1.apicaps.APICap LLBCaps = 2;
  repeated .moby.buildkit.v1.types.WorkerRecord Workers = 3;
}

message WarnRequest {
  string digest = 1;
  int64 level = 2;
  bytes short = 3;
  repeated bytes detail = 4;
  string url = 5;
}

message WarnResponse {}
`;

export const GATEWAY_PROTO_SOURCES: readonly string[] = [APICAPS_PROTO, FSUTIL_TYPES_PROTO, GATEWAY_PROTO];

const LLB_BRIDGE = '/moby.buildkit.v1.frontend.LLBBridge/';

/** Method paths of the LLBBridge service (name → [path, request type, response type]). */
export const LLB_BRIDGE_METHODS = {
  Ping: [LLB_BRIDGE + 'Ping', 'PingRequest', 'PongResponse'],
  Solve: [LLB_BRIDGE + 'Solve', 'SolveRequest', 'SolveResponse'],
  ReadFile: [LLB_BRIDGE + 'ReadFile', 'ReadFileRequest', 'ReadFileResponse'],
  ReadDir: [LLB_BRIDGE + 'ReadDir', 'ReadDirRequest', 'ReadDirResponse'],
  StatFile: [LLB_BRIDGE + 'StatFile', 'StatFileRequest', 'StatFileResponse'],
  Evaluate: [LLB_BRIDGE + 'Evaluate', 'EvaluateRequest', 'EvaluateResponse'],
  ResolveImageConfig: [LLB_BRIDGE + 'ResolveImageConfig', 'ResolveImageConfigRequest', 'ResolveImageConfigResponse'],
  Inputs: [LLB_BRIDGE + 'Inputs', 'InputsRequest', 'InputsResponse'],
  Warn: [LLB_BRIDGE + 'Warn', 'WarnRequest', 'WarnResponse'],
  Return: [LLB_BRIDGE + 'Return', 'ReturnRequest', 'ReturnResponse'],
} as const;

/** Package prefix of the gateway message types. */
export const GATEWAY_PACKAGE = 'moby.buildkit.v1.frontend';
