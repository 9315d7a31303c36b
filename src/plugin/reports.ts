// Reading the user's report: a file (one platform) or a directory of reports (one per
// platform, told apart by the architecture each report records).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CopaError } from '../engine/errors.js';
import { parseReport, MAX_REPORT_BYTES, type PatchReport } from '../engine/report/index.js';
import type { Platform } from '../llb/index.js';

export interface PlatformReport {
  /** undefined = the report does not say (use the default platform). */
  platform?: Platform;
  report: PatchReport;
  file: string;
}

function readOne(file: string, scanner: 'trivy' | 'native'): PatchReport {
  const st = statSync(file);
  if (st.size > MAX_REPORT_BYTES) throw new CopaError('report', `${file} is ${st.size} bytes; the limit is ${MAX_REPORT_BYTES}`);
  return parseReport(readFileSync(file), { source: file, scanner });
}

function platformOf(r: PatchReport): Platform | undefined {
  if (!r.arch) return undefined;
  const arch = r.arch === 'aarch64' ? 'arm64' : r.arch === 'x86_64' ? 'amd64' : r.arch;
  const variant = arch === 'arm64' && r.variant === 'v8' ? undefined : r.variant || undefined;
  return { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) };
}

export function loadReports(path: string, scanner: 'trivy' | 'native'): PlatformReport[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new CopaError('report', `report ${path} does not exist`, { hint: 'pass a Trivy JSON report file (trivy image --format json -o report.json IMAGE) or a directory of them' });
  }
  if (!st.isDirectory()) {
    const report = readOne(path, scanner);
    return [{ report, file: path, ...(platformOf(report) ? { platform: platformOf(report)! } : {}) }];
  }
  const files = readdirSync(path)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(path, f));
  if (files.length === 0) throw new CopaError('report', `report directory ${path} holds no *.json reports`);
  const out = files.map((file) => {
    const report = readOne(file, scanner);
    const platform = platformOf(report);
    if (!platform) throw new CopaError('report', `${file} does not record the image architecture (Metadata.ImageConfig.architecture)`, { hint: 'a report directory needs one report per platform; pass a single file for one platform' });
    return { report, file, platform };
  });
  const seen = new Map<string, string>();
  for (const r of out) {
    const id = `${r.platform.os}/${r.platform.architecture}${r.platform.variant ? '/' + r.platform.variant : ''}`;
    if (seen.has(id)) throw new CopaError('report', `${seen.get(id)} and ${r.file} are both reports for ${id}`);
    seen.set(id, r.file);
  }
  return out;
}
