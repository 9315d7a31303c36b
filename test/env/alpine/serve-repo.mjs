#!/usr/bin/env node
// Why this exists: apk fetches repositories over HTTP, and the test bed's
// local APK repository (made by make-repo.mjs) needs a server. This is a tiny
// read-only static file server, bound to 127.0.0.1 only; testbed.sh starts and
// stops it like the registry (pid file, log).
//
//   node serve-repo.mjs --root DIR --port PORT
//
// GET and HEAD of regular files under DIR, and /healthz for testbed.sh;
// anything else is 404/405. No directory listings, no path escapes (.. and
// symlinks out of DIR are refused).
import { createReadStream, realpathSync, statSync } from 'node:fs';
import http from 'node:http';
import { join, sep } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({ options: { root: { type: 'string' }, port: { type: 'string' } } });
if (!a.root || !a.port) {
  console.error('usage: serve-repo.mjs --root DIR --port PORT');
  process.exit(2);
}
const root = realpathSync(a.root);
const TYPES = { '.gz': 'application/gzip', '.apk': 'application/vnd.android.package-archive', '.json': 'application/json', '.pub': 'text/plain' };

const server = http.createServer((req, res) => {
  const log = (status) => console.log(`${new Date().toISOString()} ${req.method} ${req.url} ${status}`);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return log(405);
  }
  if (req.url === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    return;
  }
  let file;
  try {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    file = realpathSync(join(root, path));
    if (!file.startsWith(root + sep) || !statSync(file).isFile()) throw new Error('not a file');
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return log(404);
  }
  const st = statSync(file);
  const ext = file.slice(file.lastIndexOf('.'));
  res.writeHead(200, {
    'Content-Type': TYPES[ext] ?? 'application/octet-stream',
    'Content-Length': st.size,
    'Last-Modified': st.mtime.toUTCString(),
    'Cache-Control': 'no-cache',
  });
  if (req.method === 'HEAD') {
    res.end();
    return log(200);
  }
  createReadStream(file).pipe(res);
  log(200);
});
server.listen(Number(a.port), '127.0.0.1', () => console.log(`serving ${root} on http://127.0.0.1:${a.port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
