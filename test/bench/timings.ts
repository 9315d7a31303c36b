// Where a patch's time went, read from BuildKit's rawjson progress stream: the steps
// (vertices) and the image pull's and export's sub-tasks (statuses: layer downloads, their
// unpacking, compression, push), which BuildKit reports beside the steps rather than in them.
interface Span {
  started?: string;
  completed?: string;
}

interface Vertex extends Span {
  digest: string;
  name?: string;
  cached?: boolean;
}

interface Status extends Span {
  id: string;
  vertex: string;
}

export interface Progress {
  vertices: Vertex[];
  statuses: Status[];
}

/** Every vertex and status of a rawjson progress stream, merged by identity. */
export function progress(output: string): Progress {
  const vs = new Map<string, Vertex>();
  const ss = new Map<string, Status>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const msg = JSON.parse(line) as { vertexes?: Vertex[]; statuses?: Status[] };
      for (const v of msg.vertexes ?? []) vs.set(v.digest, { ...vs.get(v.digest), ...v });
      for (const s of msg.statuses ?? []) ss.set(`${s.vertex} ${s.id}`, { ...ss.get(`${s.vertex} ${s.id}`), ...s });
    } catch {
      /* not a progress line */
    }
  }
  return { vertices: [...vs.values()], statuses: [...ss.values()] };
}

/** The sub-tasks worth a row of their own, by what their id says. */
function statusGroup(id: string): string | null {
  if (id.startsWith('extracting ')) return 'image pull: unpack layers';
  if (/^sha256:[0-9a-f]{64}$/.test(id)) return 'image pull: download layers';
  if (id === 'exporting layers') return 'export: compress the layer';
  if (id.startsWith('pushing ')) return 'export: push';
  return null;
}

const done = <T extends Span>(s: T): s is T & Required<Span> => Boolean(s.started && s.completed);

/** Seconds covered by the union of the spans (overlaps counted once). */
function covered(spans: Required<Span>[]): number {
  const xs = spans.map((s) => [Date.parse(s.started), Date.parse(s.completed)] as const).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  for (const [s, e] of xs) {
    if (e <= end) continue;
    total += e - Math.max(s, end);
    end = e;
  }
  return total / 1000;
}

/**
 * Seconds per step (steps of one name added up) and per pull/export sub-task (their union),
 * longest first, then the wall time nothing covers: client start-up, connecting, the engine's
 * reads between solves.
 */
export function breakdown(p: Progress, wall: number): Array<[string, number]> {
  const rows = new Map<string, number>();
  for (const v of p.vertices) {
    if (!done(v) || v.cached) continue;
    const name = (v.name ?? v.digest).replace(/sha256:[0-9a-f]{64}/g, '…').slice(0, 90);
    rows.set(name, (rows.get(name) ?? 0) + (Date.parse(v.completed) - Date.parse(v.started)) / 1000);
  }
  const groups = new Map<string, Required<Span>[]>();
  for (const s of p.statuses) {
    const g = statusGroup(s.id);
    if (g && done(s)) groups.set(g, [...(groups.get(g) ?? []), s]);
  }
  for (const [g, spans] of groups) rows.set(g, covered(spans));
  const all: Required<Span>[] = [...p.vertices.filter(done), ...p.statuses.filter(done)];
  return [
    ...[...rows].filter(([, s]) => s >= 0.05).sort((a, b) => b[1] - a[1]),
    ['(in no BuildKit step: start-up, reads, gaps)', Math.max(0, wall - covered(all))],
  ];
}
