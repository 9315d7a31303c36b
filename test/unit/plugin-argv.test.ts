import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { parseArgv, parseDockerGlobals, processArgs, watchPluginSocket } from '../../src/plugin/argv.js';
import { metadataJson, pluginMetadata } from '../../src/plugin/metadata.js';

const PLUGIN = { DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND: '/usr/local/bin/docker' };
const STANDALONE = {};

describe('parseArgv', () => {
  it('recognises the metadata query in both modes', () => {
    expect(parseArgv(['docker-cli-plugin-metadata'], STANDALONE)).toEqual({ mode: 'metadata' });
    expect(parseArgv(['docker-cli-plugin-metadata'], PLUGIN)).toEqual({ mode: 'metadata' });
  });

  it('passes standalone arguments through', () => {
    const inv = parseArgv(['patch', '-i', 'nginx:1'], STANDALONE);
    expect(inv).toMatchObject({ mode: 'run', plugin: false, args: ['patch', '-i', 'nginx:1'] });
  });

  it('drops the plugin name under the docker CLI', () => {
    const inv = parseArgv(['copa', 'patch', '-i', 'x'], PLUGIN);
    expect(inv).toMatchObject({ mode: 'run', plugin: true, args: ['patch', '-i', 'x'] });
    if (inv.mode === 'run') expect(inv.globals).toEqual({ debug: false, tls: false, tlsVerify: false });
  });

  it('parses docker global flags before the plugin name', () => {
    const inv = parseArgv(
      ['--context', 'remote', '-D', '-H=tcp://h:2376', '--config=/cfg', '-l', 'debug', '--tlsverify', '--tlscacert', '/ca.pem', '--tlscert=/c.pem', '--tlskey', '/k.pem', 'copa', 'patch', '--help'],
      PLUGIN,
    );
    expect(inv.mode).toBe('run');
    if (inv.mode !== 'run') return;
    expect(inv.args).toEqual(['patch', '--help']);
    expect(inv.globals).toEqual({
      context: 'remote',
      debug: true,
      host: 'tcp://h:2376',
      config: '/cfg',
      logLevel: 'debug',
      tls: true,
      tlsVerify: true,
      tlsCaCert: '/ca.pem',
      tlsCert: '/c.pem',
      tlsKey: '/k.pem',
    });
  });

  it('handles short flag clusters and inline values', () => {
    expect(parseDockerGlobals(['-Dc', 'ctx', 'copa']).globals).toMatchObject({ debug: true, context: 'ctx' });
    expect(parseDockerGlobals(['-cctx', 'copa']).globals.context).toBe('ctx');
    expect(parseDockerGlobals(['-c=ctx', 'copa']).globals.context).toBe('ctx');
    expect(parseDockerGlobals(['--debug=false', 'copa']).globals.debug).toBe(false);
    expect(parseDockerGlobals(['--tls', 'copa'])).toMatchObject({ next: 1, globals: { tls: true, tlsVerify: false } });
  });

  it('rejects unknown or incomplete global flags', () => {
    expect(() => parseArgv(['--bogus', 'copa'], PLUGIN)).toThrow(/unknown docker global flag --bogus/);
    expect(() => parseArgv(['--context'], PLUGIN)).toThrow(/needs an argument/);
    expect(() => parseArgv(['-x', 'copa'], PLUGIN)).toThrow(/unknown docker global flag -x/);
  });

  it('turns `docker help copa [cmd]` into --help', () => {
    expect(parseArgv(['help', 'copa'], PLUGIN)).toMatchObject({ mode: 'run', args: ['--help'] });
    expect(parseArgv(['help', 'copa', 'patch'], PLUGIN)).toMatchObject({ mode: 'run', args: ['patch', '--help'] });
    expect(parseArgv(['--context', 'x', 'help', 'copa'], PLUGIN)).toMatchObject({ mode: 'run', args: ['--help'], globals: { context: 'x' } });
    expect(parseArgv(['help', 'patch'], STANDALONE)).toMatchObject({ mode: 'run', args: ['patch', '--help'] });
  });

  it('recognises completion and hook invocations', () => {
    expect(parseArgv(['__complete', 'copa', 'patch', '--pro'], PLUGIN)).toMatchObject({ mode: 'complete', args: ['patch', '--pro'] });
    expect(parseArgv(['copa', 'docker-cli-plugin-hooks', '{"RootCmd":"build"}'], PLUGIN)).toMatchObject({ mode: 'hooks', request: '{"RootCmd":"build"}' });
  });

  it('processArgs drops the runtime and script', () => {
    expect(processArgs(['/usr/bin/node', '/x/docker-copa.mjs', 'patch'])).toEqual(['patch']);
  });
});

describe('metadata', () => {
  it('has the fields the docker CLI requires', () => {
    const m = pluginMetadata('1.2.3');
    expect(m).toEqual({ SchemaVersion: '0.1.0', Vendor: expect.any(String), Version: '1.2.3', ShortDescription: expect.any(String), URL: expect.stringMatching(/^https:\/\//) });
    expect(m.Vendor).not.toBe('');
    expect(JSON.parse(metadataJson('1.2.3'))).toEqual(m);
  });
});

describe('watchPluginSocket', () => {
  it('calls back when the docker CLI closes its (abstract) socket', async () => {
    const name = `copa-test-${process.pid}-${Date.now()}`;
    const conns: net.Socket[] = [];
    const srv = net.createServer((c) => conns.push(c));
    await new Promise<void>((r) => srv.listen('\0' + name, r));
    const terminated = new Promise<void>((resolve) => watchPluginSocket(resolve, { DOCKER_CLI_PLUGIN_SOCKET: `@${name}` }));
    while (conns.length === 0) await new Promise((r) => setTimeout(r, 10));
    conns[0]!.end(); // what the CLI does on Ctrl-C
    await terminated;
    srv.close();
  });

  it('does nothing without the variable or the socket', () => {
    expect(watchPluginSocket(() => {}, {})).toBeUndefined();
    const s = watchPluginSocket(() => {
      throw new Error('must not fire');
    }, { DOCKER_CLI_PLUGIN_SOCKET: '@copa-no-such-socket-xyz' });
    expect(s).toBeDefined();
  });
});
