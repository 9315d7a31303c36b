import { describe, expect, it } from 'vitest';
import { COPA_ERROR_CATEGORIES, CopaError, describeError, isCopaError, quote } from '../../src/engine/errors.js';

describe('CopaError', () => {
  it('carries category, message, hint and cause', () => {
    const cause = new Error('root');
    const e = new CopaError('report', 'r.json is empty', { hint: 'scan again', cause });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('CopaError');
    expect(e.category).toBe('report');
    expect(e.message).toBe('r.json is empty');
    expect(e.hint).toBe('scan again');
    expect(e.cause).toBe(cause);
    expect(e.describe()).toBe('r.json is empty\nhint: scan again');
    expect(isCopaError(e)).toBe(true);
    expect(isCopaError(new Error('x'))).toBe(false);
  });

  it('no hint, no hint line', () => {
    const e = new CopaError('internal', 'bug', { hint: '' });
    expect(e.hint).toBeUndefined();
    expect(e.describe()).toBe('bug');
  });

  it('subclasses keep the category', () => {
    class UsageError extends CopaError {
      constructor(msg: string) {
        super('input', msg);
        this.name = 'UsageError';
      }
    }
    const e = new UsageError('bad flag');
    expect(e).toBeInstanceOf(CopaError);
    expect(e.category).toBe('input');
  });

  it('lists every category', () => {
    expect(COPA_ERROR_CATEGORIES).toEqual(['report', 'input', 'image', 'buildkit', 'auth', 'validation', 'internal', 'interrupted', 'system']);
  });
});

describe('describeError', () => {
  it('formats anything thrown', () => {
    expect(describeError(new CopaError('input', 'bad', { hint: 'fix' }))).toBe('bad\nhint: fix');
    expect(describeError(new TypeError('boom'))).toBe('boom');
    expect(describeError('plain')).toBe('plain');
  });
});

describe('quote', () => {
  it('JSON-escapes control and non-ASCII characters', () => {
    expect(quote('a\nb')).toBe('"a\\nb"');
    expect(quote('x\u0000')).toBe('"x\\u0000"');
    expect(quote('b\u0430sh')).toBe('"b\\u0430sh"');
    expect(quote('\u001b[31mred')).toBe('"\\u001b[31mred"');
    expect(quote('say "hi"')).toBe('"say \\"hi\\""');
  });
  it('shortens long values', () => {
    const q = quote('x'.repeat(500));
    expect(q).toBe(`"${'x'.repeat(120)}"... (500 characters)`);
  });
});
