// Trivy-format reports generated at test time from what the mirror really offers,
// so tests follow Debian's security suite instead of hard-coding package lists.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Finding {
  name: string;
  installed: string;
  fixed: string;
  id?: string;
}

export function trivyReport(os: { family: string; name: string }, findings: Finding[], artifact = 'test-image'): object {
  return {
    SchemaVersion: 2,
    ArtifactName: artifact,
    ArtifactType: 'container_image',
    Metadata: { OS: { Family: os.family, Name: os.name }, ImageConfig: { architecture: 'amd64', os: 'linux' } },
    Results: [
      {
        Target: `${artifact} (${os.family} ${os.name})`,
        Class: 'os-pkgs',
        Type: os.family,
        Vulnerabilities: findings.map((f, i) => ({
          VulnerabilityID: f.id ?? `CVE-2099-${1000 + i}`,
          PkgName: f.name,
          InstalledVersion: f.installed,
          FixedVersion: f.fixed,
          Severity: 'HIGH',
        })),
      },
    ],
  };
}

/** Writes the report into a fresh directory (the build context) and returns the directory. */
export function reportDir(report: object | string, name = 'report.json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'copa-report-'));
  writeFileSync(join(dir, name), typeof report === 'string' ? report : JSON.stringify(report, null, 2));
  return dir;
}
