// Golden vectors: the same graphs built with BuildKit's Go client (client/llb,
// github.com/moby/buildkit v0.34.2) and marshalled there. The expected values are the
// op digests in Definition order and the sha256 of Go's deterministic marshal of the
// whole pb.Definition (which also covers metadata and caps): equal sha256 means equal
// bytes. The throwaway Go program that produced them is not part of the repo.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { State, FileAction, encodeDefinition, type Definition, type MarshalOptions } from '../../src/llb/index.js';

const amd64 = { os: 'linux', architecture: 'amd64' };

interface Case {
  name: string;
  build: () => State;
  opts?: MarshalOptions;
}

const ALL_CAPS_NO_DEFAULTPATH_MARKER = 'exec.meta.base';

function cases(): Case[] {
  const out: Case[] = [];
  const add = (name: string, build: () => State, opts?: MarshalOptions) => out.push({ name, build, opts });

  add('image-default', () => State.image('debian:12'));
  add('image-platform', () => State.image('alpine', { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }));
  add('image-pull-name', () => State.image('ghcr.io/org/tool:1.2', { resolveMode: 'pull', name: 'tooling' }));
  add('image-local-digest', () =>
    State.image('localhost:5000/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', { resolveMode: 'local' }),
  );

  const execFull = () => {
    const base = State.image('debian:12-slim').withEnv('PATH', '/usr/local/bin:/usr/bin:/bin').withEnv('LANG', 'C.UTF-8').withCwd('/work').withUser('app');
    const other = State.image('busybox:1.36');
    return base.run({
      args: ['sh', '-c', 'echo hi > /out/x'],
      env: { DEBIAN_FRONTEND: 'noninteractive', PATH: '/sbin:/bin' },
      cwd: 'sub',
      user: 'root',
      network: 'none',
      mounts: [
        { dest: '/src', source: other, readonly: true, selector: '/bin' },
        { dest: '/var/cache/apt', type: 'cache', cacheId: 'apt-cache', sharing: 'locked' },
        { dest: '/tmp', type: 'tmpfs', tmpfsSize: 64 << 20 },
        { dest: '/out' },
        { dest: '/rw', source: other },
        { dest: '/noout', source: other, noOutput: true },
      ],
      name: 'exec everything',
      ignoreCache: true,
      validExitCodes: [0, 1],
    });
  };
  add('exec-full-root', () => execFull().root());
  add('exec-full-out', () => execFull().getMount('/out'));
  add('exec-full-rw', () => execFull().getMount('/rw'));

  add('exec-host-scratch', () => State.scratch().run({ args: ['/bin/true'], network: 'host', mounts: [{ dest: '/tmp', type: 'tmpfs' }] }).root());
  add('exec-cache-private', () =>
    State.image('debian:12')
      .run({
        args: ['true'],
        mounts: [
          { dest: '/c', type: 'cache', cacheId: 'c1', sharing: 'private' },
          { dest: '/s', type: 'cache', cacheId: 'c2', sharing: 'shared' },
        ],
      })
      .root(),
  );
  add('exec-state-platform', () => State.image('debian:12', { platform: { os: 'linux', architecture: 'arm64' } }).run({ args: ['uname', '-m'] }).root());
  add('exec-withplatform', () => State.image('debian:12').withPlatform({ os: 'linux', architecture: 'arm' }).run({ args: ['uname', '-m'] }).root());
  add('exec-input-dedup', () => {
    const img = State.image('debian:12');
    return img.run({ args: ['true'], mounts: [{ dest: '/a', source: img, readonly: true }, { dest: '/b', source: img }] }).getMount('/b');
  });
  add('exec-mount-order', () =>
    State.image('debian:12')
      .run({ args: ['true'], mounts: [{ dest: '/z' }, { dest: '/a' }, { dest: '/m/n' }, { dest: '/m' }] })
      .getMount('/m'),
  );

  add('file-chain', () => {
    const base = State.image('debian:12').withCwd('/work');
    const src1 = State.image('busybox:1.36').withCwd('/bin');
    const src2 = State.image('alpine:3.20');
    const fa = FileAction.mkdir('/a/b', 0o755, { makeParents: true, owner: { uid: 1000, gid: 1000 } })
      .mkfile('rel.txt', 0o4644, 'hello\n', { owner: { uid: 0, gid: 0 } })
      .rm('/etc/junk*', { allowNotFound: true, allowWildcard: true })
      .copy(src1, 'busybox', '/copied/', {
        createDestPath: true,
        allowWildcard: true,
        copyDirContentsOnly: true,
        followSymlinks: true,
        mode: 0o640,
        owner: { uid: 1, gid: 2 },
      })
      .copy(src2, '/etc/os-release', 'dst/.', { includePatterns: ['*.conf'], excludePatterns: ['x'], allowEmptyWildcard: true })
      .copy(src1, '/bin/sh', '/sh2')
      .symlink('/a/b/rel', '/link');
    return base.file(fa, { name: 'file chain', ignoreCache: true });
  });
  add('file-scratch', () => State.scratch().file(FileAction.mkfile('/hello', 0o644, 'hi')));
  add('file-copy-scratch-src', () => State.image('debian:12').file(FileAction.copy(State.scratch(), '/', '/x')));
  add('file-mkdir-zero-owner', () =>
    State.scratch().file(FileAction.mkdir('/d', 0o700, { owner: { uid: 0, gid: 0 } }).mkfile('/d/e', 0o600, new Uint8Array())),
  );

  const img = () => State.image('debian:12');
  const after = (i: State) => i.run({ args: ['sh', '-c', 'touch /x'] }).root();
  add('diff', () => {
    const i = img();
    return State.diff(i, after(i));
  });
  add('merge', () => {
    const i = img();
    return State.merge([i, State.diff(i, after(i)), State.scratch(), State.image('busybox:1.36')], { name: 'merged' });
  });
  add('merge-single', () => State.merge([State.scratch(), img()]));
  add('merge-dup', () => {
    const i = img();
    return State.merge([i, i]);
  });
  add('diff-upper-scratch', () => State.diff(img(), State.scratch(), { name: 'nothing' }));
  add('diff-lower-scratch', () => State.diff(State.scratch(), after(img())));

  add('proof', () => {
    const base = State.image('debian:12');
    const a = base.run({ args: ['sh', '-c', 'echo proof > /proof.txt'], name: 'write proof' }).root();
    return State.merge([base, State.diff(base, a, { name: 'patch layer' })], { name: 'patched' });
  });

  add('fromdef-run', () => {
    const i = img();
    const other = State.image('busybox:1.36');
    const def = State.merge([i, State.diff(i, after(i)), other], { name: 'merged' }).marshal({ platform: amd64 });
    return State.fromDefinition(def).run({ args: ['ls', '/'], mounts: [{ dest: '/m', source: other, readonly: true }] }).root();
  });

  const capExec = () => State.image('debian:12').run({ args: ['env'] }).root();
  add('caps-setsdefaultpath', capExec, { platform: amd64, llbCaps: ['exec.meta.setsdefaultpath', ALL_CAPS_NO_DEFAULTPATH_MARKER] });
  add('caps-no-defaultpath', capExec, { platform: amd64, llbCaps: [ALL_CAPS_NO_DEFAULTPATH_MARKER] });

  add('local-session', () => State.local('context', { sessionId: 'sess', followPaths: ['report.json', '<a&b>'], sharedKeyHint: 'context' }));
  add('local-unique', () => State.local('ctx', { excludePatterns: ['*.tmp'], differ: 'none' }), { platform: amd64, localUniqueId: 'fixedid' });

  add('marshal-platform-arm64v8', () => State.image('debian:12').run({ args: ['true'] }).root(), {
    platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  });

  add('image-config', () =>
    State.image('debian:12', { imageConfig: { Env: ['PATH=/usr/bin', 'EMPTY=', 'NOVAL', '=bad', 'A=b=c'], WorkingDir: '/srv', User: 'nobody' } })
      .run({ args: ['env'] })
      .root(),
  );
  return out;
}

function marshalCase(c: Case): Definition {
  return c.build().marshal(c.opts ?? { platform: amd64 });
}

const sha256hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// Generated from the Go program's output: op digests in order, then sha256(Definition).
const GOLDEN: Record<string, { ops: string[]; def: string }> = {
  'image-default': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:394f0d95c6da989f50c68089e25e7950e222f524f9e09ebdf885f5534f175009',
    ],
    def: '526900fde81a14754c1b35d62b1e55bf37284cf12b303468712046ec6ca84a0b',
  },
  'image-platform': {
    ops: [
      'sha256:7493a7d80631890e2d3c092b6ee48461a98bff03aecfaddece2e66b5cbe800e1',
      'sha256:f9bc39e2f72120d527fc5b8bc75cafed6268a2bb9b580640ca200abf01b03eaa',
    ],
    def: '002c3ca8a0ec8ba837e0a6e35e583577b3e635c592e262a912c501cc2bea42ab',
  },
  'image-pull-name': {
    ops: [
      'sha256:8e9125e8ae37279fa769d72ce249f6849953f3b42b1a6c9a1e7c9a2ab383714f',
      'sha256:6e6fa809ee7dab8fa8f53bcac0b2821b7c50a6e97b82fc39454b5057e5f98eb5',
    ],
    def: '1878f0b5d968f60e862961fbccf25e9882f9e6aec0047f66d497b1036f7894f6',
  },
  'image-local-digest': {
    ops: [
      'sha256:431b686de4a5b59410886e31e8e5eb14ea2ba842f87653b637902a929b2e6f7a',
      'sha256:2a9b03e97757be880003671b6d010c9424f851a37170d11e2eeb51abb184be7b',
    ],
    def: '9688553f49a2e26daea5858e62dbb3a577b61717dbece0f0fa6a00a64d5e9ceb',
  },
  'exec-full-root': {
    ops: [
      'sha256:6022efae3388a9796bfbe3c43ee999ae83c8caf591e3cee0f41d5a9f667523ce',
      'sha256:2132ad756b1ea95fd378f4d4d08dbce18b39d0f4da6c24ddf3b8b7dc36c3507e',
      'sha256:bf46e6dc785dfe6b75b8fe4019c4d60bdefb4ce957763b24cd66364d6f93be12',
      'sha256:fb7193ddd48ba8212700998524138923bc155a94ed6d638a0e5bc497f6652daa',
    ],
    def: 'a563db7daf48faea6f1a4994957868688d1f5183b5bb51a23315424b83c1b135',
  },
  'exec-full-out': {
    ops: [
      'sha256:6022efae3388a9796bfbe3c43ee999ae83c8caf591e3cee0f41d5a9f667523ce',
      'sha256:2132ad756b1ea95fd378f4d4d08dbce18b39d0f4da6c24ddf3b8b7dc36c3507e',
      'sha256:bf46e6dc785dfe6b75b8fe4019c4d60bdefb4ce957763b24cd66364d6f93be12',
      'sha256:3572ee8be541b0a5be650a6c70edf0da7f297818f9296add15be2ecc3fb266b6',
    ],
    def: '8030a97e2e0dbc633747c5297293c975282c73873a5862742a96e0740abbcc62',
  },
  'exec-full-rw': {
    ops: [
      'sha256:6022efae3388a9796bfbe3c43ee999ae83c8caf591e3cee0f41d5a9f667523ce',
      'sha256:2132ad756b1ea95fd378f4d4d08dbce18b39d0f4da6c24ddf3b8b7dc36c3507e',
      'sha256:bf46e6dc785dfe6b75b8fe4019c4d60bdefb4ce957763b24cd66364d6f93be12',
      'sha256:6daa774dec6c9f4940f797bbf5b242f17f29f449d75d5b4b6bbda1c606d3b4f3',
    ],
    def: '0a49d23fe885c26ffb4fe6975d3ec44a9019ae62af3f5cb0e38a3ea18741b364',
  },
  'exec-host-scratch': {
    ops: [
      'sha256:cefc7d761c86ea25375a439ddcfa34c7e4ff0dbf6549c618189567311b632fb3',
      'sha256:82309a7bc273ca076ac1b12b1abb8b826725bcad36113a45015e9736f600d6e7',
    ],
    def: 'c76dfbad3d6df0e7678ae3ae546b8c77c61a75cdae82612e4cee6e9a52e2ff4e',
  },
  'exec-cache-private': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:86aa36fc91c891b86255de0177edaf32f3e44758d895a80d0c87d12259d4863f',
      'sha256:4c695bea59f87e9837896a6b029c309b4df7a1db72d86a0dbf4a4430e8d844fe',
    ],
    def: 'e98d4c536c4f9def55f1b36004bb29f16e1f63c55515603f421a3eae36be79c0',
  },
  'exec-state-platform': {
    ops: [
      'sha256:68bfa5cfc83f4339521d5826d29eb3f96d59edbbd57c9888ed870d7dbf3fda0c',
      'sha256:614aefcded05ec1b7af9ec3491748279d6d56be1a28117a939c8599e5a05adc5',
      'sha256:3c263b77f2c7286cc95976462b03e5596c6398af5339d6e59445d5e9f54f5b31',
    ],
    def: 'a1e5dc54ddf5ce2f488bb53e57d7047ec2e25bffc9daeeb3e39941c97d67147f',
  },
  'exec-withplatform': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:b3f55cf7149dd3a25fa87ac284914801dbfc7795706c60d03f95e44fd1fd0765',
      'sha256:931229ad1fa6056ba60c66e94cded299ab2f781d5ed301eaa2efa95005ef58e3',
    ],
    def: '83d5dec58906e867d7cfafcd7806ca9831d96d7facd13dbd87d6c2ce3a6bb029',
  },
  'exec-input-dedup': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:5a4d92284ef3589d82aa84588fd3bd868795b1adba1bd8aa0598b6579fc61d8b',
      'sha256:857c29a9428d4dbf57b60245c16c73191588ea221c4b427a67e47ae5c6f6f843',
    ],
    def: '0b69815cd73150a8dcea81297273b56ddb5d9836144926ded3e3fb0aa103a922',
  },
  'exec-mount-order': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:3c356d68c02c638bd6d2d98e828fe512e459478dc13b92dcbd23fca126aea651',
      'sha256:0195d36f9f909a25dbbd90dea4d7dac7c7dfc317bcfe84bd07ea588a1328908c',
    ],
    def: '04ef5ebe78c42477b710e5d884e2b08084d670a0ef8b2cc54d9e71e248bdc286',
  },
  'file-chain': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:2132ad756b1ea95fd378f4d4d08dbce18b39d0f4da6c24ddf3b8b7dc36c3507e',
      'sha256:52ad980af60eade03cf05fce2206c19483941c8d9a53f43a293199ac3344a235',
      'sha256:e9e9b37c8a6b8bbb804262d986ed1dbf75371e5e262a7ed8bd06b540a77348c3',
      'sha256:6cfcaecd6f69b3ae415e67cc77d4a913aee80492cd21b9579a797a14d2ea2d2c',
    ],
    def: '460dc50245c066d001864ec2b3bd9d7b5113d4cc404b2bb41639f82e730535bf',
  },
  'file-scratch': {
    ops: [
      'sha256:8f8a07d228e5a27c40f0e2017bf5933334075baf51a967fda25ae4183be1632d',
      'sha256:aaba76c93def113fefc1115300a661a54335f21a37bd388a17cef3102759e7bc',
    ],
    def: 'c4f12fbf393e5c75fe4a3962c3ca5985ac4450f7573d7dd039bd104b30c250c5',
  },
  'file-copy-scratch-src': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:0adfb227928ae74b33606ec0900c680b8f47cbcec97ef5857b32acebe5392fb7',
      'sha256:b5f3a3212009a1e8847e33c92703d2e4e8bd9a1d48da3c094f1bf9406900cb16',
    ],
    def: '0826f1f2cc28eecbf8630ec937db4d02b2923e45808b402158c4f75cdfd90776',
  },
  'file-mkdir-zero-owner': {
    ops: [
      'sha256:24fd26d498720c157cb8828400971ee547bc0b6665c241ab9b011293aa815128',
      'sha256:4edb57119f848b1fbace0d5f0b5909ceffcc641d5528db8af6173d4cd13f062a',
    ],
    def: '82a139acbf454bdcfa477537870c0d88bc09705f60e8baae68fc45491434c964',
  },
  'diff': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:f02731340c8bd6b212c840ccd54b047db7be6ffa64d94314fe0d187e5f0e18b2',
      'sha256:9530aee989eef6a77c8099f8fae67f6bc757bea1426cb2c2927893409c80bc30',
      'sha256:0a7f2275bcc47dba21f381682a38dec76358c8fbdb1c33866aac48d3efb509f8',
    ],
    def: '483f0b60e577bfca18365805d053d0377e587e5bb47be9ceff2fe43d17406f2d',
  },
  'merge': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:f02731340c8bd6b212c840ccd54b047db7be6ffa64d94314fe0d187e5f0e18b2',
      'sha256:9530aee989eef6a77c8099f8fae67f6bc757bea1426cb2c2927893409c80bc30',
      'sha256:2132ad756b1ea95fd378f4d4d08dbce18b39d0f4da6c24ddf3b8b7dc36c3507e',
      'sha256:11d11327d0c60152f37fc98bd750fb503be7fa28574290ae2ddf794460c8bb5f',
      'sha256:a3f65326d6b73f67ac1fc4808d4c0934cdd2f1f0b1127337cf7a0e4652d5718f',
    ],
    def: 'fddb01eacdccb9177e81b7b10a7f623928eee45479a65303d2df76b19431ecfc',
  },
  'merge-single': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:394f0d95c6da989f50c68089e25e7950e222f524f9e09ebdf885f5534f175009',
    ],
    def: '526900fde81a14754c1b35d62b1e55bf37284cf12b303468712046ec6ca84a0b',
  },
  'merge-dup': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:c0502bc25d939d28e0397337c0ed76a07d81310506f6cf376bdba9928590150d',
      'sha256:d98023247336aa245b4d6b9a8f6f521267feba1789140523afbcc792110c0082',
    ],
    def: '37570654f7625371751e066eee1b18352b73a8f805a6e510010114e1d0ea226d',
  },
  'diff-upper-scratch': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:218fd8f85ef3c14d50fd4e55ad207c0bf40cc2dc208ae9a22a12bcf6192d3603',
      'sha256:65e38acd11ac5e16f7d7e184a55a738105acfd0c5b467973af03909f4d951851',
    ],
    def: '6cc4c32b62b89b3bcb6f1fccb375be75fe7c19cac89c5df8f53dfb7adc1feca2',
  },
  'diff-lower-scratch': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:f02731340c8bd6b212c840ccd54b047db7be6ffa64d94314fe0d187e5f0e18b2',
      'sha256:6cbde2056d7fd4f647b6450f31d540361e8b5ff55d730ab84d312b060197b656',
    ],
    def: 'c4167651972244011a89608da4ce1dfa2d8c6c89ae55aa98e46555248b28a446',
  },
  'proof': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:8b82c46e4115e0e4392603881eb73544e7a2c51b968d45dba8336846e25f6132',
      'sha256:e3028567017174daaa03ee52786571ef89cbf2482ca7503aa9d25b713602b1a4',
      'sha256:214f2bd09f255d5f8e30784345e537d677c52f20e4dc06de264b756b49822d3a',
      'sha256:d6834b6301078f251e450502c14a2abceb8eeb99e982ad985b1a63cd20ea411b',
    ],
    def: 'daeb9e5ad9bd3b946a2285be87a191fe6ba3ff16d9f24e0721bccec252c3c9f1',
  },
  'fromdef-run': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:f02731340c8bd6b212c840ccd54b047db7be6ffa64d94314fe0d187e5f0e18b2',
      'sha256:9530aee989eef6a77c8099f8fae67f6bc757bea1426cb2c2927893409c80bc30',
      'sha256:2132ad756b1ea95fd378f4d4d08dbce18b39d0f4da6c24ddf3b8b7dc36c3507e',
      'sha256:11d11327d0c60152f37fc98bd750fb503be7fa28574290ae2ddf794460c8bb5f',
      'sha256:db040b8f32d4883f30454ea5224682b919914f31afdc9eac7ed94fae498ac2fd',
      'sha256:284dcf65e13e56824c927a1c4664a4d1e5cd0e4f1f713dcf95a382b97bfc17db',
    ],
    def: '0039ccabd319feefb0e6cfb3f50c61f59d70aa87e4a6ffa272dd51b3f733a751',
  },
  'caps-setsdefaultpath': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:b1e4482d32b2af53a05c3574e1b27b321b344f11bc7b4079b37240aef6c374f2',
      'sha256:feb7a21a6753871e0d5eb0e6aef6bc0b68d275a09e121249b80e6b622ce1e050',
    ],
    def: '5024cdf5b4fb0feaad4960ae43e451f572c9a346fdfc0a9058f5724ce3d44586',
  },
  'caps-no-defaultpath': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:74f35b5e2817d96061573ad79dded65e1eca148510136732b6274f959716ba47',
      'sha256:0741f97f3dc0b449bf2ec93bc9870d6a45424c664a1d7c0fa54870ab38d67668',
    ],
    def: 'c6ffb8e37239d1e8eae498cca88410c74fcd8abec15811187c09d73183309555',
  },
  'local-session': {
    ops: [
      'sha256:69343fcc6cafb83a823104f8c397aa60896733273e32d153d8a3d4e439d8ba88',
      'sha256:1358908f3b266140c02f8ab8d815b3a22f5431ad4b29ca982984a459194bf238',
    ],
    def: 'f1f6193e66d3f6ffe2b0f81eadb9dc2b823854b461c21b7dfe96bf72ff5d5e88',
  },
  'local-unique': {
    ops: [
      'sha256:f4b0ec1b85be0b1509abd693fcf92f91e6ca8ec2d0bb0951ff702f6781d304a7',
      'sha256:217d084c8cf408b7ecfbcce21467db2c02e77ab3d2d9169c7eefca608ec63940',
    ],
    def: '111ceecd827323f60c1b891ce94cde9d6d453b7f7c1554100e5cbe0436cbd5a1',
  },
  'marshal-platform-arm64v8': {
    ops: [
      'sha256:1a1e711e41b9bd8daa9d976bac5cbc733c7233dd020914ef9e814805926fe047',
      'sha256:9068cd197345d904306b9b440d178a5070cd4ad9e03b5204b467ebc4e932fc90',
      'sha256:d69ca3a763cd4bd9565db29e6af702097d57a157ae9a0833451fb196bc1c10ef',
    ],
    def: '37f0efa08994a9942193a76a8796483f7b16c0128b6039cafe3c828e78030114',
  },
  'image-config': {
    ops: [
      'sha256:f03372276b48fdb0570611f2d69a5c6b703b5d65b69404590351d597906e19f4',
      'sha256:2ae01dfc9945cd5180f3d49d9ff959c1e2eeffb011198cb6feb8b24668b570d8',
      'sha256:e87d7baad22f9b3d8c63c56efa7b3fab794885f521fdafb536dbef1fd10b0012',
    ],
    def: 'f75a4a35869deab57b07acc89358890db521cfc9a7385918e3a17376230d591f',
  },
};

describe('golden vectors from BuildKit Go client v0.34.2', () => {
  for (const c of cases()) {
    it(c.name, () => {
      const def = marshalCase(c);
      const want = GOLDEN[c.name];
      expect(want, `no golden vector for ${c.name}`).toBeDefined();
      expect(def.def.map((b) => 'sha256:' + sha256hex(b))).toEqual(want!.ops);
      expect(sha256hex(encodeDefinition(def))).toBe(want!.def);
    });
  }
});
