#!/usr/bin/env node
// Why this exists: Debian's rpm 4.18 has no ndb backend (only sqlite and
// bdb_ro), so it cannot list SUSE's Packages.db. The test bed still needs the
// expected contents of that real database for the rpm family's reader tests.
// This scans a file for stored RPM headers (index count, data length, first
// entry = tag 63 HEADERIMMUTABLE of type BIN) and prints one line per header:
// "NAME EPOCHNUM:VERSION-RELEASE ARCH". Used for ndb only; sqlite and bdb
// expectations come from Debian's rpm itself.
//
//   node scan-headers.mjs Packages.db
import { readFileSync } from 'node:fs';
const b = readFileSync(process.argv[2]);
const sig = Buffer.from('0000003f00000007', 'hex');
const out = [];
for (let i = b.indexOf(sig); i >= 0; i = b.indexOf(sig, i + 1)) {
  const s = i - 8; if (s < 0) continue;
  const il = b.readUInt32BE(s), dl = b.readUInt32BE(s + 4);
  if (il < 1 || il > 10000 || dl > 64 << 20) continue;
  const ds = s + 8 + il * 16; if (ds + dl > b.length) continue;
  const tags = {};
  for (let k = 0; k < il; k++) {
    const e = s + 8 + k * 16;
    const tag = b.readUInt32BE(e), type = b.readUInt32BE(e + 4), off = b.readInt32BE(e + 8), cnt = b.readUInt32BE(e + 12);
    if (off < 0 || off >= dl) continue;
    if (type === 6) { const st = ds + off; tags[tag] = b.subarray(st, b.indexOf(0, st)).toString(); }
    else if (type === 4 && tag === 1003) tags[tag] = b.readUInt32BE(ds + off);
  }
  if (tags[1000]) out.push(`${tags[1000]} ${tags[1003] ?? 0}:${tags[1001]}-${tags[1002]} ${tags[1022] ?? ''}`);
}
console.log(out.join('\n'));
