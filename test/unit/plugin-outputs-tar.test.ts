import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TarFormatError, TarParser, parsePaxRecords, safeEntryPath, type TarHeader } from '../../src/plugin/outputs/tar.js';

interface Got {
  header: TarHeader;
  data: Buffer;
}

/** Parses a whole archive, feeding it in pieces of `piece` bytes. */
async function parse(tar: Buffer, piece = 7777, opts: { requireEndMarker?: boolean } = {}): Promise<Got[]> {
  const out: Got[] = [];
  const p = new TarParser((header) => {
    const parts: Buffer[] = [];
    const g: Got = { header, data: Buffer.alloc(0) };
    out.push(g);
    return {
      data: async (c) => {
        await new Promise((r) => setImmediate(r));
        parts.push(Buffer.from(c));
      },
      end: () => {
        g.data = Buffer.concat(parts);
      },
    };
  }, opts);
  for (let i = 0; i < tar.length; i += piece) await p.write(tar.subarray(i, i + piece));
  await p.end();
  return out;
}

// ---- a minimal writer for hand-made (and malicious) archives
function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}
function header(name: string, opts: { type?: string; size?: number; linkname?: string; mode?: number; prefix?: string; magic?: 'ustar' | 'gnu' } = {}): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(opts.mode ?? 0o644, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1');
  h.write(octal(0, 8), 116, 'latin1');
  h.write(octal(opts.size ?? 0, 12), 124, 'latin1');
  h.write(octal(0, 12), 136, 'latin1');
  h.write(opts.type ?? '0', 156, 'latin1');
  if (opts.linkname) h.write(opts.linkname, 157, 100, 'utf8');
  if (opts.magic === 'gnu') h.write('ustar  \0', 257, 'latin1');
  else h.write('ustar\x0000', 257, 'latin1');
  if (opts.prefix) h.write(opts.prefix, 345, 155, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'latin1');
  return h;
}
function pad(data: Buffer): Buffer {
  const rem = data.length % 512;
  return rem ? Buffer.concat([data, Buffer.alloc(512 - rem)]) : data;
}
function entry(name: string, data: Buffer | string = '', opts: Parameters<typeof header>[1] = {}): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([header(name, { ...opts, size: opts.type && opts.type !== '0' && !['x', 'L', 'K', 'g'].includes(opts.type) ? 0 : d.length }), pad(d)]);
}
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}
const END = Buffer.alloc(1024);

function gnuTar(args: string[], cwd: string): Buffer {
  return execFileSync('tar', args, { cwd, maxBuffer: 64 * 1024 * 1024 });
}

describe('TarParser', () => {
  it('reads GNU tar archives in ustar, pax and gnu formats, with long names and big files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'copa-tar-'));
    try {
      const mid = 'd'.repeat(90);
      const long = mid + '/' + 'n'.repeat(150) + '.txt';
      const prefixed = mid + '/' + 'm'.repeat(60); // fits ustar only with the prefix field
      mkdirSync(join(dir, 'src', mid), { recursive: true });
      writeFileSync(join(dir, 'src', long), 'long name\n');
      writeFileSync(join(dir, 'src', prefixed), 'prefix\n');
      writeFileSync(join(dir, 'src', 'small'), 'hello');
      const big = Buffer.alloc(3 * 1024 * 1024 + 123);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251;
      writeFileSync(join(dir, 'src', 'big.bin'), big);
      writeFileSync(join(dir, 'src', 'ünïcode-名前.txt'), 'utf8');
      linkSync(join(dir, 'src', 'small'), join(dir, 'src', 'hard'));
      symlinkSync('small', join(dir, 'src', 'sym'));
      for (const format of ['pax', 'gnu', 'ustar']) {
        const args = ['--format', format, '-C', join(dir, 'src'), '-cf', '-', '--sort=name'];
        // ustar cannot store the 150-character file name
        if (format === 'ustar') args.push('--exclude', 'n'.repeat(150) + '.txt');
        args.push('.');
        const tar = gnuTar(args, dir);
        const got = await parse(tar, format === 'gnu' ? 512 : 100_000);
        const byPath = new Map(got.map((g) => [g.header.path.replace(/^\.\//, '').replace(/\/$/, ''), g]));
        // "hard" sorts first: it holds the data, "small" links to it.
        expect(byPath.get('hard')!.data.toString()).toBe('hello');
        expect(byPath.get('hard')!.header.type).toBe('file');
        expect(byPath.get('small')!.header).toMatchObject({ type: 'hardlink', size: 0 });
        expect(byPath.get('small')!.header.linkpath.replace(/^\.\//, '')).toBe('hard');
        expect(byPath.get('big.bin')!.data.equals(big)).toBe(true);
        expect(byPath.get('big.bin')!.header.size).toBe(big.length);
        expect(byPath.get('ünïcode-名前.txt')!.data.toString()).toBe('utf8');
        expect(byPath.get('sym')!.header).toMatchObject({ type: 'symlink', linkpath: 'small' });
        expect(byPath.get(mid)!.header.type).toBe('directory');
        expect(byPath.get(prefixed)!.data.toString()).toBe('prefix\n');
        if (format !== 'ustar') expect(byPath.get(long)!.data.toString()).toBe('long name\n');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses the ustar prefix field, PAX path/size/linkpath, and GNU L/K records', async () => {
    const tar = Buffer.concat([
      entry('file.txt', 'prefixed', { prefix: 'a/b' }),
      entry('././@PaxHeader', paxRecord('path', 'pax/very/long/' + 'x'.repeat(200)) + paxRecord('mtime', '1.5'), { type: 'x' }),
      entry('short', 'pax data'),
      entry('././@LongLink', 'gnu/' + 'y'.repeat(300) + '\0', { type: 'L', magic: 'gnu' }),
      entry('././@LongLink', 'target/' + 'z'.repeat(200) + '\0', { type: 'K', magic: 'gnu' }),
      entry('trunc', '', { type: '1', magic: 'gnu' }),
      entry('g', paxRecord('comment', 'global') + paxRecord('path', 'ignored-global-path'), { type: 'g' }),
      entry('after-global', 'x'),
      END,
    ]);
    const got = await parse(tar, 513);
    expect(got.map((g) => g.header.path)).toEqual(['a/b/file.txt', 'pax/very/long/' + 'x'.repeat(200), 'gnu/' + 'y'.repeat(300), 'after-global']);
    expect(got[0]!.data.toString()).toBe('prefixed');
    expect(got[1]!.data.toString()).toBe('pax data');
    expect(got[2]!.header).toMatchObject({ type: 'hardlink', linkpath: 'target/' + 'z'.repeat(200) });
  });

  it('reads base-256 sizes and ignores trailing bytes after the end marker', async () => {
    const h = header('b256', { size: 0 });
    // size 5 as GNU base-256
    h.fill(0, 124, 136);
    h[124] = 0x80;
    h[135] = 5;
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(octal(sum, 7) + ' ', 148, 'latin1');
    const got = await parse(Buffer.concat([h, pad(Buffer.from('12345')), END, Buffer.from('garbage after the end')]));
    expect(got).toHaveLength(1);
    expect(got[0]!.data.toString()).toBe('12345');
  });

  it('rejects archives cut at an entry boundary (unless allowed), truncated, empty and corrupt ones', async () => {
    await expect(parse(entry('a', 'x'))).rejects.toThrow(/no end-of-archive marker/);
    expect((await parse(entry('a', 'x'), 100, { requireEndMarker: false })).map((g) => g.header.path)).toEqual(['a']);
    expect((await parse(Buffer.concat([entry('a', 'x'), Buffer.alloc(512)]))).map((g) => g.header.path)).toEqual(['a']);
    const full = Buffer.concat([entry('a', 'x'.repeat(1000)), END]);
    await expect(parse(full.subarray(0, 700))).rejects.toThrow(/truncated/);
    await expect(parse(full.subarray(0, 300))).rejects.toThrow(/truncated/);
    await expect(parse(Buffer.alloc(0))).rejects.toThrow(/empty/);
    const bad = Buffer.from(full);
    bad[10] = 0x41; // name changes, checksum does not
    await expect(parse(bad)).rejects.toBeInstanceOf(TarFormatError);
    await expect(parse(Buffer.from('{"not":"a tar"}'.padEnd(600, ' ')))).rejects.toThrow(/checksum/);
    await expect(parse(Buffer.concat([entry('x', paxRecord('path', 'p'), { type: 'x' })]))).rejects.toThrow(/extended header/);
  });

  it('parses PAX records and rejects malformed ones', () => {
    expect(parsePaxRecords(Buffer.from(paxRecord('path', 'a=b') + paxRecord('size', '10')))).toEqual({ path: 'a=b', size: '10' });
    expect(() => parsePaxRecords(Buffer.from('99 path=x\n'))).toThrow(TarFormatError);
    expect(() => parsePaxRecords(Buffer.from('abc'))).toThrow(TarFormatError);
  });
});

describe('safeEntryPath', () => {
  it('normalises relative paths', () => {
    expect(safeEntryPath('./blobs/sha256/abc')).toBe('blobs/sha256/abc');
    expect(safeEntryPath('a//b/./c/')).toBe('a/b/c');
    expect(safeEntryPath('./')).toBe('');
    expect(safeEntryPath('.')).toBe('');
    expect(safeEntryPath('..foo/bar..')).toBe('..foo/bar..');
  });
  it('refuses absolute paths, .. segments and NUL bytes', () => {
    expect(() => safeEntryPath('/etc/passwd')).toThrow(/absolute/);
    expect(() => safeEntryPath('C:\\x')).toThrow(/absolute/);
    expect(() => safeEntryPath('a/../../b')).toThrow(/\.\./);
    expect(() => safeEntryPath('..')).toThrow(/\.\./);
    expect(() => safeEntryPath('a\0b')).toThrow(/NUL/);
  });
});

