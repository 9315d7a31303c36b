// --progress=rawjson: one JSON object per update and line, in the shape of BuildKit's Go
// client.SolveStatus (what `buildctl --progress=rawjson` and buildx print), so existing tools
// can read it: byte fields are base64, times RFC 3339, empty fields left out.
import { toDate, toNumber, type ProgressDisplay, type StatusResponse } from './types.js';
import type { Writer } from './plain.js';

const b64 = (u: Uint8Array | undefined) => Buffer.from(u ?? new Uint8Array()).toString('base64');
const iso = (d: Date | undefined) => d?.toISOString();

function clean<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v === undefined || v === '' || v === false || (Array.isArray(v) && v.length === 0)) delete o[k];
  }
  return o;
}

/** The Go client.SolveStatus JSON of one update. */
export function toSolveStatusJson(ss: StatusResponse): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const vertexes = (ss.vertexes ?? []).map((v) =>
    clean({ digest: v.digest, inputs: v.inputs ?? [], name: v.name, started: iso(toDate(v.started)), completed: iso(toDate(v.completed)), cached: Boolean(v.cached), error: v.error ?? '' }),
  );
  const statuses = (ss.statuses ?? []).map((s) => {
    const o: Record<string, unknown> = clean({ id: s.ID, vertex: s.vertex, name: s.name ?? '' });
    const total = toNumber(s.total);
    if (total) o.total = total;
    o.current = toNumber(s.current);
    o.timestamp = iso(toDate(s.timestamp)) ?? new Date(0).toISOString();
    const st = iso(toDate(s.started));
    if (st) o.started = st;
    const c = iso(toDate(s.completed));
    if (c) o.completed = c;
    return o;
  });
  const logs = (ss.logs ?? []).map((l) => {
    const o: Record<string, unknown> = clean({ vertex: l.vertex });
    const stream = toNumber(l.stream);
    if (stream) o.stream = stream;
    o.data = b64(l.msg);
    o.timestamp = iso(toDate(l.timestamp)) ?? new Date(0).toISOString();
    return o;
  });
  const warnings = (ss.warnings ?? []).map((w) => {
    const o: Record<string, unknown> = clean({ vertex: w.vertex });
    const level = toNumber(w.level);
    if (level) o.level = level;
    if (w.short && w.short.length) o.short = b64(w.short);
    if (w.detail && w.detail.length) o.detail = w.detail.map((d) => b64(d));
    if (w.url) o.url = w.url;
    return o;
  });
  if (vertexes.length) out.vertexes = vertexes;
  if (statuses.length) out.statuses = statuses;
  if (logs.length) out.logs = logs;
  if (warnings.length) out.warnings = warnings;
  return out;
}

export class RawJsonDisplay implements ProgressDisplay {
  readonly mode = 'rawjson' as const;
  constructor(private readonly out: Writer) {}
  update(ss: StatusResponse): void {
    this.out.write(JSON.stringify(toSolveStatusJson(ss)) + '\n');
  }
  /** Our own lines would break the JSON stream: they go nowhere in this mode. */
  log(): void {}
  done(): void {}
}

export class QuietDisplay implements ProgressDisplay {
  readonly mode = 'quiet' as const;
  update(): void {}
  log(): void {}
  done(): void {}
}
