// Reading a report file into a JSON value, with errors that say where and why.

import type { z } from 'zod';
import { CopaError, quote } from '../errors.js';

export const MAX_REPORT_BYTES = 64 * 1024 * 1024;

/** A JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** "Results[0].Vulnerabilities[3].PkgName" for ['Results', 0, 'Vulnerabilities', 3, 'PkgName']. */
export function formatJsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out === '' ? '(top level)' : out;
}

/** Bytes or text of a report → text, enforcing the size limit and the encoding. */
export function decodeReport(input: Uint8Array | string, source: string): string {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (size > MAX_REPORT_BYTES) {
    throw new CopaError(
      'report',
      `${source} is ${size} bytes; reports larger than ${MAX_REPORT_BYTES} bytes (64 MiB) are refused`,
      { hint: 'is this really a scan report? Trivy reports of one image are usually well under 10 MiB' },
    );
  }
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    let encoding = 'utf-8';
    if (input[0] === 0xff && input[1] === 0xfe) encoding = 'utf-16le'; // e.g. PowerShell's `>` redirection
    else if (input[0] === 0xfe && input[1] === 0xff) encoding = 'utf-16be';
    try {
      text = new TextDecoder(encoding, { fatal: true }).decode(input);
    } catch (cause) {
      throw new CopaError('report', `${source} is not ${encoding.toUpperCase()} text (is it a binary file?)`, {
        cause,
        hint: 'pass the JSON report the scanner wrote (e.g. trivy image --format json --output report.json <image>)',
      });
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') {
    throw new CopaError('report', `${source} is empty`, {
      hint: 'the scanner may have failed; generate the report again (e.g. trivy image --format json --output report.json <image>)',
    });
  }
  return text;
}

interface JsonSyntaxError {
  offset: number;
  message: string;
}

const WS = new Set([' ', '\t', '\n', '\r']);

/**
 * Find the first syntax error in text that JSON.parse rejected. Iterative, so hostile
 * nesting depth cannot overflow the stack. Returns null if the text is valid JSON.
 */
export function locateJsonError(text: string): JsonSyntaxError | null {
  const n = text.length;
  let i = 0;
  const stack: string[] = [];
  const err = (message: string): JsonSyntaxError => ({ offset: Math.min(i, n), message });
  const skipWs = (): void => {
    while (i < n && WS.has(text[i]!)) i++;
  };
  const describe = (): string => (i >= n ? 'the end of the file' : `${quote(text[i]!)}`);

  const readString = (): JsonSyntaxError | null => {
    i++; // opening quote
    for (;;) {
      if (i >= n) return err('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return null;
      }
      if (c < 0x20) return err('control character (e.g. a raw newline or tab) inside a string; it must be escaped');
      if (c === 92) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6))) return err('invalid \\u escape in a string');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          return err('invalid escape in a string');
        }
        continue;
      }
      i++;
    }
  };

  const readScalar = (): JsonSyntaxError | null => {
    const c = text[i]!;
    if (c === '"') return readString();
    if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
      if (!m) return err('invalid number');
      i += m[0].length;
      return null;
    }
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return null;
      }
    }
    return err(`unexpected ${describe()} where a value was expected`);
  };

  /** A property name and its colon; the value follows. */
  const readKey = (): JsonSyntaxError | null => {
    skipWs();
    if (text[i] === '}') return err('trailing comma before "}"');
    if (text[i] !== '"') return err(`expected a double-quoted property name but found ${describe()}`);
    const e = readString();
    if (e) return e;
    skipWs();
    if (text[i] !== ':') return err(`expected ":" after a property name but found ${describe()}`);
    i++;
    return null;
  };

  let wantValue = true;
  for (;;) {
    skipWs();
    if (wantValue) {
      if (i >= n) return err('unexpected end of the file where a value was expected');
      const c = text[i]!;
      if (c === '{' || c === '[') {
        stack.push(c);
        i++;
        skipWs();
        if (text[i] === (c === '{' ? '}' : ']')) {
          stack.pop();
          i++;
          wantValue = false;
          continue;
        }
        if (c === '{') {
          const e = readKey();
          if (e) return e;
        }
        continue;
      }
      const e = readScalar();
      if (e) return e;
      wantValue = false;
      continue;
    }
    const top = stack[stack.length - 1];
    if (top === undefined) return i < n ? err(`unexpected ${describe()} after the end of the JSON value`) : null;
    const close = top === '{' ? '}' : ']';
    if (text[i] === close) {
      stack.pop();
      i++;
      continue;
    }
    if (text[i] !== ',') return err(`expected "," or "${close}" but found ${describe()}`);
    i++;
    if (top === '{') {
      const e = readKey();
      if (e) return e;
    } else {
      skipWs();
      if (text[i] === ']') return err('trailing comma before "]"');
    }
    wantValue = true;
  }

}

function lineAndColumn(text: string, offset: number): { line: number; column: number; lineText: string } {
  let line = 1;
  let start = 0;
  for (let k = text.indexOf('\n'); k >= 0 && k < offset; k = text.indexOf('\n', k + 1)) {
    line++;
    start = k + 1;
  }
  const end = text.indexOf('\n', start);
  return { line, column: offset - start + 1, lineText: text.slice(start, end < 0 ? text.length : end) };
}

/** JSON.parse with an error that names the file, line and column. */
export function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    const loc = locateJsonError(text);
    if (!loc) throw new CopaError('report', `${source} is not valid JSON: ${(cause as Error).message}`, { cause });
    const { line, column, lineText } = lineAndColumn(text, loc.offset);
    const from = Math.max(0, column - 1 - 30);
    const excerpt = quote(lineText.slice(from, column - 1 + 30));
    throw new CopaError(
      'report',
      `${source} is not valid JSON: ${loc.message} at line ${line}, column ${column} (near ${excerpt})`,
      { cause, hint: 'pass the JSON report the scanner wrote, unmodified (e.g. trivy image --format json --output report.json <image>)' },
    );
  }
}

/** Validate with a zod schema; the error lists the first few problems by JSON path. */
export function parseWithSchema<T extends z.ZodType>(
  schema: T,
  value: unknown,
  source: string,
  what: string,
  basePath: readonly PropertyKey[] = [],
): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 5).map((iss) => {
    const path = formatJsonPath([...basePath, ...iss.path]);
    const msg = /received undefined$/.test(iss.message)
      ? `is missing (${iss.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '')})`
      : iss.message.replace(/^Invalid input: /, '');
    return `${path} ${msg}`;
  });
  const more = r.error.issues.length > 5 ? ` (and ${r.error.issues.length - 5} more)` : '';
  throw new CopaError('report', `${source} is not a valid ${what}: ${issues.join('; ')}${more}`, {
    hint: 'the file may have been edited or produced by an incompatible tool; regenerate it with the scanner',
  });
}
