// A patch by our gateway frontend image through buildctl, as the README's buildctl recipe runs
// it: the report in a `report` local context, options as --opt, the result pushed to `target`.
import { runBuildctl } from '../../env/testbed.js';
import { reportDir } from './reports.js';

export interface GatewayRun {
  code: number;
  /** buildctl's progress and errors. */
  out: string;
  target: string;
}

export async function gatewayPatch(
  frontend: string,
  image: string,
  target: string,
  o: { report?: object | string; opts?: Record<string, string>; progress?: 'plain' | 'rawjson' } = {},
): Promise<GatewayRun> {
  const args = ['build', `--progress=${o.progress ?? 'plain'}`, '--frontend', 'gateway.v0', '--opt', `source=${frontend}`, '--opt', `image=${image}`];
  if (o.report !== undefined) args.push('--local', `report=${reportDir(o.report)}`, '--opt', 'context:report=local:report', '--opt', 'report=report.json');
  for (const [k, v] of Object.entries(o.opts ?? {})) args.push('--opt', `${k}=${v}`);
  args.push('--output', `type=image,name=${target},push=true,registry.insecure=true`);
  const r = await runBuildctl(args);
  return { code: r.code, out: r.stdout + r.stderr, target };
}
