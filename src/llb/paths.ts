// Slash-separated path helpers with the exact semantics of Go's `path` package
// (Clean, Join, IsAbs). LLB paths are cleaned the way the Go client cleans them, and
// Node's path.posix.normalize differs (it keeps trailing slashes and maps "" to ".").

export function isAbs(p: string): boolean {
  return p.startsWith('/');
}

/** Lexical cleaning as in Go's path.Clean. */
export function clean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

/** Go's path.Join: joins the non-empty elements with "/" and cleans; "" if all are empty. */
export function join(...elems: string[]): string {
  const nonEmpty = elems.filter((e) => e !== '');
  if (nonEmpty.length === 0) return '';
  return clean(nonEmpty.join('/'));
}
