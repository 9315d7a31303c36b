import { describe, expect, it } from 'vitest';
import { archTag, repositoryBaseName, resolvePatchedName } from '../../src/plugin/tags.js';

describe('resolvePatchedName', () => {
  it('appends the suffix to the source tag by default', () => {
    expect(resolvePatchedName('nginx:1.27')).toEqual({ ref: 'docker.io/library/nginx:1.27-patched', repository: 'docker.io/library/nginx', tag: '1.27-patched' });
    expect(resolvePatchedName('ghcr.io/org/app:2.1', { suffix: 'fixed' }).ref).toBe('ghcr.io/org/app:2.1-fixed');
    expect(resolvePatchedName('localhost:5000/app:v1', { suffix: '' }).ref).toBe('localhost:5000/app:v1-patched');
  });

  it('treats a name-only image as :latest', () => {
    expect(resolvePatchedName('alpine').ref).toBe('docker.io/library/alpine:latest-patched');
  });

  it('keeps the tag of a tag+digest reference', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    expect(resolvePatchedName(`nginx:1.27@${d}`).ref).toBe('docker.io/library/nginx:1.27-patched');
  });

  it('needs -t for a digest-only reference', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    expect(() => resolvePatchedName(`nginx@${d}`)).toThrow(/has no tag/);
    expect(resolvePatchedName(`nginx@${d}`, { tag: 'fixed' }).ref).toBe('docker.io/library/nginx:fixed');
  });

  it('applies a bare -t to the source repository', () => {
    expect(resolvePatchedName('registry.example.com:5000/team/app:1.0', { tag: '1.0-p1' })).toEqual({
      ref: 'registry.example.com:5000/team/app:1.0-p1',
      repository: 'registry.example.com:5000/team/app',
      tag: '1.0-p1',
    });
  });

  it('uses a full -t reference as given', () => {
    expect(resolvePatchedName('nginx:1.27', { tag: 'localhost:5000/mirror/nginx:1.27-p' }).ref).toBe('localhost:5000/mirror/nginx:1.27-p');
    expect(resolvePatchedName('nginx:1.27', { tag: 'myorg/nginx:x' }).ref).toBe('docker.io/myorg/nginx:x');
  });

  it('rejects bad -t values', () => {
    expect(() => resolvePatchedName('nginx:1', { tag: 'myorg/nginx' })).toThrow(/no tag/);
    expect(() => resolvePatchedName('nginx:1', { tag: 'localhost:5000/nginx' })).toThrow(/no tag/);
    expect(() => resolvePatchedName('nginx:1', { tag: `r/x:1@sha256:${'b'.repeat(64)}` })).toThrow(/digest/);
    expect(() => resolvePatchedName('nginx:1', { tag: '-bad' })).toThrow(/not a valid tag/);
    expect(() => resolvePatchedName('nginx:1', { suffix: 'x'.repeat(130) })).toThrow(/--tag-suffix/);
  });

  it('builds per-platform tags', () => {
    expect(archTag('1.25.0-patched', { architecture: 'arm', variant: 'v7' })).toBe('1.25.0-patched-arm-v7');
    expect(archTag('1.25.0-patched', { architecture: 'amd64' })).toBe('1.25.0-patched-amd64');
    expect(repositoryBaseName('docker.io/library/nginx')).toBe('nginx');
  });
});
