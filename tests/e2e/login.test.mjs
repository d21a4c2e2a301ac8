// Whole logins: pamtester with the built pam_zkauth.so (pam_wrapper),
// zkauth-verifyd, the test provider (oidc-provider) and a browser
// stand-in, all on 127.0.0.1. One provider for the file, a fresh daemon
// for each test.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { approve, getWithHost, open } from './browser.mjs';
import {
  ACCOUNTS, MODULE, SERVICE, runPam, sleep, startDaemon, startProvider,
} from './lib.mjs';

// The daemon's one line per login outcome (DESIGN.md 6), e.g.
//   login user="alice" sub="id-alice" service="zkauth-test" rhost="" uid=0 result=granted reason=ok
// Kept here so that a change of format is one edit; other key=value
// fields may stand between rhost and result.
const LOG_GRANTED = (user, sub) => new RegExp(
  `\\blogin user="${user}" sub="${sub}" service="${SERVICE}" rhost="[^"]*" (?:\\S+ )*result=granted\\b`,
);
const LOG_OUTCOME = (user, result, reason = '') => new RegExp(
  `\\blogin user="${user}" .*\\bresult=${result}\\b${reason && `.*\\b${reason}\\b`}`,
);
const LOG_ANY_GRANT = /\bresult=granted\b/;

const SUCCESS = /successfully authenticated/;

// The shortest flow_timeout the expiry test configures.
const FLOW_TIMEOUT_S = 5;

let provider;
before(async () => { provider = await startProvider(); });
after(async () => { await provider?.stop(); });

async function daemonFor(t, opts = {}) {
  const daemon = await startDaemon({ issuer: provider.issuer, ...opts });
  t.after(() => daemon.stop());
  return daemon;
}

function pamFor(t, opts) {
  const pam = runPam(opts);
  t.after(() => pam.kill());
  return pam;
}

// Starts pamtester, waits for the link, has the browser stand-in open it
// with browserOpts, then presses Enter. Returns { url, page, result }.
async function login(t, daemon, { user = 'alice', args = '', pam: pamOpts = {}, ...browserOpts } = {}) {
  const pam = pamFor(t, { daemon, user, args, ...pamOpts });
  const url = await pam.waitForUrl();
  const page = await approve(url, browserOpts);
  pam.pressEnter();
  pam.endInput();
  const result = await pam.result();
  return { url, page, result };
}

describe('login through the provider', () => {
  test('a. success: the right identity signs alice in', async (t) => {
    const daemon = await daemonFor(t);
    const { url, page, result } = await login(t, daemon, { login: 'id-alice' });

    assert.ok(page.status < 400, `callback page: HTTP ${page.status}\n${page.body}`);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, SUCCESS);
    assert.match(result.output, /\balice@/, 'the prompt says who signs in where');
    assert.ok(result.output.split('\n').includes(url), 'the URL stands alone on its line');
    assert.match(result.output, /Press Enter after approving/);
    await daemon.waitForLog(LOG_GRANTED('alice', 'id-alice'));
  });

  test('b. wrong identity: id-bob cannot sign in as alice', async (t) => {
    const daemon = await daemonFor(t);
    const { result } = await login(t, daemon, { login: 'id-bob' });

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.match(result.output, /may not sign in as alice/);
    await daemon.waitForLog(LOG_OUTCOME('alice', 'denied', 'wrong_user'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('c. the person denies at the provider', async (t) => {
    const daemon = await daemonFor(t);
    const { result } = await login(t, daemon, { deny: true });

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.match(result.output, /denied/);
    await daemon.waitForLog(LOG_OUTCOME('alice', 'denied'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('d. forged state: the callback is refused and the login fails', async (t) => {
    const daemon = await daemonFor(t);
    const { page, result } = await login(t, daemon, {
      login: 'id-alice', tamperState: true, args: 'timeout=5',
    });

    assert.ok(page.status >= 400, `forged callback answered HTTP ${page.status}`);
    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('e. replay: a used callback does not approve the next login', async (t) => {
    const daemon = await daemonFor(t);
    const first = await login(t, daemon, { login: 'id-alice' });
    assert.equal(first.result.code, 0, first.result.output);

    const pam = pamFor(t, { daemon, user: 'alice', args: 'timeout=5' });
    await pam.waitForUrl();
    const replay = await open(first.page.callbackUrl);
    assert.ok(replay.status >= 400, `replayed callback answered HTTP ${replay.status}`);
    pam.pressEnter();
    pam.endInput();
    const second = await pam.result();

    assert.notEqual(second.code, 0, second.output);
    assert.doesNotMatch(second.output, SUCCESS);
    const grants = daemon.logs().split('\n').filter((l) => LOG_ANY_GRANT.test(l));
    assert.equal(grants.length, 1, 'only the first login was granted');
  });

  test('f. expiry: Enter after flow_timeout fails', async (t) => {
    const daemon = await daemonFor(t, { flowTimeout: FLOW_TIMEOUT_S });
    const pam = pamFor(t, { daemon, user: 'alice' });
    await pam.waitForUrl();
    await sleep((FLOW_TIMEOUT_S + 2) * 1000);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.match(result.output, /expired/);
    await daemon.waitForLog(LOG_OUTCOME('alice', 'expired'));
  });

  test('g. daemon down: fails at once, saying the service is not available', async (t) => {
    const missing = path.join(os.tmpdir(), `zkauth-e2e-missing-${crypto.randomUUID()}`, 'verifyd.sock');
    const pam = pamFor(t, { socket: missing, user: 'alice' });
    pam.endInput();
    const result = await pam.result();

    assert.notEqual(result.code, 0, result.output);
    assert.ok(result.ms < 2000, `took ${result.ms} ms`);
    assert.match(result.output, /not available|unavailable/i);
    assert.ok(!result.output.split('\n').some((l) => /^https?:\/\//.test(l)), 'no URL shown');
  });

  test('h. non-root callers may only sign in themselves', async (t) => {
    const daemon = await daemonFor(t);

    const bob = pamFor(t, { daemon, user: 'alice', uid: ACCOUNTS.bob.uid, gid: ACCOUNTS.bob.gid });
    bob.endInput();
    const refused = await bob.result();
    assert.notEqual(refused.code, 0, refused.output);
    assert.match(refused.output, /not allowed/);
    await daemon.waitForLog(LOG_OUTCOME('alice', 'refused'));
    assert.ok(!refused.output.split('\n').some((l) => /^https?:\/\//.test(l)),
      `no URL for uid ${ACCOUNTS.bob.uid} asking for alice:\n${refused.output}`);

    const { result } = await login(t, daemon, {
      login: 'id-alice', pam: { uid: ACCOUNTS.alice.uid, gid: ACCOUNTS.alice.gid },
    });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, SUCCESS);
  });

  test('j. the QR carries a short link that fits a 80x24 terminal and works once', async (t) => {
    const daemon = await daemonFor(t);
    const { url, result } = await login(t, daemon, { login: 'id-alice', args: 'qr=utf8' });

    assert.equal(result.code, 0, result.output);
    assert.match(url, new RegExp(`^http://127\\.0\\.0\\.1:${daemon.listenerPort}/l/[A-Za-z0-9_-]{22}$`));
    const lines = result.output.split('\n');
    const qr = lines.filter((l) => /[\u2580\u2584\u2588]/.test(l));
    assert.ok(qr.length > 10 && qr.length <= 20, `QR rows: ${qr.length}`);
    assert.ok(qr.every((l) => [...l].length <= 80), 'QR rows fit in 80 columns');
    // The login is over: its link leads nowhere now, and a guessed one neither.
    const used = await open(url);
    assert.equal(used.status, 404);
    const guessed = await open(url.replace(/[A-Za-z0-9_-]{22}$/, 'A'.repeat(22)));
    assert.equal(guessed.status, 404);
  });

  test('k. SIGHUP reloads the config; a broken file changes nothing', async (t) => {
    const daemon = await daemonFor(t);
    const conf = fs.readFileSync(daemon.confFile, 'utf8');

    // A broken file: the daemon says why and keeps its configuration.
    fs.writeFileSync(daemon.confFile, `${conf}\n[provider]\nno_such_key = 1\n`);
    process.kill(daemon.pid, 'SIGHUP');
    await daemon.waitForLog(/reload: .*no_such_key.*keeping the running configuration/);
    const ok = await login(t, daemon, { login: 'id-alice' });
    assert.equal(ok.result.code, 0, ok.result.output);

    // A good file with another client id applies to the next login: the
    // provider does not know that client, so the login fails closed.
    fs.writeFileSync(daemon.confFile, conf.replace(/^client_id = .*$/m, 'client_id = unknown-client'));
    process.kill(daemon.pid, 'SIGHUP');
    await daemon.waitForLog(/configuration reloaded/);
    const pam = pamFor(t, { daemon, user: 'alice', args: 'timeout=5' });
    const url = await pam.waitForUrl();
    await approve(url, { login: 'id-alice' }).catch(() => null);
    pam.pressEnter();
    pam.endInput();
    const bad = await pam.result();
    assert.notEqual(bad.code, 0, bad.output);
    assert.doesNotMatch(bad.output, SUCCESS);
  });

  test('l. RFC 9207: a callback whose iss is not our issuer approves nothing', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, { daemon, user: 'alice' });
    const url = await pam.waitForUrl();
    const { callbackUrl, browser } = await approve(url, { login: 'id-alice', follow: false });
    const forged = new URL(callbackUrl);
    assert.equal(forged.searchParams.get('iss'), provider.issuer, 'the provider sends iss');
    forged.searchParams.set('iss', 'https://evil.example');
    const page = await browser.request(forged.toString());
    assert.ok(page.status >= 400, `callback page: HTTP ${page.status}`);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.notEqual(result.code, 0, result.output);
    await daemon.waitForLog(LOG_OUTCOME('alice', 'denied', 'iss_mismatch'));
  });

  test('l2. RFC 9207: a callback without iss, from a provider that sends it, approves nothing', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, { daemon, user: 'alice' });
    const url = await pam.waitForUrl();
    const { callbackUrl, browser } = await approve(url, { login: 'id-alice', follow: false });
    const stripped = new URL(callbackUrl);
    assert.ok(stripped.searchParams.has('code'), 'the provider sent a code');
    stripped.searchParams.delete('iss');
    const page = await browser.request(stripped.toString());
    assert.ok(page.status >= 400, `callback page: HTTP ${page.status}`);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    await daemon.waitForLog(LOG_OUTCOME('alice', 'denied', 'iss_mismatch'));
  });

  test('m. account phase: only the account approved in this handle passes', async (t) => {
    const daemon = await daemonFor(t);
    const account = `account required ${MODULE}\n`;
    // Without a sign-in in this handle the module abstains; alone in the
    // stack, that is a denial.
    const alone = pamFor(t, { daemon, user: 'alice', account, ops: ['acct_mgmt'] });
    const r0 = await alone.result();
    assert.notEqual(r0.code, 0, r0.output);
    assert.doesNotMatch(r0.output, /successfully/);
    // After an approved sign-in, the same handle's account phase passes.
    const { result } = await login(t, daemon, {
      login: 'id-alice', pam: { account, ops: ['authenticate', 'acct_mgmt'] },
    });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /successfully authenticated/);
    assert.match(result.output, /account management done/);
  });

  test('n. the short link first shows who signs in where, with the prompt\'s code', async (t) => {
    const daemon = await daemonFor(t);
    const { page, result } = await login(t, daemon, {
      login: 'id-alice', pam: { items: { rhost: '203.0.113.9' } },
    });
    assert.equal(result.code, 0, result.output);
    const code = (result.output.match(/^Code: ([A-Z0-9]{3}-[A-Z0-9]{3})$/m) || [])[1];
    assert.ok(code, `the prompt shows a matching code:\n${result.output}`);
    const { interstitial } = page;
    assert.ok(interstitial, "the link showed a page before the provider");
    assert.match(interstitial, new RegExp(`Sign in as alice on \\S+ \\(${SERVICE} from 203\\.0\\.113\\.9\\)\\?`));
    assert.ok(interstitial.includes(code), 'the page repeats the code of the prompt');
    assert.match(interstitial, /Continue/);
    assert.match(page.body, /signed in as alice on/);
  });

  test('o. public_url sets the base of the short link (listener behind a proxy)', async (t) => {
    // The cookie of the confirmation page must reach the callback, so the
    // callback is behind the same proxy (same scheme and host).
    const daemon = await daemonFor(t, {
      config: {
        listener: { public_url: 'https://login.example.com/zk/' },
        provider: { redirect_uri: 'https://login.example.com/zk/callback' },
      },
    });
    const pam = pamFor(t, { daemon, user: 'alice', args: 'timeout=2' });
    const url = await pam.waitForUrl();
    assert.match(url, /^https:\/\/login\.example\.com\/zk\/l\/[A-Za-z0-9_-]{22}$/);
    // The listener itself still serves the link under /l/.
    // The proxy passes the browser's Host on, as the Host check needs.
    const local = url.replace('https://login.example.com/zk', `http://127.0.0.1:${daemon.listenerPort}`);
    const page = await getWithHost(local, 'login.example.com');
    assert.equal(page.status, 200);
    assert.match(page.body, /Sign in as alice/);
    // Continue is relative to the page, so it keeps the proxy's prefix.
    const id = url.split('/').at(-1);
    assert.match(page.body, new RegExp(`action="${id}/go"`));
  });

  // The paste fallback: the browser could not reach the daemon, so the
  // person pastes the address it was sent to, or just the code.
  async function pasteLogin(t, daemon, edit) {
    const pam = pamFor(t, { daemon, user: 'alice', args: 'timeout=10' });
    const url = await pam.waitForUrl();
    const { callbackUrl } = await approve(url, { login: 'id-alice', follow: false });
    pam.child.stdin.write(`${edit(new URL(callbackUrl))}\n`);
    pam.endInput();
    return pam.result();
  }

  test('p. paste: the whole redirect address at the prompt signs alice in', async (t) => {
    const daemon = await daemonFor(t);
    const result = await pasteLogin(t, daemon, (u) => u.href);
    assert.equal(result.code, 0, `${result.output}\n${daemon.logs()}`);
    assert.match(result.output, /paste the code/);
    await daemon.waitForLog(LOG_GRANTED('alice', 'id-alice'));
  });

  test('q. paste: the bare code signs alice in (PKCE binds it to this login)', async (t) => {
    const daemon = await daemonFor(t);
    const result = await pasteLogin(t, daemon, (u) => `  ${u.searchParams.get('code')}  `);
    assert.equal(result.code, 0, `${result.output}\n${daemon.logs()}`);
  });

  test('r. paste: another login\'s state, or a made-up code, is denied', async (t) => {
    const daemon = await daemonFor(t);
    const forged = await pasteLogin(t, daemon, (u) => {
      u.searchParams.set('state', crypto.randomBytes(32).toString('base64url'));
      return u.href;
    });
    assert.notEqual(forged.code, 0, forged.output);
    await daemon.waitForLog(LOG_OUTCOME('alice', 'denied', 'state_mismatch'));
    const madeUp = await pasteLogin(t, daemon, () => 'not-a-real-code-0123456789');
    assert.notEqual(madeUp.code, 0, madeUp.output);
    await daemon.waitForLog(LOG_OUTCOME('alice', 'denied', 'invalid_grant'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('i. the success page names the account and shows no token', async (t) => {
    const daemon = await daemonFor(t);
    const { page, result } = await login(t, daemon, { login: 'id-alice' });

    assert.equal(result.code, 0, result.output);
    assert.ok(page.status < 400, `callback page: HTTP ${page.status}`);
    assert.match(page.body, /\balice\b/);
    assert.doesNotMatch(page.body, /eyJ/);
    const code = new URL(page.callbackUrl).searchParams.get('code');
    assert.ok(code && !page.body.includes(code), 'the page does not echo the code');
  });
});
