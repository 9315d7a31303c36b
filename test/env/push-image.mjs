#!/usr/bin/env node
// Push a one-layer image to a plain-HTTP registry with the registry v2 API,
// without any Docker engine or skopeo (not available here).
//
//   node push-image.mjs --registry 127.0.0.1:5000 --repo debian --tag 12-slim \
//     --layer rootfs.tar.gz [--config '{"User":"nobody"}'] [--created-by TEXT] \
//     [--arch 386] [--by-digest]
//   node push-image.mjs --registry 127.0.0.1:5000 --repo debian --tag 12-multi \
//     --index-of 12-pointrelease --index-of sha256:…
//
// --arch sets the config's architecture (default amd64). --by-digest pushes the
// manifest untagged (at its digest) and prints the digest on stdout. --index-of
// (repeatable; tags or digests already in the repo) pushes an OCI image index
// of those manifests, platforms read from their configs, instead of an image.
//
// The layer is a gzip'd tar. Its digest and diff_id are cached next to it in
// <layer>.info.json. The image config is honest: amd64/linux, PATH, Cmd bash,
// rootfs.diff_ids and history; --config entries override `config` keys (a
// null value removes the key). The push is skipped when the tag already
// points at the same manifest digest.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';

const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
};
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const { values: a } = parseArgs({
  options: {
    registry: { type: 'string' },
    repo: { type: 'string' },
    tag: { type: 'string' },
    layer: { type: 'string' },
    config: { type: 'string', default: '{}' },
    'created-by': { type: 'string', default: 'copa-ts test bed rootfs' },
    arch: { type: 'string', default: 'amd64' },
    'by-digest': { type: 'boolean', default: false },
    'index-of': { type: 'string', multiple: true },
  },
});
for (const k of ['registry', 'repo', 'tag', ...(a['index-of'] ? [] : ['layer'])]) if (!a[k]) fail(`--${k} is required`);

function fail(msg) {
  console.error(`push-image: ${msg}`);
  process.exit(1);
}

function request(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(300_000, () => req.destroy(new Error(`${method} ${url} timed out`)));
    if (body && typeof body.pipe === 'function') body.pipe(req);
    else req.end(body);
  });
}

const sha256 = (buf) => 'sha256:' + createHash('sha256').update(buf).digest('hex');

// digest (of the gzip) and diff_id (of the tar), cached by size+mtime.
async function layerInfo(path) {
  const st = statSync(path);
  const infoPath = `${path}.info.json`;
  try {
    const info = JSON.parse(readFileSync(infoPath, 'utf8'));
    if (info.size === st.size && info.mtimeMs === st.mtimeMs) return info;
  } catch {}
  const gz = createHash('sha256');
  const tar = createHash('sha256');
  const gunzip = createGunzip();
  gunzip.on('data', (c) => tar.update(c));
  await pipeline(
    createReadStream(path).on('data', (c) => gz.update(c)),
    gunzip,
  );
  const info = {
    size: st.size,
    mtimeMs: st.mtimeMs,
    digest: 'sha256:' + gz.digest('hex'),
    diffId: 'sha256:' + tar.digest('hex'),
    // Stable timestamp: re-pushing the same layer gives the same config digest.
    created: new Date(Math.floor(st.mtimeMs / 1000) * 1000).toISOString(),
  };
  writeFileSync(infoPath, JSON.stringify(info, null, 2) + '\n');
  return info;
}

async function pushBlob(base, digest, size, body) {
  const head = await request('HEAD', `${base}/blobs/${digest}`);
  if (head.status === 200) return;
  const start = await request('POST', `${base}/blobs/uploads/`, { headers: { 'Content-Length': '0' } });
  if (start.status !== 202 || !start.headers.location) fail(`blob upload start: HTTP ${start.status} ${start.body}`);
  const loc = new URL(start.headers.location, base);
  loc.searchParams.set('digest', digest);
  const put = await request('PUT', loc.href, {
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
    body: body(),
  });
  if (put.status !== 201) fail(`blob upload ${digest}: HTTP ${put.status} ${put.body}`);
}

const base = `http://${a.registry}/v2/${a.repo}`;
if (a['index-of']) await pushIndex(a['index-of']);
const layer = await layerInfo(a.layer);
const overrides = JSON.parse(a.config);

const config = { Env: [DEFAULT_PATH], Cmd: ['bash'] };
for (const [k, v] of Object.entries(overrides)) {
  if (v === null) delete config[k];
  else config[k] = v;
}
const history = [
  { created: layer.created, created_by: a['created-by'], comment: 'copa-ts test bed' },
];
for (const k of ['User', 'WorkingDir', 'Env', 'Entrypoint', 'Cmd', 'Labels', 'ExposedPorts', 'StopSignal']) {
  if (k in overrides && overrides[k] !== null) {
    history.push({ created: layer.created, created_by: `${k.toUpperCase()} ${JSON.stringify(overrides[k])}`, empty_layer: true });
  }
}
if (!('Cmd' in overrides)) history.push({ created: layer.created, created_by: 'CMD ["bash"]', empty_layer: true });
const imageConfig = {
  created: layer.created,
  architecture: a.arch,
  os: 'linux',
  config,
  rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  history,
};
const configBytes = Buffer.from(JSON.stringify(imageConfig));
const manifest = {
  schemaVersion: 2,
  mediaType: MT.manifest,
  config: { mediaType: MT.config, digest: sha256(configBytes), size: configBytes.length },
  layers: [{ mediaType: MT.layer, digest: layer.digest, size: layer.size }],
};
const manifestBytes = Buffer.from(JSON.stringify(manifest));
const manifestDigest = sha256(manifestBytes);
const ref = `${a.registry}/${a.repo}:${a.tag}`;
const reference = a['by-digest'] ? manifestDigest : a.tag;
if (a['by-digest']) console.log(manifestDigest);

const existing = await request('HEAD', `${base}/manifests/${reference}`, { headers: { Accept: MT.manifest } });
if (existing.status === 200 && existing.headers['docker-content-digest'] === manifestDigest) {
  console.error(`push-image: ${ref} already at ${manifestDigest}`);
  process.exit(0);
}
await pushBlob(base, layer.digest, layer.size, () => createReadStream(a.layer));
await pushBlob(base, manifest.config.digest, configBytes.length, () => configBytes);
const put = await request('PUT', `${base}/manifests/${reference}`, {
  headers: { 'Content-Type': MT.manifest, 'Content-Length': String(manifestBytes.length) },
  body: manifestBytes,
});
if (put.status !== 201) fail(`manifest ${ref}: HTTP ${put.status} ${put.body}`);
console.error(`push-image: pushed ${a['by-digest'] ? `${ref} (by digest)` : ref} ${manifestDigest}`);

// An OCI index of manifests already in the repo; each entry's platform comes
// from its image config. Skipped when the tag already points at it.
async function pushIndex(refs) {
  const manifests = [];
  for (const r of refs) {
    const res = await request('GET', `${base}/manifests/${r}`, { headers: { Accept: MT.manifest } });
    if (res.status !== 200) fail(`index entry ${r}: HTTP ${res.status} ${res.body}`);
    const m = JSON.parse(res.body.toString('utf8'));
    if (m.mediaType !== MT.manifest) fail(`index entry ${r}: not an OCI image manifest (${m.mediaType})`);
    const cfgRes = await request('GET', `${base}/blobs/${m.config.digest}`);
    if (cfgRes.status !== 200) fail(`index entry ${r}: config HTTP ${cfgRes.status}`);
    const cfg = JSON.parse(cfgRes.body.toString('utf8'));
    manifests.push({
      mediaType: MT.manifest,
      digest: sha256(res.body),
      size: res.body.length,
      platform: { architecture: cfg.architecture, os: cfg.os },
    });
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests }));
  const digest = sha256(bytes);
  const ref = `${a.registry}/${a.repo}:${a.tag}`;
  const existing = await request('HEAD', `${base}/manifests/${a.tag}`, { headers: { Accept: MT.index } });
  if (existing.status === 200 && existing.headers['docker-content-digest'] === digest) {
    console.error(`push-image: ${ref} already at ${digest}`);
    process.exit(0);
  }
  const put = await request('PUT', `${base}/manifests/${a.tag}`, {
    headers: { 'Content-Type': MT.index, 'Content-Length': String(bytes.length) },
    body: bytes,
  });
  if (put.status !== 201) fail(`index ${ref}: HTTP ${put.status} ${put.body}`);
  console.error(`push-image: pushed ${ref} (index of ${manifests.length}) ${digest}`);
  process.exit(0);
}
