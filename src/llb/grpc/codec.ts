// protobufjs codecs from the shared Root, and method descriptors built from them.
import type protobuf from 'protobufjs';
import { lookupType } from '../proto/root.js';
import type { Codec, MethodDef } from './h2client.js';

/** Plain-object form used for decoded messages: schema field names, int64 as number. */
export const DECODE_OPTIONS: protobuf.IConversionOptions = {
  longs: Number,
  enums: Number,
  defaults: true,
  arrays: true,
  objects: true,
};

const codecCache = new Map<string, Codec<unknown>>();

/**
 * A codec for a message of the shared Root (full name, e.g. "moby.buildkit.v1.frontend.PingRequest").
 * encode() accepts plain objects (fromObject); decode() returns plain objects (DECODE_OPTIONS).
 */
export function protoCodec<T = Record<string, unknown>>(fullName: string): Codec<T> {
  let c = codecCache.get(fullName);
  if (!c) {
    let type: protobuf.Type | undefined;
    const t = (): protobuf.Type => (type ??= lookupType(fullName));
    c = {
      encode: (msg: unknown) => {
        const T = t();
        return T.encode(T.fromObject(msg as Record<string, unknown>)).finish();
      },
      decode: (buf: Uint8Array) => {
        const T = t();
        return T.toObject(T.decode(buf), DECODE_OPTIONS);
      },
    };
    codecCache.set(fullName, c);
  }
  return c as Codec<T>;
}

/** A method descriptor from a [path, requestType, responseType] table entry and its package. */
export function methodDef<Req = Record<string, unknown>, Res = Record<string, unknown>>(
  pkg: string,
  entry: readonly [string, string, string],
): MethodDef<Req, Res> {
  return {
    path: entry[0],
    requestCodec: protoCodec<Req>(`${pkg}.${entry[1]}`),
    responseCodec: protoCodec<Res>(`${pkg}.${entry[2]}`),
  };
}
