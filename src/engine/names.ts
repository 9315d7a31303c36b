// Package names as step names and log lines show them: short enough to read in a progress view.

/** "a b c d" for up to four names, else the first four and how many more. */
export function summarizeNames(names: readonly string[]): string {
  return names.length <= 4 ? names.join(' ') : `${names.slice(0, 4).join(' ')} (+${names.length - 4} more)`;
}
