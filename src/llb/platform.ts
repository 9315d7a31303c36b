// Platforms as LLB uses them, normalised the way containerd's platforms.Normalize does.

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

function normalizeOS(os: string): string {
  if (os === '') return 'linux';
  const l = os.toLowerCase();
  return l === 'macos' ? 'darwin' : l;
}

function normalizeArch(arch: string, variant: string): [string, string] {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      a = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      a = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      a = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      a = 'arm';
      v = 'v7';
      break;
    case 'armel':
      a = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = 'v' + v;
      break;
  }
  return [a, v];
}

/** Canonical form: lower-case, aliases resolved (x86_64→amd64, aarch64→arm64, arm→arm/v7, arm64/v8→arm64). */
export function normalizePlatform(p: Platform): Platform {
  const os = normalizeOS(p.os);
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? '');
  return variant ? { os, architecture, variant } : { os, architecture };
}

const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** The host's platform as a Linux container platform (Go's normalised DefaultSpec, with os=linux). */
export function defaultPlatform(): Platform {
  return normalizePlatform({ os: 'linux', architecture: NODE_ARCH[process.arch] ?? process.arch });
}

/** "os/arch[/variant]" */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}
