// Shapes shared by the report parsers.

export type ReportFormat = 'trivy' | 'v1alpha1' | 'v1alpha2';

/** One package update the engine should apply (after de-duplication). */
export interface ReportUpdate {
  name: string;
  /** The version in the scanned image ('' when the report does not say). */
  installedVersion: string;
  /** The lowest version that fixes every listed vulnerability. */
  fixedVersion: string;
  /** Sorted, unique. */
  vulnerabilityIds: string[];
}

export interface PatchReport {
  /** The OS the report was made for (copa's canonical type in `family`), or null when it does not say. */
  os: { family: string; version: string } | null;
  arch?: string;
  variant?: string;
  /** Sorted by name, one entry per package. */
  updates: ReportUpdate[];
  ignored: {
    /** Findings in language packages (lang-pkgs / langupdates), which copa does not patch. */
    langPkgs: number;
    /** OS package findings without a fixed version, left alone. */
    unfixed: number;
  };
  /**
   * What the report says was scanned (Trivy's ArtifactName, e.g. "docker.io/library/nginx:1.27"),
   * made terminal-safe; absent when the report does not say.
   */
  artifactName?: string;
  format: ReportFormat;
  /**
   * Things about the report a user should know that do not stop the patch (a free-text field
   * had control characters escaped, …); each names the file and the JSON path. Absent when none.
   */
  warnings?: string[];
  /** Where the report came from (a file name), for messages. */
  source?: string;
}

/** JSON paths of one finding's fields, for error messages. */
export interface FindingPaths {
  name: string;
  installedVersion: string;
  fixedVersion: string;
  vulnerabilityId: string;
}

/** One finding with a fix, as written in the report (not yet validated or de-duplicated). */
export interface RawFinding {
  name: string;
  installedVersion: string;
  /** As written; Trivy may list several, comma-separated. */
  fixedVersion: string;
  vulnerabilityId: string;
  paths: FindingPaths;
}

/** What a format-specific parser extracts. */
export interface RawReport {
  format: ReportFormat;
  /** The OS as the report names it (not yet canonicalised). */
  os: { family: string; version: string } | null;
  /** Another hint at the OS when `os` is null (Trivy's os-pkgs Result.Type), with its path. */
  osHint?: { family: string; path: string };
  arch?: string;
  variant?: string;
  artifactName?: string;
  findings: RawFinding[];
  ignored: { langPkgs: number; unfixed: number };
}
