// The command line of `docker copa`: flag definitions (Copacetic's `copa patch` flags plus
// copa-ts's own), parsing into a typed PatchCommand, docker-style help text and shell completion.
//
// Exit codes (applied by main.ts):
//   0  success, including "nothing to update" (the image is already up to date), --help, --version
//   1  any error: bad usage (UsageError), unreachable BuildKit, failed patch, --timeout
//   130 Ctrl-C (SIGINT) or the docker CLI ending the plugin; 143 SIGTERM (the build is cancelled)
import { CopaError, quote } from '../engine/errors.js';
import { PROGRESS_MODES, type ProgressMode } from './progress/types.js';
import { resolvePatchedName, type PatchedName } from './tags.js';
import { PLUGIN_NAME, SHORT_DESCRIPTION, VERSION, versionLine } from './metadata.js';
import { parsePlatform } from '../engine/options.js';
import { formatPlatform, type Platform } from '../llb/index.js';

/** A command-line mistake. main.ts prints message + "Run '… --help'" and exits 1. */
export class UsageError extends CopaError {
  /** The command whose usage was wrong: "" for the root, "patch". */
  readonly command: string;
  constructor(message: string, command = '', hint?: string) {
    super('input', message, hint === undefined ? {} : { hint });
    this.name = 'UsageError';
    this.command = command;
  }
  /** docker-style: "docker copa patch: <message>\n\nRun 'docker copa patch --help' for more information" */
  format(prog = `docker ${PLUGIN_NAME}`): string {
    const cmd = this.command ? `${prog} ${this.command}` : prog;
    const hint = this.hint ? `\nhint: ${this.hint}` : '';
    return `${cmd}: ${this.message}${hint}\n\nRun '${cmd} --help' for more information\n`;
  }
}

export type Compression = 'uncompressed' | 'gzip' | 'zstd' | 'estargz';
export const COMPRESSIONS: readonly Compression[] = ['uncompressed', 'gzip', 'zstd', 'estargz'];
export type Loader = 'docker' | 'podman' | '';
export const LOADERS: readonly string[] = ['docker', 'podman', ''];
export type Scanner = 'trivy' | 'native';
export const SCANNERS: readonly Scanner[] = ['trivy', 'native'];
export const VEX_FORMATS = ['openvex'] as const;
/** The platforms Copacetic accepts for --platform (pkg/patch/platform.go). */
export const VALID_PLATFORMS: readonly string[] = [
  'linux/386',
  'linux/amd64',
  'linux/arm',
  'linux/arm/v5',
  'linux/arm/v6',
  'linux/arm/v7',
  'linux/arm64',
  'linux/arm64/v8',
  'linux/ppc64le',
  'linux/s390x',
  'linux/riscv64',
];
export const DEFAULT_TIMEOUT = '5m';

/** `docker copa patch …`, parsed and validated. */
export interface PatchCommand {
  /** -i: the image to patch, as given. */
  image: string;
  /** -r: report file or directory; undefined = update every package. */
  report?: string;
  /** -t as given (bare tag or full reference). */
  tag?: string;
  /** --tag-suffix. */
  tagSuffix: string;
  /** The patched image's name, from -i/-t/--tag-suffix. */
  target: PatchedName;
  /** -a: BuildKit address; undefined = auto. */
  addr?: string;
  /** --cacert/--cert/--key: file paths for a tcp:// BuildKit. */
  tls: { cacert?: string; cert?: string; key?: string };
  /** --timeout, as given and in milliseconds. */
  timeout: string;
  timeoutMs: number;
  ignoreErrors: boolean;
  /** -f: VEX format. */
  format: 'openvex';
  /** -o: VEX output path. */
  output?: string;
  push: boolean;
  ociDir?: string;
  /** --platform, split, validated, de-duplicated; empty = all (or the host's for single-platform). */
  platforms: Platform[];
  loader: Loader;
  progress: ProgressMode;
  /** --debug (main.ts ORs in docker's -D). */
  debug: boolean;
  scanner: Scanner;
  toolingImage?: string;
  /** --network: where package downloads run. */
  network: 'default' | 'host';
  /** Run the engine as this gateway frontend image inside BuildKit instead of client side. */
  frontendImage?: string;
  compression: Compression;
  forceCompression: boolean;
  /** Non-fatal remarks about the flags (print them as warnings). */
  warnings: string[];
}

export type CliCommand =
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string }
  | { kind: 'patch'; command: PatchCommand };

interface FlagSpec {
  name: string;
  short?: string;
  kind: 'string' | 'bool' | 'list';
  /** Value placeholder in help ("string", "duration", "strings"). */
  value?: string;
  default?: string;
  desc: string;
  /** Accepted values, for help, validation messages and completion. */
  values?: readonly string[];
  /** Completion: a file/directory path. */
  file?: 'file' | 'dir' | 'any';
}

const PATCH_FLAGS: readonly FlagSpec[] = [
  { name: 'addr', short: 'a', kind: 'string', desc: 'BuildKit address: unix://PATH, tcp://HOST:PORT, docker://[HOST|CONTEXT], buildx://[BUILDER], docker-container://NAME (default: the Docker engine, then the current buildx builder, then unix:///run/buildkit/buildkitd.sock)' },
  { name: 'cacert', kind: 'string', desc: 'CA certificate of a tcp:// BuildKit (PEM file)', file: 'file' },
  { name: 'cert', kind: 'string', desc: 'Client certificate for a tcp:// BuildKit (PEM file)', file: 'file' },
  { name: 'compression', kind: 'string', default: 'uncompressed', values: COMPRESSIONS, desc: 'Compression of the patch layer when loading or writing the image: uncompressed, gzip, zstd, estargz' },
  { name: 'debug', kind: 'bool', desc: 'Print debug output' },
  { name: 'force-compression', kind: 'bool', desc: 'Re-compress every layer with --compression (local output only)' },
  { name: 'format', short: 'f', kind: 'string', default: 'openvex', values: VEX_FORMATS, desc: 'Format of the VEX document written with --output: openvex' },
  { name: 'frontend-image', kind: 'string', desc: 'Run the patch engine inside BuildKit as this gateway frontend image, instead of client side' },
  { name: 'help', short: 'h', kind: 'bool', desc: 'Print usage' },
  { name: 'ignore-errors', kind: 'bool', desc: 'Keep going when a package cannot be updated; it is reported as not patched' },
  { name: 'image', short: 'i', kind: 'string', desc: 'Image to patch (required), e.g. docker.io/library/nginx:1.27' },
  { name: 'key', kind: 'string', desc: 'Client key for a tcp:// BuildKit (PEM file)', file: 'file' },
  { name: 'loader', short: 'l', kind: 'string', values: ['docker', 'podman'], desc: 'Where to load the patched image: docker or podman (default: from --addr, else whichever is running)' },
  { name: 'network', kind: 'string', default: 'default', values: ['default', 'host'], desc: "Network for package downloads: BuildKit's default, or host (needs the network.host entitlement; for builders without a working container network)" },
  { name: 'oci-dir', kind: 'string', desc: 'Write the patched image as an OCI image layout to this directory instead of loading it', file: 'dir' },
  { name: 'output', short: 'o', kind: 'string', desc: 'Write a VEX document for the patched image to this file (needs --report)', file: 'file' },
  { name: 'platform', kind: 'list', value: 'strings', desc: 'Platforms of a multi-platform image to patch, repeatable or comma-separated (e.g. linux/amd64,linux/arm64); the others are kept unchanged', values: VALID_PLATFORMS },
  { name: 'progress', kind: 'string', default: 'auto', values: PROGRESS_MODES, desc: 'Progress output: auto, tty, plain, rawjson, quiet' },
  { name: 'push', short: 'p', kind: 'bool', desc: 'Push the patched image to its registry instead of loading it locally' },
  { name: 'report', short: 'r', kind: 'string', desc: 'Vulnerability report (Trivy JSON or copa manifest), or a directory of per-platform reports; without it every package with an update is updated', file: 'any' },
  { name: 'scanner', short: 's', kind: 'string', default: 'trivy', values: SCANNERS, desc: 'Format of --report: trivy, native' },
  { name: 'tag', short: 't', kind: 'string', desc: 'Tag of the patched image: a tag (e.g. 1.27-patched, same repository) or a full reference (registry/repo:tag) (default "<image tag>-<tag-suffix>")' },
  { name: 'tag-suffix', kind: 'string', default: 'patched', desc: 'Suffix of the derived tag when --tag is not given' },
  { name: 'timeout', kind: 'string', value: 'duration', default: DEFAULT_TIMEOUT, desc: 'Give up after this long, e.g. 90s, 10m, 1h30m' },
  { name: 'tooling-image', kind: 'string', desc: 'Image that provides the package tools for images without them (distroless); default chosen per distribution' },
];

const ROOT_FLAGS: readonly FlagSpec[] = [
  { name: 'debug', kind: 'bool', desc: 'Print debug output' },
  { name: 'help', short: 'h', kind: 'bool', desc: 'Print usage' },
  { name: 'version', short: 'v', kind: 'bool', desc: 'Print version information and quit' },
];

const COMMANDS: ReadonlyArray<{ name: string; desc: string }> = [
  { name: 'patch', desc: "Patch an image's OS packages" },
  { name: 'version', desc: 'Show the copa-ts version' },
];

// ---------------------------------------------------------------------------------------
// Go durations

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration ("5m", "90s", "1h30m", "1.5h", "250ms") into milliseconds; null if invalid. */
export function parseGoDuration(text: string): number | null {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  if (s === '') return null;
  while (pos < s.length) {
    re.lastIndex = pos;
    m = re.exec(s);
    if (!m || m[1] === '' || m[1] === '.') return null;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  return total;
}

// ---------------------------------------------------------------------------------------
// help

function flagLeft(f: FlagSpec): string {
  const short = f.short ? `-${f.short}, ` : '    ';
  const value = f.kind === 'bool' ? '' : ` ${f.value ?? (f.kind === 'list' ? 'strings' : 'string')}`;
  return `  ${short}--${f.name}${value}`;
}

function flagTable(flags: readonly FlagSpec[], width: number): string {
  const lefts = flags.map(flagLeft);
  const pad = lefts.reduce((m, l) => Math.max(m, l.length), -Infinity) + 3;
  const descWidth = Math.max(30, width - pad);
  return flags
    .map((f, i) => {
      let desc = f.desc;
      // A no-break space keeps "(default" and its value on one line.
      if (f.default !== undefined && f.default !== '' && !desc.includes('(default')) desc += ` (default\u00a0"${f.default}")`;
      const lines = wrap(desc, descWidth).map((l) => l.replace(/\u00a0/g, ' '));
      return lines.map((l, j) => (j === 0 ? lefts[i]!.padEnd(pad) : ' '.repeat(pad)) + l).join('\n');
    })
    .join('\n');
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  return out;
}

function termWidth(): number {
  const w = process.stdout.columns;
  return typeof w === 'number' && w > 40 ? Math.min(w, 120) : 100;
}

/** `docker copa --help`. prog: "docker copa" under the CLI, "docker-copa" standalone. */
export function rootHelp(prog = `docker ${PLUGIN_NAME}`, width = termWidth()): string {
  const cmds = COMMANDS.map((c) => `  ${c.name.padEnd(11)} ${c.desc}`).join('\n');
  return [
    '',
    `Usage:  ${prog} [OPTIONS] COMMAND`,
    '',
    `${SHORT_DESCRIPTION}, with BuildKit: one new layer on top of the original image.`,
    '',
    'Options:',
    flagTable(ROOT_FLAGS, width),
    '',
    'Commands:',
    cmds,
    '',
    `Run '${prog} COMMAND --help' for more information on a command.`,
    '',
  ].join('\n');
}

/** `docker copa patch --help`. */
export function patchHelp(prog = `docker ${PLUGIN_NAME}`, width = termWidth()): string {
  return [
    '',
    `Usage:  ${prog} patch [OPTIONS]`,
    '',
    "Patch an image's OS-package vulnerabilities: update the packages a scanner report lists (or",
    'every package with an update) and add them to the image as one new layer.',
    '',
    'Examples:',
    `  ${prog} patch -i docker.io/library/nginx:1.27 -r nginx.trivy.json`,
    `  ${prog} patch -i nginx:1.27 -t 1.27-fixed --addr buildx://mybuilder`,
    `  ${prog} patch -i registry.example.com/app:2.1 -r app.json --push -o app.vex.json \\`,
    '      -t registry.example.com/app:2.1-patched',
    '',
    'Options:',
    flagTable(PATCH_FLAGS, width),
    '',
    'Exit status: 0 when the image was patched or was already up to date, 1 on any error.',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------
// parsing

function lookupLong(flags: readonly FlagSpec[], name: string): FlagSpec | undefined {
  return flags.find((f) => f.name === name);
}
function lookupShort(flags: readonly FlagSpec[], ch: string): FlagSpec | undefined {
  return flags.find((f) => f.short === ch);
}

/**
 * pflag-style pre-scan: rejects unknown flags, missing values and stray arguments with
 * docker-like messages before yargs parses (yargs's own messages are camelCased).
 */
function prescan(args: readonly string[], flags: readonly FlagSpec[], command: string): void {
  for (let i = 0; i < args.length; i++) {
    const tok = args[i]!;
    if (tok === '--') {
      if (i + 1 < args.length) throw new UsageError(`unexpected argument ${quote(args[i + 1]!)}`, command, argumentHint(command));
      return;
    }
    if (!tok.startsWith('-') || tok === '-') {
      throw new UsageError(`unexpected argument ${quote(tok)}`, command, argumentHint(command));
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      const f = lookupLong(flags, name);
      if (!f) throw new UsageError(`unknown flag: --${name}`, command, suggest(name, flags));
      if (f.kind !== 'bool' && eq < 0) {
        if (i + 1 >= args.length) throw new UsageError(`flag needs an argument: --${name}`, command);
        i++;
      }
      continue;
    }
    const body = tok.slice(1);
    for (let j = 0; j < body.length; j++) {
      const ch = body[j]!;
      const f = lookupShort(flags, ch);
      if (!f) throw new UsageError(`unknown shorthand flag: '${ch}' in ${tok}`, command);
      if (f.kind === 'bool') {
        if (body[j + 1] === '=') break;
        continue;
      }
      if (j === body.length - 1) {
        if (i + 1 >= args.length) throw new UsageError(`flag needs an argument: '${ch}' in ${tok}`, command);
        i++;
      }
      break;
    }
  }
}

function argumentHint(command: string): string | undefined {
  return command === 'patch' ? 'patch takes no arguments: give the image with -i/--image' : undefined;
}

function suggest(name: string, flags: readonly FlagSpec[]): string | undefined {
  const lower = name.toLowerCase().replace(/_/g, '-');
  const close = flags.filter((f) => f.name === lower || f.name.startsWith(lower) || lower.startsWith(f.name) || distance(f.name, lower) <= 2);
  return close.length ? `did you mean ${close.map((f) => `--${f.name}`).join(' or ')}?` : undefined;
}

function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

type Parsed = Record<string, unknown>;

// yargs is loaded on first use: `docker --help` runs every plugin's metadata query, and
// metadata, --version and --help need no parser (about 40 ms of start-up saved). esbuild bundles
// this require() and evaluates yargs only when it is called; under vitest it is Node's require.
type YargsFactory = typeof import('yargs').default;
let yargsFactory: YargsFactory | undefined;
function loadYargs(): YargsFactory {
  if (!yargsFactory) {
    const m = require('yargs') as YargsFactory | { default: YargsFactory };
    yargsFactory = typeof m === 'function' ? m : m.default;
  }
  return yargsFactory;
}

function yargsParse(args: readonly string[], flags: readonly FlagSpec[], command: string): Parsed {
  const yargs = loadYargs();
  const options: Record<string, { alias?: string; type: 'string' | 'boolean'; array?: boolean }> = {};
  for (const f of flags) {
    options[f.name] = { type: f.kind === 'bool' ? 'boolean' : 'string', ...(f.short ? { alias: f.short } : {}), ...(f.kind === 'list' ? { array: true } : {}) };
  }
  return yargs([...args])
    .scriptName(`docker ${PLUGIN_NAME}`)
    .exitProcess(false)
    .help(false)
    .version(false)
    .locale('en')
    .strict()
    .parserConfiguration({
      'boolean-negation': false,
      'camel-case-expansion': false,
      'strip-aliased': true,
      'duplicate-arguments-array': true,
      'greedy-arrays': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'dot-notation': false,
    })
    .options(options)
    .fail((msg: string | null, err: Error | undefined) => {
      throw new UsageError(msg ?? err?.message ?? 'invalid arguments', command);
    })
    .parseSync() as Parsed;
}

/** The last value of a string flag (pflag: the last occurrence wins). */
function str(p: Parsed, name: string): string | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return String(v);
}
function bool(p: Parsed, name: string): boolean {
  const v = p[name];
  if (Array.isArray(v)) return Boolean(v[v.length - 1]);
  return v === true;
}
function oneOf<T extends string>(p: Parsed, name: string, values: readonly T[], def: T, command: string): T {
  const v = str(p, name) ?? def;
  if (!(values as readonly string[]).includes(v)) {
    const list = values.map((x) => (x === '' ? '""' : x)).join(', ');
    throw new UsageError(`invalid value ${quote(v)} for --${name}: accepted values are ${list}`, command);
  }
  return v as T;
}

/** Parses the arguments after `patch`. Throws UsageError (or CopaError('input') for bad image names). */
export function parsePatchArgs(args: readonly string[]): PatchCommand {
  const C = 'patch';
  prescan(args, PATCH_FLAGS, C);
  const p = yargsParse(args, PATCH_FLAGS, C);
  const warnings: string[] = [];

  const image = str(p, 'image') ?? '';
  if (image === '') throw new UsageError('required flag -i/--image is missing: the image to patch, e.g. -i docker.io/library/nginx:1.27', C);

  const timeout = str(p, 'timeout') ?? DEFAULT_TIMEOUT;
  const timeoutMs = parseGoDuration(timeout);
  if (timeoutMs === null) throw new UsageError(`invalid value ${quote(timeout)} for --timeout: use a duration such as 90s, 5m or 1h30m`, C);
  if (timeoutMs <= 0) throw new UsageError(`invalid value ${quote(timeout)} for --timeout: it must be longer than zero`, C);

  const platforms: Platform[] = [];
  for (const raw of (p.platform as string[] | undefined) ?? []) {
    for (const one of String(raw).split(',')) {
      const v = one.trim();
      if (v === '') continue;
      // One platform grammar (engine/options.ts), normalised: linux/arm is linux/arm/v7, linux/arm64/v8 is linux/arm64.
      let plat: Platform;
      try {
        plat = parsePlatform(v, '--platform');
      } catch {
        plat = { os: '', architecture: v };
      }
      if (!VALID_PLATFORMS.includes(formatPlatform(plat))) {
        throw new UsageError(`invalid value ${quote(v)} for --platform: accepted values are ${VALID_PLATFORMS.join(', ')}`, C);
      }
      if (!platforms.some((q) => formatPlatform(q) === formatPlatform(plat))) platforms.push(plat);
    }
  }

  const format = oneOf(p, 'format', VEX_FORMATS, 'openvex', C);
  const loader = oneOf(p, 'loader', LOADERS, '', C) as Loader;
  const progress = oneOf(p, 'progress', PROGRESS_MODES, 'auto', C);
  const scanner = oneOf(p, 'scanner', SCANNERS, 'trivy', C);
  const compression = oneOf(p, 'compression', COMPRESSIONS, 'uncompressed', C);

  const nonEmpty = (name: string): string | undefined => {
    const v = str(p, name);
    if (v !== undefined && v.trim() === '') throw new UsageError(`flag --${name} needs a non-empty value`, C);
    return v;
  };
  const report = nonEmpty('report');
  const output = nonEmpty('output');
  const ociDir = nonEmpty('oci-dir');
  const addr = nonEmpty('addr');
  const tag = str(p, 'tag');
  const tagSuffix = str(p, 'tag-suffix') ?? 'patched';
  const push = bool(p, 'push');
  const cacert = nonEmpty('cacert');
  const cert = nonEmpty('cert');
  const key = nonEmpty('key');
  const toolingImage = nonEmpty('tooling-image');
  const frontendImage = nonEmpty('frontend-image');

  if (ociDir && push) throw new UsageError('--oci-dir and --push cannot be used together: write a local OCI layout, or push', C);
  if (Boolean(cert) !== Boolean(key)) throw new UsageError('--cert and --key must be given together', C);
  if (output && !report) warnings.push('--output is ignored without --report: a VEX document needs the list of fixed vulnerabilities');
  if (push && (compression !== 'uncompressed' || bool(p, 'force-compression'))) {
    warnings.push('--compression/--force-compression apply to local output only; a pushed patch layer is always gzip');
  }
  if ((cacert || cert) && addr && !addr.startsWith('tcp://')) warnings.push('--cacert/--cert/--key are used for tcp:// addresses only');

  const target = resolvePatchedName(image, { ...(tag !== undefined ? { tag } : {}), suffix: tagSuffix });

  const cmd: PatchCommand = {
    image,
    tagSuffix,
    target,
    tls: {},
    timeout,
    timeoutMs,
    ignoreErrors: bool(p, 'ignore-errors'),
    format,
    push,
    platforms,
    loader,
    progress,
    debug: bool(p, 'debug'),
    scanner,
    compression,
    forceCompression: bool(p, 'force-compression'),
    network: str(p, 'network') === 'host' ? 'host' : 'default',
    warnings,
  };
  if (report !== undefined) cmd.report = report;
  if (tag !== undefined && tag !== '') cmd.tag = tag;
  if (addr !== undefined) cmd.addr = addr;
  if (cacert !== undefined) cmd.tls.cacert = cacert;
  if (cert !== undefined) cmd.tls.cert = cert;
  if (key !== undefined) cmd.tls.key = key;
  if (output !== undefined && report !== undefined) cmd.output = output;
  if (ociDir !== undefined) cmd.ociDir = ociDir;
  if (toolingImage !== undefined) cmd.toolingImage = toolingImage;
  if (frontendImage !== undefined) cmd.frontendImage = frontendImage;
  return cmd;
}

function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h' || a === '--help=true') return true;
  }
  return false;
}

/**
 * Parses the whole command line (after the plugin name): root flags, then the command.
 * @param opts.prog how to name ourselves in help ("docker copa" or "docker-copa")
 * @param opts.debug docker's -D, folded into PatchCommand.debug
 */
export function parseCommandLine(args: readonly string[], opts: { prog?: string; debug?: boolean } = {}): CliCommand {
  const prog = opts.prog ?? `docker ${PLUGIN_NAME}`;
  let i = 0;
  let debug = opts.debug ?? false;
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') return { kind: 'help', text: rootHelp(prog) };
    if (a === '--version' || a === '-v') return { kind: 'version', text: versionLine(VERSION) };
    if (a === '--debug' || a === '--debug=true') {
      debug = true;
      continue;
    }
    if (a === '--debug=false') continue;
    throw new UsageError(a.startsWith('--') ? `unknown flag: ${a.split('=')[0]}` : `unknown shorthand flag: '${a[1]}' in ${a}`);
  }
  const cmd = args[i];
  const rest = args.slice(i + 1);
  if (cmd === undefined) return { kind: 'help', text: rootHelp(prog) };
  switch (cmd) {
    case 'help':
      if (rest[0] === 'patch') return { kind: 'help', text: patchHelp(prog) };
      return { kind: 'help', text: rootHelp(prog) };
    case 'version':
      return { kind: 'version', text: versionLine(VERSION) };
    case 'patch': {
      if (wantsHelp(rest)) return { kind: 'help', text: patchHelp(prog) };
      const command = parsePatchArgs(rest);
      if (debug) command.debug = true;
      return { kind: 'patch', command };
    }
    default: {
      const near = COMMANDS.filter((c) => distance(c.name, cmd) <= 2).map((c) => c.name);
      throw new UsageError(`unknown command ${quote(cmd)} for "${prog}"`, '', near.length ? `did you mean ${near.join(' or ')}?` : undefined);
    }
  }
}

// ---------------------------------------------------------------------------------------
// shell completion (the docker CLI runs `docker-copa __complete copa <args…> <word>` and
// expects cobra's format: candidates, one a line, then ":<directive>")

const DIRECTIVE_DEFAULT = 0; // file completion allowed
const DIRECTIVE_NO_FILE = 4;
const DIRECTIVE_FILTER_DIRS = 16;

/** Completion output for args (the last element is the word being completed). */
export function completions(args: readonly string[]): string {
  const word = args[args.length - 1] ?? '';
  const before = args.slice(0, -1);
  const out = (cands: readonly string[], directive: number) =>
    [...cands.filter((c) => c.startsWith(word)), `:${directive}`].join('\n') + '\n';
  const cmdIndex = before.findIndex((a) => !a.startsWith('-'));
  if (cmdIndex < 0) {
    if (word.startsWith('-')) return out(ROOT_FLAGS.map((f) => `--${f.name}`), DIRECTIVE_NO_FILE);
    return out(COMMANDS.map((c) => `${c.name}\t${c.desc}`), DIRECTIVE_NO_FILE);
  }
  if (before[cmdIndex] !== 'patch') return out([], DIRECTIVE_NO_FILE);
  const prev = before[before.length - 1];
  if (prev && prev.startsWith('-') && !prev.includes('=') && before.length - 1 > cmdIndex) {
    const f = prev.startsWith('--') ? lookupLong(PATCH_FLAGS, prev.slice(2)) : lookupShort(PATCH_FLAGS, prev.slice(-1));
    if (f && f.kind !== 'bool') {
      if (f.values) return out(f.values.filter((v) => v !== ''), DIRECTIVE_NO_FILE);
      if (f.file === 'dir') return out([], DIRECTIVE_FILTER_DIRS);
      if (f.file) return out([], DIRECTIVE_DEFAULT);
      return out([], DIRECTIVE_NO_FILE);
    }
  }
  return out(PATCH_FLAGS.map((f) => `--${f.name}\t${f.desc.split(/[:(,]/)[0]!.trim()}`), DIRECTIVE_NO_FILE);
}
