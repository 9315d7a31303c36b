// The engine's only view of BuildKit is the gateway Bridge, which lives in src/llb beside
// its gRPC implementation (the interface sits below both its users and its implementer).
// Re-exported here so engine code and the entry points name it from one place.
export { BridgeFileNotFound, type Bridge, type DirEntry, type ImageConfig, type ResolvedImage, type SolvedRef } from '../llb/bridge.js';
