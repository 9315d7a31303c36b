#!/usr/bin/env node
// Why this exists: the test bed's APK repository is signed with its own RSA
// key, made once per cache dir (so images and repo stay valid across `up`s).
// Writes DIR/key.rsa (PKCS#8 PEM, private), DIR/<keyname> (SPKI PEM public
// key, the form apk reads from /etc/apk/keys) and DIR/keyname (the name).
// The name follows abuild's "<who>-<8 hex>.rsa.pub" form; the hex is the start
// of the SHA-256 of the public key, so it changes when the key does.
//
//   node keygen.mjs DIR
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: keygen.mjs DIR');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
// 4096 bits, as Alpine's own keys
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 4096 });
const der = publicKey.export({ type: 'spki', format: 'der' });
const keyName = `copa-testbed-${createHash('sha256').update(der).digest('hex').slice(0, 8)}.rsa.pub`;
writeFileSync(join(dir, keyName), publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
writeFileSync(join(dir, 'key.rsa.tmp'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
renameSync(join(dir, 'key.rsa.tmp'), join(dir, 'key.rsa'));
writeFileSync(join(dir, 'keyname'), keyName + '\n');
console.error(`keygen: ${join(dir, keyName)}`);
