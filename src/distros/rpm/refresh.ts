// Repository metadata that could not be fetched is an error, never "already up to date":
// without it the tools see no newer packages, which would pass for an image with nothing to
// upgrade. The refresh step leaves the tool's exit code and output in /copa-status; this
// judges them and names the repository URL and the tool's own words.
//
// What the tools print when a repository is unreachable (their source and test suites):
//   dnf 4     Errors during downloading metadata for repository 'ID':
//               - Curl error (7): Couldn't connect to server for URL/repodata/repomd.xml [reason]
//             Error: Failed to download metadata for repo 'ID': Cannot download repomd.xml: …
//             (with skip_if_unavailable: "Ignoring repositories: ID", exit 0)
//   microdnf  error: cannot update repo 'ID': Cannot download repomd.xml: … Curl error (7): … for URL [reason]
//   tdnf      curl#7: Couldn't connect to server / Error: Failed to synchronize cache for repo 'ID' …
//   yum 3     URL: [Errno 14] curl#7 - "reason" … failure: repodata/repomd.xml from ID: [Errno 256] No more mirrors to try.
//   zypper    Download (curl) error for 'URL': Error code: … Error message: … / Problem retrieving files from 'NAME'.
import type { SolvedRef } from '../../engine/bridge.js';
import { escapeControls } from '../../engine/text.js';
import { assertRefreshed, type FetchFailure } from '../../engine/step-status.js';
import type { InstallContext } from '../../engine/package-manager.js';
import type { RpmTool } from './tools.js';


const URL = /\b(?:https?|ftp|file):\/\/[^\s'"<>[\]()]+/;
/** Lines that say a repository could not be used, also when the tool exits 0. */
const FAILED =
  /(Errors during downloading metadata|Failed to download metadata|Ignoring repositories|cannot update repo|Failed to synchronize cache|Cannot download repomd|Curl error|curl#\d+|\[Errno \d+\]|No more mirrors to try|Download \(curl\) error|Problem retrieving files|have not been refreshed because of an error|Repository '.*' is invalid|Status code: \d{3}|Error message:)/i;
/** The tool's summary of the failure. */
const SUMMARY = /^(?:Error:|error:|failure:|Error message:|ERROR:)\s*(.*)$/;

function clean(s: string): string {
  return escapeControls(s.replace(/\s+/g, ' ').trim());
}

/** The repositories a refresh could not fetch, and the tool's message for each. */
export function refreshFailures(log: string, rc: number, tool: RpmTool): FetchFailure[] {
  const lines = log.split('\n').map((l) => l.trim()).filter(Boolean);
  const failing = lines.filter((l) => FAILED.test(l));
  if (rc === 0 && failing.length === 0) return [];
  const summaries = lines.map((l) => SUMMARY.exec(l)?.[1]).filter((s): s is string => !!s && s.trim() !== '');
  const out: FetchFailure[] = [];
  const seen = new Set<string>();
  for (const l of failing) {
    const m = URL.exec(l);
    if (!m) continue;
    const url = clean(m[0].replace(/[:.,;]+$/, ''));
    if (seen.has(url)) continue;
    seen.add(url);
    // The line that names the URL carries the reason (curl's words); the summary says what failed.
    const detail = clean(l.replace(/^\s*-\s*/, ''));
    const summary = summaries.find((s) => !s.includes(m[0]));
    out.push({ url, message: summary ? `${detail} | ${clean(summary)}` : detail });
  }
  if (out.length === 0) {
    const words = [...new Set([...failing, ...summaries].map(clean))].slice(0, 3);
    out.push({ url: '', message: words.join(' | ') || `${tool} exited with code ${rc}` });
  }
  return out;
}

/** Fail when the refresh step (its solved status mount) could not fetch every repository's metadata. */
export function assertMetadataFetched(ctx: InstallContext, status: SolvedRef, tool: RpmTool, where: string): Promise<void> {
  const files = tool === 'zypper' ? '/etc/zypp/repos.d' : '/etc/yum.repos.d';
  return assertRefreshed(ctx.bridge, status, {
    tool,
    where,
    what: 'repository metadata',
    source: ['repository', 'repositories'],
    failures: (log, rc) => refreshFailures(log, rc, tool),
    hint: `check that the repositories in ${files} name a mirror BuildKit can reach (e.g. --network host, a proxy, or a reachable mirror) and that their signing keys are in /etc/pki/rpm-gpg; nothing was patched`,
  });
}
