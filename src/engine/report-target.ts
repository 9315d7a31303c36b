// Is a report about the image being patched? Trivy records the scanned image as ArtifactName;
// a report of another repository is worth a warning (its fixes may not apply), never an error:
// tags and digests differ legitimately (a report of :1.27 for :1.27-patched, a digest-pinned
// scan), and a name that is not an image reference (a tarball path, a directory) is not compared.
import type { ImageRef } from './imageref.js';
import { parseReference } from '../llb/index.js';
import type { PatchReport } from './report/index.js';

export function artifactWarnings(image: ImageRef, reports: ReadonlyArray<{ file: string; report: PatchReport }>): string[] {
  const out: string[] = [];
  for (const r of reports) {
    const name = r.report.artifactName;
    if (!name) continue;
    let got: string;
    try {
      got = parseReference(name).name;
    } catch {
      continue;
    }
    if (got !== image.name) out.push(`${r.file} is a report for ${got}, but the image being patched is ${image.name}; the fixes it lists may not apply`);
  }
  return out;
}
