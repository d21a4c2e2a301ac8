// The daemon's command line as an admin meets it: --version, --help,
// --check-config on good and bad files. Every refusal names what is wrong.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { DAEMON_BIN, checkDaemonConfig, secretFile, tempDir } from './lib.mjs';

const ISSUER = 'http://127.0.0.1:9/';

function run(args) {
  const r = spawnSync(DAEMON_BIN, args, { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('zkauth-verifyd command line', () => {
  test('--version and --help', () => {
    const v = run(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.out, /^zkauth-verifyd \d+\.\d+\.\d+\n$/);
    const h = run(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.out, /--check-config/);
    const bad = run(['--no-such-flag']);
    assert.equal(bad.code, 2);
  });

  test('--check-config accepts a good file', async () => {
    const r = await checkDaemonConfig({ issuer: ISSUER });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /: OK$/m);
  });

  test('--check-config: an unknown key is named with file, line and key', async () => {
    const r = await checkDaemonConfig({ issuer: ISSUER, config: { provider: { clientid: 'x' } } });
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /zkauth\.conf:\d+: key 'clientid': /);
  });

  test('--check-config: a bad value is named', async () => {
    const r = await checkDaemonConfig({ issuer: ISSUER, config: { daemon: { flow_timeout: '601' } } });
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /key 'flow_timeout'/);
    const http = await checkDaemonConfig({ issuer: 'http://idp.example.com' });
    assert.equal(http.code, 1, http.output);
    assert.match(http.output, /key 'issuer'/);
  });

  test('--check-config: a client secret readable by others is refused', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'secret');
    fs.writeFileSync(file, 'zkauth-test-secret\n', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    try {
      const r = await checkDaemonConfig({ issuer: ISSUER, config: { provider: { client_secret_file: file } } });
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /client_secret_file/);
      assert.doesNotMatch(r.output, /zkauth-test-secret/, 'the secret never reaches the log');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--check-config loads the TLS key and certificate', async () => {
    const dir = tempDir();
    try {
      const key = path.join(dir, 'key.pem');
      const cert = path.join(dir, 'cert.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
        '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      fs.chmodSync(key, 0o600);
      const tls = (extra = {}) => checkDaemonConfig({
        issuer: ISSUER,
        config: {
          provider: { redirect_uri: 'https://127.0.0.1:8443/zkauth/callback' },
          listener: { listen: '127.0.0.1:8443', tls_certificate: cert, tls_private_key: key, ...extra },
        },
      });
      const ok = await tls();
      assert.equal(ok.code, 0, ok.output);
      fs.chmodSync(key, 0o644);
      const loose = await tls();
      assert.equal(loose.code, 1, loose.output);
      assert.match(loose.output, /tls_private_key/);
      fs.chmodSync(key, 0o600);
      const other = secretFile('other.pem', execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519']));
      const mismatch = await tls({ tls_private_key: other.file });
      other.remove();
      assert.equal(mismatch.code, 1, mismatch.output);
      assert.match(mismatch.output, /does not match/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
