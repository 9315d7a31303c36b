// Which image supplies the RPM tools (tdnf, dnf, rpm) that patch an RPM-based image whose
// own tools are missing (distroless Mariner/Azure Linux) — the first piece of the rpm
// family, whose package manager module comes next.
//
//   azurelinux                  mcr.microsoft.com/azurelinux/base/core:<major>.0
//   cbl-mariner with a report   mcr.microsoft.com/cbl-mariner/base/core:<major>.<minor> of the report
//   cbl-mariner without one,
//   centos, oracle, rocky, alma,
//   amazon, redhat, photon      mcr.microsoft.com/cbl-mariner/base/core:2.0
//   sles                        registry.suse.com/bci/bci-base:<major>.<minor>
//   opensuse-leap               registry.opensuse.org/opensuse/leap:<major>.<minor>
//   opensuse-tumbleweed         registry.opensuse.org/opensuse/tumbleweed:latest
import { numericComponents } from '../../engine/osrelease.js';
import { majorMinor, type ToolingRule } from '../../engine/tooling.js';

const MARINER_CORE = 'mcr.microsoft.com/cbl-mariner/base/core';
const AZURELINUX_CORE = 'mcr.microsoft.com/azurelinux/base/core';

export const rpmTooling: ToolingRule = ({ type, version, hasReport }) => {
  const major = numericComponents(version)[0];
  switch (type) {
    case 'azurelinux':
      return `${AZURELINUX_CORE}:${major ?? 3}.0`;
    case 'cbl-mariner':
      if (major !== undefined && major >= 3) return `${AZURELINUX_CORE}:${major}.0`;
      return hasReport ? `${MARINER_CORE}:${majorMinor('cbl-mariner', version, '0')}` : `${MARINER_CORE}:2.0`;
    case 'sles':
      return `registry.suse.com/bci/bci-base:${majorMinor('sles', version)}`;
    case 'opensuse-leap':
      return `registry.opensuse.org/opensuse/leap:${majorMinor('opensuse-leap', version)}`;
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
    default:
      return null;
  }
};
