// Terminal-safe text. Anything from a report, from BuildKit or from a process in the image
// may carry bytes a terminal obeys: ESC sequences (clear the screen, move the cursor, set the
// window title, OSC 8 links), a carriage return that overwrites the line with a fake
// "pushed …", C1 controls (U+0080–U+009F; U+009B is a one-character CSI on some terminals),
// and Unicode format characters that reorder or hide text (bidi overrides, zero-width
// characters). These helpers make such text inert before it is printed or logged.

/** C0 controls, DEL, C1 controls, and the Unicode format characters that reorder or hide text. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/;
// eslint-disable-next-line no-control-regex
const UNSAFE_G = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

/** Whether the text holds any character escapeControls() would change. */
export function hasControlChars(s: string): boolean {
  return UNSAFE.test(s);
}

function esc(c: string): string {
  const cp = c.charCodeAt(0);
  switch (cp) {
    case 0x09:
      return '\\t';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x1b:
      return '\\e';
    default:
      return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  }
}

/**
 * One line of inert text: every control or format character is written as a visible escape
 * ("\e[2J", "\r", "\x9b", "\u202e"), so the reader sees that it was there and the terminal
 * obeys nothing. Printable text, including non-ASCII letters, is unchanged.
 */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE_G, esc);
}

// CSI … final byte; OSC … BEL or ST; other two-character ESC sequences (ESC c = reset, ESC 7 …).
// eslint-disable-next-line no-control-regex
const ESC_SEQ = /\u001b\[[0-?]*[ -/]*[@-~]|\u009b[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u009d[^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[PX^_][^\u001b]*(?:\u001b\\)?|\u001b[ -/]*[0-~]?/g;
/**
 * Output of a process (a build step's log) or a daemon's text, for a terminal: ESC sequences
 * (colours included) are removed, and the remaining control and format characters become
 * spaces (a tab two spaces), so nothing can move the cursor, clear the screen or overwrite a
 * line. Newlines become spaces too: split lines first where they matter.
 */
export function sanitizeTerminal(s: string): string {
  return s.replace(ESC_SEQ, '').replace(/\t/g, '  ').replace(UNSAFE_G, ' ');
}
