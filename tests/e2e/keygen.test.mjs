// The harness's key pairs (tests/provider/keygen.mjs) can be exported as
// JWKs over and over without the process locking up. With Node 20's own
// generateKeyPairSync KeyObjects this loop hangs within its first round
// (the garbage collector finalizes the generation job while the key's
// lock is held by the export); a child process with a time limit turns
// such a hang into a failure.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const KEYGEN = fileURLToPath(new URL('../provider/keygen.mjs', import.meta.url));

const LOOP = `
import { generateKeyPair } from ${JSON.stringify(KEYGEN)};
const kept = [];
for (let i = 0; i < 60; i++) {
  for (const [type, options] of [['rsa', { modulusLength: 1024 }], ['ec', { namedCurve: 'P-256' }], ['ed25519', {}]]) {
    const { privateKey, publicKey } = generateKeyPair(type, options);
    for (let j = 0; j < 40; j++) kept.push(privateKey.export({ format: 'jwk' }), publicKey.export({ format: 'jwk' }));
    if (kept.length > 4000) kept.length = 0;
  }
}
const { privateKey, publicKey } = generateKeyPair('rsa', { modulusLength: 1024 });
const jwk = privateKey.export({ format: 'jwk' });
console.log(JSON.stringify({ kty: jwk.kty, d: typeof jwk.d, n: jwk.n === publicKey.export({ format: 'jwk' }).n }));
`;

test('generate and export as JWK, 180 key pairs, 7200 exports: no hang, a usable key', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', LOOP], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.signal, null, `the loop was ended by ${r.signal} (hung?)\n${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { kty: 'RSA', d: 'string', n: true });
});
