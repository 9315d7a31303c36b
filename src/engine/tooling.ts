// Which image supplies the tools (apt-get, tdnf, busybox, …) that patch an image whose own
// tools are missing or unusable (distroless images, probing, rpm database rebuilds).
//
//   debian                      docker.io/library/debian:<major>-slim  ("12.9" → 12, "bookworm" → 12)
//   ubuntu with a report        docker.io/library/ubuntu:<YY.MM>
//   ubuntu without a report     docker.io/library/debian:stable-slim
//   azurelinux                  mcr.microsoft.com/azurelinux/base/core:<major>.0
//   cbl-mariner with a report   mcr.microsoft.com/cbl-mariner/base/core:<major>.<minor> of the report
//   cbl-mariner without one,
//   centos, oracle, rocky, alma,
//   amazon, redhat, photon      mcr.microsoft.com/cbl-mariner/base/core:2.0
//   sles                        registry.suse.com/bci/bci-base:<major>.<minor>
//   opensuse-leap               registry.opensuse.org/opensuse/leap:<major>.<minor>
//   opensuse-tumbleweed         registry.opensuse.org/opensuse/tumbleweed:latest
//   alpine                      none (apk in the image is always used)
// An explicit override wins. Versions are compared as numbers, never as strings (copa's
// `version > "12"` sent Debian 9.13 to stable-slim).

import { CopaError, quote } from './errors.js';
import { normalizeImageRef } from './imageref.js';
import { canonicalType, DEBIAN_CODENAMES, numericComponents, numericParts, unsupportedOsReason } from './osrelease.js';

export interface ToolingRequest {
  /** OS type: copa's canonical name, an os-release ID or a scanner's family name. */
  type: string;
  version: string;
  /** Whether the patch is driven by a report (it changes the Ubuntu and Mariner choices). */
  hasReport: boolean;
  /** An explicit tooling image (the tooling-image option); wins when non-empty. */
  override?: string | null;
}

const MARINER_CORE = 'mcr.microsoft.com/cbl-mariner/base/core';
const AZURELINUX_CORE = 'mcr.microsoft.com/azurelinux/base/core';

function toolingError(what: string): CopaError {
  return new CopaError('image', `cannot choose a tooling image: ${what}`, {
    hint: 'pass an explicit tooling image (--tooling-image / tooling-image=<ref>) that matches the image\'s OS release',
  });
}

function debianTag(version: string): string {
  const comps = numericComponents(version);
  if (comps.length > 0) return `${comps[0]}-slim`;
  // "bookworm", "trixie/sid", "sid"
  const code = version.trim().toLowerCase().split('/')[0]!;
  if (Object.hasOwn(DEBIAN_CODENAMES, code)) return `${DEBIAN_CODENAMES[code]}-slim`;
  if (code === 'sid' || code === 'unstable') return 'sid-slim';
  if (code === 'testing') return 'testing-slim';
  throw toolingError(`Debian version ${quote(version)} is neither a number nor a known codename`);
}

/** "<major>.<minor>" as written ("22.04" stays "22.04", which is the Ubuntu tag). */
function majorMinor(type: string, version: string, fallbackMinor?: string): string {
  const p = numericParts(version);
  if (p.length >= 2) return `${p[0]}.${p[1]}`;
  if (p.length === 1 && fallbackMinor !== undefined) return `${p[0]}.${fallbackMinor}`;
  throw toolingError(`${type} version ${quote(version)} does not start with <major>.<minor>`);
}

export function toolingImageFor(req: ToolingRequest): string | null {
  if (req.override) return normalizeImageRef(req.override, 'tooling image');
  const type = canonicalType(req.type);
  if (!type) throw new CopaError('image', `cannot choose a tooling image for ${quote(req.type)}: ${unsupportedOsReason(req.type)}`);
  const major = numericComponents(req.version)[0];
  switch (type) {
    case 'alpine':
      return null;
    case 'debian':
      return `docker.io/library/debian:${debianTag(req.version)}`;
    case 'ubuntu':
      return req.hasReport ? `docker.io/library/ubuntu:${majorMinor('ubuntu', req.version)}` : 'docker.io/library/debian:stable-slim';
    case 'azurelinux':
      return `${AZURELINUX_CORE}:${major ?? 3}.0`;
    case 'cbl-mariner':
      if (major !== undefined && major >= 3) return `${AZURELINUX_CORE}:${major}.0`;
      return req.hasReport ? `${MARINER_CORE}:${majorMinor('cbl-mariner', req.version, '0')}` : `${MARINER_CORE}:2.0`;
    case 'sles':
      return `registry.suse.com/bci/bci-base:${majorMinor('sles', req.version)}`;
    case 'opensuse-leap':
      return `registry.opensuse.org/opensuse/leap:${majorMinor('opensuse-leap', req.version)}`;
    case 'opensuse-tumbleweed':
      return 'registry.opensuse.org/opensuse/tumbleweed:latest';
    case 'centos':
    case 'oracle':
    case 'rocky':
    case 'alma':
    case 'amazon':
    case 'redhat':
    case 'photon':
      return `${MARINER_CORE}:2.0`;
  }
}
