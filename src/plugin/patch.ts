// `docker copa patch`: connect to BuildKit, run the shared patch engine client side (or
// the frontend image inside BuildKit), export the result, then print a summary and VEX.
import type { PatchOutcome } from '../engine/patch.js';
import { patchPlatforms } from '../engine/patch-platforms.js';
import { frontendAttrs } from '../engine/options.js';
import { artifactWarnings } from '../engine/report-target.js';
import { FAMILIES } from '../distros/index.js';
import { exportResult } from '../engine/result.js';
import { CopaError } from '../engine/errors.js';
import { FileAction, State, definitionToProtoObject, formatPlatform, type Platform } from '../llb/index.js';
import { BuildKitSession } from '../llb/grpc/session.js';
import type { PatchCommand } from './cli.js';
import type { DockerGlobals } from './argv.js';
import { resolveAddress } from './address.js';
import { dockerConfigDir, resolveDockerEndpoint } from './docker-config.js';
import { connect, startBuild, type Connection } from './buildkit.js';
import { createProgress, printPlan, printSummary, type ProgressDisplay } from './progress/index.js';
import { loadReports, type PlatformReport } from './reports.js';
import { loadSourcePolicy } from './source-policy.js';
import { checkVexDestination, writeOpenVex } from './vex.js';
import { parseImageRef } from '../engine/imageref.js';
import { isInterrupted, throwIfInterrupted, withAbort } from './interrupt.js';
import { planOutputs, type OutputPlan, type OutputRequest, type OutputResult } from './outputs/exporters.js';
import { authService } from './session/auth.js';
import { fileSendService } from './session/filesend.js';

/**
 * --compression is for local output (default uncompressed: a load or a layout stays on this
 * machine). A pushed patch layer is gzip, as registries and every runtime expect, at the
 * fastest level (as go-containerregistry does): for debian:12 + openssl 13.4 MB in 0.5 s
 * instead of 12.2 MB in 1.2 s at gzip's default level. Forced, because BuildKit otherwise reuses
 * whatever blob an earlier export of the same result made (an uncompressed one after a local
 * load); layers that already have a gzip blob (the original's, as pulled) keep it and their
 * digests — only an original with zstd layers would see them recompressed.
 */
const PUSHED_LAYER = { compression: 'gzip', compressionLevel: 1, forceCompression: true } as const;

export interface PatchEnv {
  globals: DockerGlobals;
  prog: string;
  /** Aborted on Ctrl-C, SIGTERM, docker CLI termination or --timeout, with an Interrupted reason. */
  signal: AbortSignal;
}

/** Which platforms to patch, each with its report (null = update everything). */
function targets(cmd: PatchCommand, reports: PlatformReport[] | null, fallback: Platform): Array<{ platform: Platform; report: PlatformReport | null }> {
  if (reports && reports.length > 1) return reports.map((r) => ({ platform: r.platform!, report: r }));
  if (reports) return [{ platform: cmd.platforms[0] ?? reports[0]!.platform ?? fallback, report: reports[0]! }];
  const list = cmd.platforms.length ? cmd.platforms : [fallback];
  return list.map((platform) => ({ platform, report: null }));
}

export async function runPatch(cmd: PatchCommand, env: PatchEnv): Promise<number> {
  const debug = (l: string) => {
    if (cmd.debug) process.stderr.write(`debug: ${l}\n`);
  };
  for (const w of cmd.warnings) process.stderr.write(`warning: ${w}\n`);
  if (cmd.output && !cmd.report) process.stderr.write('warning: --output (VEX) needs a report; no VEX document will be written\n');

  // Everything that can fail on bad input fails before we touch BuildKit.
  const image = parseImageRef(cmd.image, '--image');
  const toolingImage = cmd.toolingImage ? parseImageRef(cmd.toolingImage, '--tooling-image') : undefined;
  const reports = cmd.report ? loadReports(cmd.report, cmd.scanner) : null;
  for (const r of reports ?? []) for (const w of r.report.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  for (const w of artifactWarnings(image, reports ?? [])) process.stderr.write(`warning: ${w}\n`);
  // Local outputs are checked before anything is built or pushed (the OCI layout directory and
  // the Docker engine are checked by planOutputs, also before the build starts).
  const vexPath = cmd.output && reports ? cmd.output : undefined;
  if (vexPath) await checkVexDestination(vexPath);
  const sourcePolicy = loadSourcePolicy();
  const configDir = dockerConfigDir(env.globals);
  const dialers = await withAbort(resolveAddress(cmd.addr, { globals: env.globals, dockerConfigDir: configDir, debug }, cmd.tls), env.signal);

  const connecting = connect(dialers, debug);
  // Interrupted while connecting: close the connection once it is there.
  connecting.then(
    (c) => {
      if (env.signal.aborted) void c.close();
    },
    () => undefined,
  );
  const conn = await withAbort(connecting, env.signal);
  let progress: ProgressDisplay | undefined;
  let outputs: OutputPlan | undefined;
  let session: BuildKitSession | undefined;
  /** Set once BuildKit has exported the image: what is already out (a push cannot be undone). */
  let exported: string | undefined;
  try {
    const jobs = targets(cmd, reports, conn.platforms[0] ?? { os: 'linux', architecture: 'amd64' });
    printPlan(
      [
        { label: 'image', value: cmd.image },
        { label: 'report', value: cmd.report ? `${cmd.report} (${reports!.reduce((n, r) => n + r.report.updates.length, 0)} package updates)` : 'none: update every package' },
        { label: 'platforms', value: jobs.map((j) => formatPlatform(j.platform)).join(', ') },
        { label: 'BuildKit', value: `${conn.dialer.describe} (${conn.version})` },
        { label: 'output', value: cmd.push ? `push ${cmd.target.ref}` : cmd.ociDir ? `OCI layout ${cmd.ociDir}` : `load ${cmd.target.ref} into ${cmd.loader || 'docker'}` },
      ],
      { title: 'copa patch plan' },
    );

    outputs = await withAbort(
      planOutputs(outputRequests(cmd, conn, env.globals, configDir), {
        image: cmd.push ? PUSHED_LAYER : { compression: cmd.compression, forceCompression: cmd.forceCompression },
      }),
      env.signal,
    );
    throwIfInterrupted(env.signal);
    session = BuildKitSession.open(conn.channel, {
      name: 'docker-copa',
      services: [authService({ warn: (m: string) => process.stderr.write(`warning: ${m}\n`) }), fileSendService(outputs.targets)],
    });
    progress = createProgress(cmd.progress, { phase: 'Patching' });
    const p = progress;

    const outcomes: Array<[Platform, PatchOutcome]> = [];
    // Aborting env.signal cancels Control.Solve: BuildKit cancels the build and exports nothing.
    const common = { sessionId: session.id, exporterFields: outputs.solveFields(), entitlements: cmd.network === 'host' ? ['network.host'] : [], ...(sourcePolicy ? { sourcePolicy } : {}), onStatus: (s: Parameters<ProgressDisplay['update']>[0]) => p.update(s), signal: env.signal };
    // Whatever runs client side stops waiting at once on an interrupt (the outputs are cancelled below).
    const abortable = <T>(x: Promise<T>) => withAbort(x, env.signal);
    let build;
    if (cmd.frontendImage) {
      // The same engine, run by BuildKit as our gateway frontend image, with the same options.
      const attrs: Record<string, string> = {
        source: cmd.frontendImage,
        ...frontendAttrs({
          imageRef: image,
          platforms: jobs.length > 1 || cmd.platforms.length ? jobs.map((j) => j.platform) : [],
          ignoreErrors: cmd.ignoreErrors,
          ...(toolingImage ? { toolingImage } : {}),
          scanner: cmd.scanner,
          network: cmd.network === 'host' ? 'host' : 'sandbox',
        }),
      };
      const inputs: Record<string, unknown> = {};
      if (reports) {
        if (reports.length > 1) throw new CopaError('input', '--frontend-image takes one report file, not a directory');
        // The report travels as a frontend input, so no file sync with the client is needed.
        const def = State.scratch().file(FileAction.mkfile('/report.json', 0o644, reports[0]!.bytes)).marshal();
        inputs.report = definitionToProtoObject(def);
        attrs['context:report'] = 'input:report';
        attrs.report = 'report.json';
      }
      build = await abortable(startBuild(conn, { ...common, frontend: 'gateway.v0', frontendAttrs: attrs, frontendInputs: inputs as never }));
    } else {
      build = await abortable(startBuild(conn, common));
      const bridge = build.bridge!;
      try {
        outcomes.push(
          ...(await abortable(
            patchPlatforms(
              bridge,
              jobs.map((j) => ({ platform: j.platform, report: j.report?.report ?? null })),
              { image, ignoreErrors: cmd.ignoreErrors, toolingImage, network: cmd.network === 'host' ? 'host' : 'sandbox', producer: 'docker-copa', families: FAMILIES },
              (l) => p.log(l),
            ),
          )),
        );
        if (outcomes.every(([, o]) => o.kind === 'up-to-date')) {
          // Nothing to do anywhere: end the build without exporting anything.
          await abortable(bridge.returnError('copa: image is already up to date', 1).catch(() => undefined));
          await abortable(build.done.catch(() => undefined));
          await abortable(build.statusDone);
          outputs.cancel(new Error('nothing to export'));
          p.done();
          progress = undefined;
          for (const [, o] of outcomes) if (o.packages.length) printSummary(o.packages);
          process.stderr.write(`${cmd.image} is already up to date: no patch was applied.\n`);
          return 0;
        }
        throwIfInterrupted(env.signal);
        await abortable(bridge.returnResult(exportResult(outcomes)));
      } catch (e) {
        if (isInterrupted(e)) throw e; // the Solve is cancelled already: nothing to return
        await abortable(bridge.returnError(e instanceof CopaError ? e.describe() : (e as Error).message).catch(() => undefined));
        await abortable(build.done.catch(() => undefined));
        throw e;
      }
    }
    const response = await abortable(build.done);
    if (cmd.push) exported = `${cmd.target.ref} was pushed`;
    await abortable(build.statusDone);
    const results = await abortable(outputs.wait());
    p.done();
    progress = undefined;

    const digest = response['containerimage.digest'];
    for (const [plat, o] of outcomes) {
      if (outcomes.length > 1) process.stderr.write(`\n${formatPlatform(plat)}:\n`);
      printSummary(o.packages);
    }
    for (const r of results) process.stderr.write(`${describeResult(r)}\n`);
    const published = results.map(describeResult).join(', ');
    if (vexPath && digest && outcomes.length) {
      // The image is out; an interrupt or a failure now must say so.
      throwIfInterrupted(env.signal);
      const [plat, o] = outcomes[0]!;
      let doc;
      try {
        doc = await writeOpenVex(vexPath, { imageName: cmd.target.ref, digest, os: o.os, arch: plat.architecture, packages: outcomes.flatMap(([, x]) => x.packages) });
      } catch (e) {
        const err = e instanceof CopaError ? e : new CopaError('system', (e as Error).message, { cause: e });
        throw new CopaError(err.category, `${published}, but writing the VEX document failed: ${err.message}`, { cause: e, ...(err.hint ? { hint: err.hint } : {}) });
      }
      process.stderr.write(doc ? `wrote OpenVEX document ${vexPath}\n` : 'no fixed vulnerabilities to record; no VEX document written\n');
    }
    return 0;
  } catch (e) {
    if (isInterrupted(e)) {
      // Abort every client-side output: a docker load in flight is dropped, no OCI layout is written.
      outputs?.cancel(e);
      if (exported) throw e.withDetail(`${exported} before the interrupt arrived; nothing else was loaded or written${vexPath ? `, and the VEX document ${vexPath} was not written` : ''}`);
      throw e;
    }
    // An output's own failure ("docker load failed: …") says more than the daemon's wrapping.
    const own = outputs?.failure();
    outputs?.cancel(e as Error);
    throw own ?? e;
  } finally {
    progress?.done();
    await session?.close().catch(() => undefined);
    await conn.close();
  }
}

/** What the user asked for, as exporter requests; loading goes to the Docker engine of the current context. */
function outputRequests(cmd: PatchCommand, conn: Connection, globals: DockerGlobals, configDir: string): OutputRequest[] {
  const name = cmd.target.ref;
  const out: OutputRequest[] = [];
  if (cmd.push) out.push({ kind: 'push', name });
  if (cmd.ociDir) out.push({ kind: 'oci-dir', dest: cmd.ociDir, name });
  if (out.length === 0) {
    if (cmd.loader === 'podman') throw new CopaError('input', '--loader podman is not supported by this build', { hint: 'use --loader docker, --push or --oci-dir' });
    // BuildKit inside Docker stores the image in the engine itself; any other BuildKit
    // streams a tarball that we load into the engine.
    if (conn.isDocker && conn.dialer.scheme === 'docker') out.push({ kind: 'moby', name });
    else out.push({ kind: 'docker', name, endpoint: resolveDockerEndpoint({ globals, configDir }) });
  }
  return out;
}

function describeResult(r: OutputResult): string {
  switch (r.kind) {
    case 'push':
      return `pushed ${r.name}`;
    case 'moby':
      return `patched image ${r.name} is in the Docker engine`;
    case 'docker':
      return `loaded ${r.load.images?.join(', ') || r.name} into the Docker engine`;
    case 'oci-dir':
      return `wrote OCI image layout ${r.layout.path}`;
  }
}

export type { Connection };
