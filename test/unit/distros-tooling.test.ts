import { describe, expect, it } from 'vitest';
import { CopaError } from '../../src/engine/errors.js';
import { toolingImageFor } from '../../src/distros/index.js';

const MARINER2 = 'mcr.microsoft.com/cbl-mariner/base/core:2.0';

describe('toolingImageFor', () => {
  it.each([
    // type, version, hasReport, expected
    ['debian', '12', false, 'docker.io/library/debian:12-slim'],
    ['debian', '12', true, 'docker.io/library/debian:12-slim'],
    ['debian', '12.9', true, 'docker.io/library/debian:12-slim'], // copa's string compare gave stable-slim (#929)
    ['debian', '9.13', true, 'docker.io/library/debian:9-slim'], // "9.13" > "12" as strings; not as numbers
    ['debian', '10.1', true, 'docker.io/library/debian:10-slim'],
    ['debian', '11', false, 'docker.io/library/debian:11-slim'],
    ['debian', 'bookworm', false, 'docker.io/library/debian:12-slim'],
    ['debian', 'trixie/sid', true, 'docker.io/library/debian:13-slim'],
    ['debian', 'sid', false, 'docker.io/library/debian:sid-slim'],
    ['ubuntu', '22.04', true, 'docker.io/library/ubuntu:22.04'],
    ['ubuntu', '18.04', true, 'docker.io/library/ubuntu:18.04'],
    ['ubuntu', '22.04', false, 'docker.io/library/debian:stable-slim'],
    ['azurelinux', '3.0', true, 'mcr.microsoft.com/azurelinux/base/core:3.0'],
    ['azurelinux', '3.0.20240727', false, 'mcr.microsoft.com/azurelinux/base/core:3.0'],
    ['cbl-mariner', '1.0', true, 'mcr.microsoft.com/cbl-mariner/base/core:1.0'],
    ['cbl-mariner', '2.0.20240123', true, 'mcr.microsoft.com/cbl-mariner/base/core:2.0'],
    ['mariner', '1.0', false, MARINER2],
    ['cbl-mariner', '3.0', true, 'mcr.microsoft.com/azurelinux/base/core:3.0'],
    ['centos', '7.6.1810', true, MARINER2],
    ['oracle', '8.0', true, MARINER2],
    ['ol', '9.3', false, MARINER2],
    ['rocky', '8.5', true, MARINER2],
    ['alma', '8.5', true, MARINER2],
    ['almalinux', '9', false, MARINER2],
    ['amazon', '2 (Karoo)', true, MARINER2],
    ['amzn', '2023', false, MARINER2],
    ['redhat', '7.7', true, MARINER2],
    ['rhel', '9.3', false, MARINER2],
    ['photon', '3.0', true, MARINER2],
    ['sles', '15.6', true, 'registry.suse.com/bci/bci-base:15.6'],
    ['suse linux enterprise server', '15.5', true, 'registry.suse.com/bci/bci-base:15.5'],
    ['opensuse-leap', '15.1', true, 'registry.opensuse.org/opensuse/leap:15.1'],
    ['opensuse-tumbleweed', '20240101', false, 'registry.opensuse.org/opensuse/tumbleweed:latest'],
    ['alpine', '3.19.1', true, 'docker.io/library/alpine:3.19'],
    ['alpine', '3.19.1', false, 'docker.io/library/alpine:3.19'],
    ['alpine', '3.20.3', true, 'docker.io/library/alpine:3.20'],
    ['alpine', '3.20', false, 'docker.io/library/alpine:3.20'],
  ] as [string, string, boolean, string | null][])('%s %s (report: %s) → %s', (type, version, hasReport, want) => {
    expect(toolingImageFor({ type, version, hasReport })).toBe(want);
  });

  it('an explicit override wins, normalised', () => {
    expect(toolingImageFor({ type: 'debian', version: '12', hasReport: true, override: 'my.registry:5000/tools/debian:12' })).toBe('my.registry:5000/tools/debian:12');
    expect(toolingImageFor({ type: 'alpine', version: '3.19', hasReport: false, override: 'busybox' })).toBe('docker.io/library/busybox:latest');
    expect(toolingImageFor({ type: 'debian', version: '12', hasReport: false, override: '' })).toBe('docker.io/library/debian:12-slim');
    expect(toolingImageFor({ type: 'debian', version: '12', hasReport: false, override: null })).toBe('docker.io/library/debian:12-slim');
  });

  it('a bad override is an input error', () => {
    expect(() => toolingImageFor({ type: 'debian', version: '12', hasReport: false, override: 'Bad Image' })).toThrow(/tooling image "Bad Image" is not a valid image reference/);
  });

  it('explains what to do when no image fits', () => {
    const cases: [string, string, boolean][] = [
      ['debian', 'unknowncodename', false],
      ['ubuntu', 'jammy', true],
      ['sles', '15', true],
      ['alpine', 'edge', false],
      ['plan9', '4', true],
    ];
    for (const [type, version, hasReport] of cases) {
      try {
        toolingImageFor({ type, version, hasReport });
        throw new Error(`expected an error for ${type} ${version}`);
      } catch (e) {
        expect(e).toBeInstanceOf(CopaError);
        expect((e as CopaError).category).toBe('image');
      }
    }
    expect(() => toolingImageFor({ type: 'debian', version: 'unknowncodename', hasReport: false })).toThrow(/neither a number nor a known codename/);
  });
});
