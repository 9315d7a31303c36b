import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  OciDirWriter,
  checkOciDirDestination,
  createOciDirTarget,
  mergeIndexManifests,
  writeOciLayout,
  type OciIndex,
} from '../../src/plugin/outputs/oci-dir.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'copa-ocidir-'));
  dirs.push(d);
  return d;
}
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Writes an OCI layout with one image (config + one layer + manifest) into dir; returns the manifest digest. */
function makeLayout(dir: string, opts: { layer: string; name?: string }): { manifest: string; layer: string } {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (content: string) => {
    const h = sha(content);
    writeFileSync(join(dir, 'blobs', 'sha256', h), content);
    return { digest: `sha256:${h}`, size: Buffer.byteLength(content) };
  };
  const layer = put(opts.layer);
  const config = put(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
  const manifest = put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  const index: OciIndex = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        ...(opts.name ? { annotations: { 'org.opencontainers.image.ref.name': opts.name } } : {}),
      },
    ],
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { manifest: manifest.digest, layer: layer.digest };
}

function tarOf(dir: string): Buffer {
  return execFileSync('tar', ['--format', 'pax', '-C', dir, '-cf', '-', '.'], { maxBuffer: 64 * 1024 * 1024 });
}

function chunks(buf: Buffer, size = 1000): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

function leftovers(parent: string): string[] {
  return readdirSync(parent).filter((n) => n.includes('copa-tmp'));
}

// minimal tar writer for hand-made archives
function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}
function entry(name: string, data: string | Buffer = '', type = '0', linkname = ''): Buffer {
  const d = Buffer.from(data);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1');
  h.write(octal(0, 8), 116, 'latin1');
  h.write(octal(type === '0' ? d.length : 0, 12), 124, 'latin1');
  h.write(octal(0, 12), 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\x0000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'latin1');
  const rem = d.length % 512;
  return Buffer.concat([h, type === '0' ? d : Buffer.alloc(0), type === '0' && rem ? Buffer.alloc(512 - rem) : Buffer.alloc(0)]);
}
const END = Buffer.alloc(1024);
const LAYOUT_FILE = entry('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));

describe('OCI layout directory output', () => {
  it('creates a new directory (and its parents) atomically from the tarball', async () => {
    const src = tmp();
    const { manifest, layer } = makeLayout(src, { layer: 'layer one', name: 'patched' });
    const base = tmp();
    const dest = join(base, 'nested', 'layout');
    const res = await writeOciLayout(chunks(tarOf(src)), dest);
    expect(res).toMatchObject({ path: dest, merged: false, blobs: 3, newBlobs: 3 });
    expect(res.manifests.map((m) => m.digest)).toEqual([manifest]);
    expect(readFileSync(join(dest, 'blobs', 'sha256', layer.slice(7)), 'utf8')).toBe('layer one');
    expect(JSON.parse(readFileSync(join(dest, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(leftovers(join(base, 'nested'))).toEqual([]);
  });

  it('replaces an empty directory and refuses a non-empty one that is not a layout', async () => {
    const src = tmp();
    makeLayout(src, { layer: 'x' });
    const base = tmp();
    const empty = join(base, 'empty');
    mkdirSync(empty);
    expect(await checkOciDirDestination(empty)).toBe('replace-empty');
    await writeOciLayout(chunks(tarOf(src)), empty);
    expect(existsSync(join(empty, 'index.json'))).toBe(true);

    const busy = join(base, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    await expect(checkOciDirDestination(busy)).rejects.toThrow(/exists, is not empty and is not an OCI image layout/);
    await expect(writeOciLayout(chunks(tarOf(src)), busy)).rejects.toThrow(/is not empty/);
    expect(readdirSync(busy)).toEqual(['notes.txt']);
    const file = join(base, 'file');
    writeFileSync(file, 'x');
    await expect(checkOciDirDestination(file)).rejects.toThrow(/not a directory/);
    expect(await checkOciDirDestination(join(base, 'new'))).toBe('create');
    expect(leftovers(base)).toEqual([]);
  });

  it('merges into an existing layout: new blobs, new manifest, the ref name moves', async () => {
    const dest = tmp();
    const first = makeLayout(dest, { layer: 'old layer', name: 'latest' });
    const src = tmp();
    const second = makeLayout(src, { layer: 'new layer', name: 'latest' });
    // an unrelated second tag in the destination survives
    const idx = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8')) as OciIndex;
    idx.manifests.push({ ...idx.manifests[0]!, annotations: { 'org.opencontainers.image.ref.name': 'keep' } });
    writeFileSync(join(dest, 'index.json'), JSON.stringify(idx));

    expect(await checkOciDirDestination(dest)).toBe('merge');
    const res = await writeOciLayout(chunks(tarOf(src), 333), dest);
    expect(res.merged).toBe(true);
    expect(res.newBlobs).toBe(3);
    const merged = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8')) as OciIndex;
    expect(merged.manifests.map((m) => [m.digest, m.annotations?.['org.opencontainers.image.ref.name']])).toEqual([
      [first.manifest, 'keep'],
      [second.manifest, 'latest'],
    ]);
    expect(readFileSync(join(dest, 'blobs', 'sha256', first.layer.slice(7)), 'utf8')).toBe('old layer');
    expect(readFileSync(join(dest, 'blobs', 'sha256', second.layer.slice(7)), 'utf8')).toBe('new layer');
    expect(leftovers(dest)).toEqual([]);
    expect(leftovers(join(dest, '..')).filter((n) => n.startsWith('.' + dest.split('/').pop()))).toEqual([]);

    // the same export again: nothing new, no duplicate entries
    const again = await writeOciLayout(chunks(tarOf(src)), dest);
    expect(again.newBlobs).toBe(0);
    const after = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8')) as OciIndex;
    expect(after.manifests).toHaveLength(2);
  });

  it('mergeIndexManifests keeps unrelated entries and drops exact unnamed duplicates', () => {
    const m = (digest: string, name?: string) => ({ mediaType: 'x', digest, size: 1, ...(name ? { annotations: { 'org.opencontainers.image.ref.name': name } } : {}) });
    expect(mergeIndexManifests([m('sha256:a', 'v1'), m('sha256:b'), m('sha256:c', 'v2')], [m('sha256:b'), m('sha256:d', 'v2')])).toEqual([
      m('sha256:a', 'v1'),
      m('sha256:b'),
      m('sha256:d', 'v2'),
    ]);
  });

  const bad: Array<[string, () => Buffer, RegExp]> = [
    ['an absolute path', () => Buffer.concat([LAYOUT_FILE, entry('/etc/evil', 'x'), END]), /absolute/],
    ['a .. path', () => Buffer.concat([LAYOUT_FILE, entry('blobs/../../evil', 'x'), END]), /\.\./],
    ['a symlink', () => Buffer.concat([LAYOUT_FILE, entry('blobs', '', '2', '/etc'), END]), /symbolic link/],
    ['a hard link out of the archive', () => Buffer.concat([LAYOUT_FILE, entry('x', '', '1', '../../etc/passwd'), END]), /\.\./],
    ['a hard link to nothing', () => Buffer.concat([LAYOUT_FILE, entry('x', '', '1', 'nothing'), END]), /hard link/],
    ['a device', () => Buffer.concat([LAYOUT_FILE, entry('dev', '', '3'), END]), /char-device/],
    ['a corrupt blob', () => Buffer.concat([LAYOUT_FILE, entry(`blobs/sha256/${sha('right')}`, 'wrong'), END]), /corrupt/],
    ['no index.json', () => Buffer.concat([LAYOUT_FILE, END]), /no index\.json/],
    ['no oci-layout', () => Buffer.concat([entry('index.json', '{"schemaVersion":2,"manifests":[]}'), END]), /no oci-layout/],
    ['a missing manifest blob', () => Buffer.concat([LAYOUT_FILE, entry('index.json', JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'm', digest: `sha256:${sha('m')}`, size: 1 }] })), END]), /blob is missing/],
    ['a truncated stream', () => Buffer.concat([LAYOUT_FILE, entry('blobs/sha256/x', 'y'.repeat(2000))]).subarray(0, 1500), /truncated/],
    ['something that is not a tar', () => Buffer.from('<html>502 Bad Gateway</html>'.padEnd(1024, ' ')), /checksum/],
  ];
  for (const [what, make, re] of bad) {
    it(`fails cleanly on ${what}, leaving nothing behind`, async () => {
      const base = tmp();
      const dest = join(base, 'out');
      await expect(writeOciLayout(chunks(make(), 100), dest)).rejects.toThrow(re);
      expect(readdirSync(base)).toEqual([]);
    });
  }

  it('a failed merge leaves the existing layout as it was', async () => {
    const dest = tmp();
    makeLayout(dest, { layer: 'old', name: 'v1' });
    const before = readFileSync(join(dest, 'index.json'), 'utf8');
    const entries = readdirSync(join(dest, 'blobs', 'sha256')).sort();
    await expect(writeOciLayout(chunks(Buffer.concat([LAYOUT_FILE, entry(`blobs/sha256/${sha('a')}`, 'b'), END])), dest)).rejects.toThrow(/corrupt/);
    expect(readFileSync(join(dest, 'index.json'), 'utf8')).toBe(before);
    expect(readdirSync(join(dest, 'blobs', 'sha256')).sort()).toEqual(entries);
    expect(leftovers(join(dest, '..')).filter((n) => n.startsWith('.' + dest.split('/').pop()))).toEqual([]);
  });

  it('as a FileSend target: open → write → finish resolves the result; cancel removes the temp dir', async () => {
    const src = tmp();
    const { manifest } = makeLayout(src, { layer: 'z', name: 'n' });
    const base = tmp();
    const t = createOciDirTarget(join(base, 'a'));
    expect(t.opened).toBe(false);
    const w = (await t.open({ 'containerimage.digest': manifest }))!;
    expect(t.opened).toBe(true);
    expect(leftovers(base)).toHaveLength(1);
    w.end(tarOf(src));
    const res = await t.result;
    expect(res.exporterMetadata).toEqual({ 'containerimage.digest': manifest });
    expect(res.manifests[0]!.digest).toBe(manifest);
    expect(leftovers(base)).toEqual([]);

    const t2 = createOciDirTarget(join(base, 'b'));
    const w2 = (await t2.open({}))!;
    w2.write(tarOf(src).subarray(0, 2048));
    t2.cancel(new Error('build failed'));
    await expect(t2.result).rejects.toThrow('build failed');
    if (!w2.closed) await new Promise((r) => w2.once('close', r));
    expect(leftovers(base)).toEqual([]);
    expect(existsSync(join(base, 'b'))).toBe(false);

    const t3 = createOciDirTarget(join(base, 'c'));
    t3.cancel();
    await expect(t3.result).rejects.toThrow(/cancelled/);
    await expect(t3.open({})).rejects.toThrow(/cancelled/);
  });

  it('OciDirWriter reports the temp dir next to the destination', async () => {
    const base = tmp();
    const w = await OciDirWriter.open(join(base, 'x'));
    expect(leftovers(base)).toEqual(['.x.copa-tmp-' + leftovers(base)[0]!.split('.copa-tmp-')[1]]);
    w.destroy();
    await new Promise((r) => w.once('close', r));
    expect(leftovers(base)).toEqual([]);
  });
});
