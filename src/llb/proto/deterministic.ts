// A protobuf writer that produces the same bytes as Go's
// proto.MarshalOptions{Deterministic: true} for proto3 messages.
//
// protobufjs' own encoder writes every present field, including explicit zeros, and
// writes map entries in Object.keys() order. Go instead:
//   - writes fields in field-number order, except that members of a oneof come after
//     all other fields (protobuf-go's "legacy" order, kept for wire compatibility);
//   - omits singular scalars holding their zero value, except oneof members, which are
//     always written once set (e.g. UserOpt.byID = 0 is written);
//   - always writes a set sub-message, an empty one as tag + 0x00;
//   - packs repeated scalars; writes every element of repeated strings/bytes/messages;
//   - sorts map entries by key (bytewise for strings) and always writes key and value;
//   - writes negative int32/int64 as 10-byte varints.
// This module walks a protobufjs reflection Type and a plain object and writes exactly
// that. Object keys must be the schema's field names (keepCase); `undefined`/`null`
// mean "not set". Unknown keys are an error, so a typo cannot silently drop a field.

import protobuf from 'protobufjs';
import { lookupType } from './root.js';

const WT_VARINT = 0;
const WT_FIXED64 = 1;
const WT_LDELIM = 2;
const WT_FIXED32 = 5;

const VARINT_TYPES = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool']);
const FIXED64_TYPES = new Set(['fixed64', 'sfixed64', 'double']);
const FIXED32_TYPES = new Set(['fixed32', 'sfixed32', 'float']);
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

const sortedFieldsCache = new WeakMap<protobuf.Type, protobuf.Field[]>();

/** The oneof a field belongs to, ignoring proto3 `optional` (synthetic) oneofs. */
function realOneof(field: protobuf.Field): protobuf.OneOf | null {
  const o = field.partOf;
  if (!o) return null;
  if (field.options?.proto3_optional) return null;
  return o;
}

/**
 * Go's order for messages with oneofs (protobuf-go keeps the historic golang/protobuf
 * wire order): fields outside oneofs first, by number; then oneof members, grouped by
 * the oneof's declaration index, by number within a group. Without oneofs this is
 * plain field-number order.
 */
function sortedFields(type: protobuf.Type): protobuf.Field[] {
  let f = sortedFieldsCache.get(type);
  if (!f) {
    const oneofIndex = new Map(type.oneofsArray.map((o, i) => [o, i] as const));
    const key = (x: protobuf.Field): number => {
      const o = realOneof(x);
      return o ? oneofIndex.get(o)! : -1;
    };
    f = type.fieldsArray.slice().sort((a, b) => key(a) - key(b) || a.id - b.id);
    for (const field of f) field.resolve();
    sortedFieldsCache.set(type, f);
  }
  return f;
}

function tag(id: number, wireType: number): number {
  return ((id << 3) | wireType) >>> 0;
}

type ScalarKind = 'enum' | 'message' | string;

function kindOf(field: protobuf.Field): ScalarKind {
  if (field.resolvedType instanceof protobuf.Enum) return 'enum';
  if (field.resolvedType instanceof protobuf.Type) return 'message';
  return field.type;
}

function wireTypeOf(kind: ScalarKind): number {
  if (kind === 'enum' || VARINT_TYPES.has(kind)) return WT_VARINT;
  if (FIXED64_TYPES.has(kind)) return WT_FIXED64;
  if (FIXED32_TYPES.has(kind)) return WT_FIXED32;
  return WT_LDELIM;
}

function isPackable(kind: ScalarKind): boolean {
  const wt = wireTypeOf(kind);
  return wt !== WT_LDELIM;
}

function enumValue(field: protobuf.Field, v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const e = field.resolvedType as protobuf.Enum;
    const n = e.values[v];
    if (n === undefined) throw new Error(`${field.fullName}: unknown enum value ${JSON.stringify(v)}`);
    return n;
  }
  throw new Error(`${field.fullName}: enum value must be a number or name, got ${typeof v}`);
}

function toLongInput(field: protobuf.Field, v: unknown): number | string {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`${field.fullName}: ${v} is not an integer`);
    if (!Number.isSafeInteger(v)) throw new Error(`${field.fullName}: ${v} is not a safe integer; pass a bigint`);
    return v;
  }
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    return (v as { toString(): string }).toString();
  }
  throw new Error(`${field.fullName}: expected an integer, got ${typeof v}`);
}

function isZero(kind: ScalarKind, field: protobuf.Field, v: unknown): boolean {
  switch (typeof v) {
    case 'number':
      // Go writes a float -0 (its bits are not zero); integers have no -0.
      if (kind === 'double' || kind === 'float') return Object.is(v, 0);
      return v === 0;
    case 'bigint':
      return v === 0n;
    case 'boolean':
      return v === false;
    case 'string':
      if (kind === 'enum') return enumValue(field, v) === 0;
      if (LONG_TYPES.has(kind)) return /^[-+]?0+$/.test(v);
      return v.length === 0;
    default:
      if (v instanceof Uint8Array) return v.length === 0;
      if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
        const l = v as { low: number; high: number };
        return l.low === 0 && l.high === 0;
      }
      return false;
  }
}

function toBytes(field: protobuf.Field, v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw new Error(`${field.fullName}: expected bytes`);
}

function writeScalar(w: protobuf.Writer, kind: ScalarKind, field: protobuf.Field, v: unknown): void {
  switch (kind) {
    case 'enum':
      w.int32(enumValue(field, v));
      return;
    case 'bool':
      w.bool(Boolean(v));
      return;
    case 'string':
      if (typeof v !== 'string') throw new Error(`${field.fullName}: expected a string, got ${typeof v}`);
      w.string(v);
      return;
    case 'bytes':
      w.bytes(toBytes(field, v));
      return;
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      (w[kind] as (x: number | string) => protobuf.Writer).call(w, toLongInput(field, v));
      return;
    case 'int32':
    case 'uint32':
    case 'sint32':
    case 'fixed32':
    case 'sfixed32':
    case 'float':
    case 'double': {
      const n = typeof v === 'bigint' ? Number(v) : v;
      if (typeof n !== 'number') throw new Error(`${field.fullName}: expected a number, got ${typeof v}`);
      (w[kind] as (x: number) => protobuf.Writer).call(w, n);
      return;
    }
    default:
      throw new Error(`${field.fullName}: unsupported scalar type ${kind}`);
  }
}

/** Bytewise (UTF-8) comparison, the order Go uses for string keys. */
export function compareBytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sortMapKeys(keyType: string, keys: string[]): string[] {
  if (keyType === 'string') return keys.slice().sort(compareBytewise);
  if (keyType === 'bool') return keys.slice().sort((a, b) => Number(a === 'true') - Number(b === 'true'));
  return keys.slice().sort((a, b) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

function mapKeyValue(keyType: string, k: string): unknown {
  if (keyType === 'string') return k;
  if (keyType === 'bool') return k === 'true';
  if (LONG_TYPES.has(keyType)) return k;
  return Number(k);
}

function writeMessage(w: protobuf.Writer, type: protobuf.Type, obj: Record<string, unknown>): void {
  const fields = sortedFields(type);
  for (const key of Object.keys(obj)) {
    if (obj[key] !== undefined && !type.fields[key]) {
      throw new Error(`${type.fullName.replace(/^\./, '')}: no field named ${JSON.stringify(key)}`);
    }
  }
  for (const field of fields) {
    const v = obj[field.name];
    if (v === undefined || v === null) continue;
    const kind = kindOf(field);

    if (field.map) {
      const mf = field as unknown as protobuf.MapField;
      const entries = v instanceof Map ? new Map([...v].map(([k, x]) => [String(k), x])) : new Map(Object.entries(v as object));
      for (const k of sortMapKeys(mf.keyType, [...entries.keys()])) {
        const val = entries.get(k);
        w.uint32(tag(field.id, WT_LDELIM)).fork();
        w.uint32(tag(1, wireTypeOf(mf.keyType)));
        writeScalar(w, mf.keyType, field, mapKeyValue(mf.keyType, k));
        if (kind === 'message') {
          w.uint32(tag(2, WT_LDELIM)).fork();
          writeMessage(w, field.resolvedType as protobuf.Type, (val ?? {}) as Record<string, unknown>);
          w.ldelim();
        } else {
          w.uint32(tag(2, wireTypeOf(kind)));
          writeScalar(w, kind, field, val);
        }
        w.ldelim();
      }
      continue;
    }

    if (field.repeated) {
      if (!Array.isArray(v)) throw new Error(`${field.fullName}: expected an array`);
      if (v.length === 0) continue;
      if (isPackable(kind)) {
        w.uint32(tag(field.id, WT_LDELIM)).fork();
        for (const x of v) writeScalar(w, kind, field, x);
        w.ldelim();
      } else if (kind === 'message') {
        for (const x of v) {
          w.uint32(tag(field.id, WT_LDELIM)).fork();
          writeMessage(w, field.resolvedType as protobuf.Type, x as Record<string, unknown>);
          w.ldelim();
        }
      } else {
        for (const x of v) {
          w.uint32(tag(field.id, wireTypeOf(kind)));
          writeScalar(w, kind, field, x);
        }
      }
      continue;
    }

    if (kind === 'message') {
      w.uint32(tag(field.id, WT_LDELIM)).fork();
      writeMessage(w, field.resolvedType as protobuf.Type, v as Record<string, unknown>);
      w.ldelim();
      continue;
    }

    // Singular scalar: proto3 omits zero values unless the field is a oneof member.
    if (!realOneof(field) && isZero(kind, field, v)) continue;
    w.uint32(tag(field.id, wireTypeOf(kind)));
    writeScalar(w, kind, field, v);
  }
}

/**
 * Encodes `obj` as the message `type` the way Go's deterministic marshal would.
 * `type` is a full name ("pb.Op") or a protobufjs Type.
 */
export function marshalDeterministic(type: string | protobuf.Type, obj: object): Uint8Array {
  const t = typeof type === 'string' ? lookupType(type) : type;
  const w = protobuf.Writer.create();
  writeMessage(w, t, obj as Record<string, unknown>);
  const out = w.finish();
  // Writer may hand back a Buffer slice of a pooled allocation; return a standalone copy.
  return new Uint8Array(out);
}

/**
 * Decodes bytes into a plain object with schema field names: int64s as numbers, enums
 * as numbers, bytes as Uint8Array, and only the fields present on the wire.
 */
export function unmarshalPlain(type: string | protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
  const t = typeof type === 'string' ? lookupType(type) : type;
  const msg = t.decode(bytes);
  return t.toObject(msg, { longs: Number, enums: Number, defaults: false, arrays: false, objects: false, oneofs: false });
}
