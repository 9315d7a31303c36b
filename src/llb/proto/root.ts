// The one protobufjs Root shared by copa-ts.
//
// Every schema text (ours, written from the wire facts) is parsed into this single
// root, so a gateway/control message can refer to `pb.Definition` or `pb.Platform`
// declared by ops.ts. To add schemas, either list them in PROTO_SOURCES below or call
// registerProtoSources(...) from your module before you look a type up; sources
// registered after the root was built are parsed into it on the next protoRoot().
//
// Parsing uses { keepCase: true }: field names are exactly as written in the schema
// (`ignore_cache`, `Architecture`, `FrontendAPICaps`), not camel-cased.

import protobuf from 'protobufjs';
import { OPS_PROTO_SOURCES } from './ops.js';
import { STATUS_PROTO_SOURCES } from './status.js';
import { HEALTH_PROTO_SOURCES } from './health.js';
import { SESSION_PROTO_SOURCES } from './session.js';
import { CONTROL_PROTO_SOURCES } from './control.js';
import { GATEWAY_PROTO_SOURCES } from './gateway.js';

/** Schema source texts parsed into the shared root, in order. Append, never remove. */
export const PROTO_SOURCES: string[] = [
  ...OPS_PROTO_SOURCES,
  // gRPC plumbing (src/llb/grpc): google.protobuf/google.rpc/errdefs, health, session,
  // control (+ worker types, source policies) and gateway (+ apicaps, fsutil stat).
  ...STATUS_PROTO_SOURCES,
  ...HEALTH_PROTO_SOURCES,
  ...SESSION_PROTO_SOURCES,
  ...CONTROL_PROTO_SOURCES,
  ...GATEWAY_PROTO_SOURCES,
];

let root: protobuf.Root | undefined;
let parsedCount = 0;

/** Adds schema sources (idempotent per identical text). */
export function registerProtoSources(...sources: readonly string[]): void {
  for (const s of sources) {
    if (!PROTO_SOURCES.includes(s)) PROTO_SOURCES.push(s);
  }
}

/** The shared root with every registered source parsed into it. */
export function protoRoot(): protobuf.Root {
  if (!root) root = new protobuf.Root();
  while (parsedCount < PROTO_SOURCES.length) {
    protobuf.parse(PROTO_SOURCES[parsedCount]!, root, { keepCase: true });
    parsedCount++;
  }
  return root;
}

const typeCache = new Map<string, protobuf.Type>();

/** Looks a message type up by its full name (e.g. "pb.Op"), resolved and ready to use. */
export function lookupType(fullName: string): protobuf.Type {
  let t = typeCache.get(fullName);
  if (!t) {
    t = protoRoot().lookupType(fullName);
    t.resolveAll();
    typeCache.set(fullName, t);
  }
  return t;
}

/** Looks an enum up by its full name (e.g. "pb.NetMode"). */
export function lookupEnum(fullName: string): protobuf.Enum {
  return protoRoot().lookupEnum(fullName);
}
