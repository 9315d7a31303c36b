import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import {
  GrpcCode,
  GrpcError,
  decodeStatus,
  encodeErrdefsProto,
  encodeStatus,
  exitCodeOf,
  formatStatus,
  grpcCodeName,
  statusFromTrailers,
} from '../../src/llb/grpc/status.js';

const json = (o: unknown): Uint8Array => Buffer.from(JSON.stringify(o), 'utf8');
const BK = 'github.com/moby/buildkit/';

/** Hand-build google.rpc.Status bytes with protobufjs's Writer (independent of our schema). */
function handStatus(code: number, message: string, details: Array<[string, Uint8Array]>): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 0).int32(code);
  w.uint32((2 << 3) | 2).string(message);
  for (const [url, value] of details) {
    w.uint32((3 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string(url);
    w.uint32((2 << 3) | 2).bytes(value);
    w.ldelim();
  }
  return w.finish();
}

const EXEC_MSG = 'process "/bin/sh -c apt-get install -y openssl" did not complete successfully: exit code: 100';

describe('google.rpc.Status decoding', () => {
  it('decodes an exec failure with BuildKit JSON details into a readable message', () => {
    const bytes = handStatus(GrpcCode.UNKNOWN, EXEC_MSG, [
      [BK + 'stack.Stack+json', json({ frames: [{ Name: 'main', File: 'x.go', Line: 1 }], pid: 1 })],
      [
        BK + 'errdefs.Solve+json',
        json({
          inputIDs: ['sha256:in'],
          mountIDs: ['sha256:m1'],
          op: {
            inputs: [{ digest: 'sha256:aaa', index: 0 }],
            Op: { exec: { meta: { args: ['/bin/sh', '-c', 'apt-get install -y openssl'], cwd: '/' } } },
            platform: { Architecture: 'amd64', OS: 'linux' },
          },
          description: { 'llb.customname': 'copa: install updates' },
        }),
      ],
      [BK + 'errdefs.Vertex+json', json({ digest: 'sha256:0123abcd' })],
      [BK + 'gatewayapi.ExitMessage+json', json({ Code: 100 })],
    ]);
    const st = decodeStatus(bytes);
    expect(st.code).toBe(GrpcCode.UNKNOWN);
    expect(st.message).toBe(EXEC_MSG);
    expect(st.details[0]).toEqual({ kind: 'stack' });
    expect(st.details[1]).toMatchObject({
      kind: 'solve',
      inputIDs: ['sha256:in'],
      mountIDs: ['sha256:m1'],
      args: ['/bin/sh', '-c', 'apt-get install -y openssl'],
      description: { 'llb.customname': 'copa: install updates' },
    });
    expect(st.details[2]).toEqual({ kind: 'vertex', digest: 'sha256:0123abcd' });
    expect(st.details[3]).toEqual({ kind: 'exit', exitCode: 100 });
    expect(exitCodeOf(new GrpcError(st.code, st.message, st.details))).toBe(100);
    expect(exitCodeOf(new Error('x'))).toBeUndefined();
    const text = formatStatus(st);
    expect(text.split('\n')[0]).toBe(EXEC_MSG);
    expect(text).toContain('in step: copa: install updates [sha256:0123abcd]');
  });

  it('falls back to the exec command when the step has no name', () => {
    const st = decodeStatus(
      handStatus(2, 'exit code: 1', [[BK + 'errdefs.Solve+json', json({ op: { Op: { exec: { meta: { args: ['apt-get', 'update'] } } } } })]]),
    );
    expect(formatStatus(st)).toBe('exit code: 1\n  in step: apt-get update');
  });

  it('decodes source, frontend, frontend cap and subrequest details', () => {
    const st = decodeStatus(
      handStatus(GrpcCode.UNIMPLEMENTED, 'unsupported frontend capability', [
        [BK + 'errdefs.Source+json', json({ info: { filename: 'Dockerfile', language: 'Dockerfile' }, ranges: [{ start: { line: 3 }, end: { line: 4 } }] })],
        [BK + 'errdefs.Frontend+json', json({ name: 'gateway.v0', source: 'ghcr.io/x/copa-frontend' })],
        [BK + 'errdefs.FrontendCap+json', json({ name: 'moby.buildkit.frontend.contexts' })],
        [BK + 'errdefs.Subrequest+json', json({ name: 'frontend.outline' })],
      ]),
    );
    expect(st.details).toEqual([
      { kind: 'source', filename: 'Dockerfile', language: 'Dockerfile', ranges: [{ startLine: 3, endLine: 4 }] },
      { kind: 'frontend', name: 'gateway.v0', source: 'ghcr.io/x/copa-frontend' },
      { kind: 'frontendCap', name: 'moby.buildkit.frontend.contexts' },
      { kind: 'subrequest', name: 'frontend.outline' },
    ]);
    const text = formatStatus(st);
    expect(text.split('\n')[0]).toBe('UNIMPLEMENTED: unsupported frontend capability');
    expect(text).toContain('at Dockerfile:3-4');
    expect(text).toContain('in frontend gateway.v0 (ghcr.io/x/copa-frontend)');
    expect(text).toContain('frontend capability not supported: moby.buildkit.frontend.contexts');
  });

  it('decodes protobuf-encoded errdefs details too', () => {
    const st = decodeStatus(
      encodeStatus({
        code: 2,
        message: 'failed',
        details: [
          { typeUrl: 'type.googleapis.com/errdefs.Vertex', value: encodeErrdefsProto('Vertex', { digest: 'sha256:pp' }) },
          { typeUrl: 'type.googleapis.com/errdefs.Solve', value: encodeErrdefsProto('Solve', { inputIDs: ['a'], description: { 'llb.customname': 'step x' } }) },
          { typeUrl: 'type.googleapis.com/errdefs.Frontend', value: encodeErrdefsProto('Frontend', { name: 'dockerfile.v0' }) },
        ],
      }),
    );
    expect(st.details[0]).toEqual({ kind: 'vertex', digest: 'sha256:pp' });
    expect(st.details[1]).toMatchObject({ kind: 'solve', inputIDs: ['a'], description: { 'llb.customname': 'step x' } });
    expect(st.details[2]).toEqual({ kind: 'frontend', name: 'dockerfile.v0', source: '' });
    expect(formatStatus(st)).toBe('failed\n  in step: step x [sha256:pp]\n  in frontend dockerfile.v0');
  });

  it('keeps unknown and undecodable details as unknown', () => {
    const st = decodeStatus(
      handStatus(2, 'x', [
        ['type.googleapis.com/google.rpc.ErrorInfo', new Uint8Array([1, 2])],
        [BK + 'errdefs.Vertex+json', Buffer.from('{not json')],
      ]),
    );
    expect(st.details.map((d) => d.kind)).toEqual(['unknown', 'unknown']);
    expect(formatStatus(st)).toBe('x');
  });

  it('prefers the header code/message and tolerates garbage details', () => {
    const details = handStatus(2, 'inner', [[BK + 'errdefs.Vertex+json', json({ digest: 'sha256:v' })]]);
    expect(statusFromTrailers(5, 'outer', details)).toEqual({ code: 5, message: 'outer', details: [{ kind: 'vertex', digest: 'sha256:v' }] });
    expect(statusFromTrailers(5, '', details).message).toBe('inner');
    expect(statusFromTrailers(13, 'm', Buffer.from([0xff, 0xff, 0xff]))).toEqual({ code: 13, message: 'm', details: [] });
  });

  it('builds GrpcError messages', () => {
    const e = new GrpcError(GrpcCode.NOT_FOUND, 'no such job abc');
    expect(e.message).toBe('NOT_FOUND: no such job abc');
    expect(e.codeName).toBe('NOT_FOUND');
    expect(new GrpcError(GrpcCode.UNKNOWN, 'plain').message).toBe('plain');
    expect(new GrpcError(GrpcCode.CANCELLED, '').message).toBe('CANCELLED');
    expect(grpcCodeName(99)).toBe('CODE_99');
  });
});
