// BuildKit gateway frontend entry point: BuildKit runs this image for
// `buildctl build --frontend gateway.v0 --opt source=<image>` and for
// `docker buildx build --build-arg BUILDKIT_SYNTAX=<image>`. Options arrive as
// frontend opts (plain `image=…` or `build-arg:image=…`); the result is returned
// to BuildKit's exporter with the patched image config.
import { connectFrontend } from './transport.js';
import { parseFrontendOptions } from '../engine/options.js';
import { patchPlatforms } from '../engine/patch-platforms.js';
import { artifactWarnings } from '../engine/report-target.js';
import { summaryLines } from '../engine/summary.js';
import { summarizeNames } from '../engine/names.js';
import { loadReport } from './report-context.js';
import { exportResult } from '../engine/result.js';
import { describeError } from '../engine/errors.js';
import { FileAction, State, formatPlatform, type Platform } from '../llb/index.js';
import { FAMILIES } from '../distros/index.js';

const VERSION = process.env.COPA_VERSION ?? '0.1.0';

function log(line: string) {
  process.stderr.write(`copa-frontend: ${line}\n`);
}

async function main() {
  const fe = await connectFrontend();
  const { bridge } = fe;
  try {
    const o = parseFrontendOptions(fe.opts);
    const report = o.report ? await loadReport({ bridge, opts: fe.opts, sessionId: fe.sessionId, inputs: () => bridge.inputs() }, o.report, o.scanner) : null;
    const notes = [...o.warnings, ...(report?.warnings ?? []), ...(report && o.report ? artifactWarnings(o.imageRef, [{ file: o.report, report }]) : [])];
    for (const n of notes) log(`warning: ${n}`);
    const platforms: Platform[] = o.platforms.length ? o.platforms : [fe.defaultPlatform];
    const outcomes = await patchPlatforms(
      bridge,
      platforms.map((platform) => ({ platform, report })),
      { image: o.imageRef, ignoreErrors: o.ignoreErrors, toolingImage: o.toolingImage, network: o.network, producer: `copa-ts ${VERSION}`, families: FAMILIES },
      log,
    );
    for (const [platform, outcome] of outcomes) {
      const lines = summaryLines(outcome.packages);
      const upToDate = `${o.image} (${formatPlatform(platform)}) is already up to date: no patch was applied`;
      if (outcome.kind === 'up-to-date') lines.unshift(upToDate);
      for (const l of lines) log(l);
      // A fresh (never cached) step named after the summary: users see it in the build
      // progress, and warnings attach to it (progress drops warnings on cached steps). It
      // names what was not patched too: every progress mode prints a step's name.
      const missed = outcome.packages.filter((x) => x.status === 'not-patched');
      const name = `copa: summary for ${formatPlatform(platform)}: ${lines[0]}${missed.length ? `; NOT PATCHED ${summarizeNames(missed.map((p) => p.name))}` : ''}`;
      const note = State.scratch().file(FileAction.mkfile('/copa-summary.txt', 0o644, lines.join('\n') + '\n'), { name, ignoreCache: true });
      await bridge.solve(note.marshal({ platform }), { evaluate: true });
      // buildctl and buildx print only a warning's short line, so each one stands alone.
      for (const p of missed) {
        await bridge.warn(`copa: NOT PATCHED ${p.name} ${p.installedVersion ?? ''} on ${formatPlatform(platform)}: ${p.reason ?? ''}`, lines);
      }
      if (outcome.kind === 'up-to-date') await bridge.warn(`copa: ${upToDate}`, lines);
    }
    for (const n of notes) await bridge.warn(`copa: ${n}`);
    await bridge.returnResult(exportResult(outcomes, o.platforms.length > 1));
  } catch (e) {
    const msg = describeError(e);
    log(`error: ${msg}`);
    await bridge.returnError(msg);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`copa-frontend: fatal: ${(e as Error)?.stack ?? e}\n`);
    process.exit(70);
  },
);
