// Getting the report into the frontend: from the `report` named context
// (`--build-context report=./dir`, `context:report=local:report`, or a bake `input:`),
// falling back to the main build context.
import { State, type Definition } from '../llb/index.js';
import { CopaError } from '../engine/errors.js';
import { BridgeFileNotFound, type Bridge, type SolvedRef } from '../engine/bridge.js';
import { parseReport, type PatchReport } from '../engine/report/index.js';

export interface ReportSource {
  bridge: Bridge;
  opts: Record<string, string>;
  sessionId: string;
  inputs: () => Promise<Record<string, Definition>>;
}

export async function loadReport(src: ReportSource, path: string, scanner: 'trivy' | 'native'): Promise<PatchReport> {
  const clean = cleanPath(path);
  const { ref, where } = await contextRef(src, clean);
  let data: Buffer;
  try {
    data = await src.bridge.readFile(ref, clean);
  } catch (e) {
    if (e instanceof BridgeFileNotFound) {
      throw new CopaError('input', `report ${path} not found in the ${where}`, {
        hint: 'pass the directory holding it with --build-context report=<dir> (buildx) or --local report=<dir> --opt context:report=local:report (buildctl)',
      });
    }
    throw e;
  }
  // parseReport refuses a report over MAX_REPORT_BYTES (one size check for both entry points).
  return parseReport(data, { source: path, scanner });
}

/** Report paths are relative to their context and may not climb out of it. */
function cleanPath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length === 0 || parts.some((s) => s === '..') || /[\0\n]/.test(p)) {
    throw new CopaError('input', `report path ${JSON.stringify(p)} is not a plain relative path inside the report context`, { hint: 'use e.g. report=report.json' });
  }
  return parts.join('/');
}

async function contextRef(src: ReportSource, path: string): Promise<{ ref: SolvedRef; where: string }> {
  const named = src.opts['context:report'];
  if (named?.startsWith('input:')) {
    const name = named.slice('input:'.length);
    const def = (await src.inputs())[name];
    if (!def) throw new CopaError('input', `context:report names input ${name}, which the build did not provide`);
    return { ref: await src.bridge.solve(def), where: `report input ${name}` };
  }
  const localName = named?.startsWith('local:') ? named.slice('local:'.length) : named ? null : 'context';
  if (localName === null) {
    throw new CopaError('input', `context:report=${named} is not supported`, { hint: 'pass a local directory: --build-context report=./dir' });
  }
  const local = State.local(localName, {
    sessionId: src.sessionId,
    followPaths: [path],
    sharedKeyHint: localName,
  });
  return { ref: await src.bridge.solve(local.marshal()), where: localName === 'context' ? 'build context' : `report context (${localName})` };
}
