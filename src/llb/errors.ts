// Errors the LLB layer raises about BuildKit itself (unreachable, missing capabilities,
// unreadable answers). They carry a category and a hint; the engine maps them onto its
// own CopaError at its boundary (engine/errors.ts toCopaError), so this floor imports
// nothing above it.

export type BuildKitErrorCategory = 'buildkit' | 'image';

export class BuildKitError extends Error {
  readonly hint?: string;
  constructor(
    readonly category: BuildKitErrorCategory,
    message: string,
    opts: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BuildKitError';
    if (opts.hint) this.hint = opts.hint;
  }
}
