// One error type for everything the engine reports to a user. The message says what went
// wrong, where (file, JSON path, option name, image) and what to do about it; `category`
// lets the CLI and the frontend pick an exit code or a progress-stream presentation
// without parsing text.
import { BuildKitError } from '../llb/errors.js';

export type CopaErrorCategory =
  | 'report' // the vulnerability report is unreadable, malformed or unsafe
  | 'input' // a command-line flag or frontend option is wrong
  | 'image' // the image cannot be patched (unsupported OS, broken package database, …)
  | 'buildkit' // the BuildKit daemon failed or is unreachable
  | 'auth' // registry authentication failed
  | 'validation' // packages were installed but do not satisfy the report
  | 'internal' // a bug in copa-ts
  | 'interrupted' // the user (Ctrl-C, SIGTERM, the docker CLI) or --timeout stopped the command
  | 'system'; // the local machine failed us: a full disk, an I/O error, too many open files

export const COPA_ERROR_CATEGORIES: readonly CopaErrorCategory[] = [
  'report',
  'input',
  'image',
  'buildkit',
  'auth',
  'validation',
  'internal',
  'interrupted',
  'system',
];

export interface CopaErrorOptions {
  /** A short, actionable suggestion shown after the message. */
  hint?: string;
  cause?: unknown;
}

export class CopaError extends Error {
  readonly category: CopaErrorCategory;
  readonly hint?: string;

  constructor(category: CopaErrorCategory, message: string, opts: CopaErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CopaError';
    this.category = category;
    if (opts.hint !== undefined && opts.hint !== '') this.hint = opts.hint;
  }

  /** Message plus hint, as shown to a user. */
  describe(): string {
    return this.hint ? `${this.message}\nhint: ${this.hint}` : this.message;
  }
}

export function isCopaError(e: unknown): e is CopaError {
  return e instanceof CopaError;
}

/** The engine's view of an error from a lower floor: a BuildKitError becomes a CopaError of its category. */
export function toCopaError(e: unknown): unknown {
  if (e instanceof BuildKitError) return new CopaError(e.category, e.message, { hint: e.hint, cause: e });
  return e;
}

const MAX_QUOTED = 120;

/**
 * Quote an untrusted value for an error message: JSON string syntax, with every character
 * outside printable ASCII escaped (so a newline shows as \n, NUL as \u0000 and a Cyrillic
 * look-alike as \u0430), and long values shortened.
 */
export function quote(value: string): string {
  let v = value;
  let suffix = '';
  if (v.length > MAX_QUOTED) {
    suffix = `... (${value.length} characters)`;
    v = v.slice(0, MAX_QUOTED);
  }
  const json = JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return json + suffix;
}

/** One line (or a few) for a user: a CopaError's message and hint, any other error's message. */
export function describeError(e: unknown): string {
  const mapped = toCopaError(e);
  if (mapped instanceof CopaError) return mapped.describe();
  if (e instanceof Error) return e.message;
  return String(e);
}
