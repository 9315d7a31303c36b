import { CopaError } from '../engine/errors.js';
import { dpkg } from './dpkg.js';
import type { ImageOs, PackageManager } from './types.js';

const managers: Partial<Record<ImageOs['pkgFamily'], PackageManager>> = { deb: dpkg };

export function managerFor(os: ImageOs): PackageManager {
  const m = managers[os.pkgFamily];
  if (!m) throw new CopaError('image', `${os.type} ${os.version} images (${os.pkgFamily} packages) are not supported yet`, { hint: 'supported: Debian and Ubuntu' });
  return m;
}
