import { describe, expect, it } from 'vitest';
import { planFromReport, validate, changedPackages } from '../../src/engine/plan.js';
import { comparatorFor } from '../../src/engine/versions/index.js';

const cmp = comparatorFor('deb');
const u = (name: string, fixedVersion: string, id = `CVE-${name}`) => ({ name, installedVersion: '', fixedVersion, vulnerabilityIds: [id] });

describe('planFromReport', () => {
  const installed = new Map([
    ['tzdata', '2024a-0+deb12u1'],
    ['liblzma5', '5.4.1-0.2'],
    ['apt', '2.6.1'],
  ]);

  it('keeps installed packages below their fixed version and settles the rest', () => {
    const plan = planFromReport(installed, [u('tzdata', '2025b-0+deb12u1'), u('apt', '2.6.1'), u('ghost', '1.0')], new Map(), cmp);
    expect(plan.wanted).toEqual([{ name: 'tzdata', minVersion: '2025b-0+deb12u1', vulnerabilityIds: ['CVE-tzdata'] }]);
    expect(plan.settled.map((s) => [s.name, s.status])).toEqual([
      ['apt', 'already-fixed'],
      ['ghost', 'not-installed'],
    ]);
  });

  it('re-raises packages a previous patch raised, never below that version', () => {
    const prev = new Map([['liblzma5', '5.4.1-1']]);
    const plan = planFromReport(installed, [u('tzdata', '2025b-0+deb12u1'), u('liblzma5', '5.4.1-0.3')], prev, cmp);
    expect(plan.wanted.map((w) => [w.name, w.minVersion, w.vulnerabilityIds])).toEqual([
      ['liblzma5', '5.4.1-1', ['CVE-liblzma5']],
      ['tzdata', '2025b-0+deb12u1', ['CVE-tzdata']],
    ]);
    expect(plan.settled).toEqual([]);
  });

  it('is up to date when a re-patched image already satisfies the report', () => {
    const prev = new Map([['tzdata', '2025b-0+deb12u1']]);
    const plan = planFromReport(installed, [u('tzdata', '2025b-0+deb12u1')], prev, cmp);
    expect(plan.wanted).toEqual([]);
    expect(plan.settled).toEqual([expect.objectContaining({ name: 'tzdata', status: 'already-fixed', finalVersion: '2025b-0+deb12u1' })]);
  });

  it('uses the higher of the report fix and the previously patched version', () => {
    const prev = new Map([['liblzma5', '5.4.1-1']]);
    const plan = planFromReport(installed, [u('liblzma5', '5.4.1-2')], prev, cmp);
    expect(plan.wanted).toEqual([{ name: 'liblzma5', minVersion: '5.4.1-2', vulnerabilityIds: ['CVE-liblzma5'] }]);
  });
});

describe('validate', () => {
  it('reports a version below the requirement in upstream wording', () => {
    const wanted = [
      { name: 'a', minVersion: '2.0', vulnerabilityIds: [] },
      { name: 'b', minVersion: '1.1', vulnerabilityIds: [] },
    ];
    const { results, failures } = validate(wanted, new Map([['a', '1.0'], ['b', '1.0']]), new Map([['a', '1.5'], ['b', '1.1']]), cmp);
    expect(failures).toEqual(['downloaded package a version 1.5 lower than required 2.0 for update']);
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ['a', 'not-patched'],
      ['b', 'patched'],
    ]);
  });

  it('flags a package the upgrade removed', () => {
    const { failures } = validate([{ name: 'a', minVersion: '2', vulnerabilityIds: [] }], new Map([['a', '1']]), new Map(), cmp);
    expect(failures[0]).toMatch(/removed/);
  });
});

describe('changedPackages', () => {
  it('lists packages whose version changed, ignoring new and removed ones', () => {
    const out = changedPackages(new Map([['a', '1'], ['b', '1'], ['gone', '1']]), new Map([['a', '2'], ['b', '1'], ['new', '1']]));
    expect(out.map((p) => [p.name, p.installedVersion, p.finalVersion])).toEqual([['a', '1', '2']]);
  });
});
