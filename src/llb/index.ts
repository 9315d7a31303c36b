// copa-ts LLB builder: typed States marshalled into pb.Definition bytes identical to
// what BuildKit's Go client (client/llb) produces for the same graph.

export type { Platform } from './platform.js';
export { normalizePlatform, defaultPlatform, formatPlatform } from './platform.js';

export type { Definition, OpMetadataJson, SourceJson } from './definition.js';
export {
  encodeDefinition,
  decodeDefinition,
  definitionFromProtoObject,
  definitionToProtoObject,
  definitionHead,
  decodeOp,
  encodeOp,
  digestOf,
} from './definition.js';

export type {
  NetMode,
  MountSpec,
  RunOptions,
  ImageOptions,
  LocalOptions,
  MarshalOptions,
  ConstraintOptions,
  CopyOptions,
  Owner,
} from './state.js';
export { State, ExecState, FileAction } from './state.js';

export { normalizeImageRef, parseReference, pinnedReference, InvalidReference, DEFAULT_DOMAIN, type ImageRef } from './reference.js';
export { protoRoot, lookupType, registerProtoSources, PROTO_SOURCES } from './proto/root.js';
export { marshalDeterministic, unmarshalPlain } from './proto/deterministic.js';
export { BridgeFileNotFound, type Bridge, type DirEntry, type ImageConfig, type ResolvedImage, type SolvedRef } from './bridge.js';
export { BuildKitError, type BuildKitErrorCategory } from './errors.js';
