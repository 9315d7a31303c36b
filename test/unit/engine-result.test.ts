import { describe, expect, it } from 'vitest';
import { exportResult } from '../../src/engine/result.js';
import type { PatchOutcome } from '../../src/engine/patch.js';

const outcome = (id: string, arch: string) => ({ ref: { id }, config: { architecture: arch, os: 'linux' } }) as unknown as PatchOutcome;

describe('exportResult', () => {
  it('returns one ref with containerimage.config for a single platform', () => {
    const r = exportResult([[{ os: 'linux', architecture: 'amd64' }, outcome('a', 'amd64')]]);
    expect(r.ref).toEqual({ id: 'a' });
    expect(JSON.parse(r.metadata['containerimage.config']!)).toEqual({ architecture: 'amd64', os: 'linux' });
  });

  it('returns per-platform refs, configs and refs.platforms for several platforms', () => {
    const r = exportResult([
      [{ os: 'linux', architecture: 'amd64' }, outcome('a', 'amd64')],
      [{ os: 'linux', architecture: 'arm', variant: 'v7' }, outcome('b', 'arm')],
    ]);
    expect(r.refs).toEqual({ 'linux/amd64': { id: 'a' }, 'linux/arm/v7': { id: 'b' } });
    expect(Object.keys(r.metadata).sort()).toEqual(['containerimage.config/linux/amd64', 'containerimage.config/linux/arm/v7', 'refs.platforms']);
    expect(JSON.parse(r.metadata['refs.platforms']!)).toEqual({
      Platforms: [
        { ID: 'linux/amd64', Platform: { architecture: 'amd64', os: 'linux' } },
        { ID: 'linux/arm/v7', Platform: { architecture: 'arm', os: 'linux', variant: 'v7' } },
      ],
    });
  });

  it('uses the multi-platform form when asked even for one platform', () => {
    expect(exportResult([[{ os: 'linux', architecture: 'amd64' }, outcome('a', 'amd64')]], true).refs).toEqual({ 'linux/amd64': { id: 'a' } });
  });
});
