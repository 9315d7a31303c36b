// pb.Definition: the marshalled LLB graph (op bytes + per-op metadata), its encoding
// and decoding, and op digests.

import { createHash } from 'node:crypto';
import { marshalDeterministic, unmarshalPlain, compareBytewise } from './proto/deterministic.js';

/**
 * pb.OpMetadata as a plain object. Keys are the wire schema's field names (which are
 * also the JSON names Go's llb.OpMetadata uses).
 */
export interface OpMetadataJson {
  ignore_cache?: boolean;
  /** e.g. { "llb.customname": "copa: apt-get update" } */
  description?: Record<string, string>;
  export_cache?: { Value?: boolean };
  /** LLB capability ids this op needs, e.g. { "exec.meta.base": true } */
  caps?: Record<string, boolean>;
  progress_group?: { id?: string; name?: string; weak?: boolean };
  linux_resources?: {
    memory?: number;
    memorySwap?: number;
    cpuShares?: number;
    cpuPeriod?: number;
    cpuQuota?: number;
    cpusetCpus?: string;
    cpusetMems?: string;
  };
}

/** pb.Source (source maps) as decoded; passed through opaquely. */
export type SourceJson = Record<string, unknown>;

export interface Definition {
  /** Marshalled pb.Op bytes in post-order; the last one is the terminal op. */
  def: Uint8Array[];
  /** Keyed by op digest ("sha256:<hex>"). */
  metadata: Record<string, OpMetadataJson>;
  /**
   * Source maps (pb.Source, schema field names). Go's marshaller always sets one, with an
   * empty location list per op digest; State.marshal() does the same so that the
   * Definition bytes equal Go's too.
   */
  source?: SourceJson;
}

/** "sha256:" + lowercase hex sha256 of the bytes: BuildKit's op digest. */
export function digestOf(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

function metadataToProto(m: OpMetadataJson): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (m.ignore_cache) o.ignore_cache = true;
  if (m.description && Object.keys(m.description).length > 0) o.description = m.description;
  if (m.export_cache) o.export_cache = m.export_cache;
  if (m.caps && Object.keys(m.caps).length > 0) o.caps = m.caps;
  if (m.progress_group) o.progress_group = m.progress_group;
  if (m.linux_resources) o.linux_resources = m.linux_resources;
  return o;
}

/** Encodes a Definition as pb.Definition bytes (deterministic: metadata sorted by digest). */
export function encodeDefinition(d: Definition): Uint8Array {
  const metadata: Record<string, unknown> = {};
  for (const k of Object.keys(d.metadata).sort(compareBytewise)) metadata[k] = metadataToProto(d.metadata[k]!);
  const obj: Record<string, unknown> = { def: d.def, metadata };
  if (d.source) obj.Source = d.source;
  return marshalDeterministic('pb.Definition', obj);
}

function metadataFromProto(o: Record<string, unknown>): OpMetadataJson {
  const m: OpMetadataJson = {};
  if (o.ignore_cache) m.ignore_cache = true;
  if (o.description && Object.keys(o.description).length > 0) m.description = { ...(o.description as Record<string, string>) };
  if (o.export_cache) m.export_cache = { ...(o.export_cache as { Value?: boolean }) };
  if (o.caps && Object.keys(o.caps).length > 0) m.caps = { ...(o.caps as Record<string, boolean>) };
  if (o.progress_group) m.progress_group = { ...(o.progress_group as object) };
  if (o.linux_resources) m.linux_resources = { ...(o.linux_resources as object) };
  return m;
}

/** Converts a decoded pb.Definition object (schema field names) into a Definition. */
export function definitionFromProtoObject(o: Record<string, unknown>): Definition {
  const def = ((o.def as Uint8Array[] | undefined) ?? []).map((b) => new Uint8Array(b));
  const metadata: Record<string, OpMetadataJson> = {};
  const md = (o.metadata as Record<string, Record<string, unknown>> | undefined) ?? {};
  for (const k of Object.keys(md)) metadata[k] = metadataFromProto(md[k] ?? {});
  const d: Definition = { def, metadata };
  if (o.Source) d.source = o.Source as SourceJson;
  return d;
}

/** Converts a Definition into a plain pb.Definition object (schema field names), e.g. to embed in a gateway message. */
export function definitionToProtoObject(d: Definition): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  for (const k of Object.keys(d.metadata).sort(compareBytewise)) metadata[k] = metadataToProto(d.metadata[k]!);
  const o: Record<string, unknown> = { def: d.def, metadata };
  if (d.source) o.Source = d.source;
  return o;
}

/** Decodes pb.Definition bytes. */
export function decodeDefinition(b: Uint8Array): Definition {
  return definitionFromProtoObject(unmarshalPlain('pb.Definition', b));
}

/** Decodes pb.Op bytes into a plain object with schema field names (for inspection and tests). */
export function decodeOp(b: Uint8Array): Record<string, unknown> {
  return unmarshalPlain('pb.Op', b);
}

/** Encodes a plain pb.Op object (schema field names) deterministically. */
export function encodeOp(op: Record<string, unknown>): Uint8Array {
  return marshalDeterministic('pb.Op', op);
}

/** The result a Definition points at: the terminal op's single input, or undefined for scratch. */
export function definitionHead(d: Definition): { digest: string; index: number } | undefined {
  const last = d.def[d.def.length - 1];
  if (!last) return undefined;
  const op = decodeOp(last);
  const inputs = op.inputs as Array<{ digest?: string; index?: number }> | undefined;
  if (!inputs || inputs.length === 0) return undefined;
  return { digest: inputs[0]!.digest ?? '', index: inputs[0]!.index ?? 0 };
}
