// EXPERIMENTAL_BUILDKIT_SOURCE_POLICY: a BuildKit source policy (JSON, as buildctl and
// buildx read it) sent with the Solve. Users convert or pin tooling images with it, which
// is also how they stay offline (e.g. debian:12-slim → their own registry).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CopaError } from '../engine/errors.js';

export const SOURCE_POLICY_ENV = 'EXPERIMENTAL_BUILDKIT_SOURCE_POLICY';

const Enum = <T extends string>(names: readonly T[]) => z.union([z.enum(names as [T, ...T[]]), z.number().int().min(0).max(names.length - 1)]);
const Rule = z.object({
  action: Enum(['ALLOW', 'DENY', 'CONVERT'] as const),
  selector: z.object({
    identifier: z.string().min(1),
    matchType: Enum(['WILDCARD', 'EXACT', 'REGEX'] as const).optional(),
    match_type: Enum(['WILDCARD', 'EXACT', 'REGEX'] as const).optional(),
    constraints: z.array(z.object({ key: z.string(), value: z.string(), condition: Enum(['EQUAL', 'NOTEQUAL', 'MATCHES'] as const).optional() })).optional(),
  }),
  updates: z.object({ identifier: z.string().optional(), attrs: z.record(z.string(), z.string()).optional() }).optional(),
});
const Policy = z.object({ version: z.number().int().optional(), rules: z.array(Rule) });

/** The policy from the environment, as a moby.buildkit.v1.sourcepolicy.Policy object; null when unset. */
export function loadSourcePolicy(env: NodeJS.ProcessEnv = process.env): Record<string, unknown> | null {
  const file = env[SOURCE_POLICY_ENV];
  if (!file) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CopaError('input', `${SOURCE_POLICY_ENV}=${file}: ${(e as Error).message}`, { hint: 'point it at a JSON source policy file, or unset it' });
  }
  const parsed = Policy.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CopaError('input', `${SOURCE_POLICY_ENV}=${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, {
      hint: 'expected {"rules":[{"action":"CONVERT","selector":{"identifier":"docker-image://…"},"updates":{"identifier":"docker-image://…"}}]}',
    });
  }
  return {
    version: parsed.data.version ?? 0,
    rules: parsed.data.rules.map((r) => ({
      action: r.action,
      selector: { identifier: r.selector.identifier, match_type: r.selector.matchType ?? r.selector.match_type ?? 'WILDCARD', constraints: r.selector.constraints ?? [] },
      ...(r.updates ? { updates: { identifier: r.updates.identifier ?? '', attrs: r.updates.attrs ?? {} } } : {}),
    })),
  };
}
