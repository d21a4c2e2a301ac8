// Key pairs for the test provider, the emulators and the e2e harness.
//
// crypto.generateKeyPairSync(type, options), but the KeyObjects returned
// are made afresh from the PEM text and share nothing with the key
// generation job. Node 20 can deadlock otherwise: when the garbage
// collector finalizes that job while one of the keys it made is being
// exported as a JWK, the job's destructor waits for the key's lock, which
// the export holds. The process then stops for good, timers and all (seen
// here: a test file hung until its time limit; a loop of generate and
// export as JWK hangs within its first round).

import crypto from 'node:crypto';

export function generateKeyPair(type, options = {}) {
  const pem = crypto.generateKeyPairSync(type, {
    ...options,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    privateKey: crypto.createPrivateKey(pem.privateKey),
    publicKey: crypto.createPublicKey(pem.publicKey),
  };
}
