import { expect } from 'vitest';
import { compare as debCompare } from '../../../src/engine/versions/deb.js';
import type { Finding } from './reports.js';

/** Every finding's package is installed at its fixed version or newer (Debian ordering). */
export function expectFixed(versions: Map<string, string>, findings: readonly Finding[]): void {
  for (const f of findings) {
    const v = versions.get(f.name);
    expect(v, `${f.name} missing`).toBeDefined();
    expect(debCompare(v!, f.fixed), `${f.name} ${v} < ${f.fixed}`).toBeGreaterThanOrEqual(0);
  }
}
