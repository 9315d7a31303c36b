// Which image supplies apt and dpkg-deb for Debian and Ubuntu images that have none
// (distroless, chiseled): a slim image of the same release.
//
//   debian                      docker.io/library/debian:<major>-slim  ("12.9" → 12, "bookworm" → 12)
//   ubuntu with a report        docker.io/library/ubuntu:<YY.MM>
//   ubuntu without a report     docker.io/library/debian:stable-slim
// Versions are compared as numbers, never as strings (copa's `version > "12"` sent Debian
// 9.13 to stable-slim).
import { numericComponents } from '../../engine/osrelease.js';
import { majorMinor, toolingError, type ToolingRule } from '../../engine/tooling.js';
import { quote } from '../../engine/errors.js';
import { codenameNumber } from './release.js';

function debianTag(version: string): string {
  const comps = numericComponents(version);
  if (comps.length > 0) return `${comps[0]}-slim`;
  // "bookworm", "trixie/sid", "sid"
  const code = version.trim().toLowerCase().split('/')[0]!;
  const n = codenameNumber(code);
  if (n !== undefined) return `${n}-slim`;
  if (code === 'sid' || code === 'unstable') return 'sid-slim';
  if (code === 'testing') return 'testing-slim';
  throw toolingError(`Debian version ${quote(version)} is neither a number nor a known codename`);
}

export const dpkgTooling: ToolingRule = ({ type, version, hasReport }) => {
  if (type === 'debian') return `docker.io/library/debian:${debianTag(version)}`;
  if (type === 'ubuntu') return hasReport ? `docker.io/library/ubuntu:${majorMinor('ubuntu', version)}` : 'docker.io/library/debian:stable-slim';
  return null;
};
