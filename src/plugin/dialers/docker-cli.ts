// Running the docker CLI (or podman/nerdctl) for dialers that proxy through it.
import type { DockerGlobals } from '../argv.js';

export interface CliInvocation {
  /** The docker binary: the one that started us as a plugin, else "docker" on PATH. */
  command: string;
  /** Global flags to repeat (--config, --context/-H, TLS). */
  globalArgs: string[];
  env: NodeJS.ProcessEnv;
}

/** The docker CLI that ran us (DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND), else "docker". */
export function dockerCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND || 'docker';
}

/**
 * docker global flags that reproduce the user's choice: --config, then --context or -H,
 * then the TLS flags. `override` replaces the context/host (e.g. ?context= of an address).
 */
export function dockerGlobalArgs(globals: Partial<DockerGlobals> | undefined, override: { context?: string; host?: string } = {}): string[] {
  const g = globals ?? {};
  const out: string[] = [];
  if (g.config) out.push('--config', g.config);
  if (override.context) out.push('--context', override.context);
  else if (override.host) out.push('-H', override.host);
  else if (g.context) out.push('--context', g.context);
  else if (g.host) out.push('-H', g.host);
  if (!override.context && !override.host) {
    if (g.tlsVerify) out.push('--tlsverify');
    else if (g.tls) out.push('--tls');
    if (g.tlsCaCert) out.push('--tlscacert', g.tlsCaCert);
    if (g.tlsCert) out.push('--tlscert', g.tlsCert);
    if (g.tlsKey) out.push('--tlskey', g.tlsKey);
  }
  return out;
}
