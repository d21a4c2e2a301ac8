// Real logins through OpenSSH: a real sshd (openssh-server) on a loopback
// port with keyboard-interactive only and the built pam_zkauth.so as its
// PAM "sshd" service (pam_wrapper), the real ssh client in a
// pseudo-terminal, zkauth-verifyd, the test provider and the browser
// stand-in. The login account is a real local account (sshd and the
// session need one), made for the file and removed after it; the daemon
// resolves it through its nss_wrapper files.
//
// Needs root. Skipped, saying why, when a tool is missing.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/sshd.test.mjs

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { approve } from './browser.mjs';
import { MODULE, addDaemonAccount, startDaemon, startProvider } from './lib.mjs';
import {
  QR_ASCII_LINE, QR_CHARS, createAccount, decodeQr, findQr, missingTools, runSsh, startSshd,
} from './sshd-lib.mjs';

const USER = 'zkt-alice';
const SERVICE = 'sshd';

// The daemon's one line per login outcome (DESIGN.md 6).
const LOG_OUTCOME = (result, { sub, reason } = {}) => new RegExp(
  `\\blogin user="${USER}" sub="${sub ?? '[^"]*'}" service="${SERVICE}" rhost="127\\.0\\.0\\.1" `
  + `(?:\\S+ )*result=${result}\\b${reason ? `.*\\breason=${reason}\\b` : ''}`,
);
const LOG_ANY_GRANT = /\bresult=granted\b/;

// How long sshd may keep a dropped client's PAM conversation (sshd_config
// LoginGraceTime) and how long the daemon may take to log the cancel.
const LOGIN_GRACE_S = 10;
const CANCEL_WITHIN_MS = 15000;

const URL_LINE = /^https?:\/\/\S+$/;

const skip = missingTools();

let provider;
let account;

async function daemonFor(t, opts = {}) {
  const daemon = await startDaemon({
    issuer: provider.issuer, usersMap: `id-alice ${USER}\nid-bob bob\n`, ...opts,
  });
  t.after(() => daemon.stop());
  addDaemonAccount(daemon, account);
  return daemon;
}

async function sshdFor(t, opts) {
  const sshd = await startSshd({ allowUsers: [USER], loginGraceTime: LOGIN_GRACE_S, ...opts });
  t.after(() => sshd.stop());
  return sshd;
}

function sshFor(t, sshd, opts = {}) {
  const ssh = runSsh({ port: sshd.port, user: USER, command: 'id -un', ...opts });
  t.after(() => ssh.kill());
  return ssh;
}

// The lines the session printed: the account name alone on a line.
function shellSaid(result) {
  return result.lines.filter((l) => l.trim() === USER);
}

// A fresh daemon and sshd (with sshdOpts); ssh to USER, wait for the
// link, have the browser stand-in open it with browserOpts, then press Enter.
async function login(t, browserOpts, sshdOpts = {}) {
  const daemon = await daemonFor(t);
  const sshd = await sshdFor(t, { socket: daemon.socket, ...sshdOpts });
  const ssh = sshFor(t, sshd);
  const url = await ssh.waitForUrl();
  const page = await approve(url, browserOpts);
  ssh.pressEnter();
  const result = await ssh.result(30000);
  return { daemon, sshd, url, page, result };
}

describe('logins through OpenSSH', { skip: skip ?? false }, () => {
  before(async () => {
    provider = await startProvider();
    account = createAccount(USER);
  });
  after(async () => {
    account?.remove();
    await provider?.stop();
  });

  test('a. success: the command runs as the account', { timeout: 30000 }, async (t) => {
    const { daemon, sshd, url, page, result } = await login(t, { login: 'id-alice' });

    assert.ok(page.status < 400, `callback page: HTTP ${page.status}\n${page.body}`);
    assert.equal(result.code, 0, result.output);
    assert.equal(shellSaid(result).length, 1, `id -un printed ${USER}:\n${result.output}`);
    assert.ok(result.lines.some((l) => l.startsWith(`(${USER}@127.0.0.1) ${USER}@`) && l.includes('sshd from 127.0.0.1')),
      `the prompt says who signs in where:\n${result.output}`);
    assert.ok(result.lines.includes(url), 'the URL stands alone on its line');
    assert.match(result.output, /Press Enter after approving/);
    // No timeout= on this PAM line: sshd's default, inside LoginGraceTime.
    const left = Number((result.output.match(/^Approve within (\d+) seconds\.$/m) || [])[1]);
    assert.ok(left > 90 && left <= 100, `the prompt says how long is left (at most 100 s):\n${result.output}`);
    await daemon.waitForLog(LOG_OUTCOME('granted', { sub: 'id-alice' }));
    await sshd.waitForLog(new RegExp(`Accepted keyboard-interactive/pam for ${USER} from 127\\.0\\.0\\.1`));
  });

  test('b. another identity (id-bob) approves: no shell', { timeout: 30000 }, async (t) => {
    const { daemon, sshd, result } = await login(t, { login: 'id-bob' });

    assert.notEqual(result.code, 0, result.output);
    assert.deepEqual(shellSaid(result), [], `no session output:\n${result.output}`);
    assert.match(result.output, new RegExp(`may not sign in as ${USER}`));
    assert.match(result.output, /Permission denied/);
    await daemon.waitForLog(LOG_OUTCOME('denied', { sub: 'id-bob', reason: 'wrong_user' }));
    await sshd.waitForLog(new RegExp(`Failed keyboard-interactive/pam for ${USER}`));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
    assert.doesNotMatch(sshd.logs(), /Accepted /);
  });

  test('c. the person denies at the provider: no shell', { timeout: 30000 }, async (t) => {
    const { daemon, sshd, result } = await login(t, { deny: true });

    assert.notEqual(result.code, 0, result.output);
    assert.deepEqual(shellSaid(result), [], `no session output:\n${result.output}`);
    assert.match(result.output, /sign-in was denied/);
    await daemon.waitForLog(LOG_OUTCOME('denied'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
    assert.doesNotMatch(sshd.logs(), /Accepted /);
  });

  test('d. daemon down: the client is told at once and gets no shell', { timeout: 30000 }, async (t) => {
    const missing = path.join(os.tmpdir(), `zkauth-e2e-missing-${crypto.randomUUID()}`, 'verifyd.sock');
    const sshd = await sshdFor(t, { socket: missing });
    const ssh = sshFor(t, sshd);
    const result = await ssh.result(30000);

    assert.notEqual(result.code, 0, result.output);
    // The whole ssh run: connect, key exchange, one PAM round.
    assert.ok(result.ms < 5000, `took ${result.ms} ms`);
    assert.match(result.output, /the sign-in service is not available/);
    assert.ok(!result.lines.some((l) => URL_LINE.test(l)), `no URL shown:\n${result.output}`);
    assert.deepEqual(shellSaid(result), [], `no session output:\n${result.output}`);
    assert.doesNotMatch(sshd.logs(), /Accepted /);
  });

  test('e. the client drops the connection at the prompt: the login is cancelled',
    { timeout: 40000 }, async (t) => {
      const daemon = await daemonFor(t);
      const sshd = await sshdFor(t, { socket: daemon.socket });
      const ssh = sshFor(t, sshd);
      await ssh.waitForUrl();
      // Waiting for the verdict: the daemon has the login pending.
      assert.doesNotMatch(daemon.logs(), /\blogin user=/);

      const dropped = Date.now();
      assert.ok(ssh.killClient() > 0, 'the ssh client process was found and killed');
      const line = await daemon.waitForLog(LOG_OUTCOME('cancelled'), CANCEL_WITHIN_MS);
      const ms = Date.now() - dropped;
      t.diagnostic(`cancelled ${ms} ms after the client was killed: ${line}`);
      const result = await ssh.result(10000);

      assert.ok(ms <= CANCEL_WITHIN_MS, `cancelled after ${ms} ms`);
      assert.deepEqual(shellSaid(result), []);
      assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
      assert.doesNotMatch(sshd.logs(), /Accepted /);
    });

  test('f. the QR the ssh client shows decodes to the URL under it and fits 80x25',
    { timeout: 30000 }, async (t) => {
      const { url, result } = await login(t, { login: 'id-alice' });
      assert.equal(result.code, 0, result.output);

      const qr = findQr(result.lines, url);
      assert.ok(qr, `a QR block right above the URL line:\n${result.output}`);
      const { rows } = qr;
      assert.ok(rows.length > 10 && rows.length <= 25, `QR rows: ${rows.length}`);
      for (const row of rows) assert.ok([...row].length <= 80, `QR row of ${[...row].length} columns`);
      // Every line with a block character belongs to that one block.
      assert.equal(result.lines.filter((l) => QR_CHARS.test(l)).length, rows.length);

      const decoded = decodeQr(rows);
      assert.equal(decoded.text, url, 'the QR decodes to exactly the URL printed under it');
    });

  test('f2. qr=ascii: the "##" QR the ssh client shows decodes to the URL under it',
    { timeout: 30000 }, async (t) => {
      const { url, result } = await login(t, { login: 'id-alice' }, { moduleArgs: 'qr=ascii' });
      assert.equal(result.code, 0, result.output);

      const qr = findQr(result.lines, url, { ascii: true });
      assert.ok(qr, `an ASCII QR block right above the URL line:\n${result.output}`);
      assert.ok(!result.lines.some((l) => QR_CHARS.test(l)), 'no half blocks in ASCII mode');
      // Two columns a module, a line a module row, the quiet zone included.
      const width = qr.rows[0].length / 2;
      assert.equal(qr.rows.length, width, 'as many lines as modules across');
      for (const row of qr.rows) assert.ok(row.length <= 80, `QR row of ${row.length} columns`);
      assert.equal(result.lines.filter((l) => QR_ASCII_LINE.test(l)).length, qr.rows.length);

      const decoded = decodeQr(qr.rows, { ascii: true });
      assert.equal(decoded.text, url, 'the QR decodes to exactly the URL printed under it');
    });

  test('f3. qr=off: only the URL and the code, no QR; the login still works',
    { timeout: 30000 }, async (t) => {
      const { url, page, result } = await login(t, { login: 'id-alice' }, { moduleArgs: 'qr=off' });
      assert.equal(result.code, 0, result.output);
      assert.equal(shellSaid(result).length, 1, `id -un printed ${USER}:\n${result.output}`);

      assert.ok(!result.lines.some((l) => QR_CHARS.test(l) || QR_ASCII_LINE.test(l)),
        `no QR of either kind:\n${result.output}`);
      const at = result.lines.indexOf(url);
      assert.ok(at > 0, `the URL alone on its line:\n${result.output}`);
      // Right above: the blank line under "user@host (service from rhost)"
      // (the ssh client puts its own "(user@server) " before a prompt).
      assert.equal(result.lines[at - 1].trim(), '');
      assert.match(result.lines[at - 2],
        new RegExp(`^(?:\\(\\S+\\) )?${USER}@\\S+ \\(${SERVICE} from 127\\.0\\.0\\.1\\)$`));
      // The matching code under the URL is the one the sign-in page showed.
      const code = /^Code: ([A-Z0-9]{3}-[A-Z0-9]{3})$/.exec(result.lines[at + 1] ?? '');
      assert.ok(code, `"Code: XXX-XXX" under the URL:\n${result.output}`);
      assert.ok(page.interstitial?.includes(code[1]), 'the sign-in page showed the same code');
    });

  // sshd runs pam_acct_mgmt in the process that ran pam_authenticate (its
  // PAM subprocess), so the module's account phase sees its own approval.
  test('g. account phase: the account pam_zkauth approved passes sshd\'s account check',
    { timeout: 30000 }, async (t) => {
      const { daemon, sshd, result } = await login(t, { login: 'id-alice' },
        { account: `account required ${MODULE}\n` });

      assert.equal(result.code, 0, result.output);
      assert.equal(shellSaid(result).length, 1, `id -un printed ${USER}:\n${result.output}`);
      await daemon.waitForLog(LOG_OUTCOME('granted', { sub: 'id-alice' }));
      await sshd.waitForLog(new RegExp(`Accepted keyboard-interactive/pam for ${USER}`));
    });

  test('h. account phase: a login pam_zkauth did not approve gets no shell',
    { timeout: 30000 }, async (t) => {
      const daemon = await daemonFor(t);
      // Another module lets everyone through the auth phase.
      const sshd = await sshdFor(t, {
        socket: daemon.socket,
        auth: 'auth required pam_permit.so\n',
        account: `account required ${MODULE}\n`,
      });
      const result = await sshFor(t, sshd).result(30000);

      assert.notEqual(result.code, 0, result.output);
      assert.deepEqual(shellSaid(result), [], `no session output:\n${result.output}`);
      assert.ok(!result.lines.some((l) => URL_LINE.test(l)), 'no sign-in was started');
      // sshd reports the failed account phase of its PAM subprocess as
      // PAM_ACCT_EXPIRED.
      await sshd.waitForLog(new RegExp(`PAM: User account has expired for ${USER}|Access denied for user ${USER} by PAM account`));
      await sshd.waitForLog(new RegExp(`Failed keyboard-interactive/pam for ${USER}`));
      assert.doesNotMatch(sshd.logs(), /Accepted /);
      assert.doesNotMatch(daemon.logs(), /\blogin user=/);
    });
});
