// Alpine (apk-tools) package versions:
//   digits{.digits}[letter]{_suffix[digits]}[~hexhash][-rN]
// Ordering, as apk-tools defines it (its test/unit/version.data cases pass, see
// test/unit/engine-versions.test.ts):
//   - the version is read as a sequence of typed tokens; tokens of the same type compare
//     by value: numbers numerically, except that a dotted component with a leading zero
//     compares as a string ("1.01" < "1.1", "8.2.0" < "8.2.001"); letters by character;
//     suffixes by rank _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p;
//     a commit hash as a string; -rN numerically;
//   - when one version runs out of tokens or switches to a different token type first,
//     a pre-release suffix (_alpha.._rc) makes it older, otherwise the version whose next
//     token comes earlier in the grammar is newer ("1.0.1" > "1.0" > "1.0_rc1",
//     "1.0a" > "1.0", "1.0-r1" > "1.0").
// This follows apk-tools 3; apk-tools 2 differs only for dotted components with several
// leading zeros (it orders "8.2.001" < "8.2.0") and does not know "~hash".

import { compareDigits, type Cmp } from './deb.js';

export type { Cmp };

const enum T {
  InitialDigit,
  Digit,
  Letter,
  Suffix,
  SuffixNo,
  CommitHash,
  RevisionNo,
  End,
  Invalid,
}

const enum S {
  Invalid,
  Alpha,
  Beta,
  Pre,
  Rc,
  None,
  Cvs,
  Svn,
  Git,
  Hg,
  P,
}

const SUFFIXES: Record<string, S> = {
  alpha: S.Alpha,
  beta: S.Beta,
  pre: S.Pre,
  rc: S.Rc,
  cvs: S.Cvs,
  svn: S.Svn,
  git: S.Git,
  hg: S.Hg,
  p: S.P,
};

class Tokenizer {
  token: T = T.InitialDigit;
  suffix: S = S.Invalid;
  value = '';
  private pos = 0;

  constructor(private readonly s: string) {
    this.digits();
  }

  private run(pred: (c: number) => boolean): string {
    const start = this.pos;
    while (this.pos < this.s.length && pred(this.s.charCodeAt(this.pos))) this.pos++;
    return this.s.slice(start, this.pos);
  }

  private digits(): void {
    this.value = this.run(isDigit);
    if (this.value === '') this.token = T.Invalid;
  }

  next(): void {
    if (this.pos >= this.s.length) {
      this.token = T.End;
      return;
    }
    const c = this.s.charCodeAt(this.pos);
    const t = this.token;
    if (isLower(c)) {
      if (t > T.Digit) return this.invalid();
      this.value = this.s[this.pos]!;
      this.pos++;
      this.token = T.Letter;
    } else if (c === 46 /* . */ || isDigit(c)) {
      if (c === 46) {
        if (t > T.Digit) return this.invalid();
        this.pos++;
      }
      if (t === T.InitialDigit || t === T.Digit) this.token = T.Digit;
      else if (t === T.Suffix) this.token = T.SuffixNo;
      else return this.invalid();
      this.digits();
    } else if (c === 95 /* _ */) {
      if (t > T.SuffixNo) return this.invalid();
      this.pos++;
      this.value = this.run(isLower);
      this.suffix = SUFFIXES[this.value] ?? S.Invalid;
      if (this.suffix === S.Invalid) return this.invalid();
      this.token = T.Suffix;
    } else if (c === 126 /* ~ */) {
      if (t >= T.CommitHash) return this.invalid();
      this.pos++;
      this.value = this.run(isHex);
      if (this.value === '') return this.invalid();
      this.token = T.CommitHash;
    } else if (c === 45 /* - */) {
      if (t >= T.RevisionNo || this.s[this.pos + 1] !== 'r') return this.invalid();
      this.pos += 2;
      this.token = T.RevisionNo;
      this.digits();
    } else {
      this.invalid();
    }
  }

  private invalid(): void {
    this.token = T.Invalid;
  }
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isHex = (c: number): boolean => isDigit(c) || (c >= 97 && c <= 102);

function byteCompare(a: string, b: string): Cmp {
  return a < b ? -1 : a > b ? 1 : 0;
}

function tokenCompare(a: Tokenizer, b: Tokenizer): Cmp {
  switch (a.token) {
    case T.Digit:
      if (a.value.startsWith('0') || b.value.startsWith('0')) return byteCompare(a.value, b.value);
      return compareDigits(a.value, b.value);
    case T.InitialDigit:
    case T.SuffixNo:
    case T.RevisionNo:
      return compareDigits(a.value, b.value);
    case T.Suffix:
      return a.suffix === b.suffix ? 0 : a.suffix < b.suffix ? -1 : 1;
    default: // Letter and CommitHash: plain string order
      return byteCompare(a.value, b.value);
  }
}

export function compare(a: string, b: string): Cmp {
  if (a === b) return 0;
  const x = new Tokenizer(a);
  const y = new Tokenizer(b);
  while (x.token === y.token && x.token < T.End) {
    const r = tokenCompare(x, y);
    if (r !== 0) return r;
    x.next();
    y.next();
  }
  if (x.token === y.token) return 0;
  if (x.token === T.Suffix && x.suffix < S.None) return -1;
  if (y.token === T.Suffix && y.suffix < S.None) return 1;
  return x.token > y.token ? -1 : 1;
}

export function isValid(v: string): boolean {
  if (typeof v !== 'string') return false;
  const t = new Tokenizer(v);
  while (t.token < T.End) t.next();
  return t.token === T.End;
}
