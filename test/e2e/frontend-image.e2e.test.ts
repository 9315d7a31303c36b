// The frontend image as a user gets it from Dockerfile.frontend: node and only the shared
// libraries it links on an empty base — no shell, no package manager, no npm — running as a
// non-root user, with the frontend labels BuildKit reads. (Its size is a bench figure.)
import { beforeAll, describe, expect, it } from 'vitest';
import { fetchConfig, imageFilesystem } from '../env/testbed.js';
import { frontendImage } from './support/frontend-image.js';

let ref: string;
let files: string[];

beforeAll(async () => {
  ref = await frontendImage();
  files = [...(await imageFilesystem(ref)).keys()].map((p) => p.replace(/^\/?/, '/'));
});

describe('the frontend image', () => {
  it('holds node, its shared libraries and the bundle, and nothing to run a shell or install with', () => {
    expect(files).toContain('/usr/local/bin/node');
    expect(files).toContain('/copa/frontend.mjs');
    expect(files.some((f) => /\/libc\.so\.6$/.test(f))).toBe(true);
    expect(files.some((f) => /\/libstdc\+\+\.so\.6$/.test(f))).toBe(true);
    for (const bad of [/\/bin\/(ba|da)?sh$/, /\/(apt|apt-get|dpkg|npm|npx|busybox)$/, /\/node_modules\//]) {
      expect(files.filter((f) => bad.test(f)), String(bad)).toEqual([]);
    }
  });

  it('runs as a non-root user and keeps the frontend labels', async () => {
    const cfg = await fetchConfig(ref);
    expect(cfg.config.User).toBe('65532:65532');
    expect(cfg.config.Entrypoint).toEqual(['/usr/local/bin/node', '/copa/frontend.mjs']);
    expect(cfg.config.Labels['moby.buildkit.frontend.network.none']).toBe('true');
    expect(cfg.config.Labels['moby.buildkit.frontend.caps']).toBe('moby.buildkit.frontend.inputs,moby.buildkit.frontend.contexts');
  });
});
