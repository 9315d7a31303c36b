// The docker CLI plugin metadata: the docker CLI runs `docker-copa docker-cli-plugin-metadata`
// to discover the plugin and prints ShortDescription in `docker --help`.

/** The sub-command name under `docker`: `docker copa …`. */
export const PLUGIN_NAME = 'copa';

/** Our version; esbuild replaces process.env.COPA_VERSION with package.json's version. */
export const VERSION: string = process.env.COPA_VERSION ?? '0.0.0-dev';

export const SHORT_DESCRIPTION = 'Patch OS-package vulnerabilities in container images';
export const VENDOR = 'Project Copacetic (copa-ts)';
export const URL = 'https://github.com/project-copacetic/copacetic';

/** The JSON the docker CLI reads; field names are the CLI's. */
export interface PluginMetadata {
  SchemaVersion: '0.1.0';
  Vendor: string;
  Version: string;
  ShortDescription: string;
  URL: string;
}

export function pluginMetadata(version: string = VERSION): PluginMetadata {
  return { SchemaVersion: '0.1.0', Vendor: VENDOR, Version: version, ShortDescription: SHORT_DESCRIPTION, URL };
}

/** What `docker-copa docker-cli-plugin-metadata` prints on stdout. */
export function metadataJson(version: string = VERSION): string {
  return JSON.stringify(pluginMetadata(version), null, '     ') + '\n';
}

/** What `docker copa --version` prints. */
export function versionLine(version: string = VERSION): string {
  return `docker-copa version ${version} (copa-ts, node ${process.versions.node})\n`;
}
