// sudo step-up and the daemon's limits, through the PAM stack:
//   max_age=N on the PAM line asks the provider for a fresh sign-in
//   (max_age, and prompt=login when N is 0) and requires auth_time within N;
//   max_pending_per_user and max_pending refuse logins beyond them.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Browser, approve } from './browser.mjs';
import { runPam, startDaemon, startProvider } from './lib.mjs';

const SUCCESS = /successfully authenticated/;

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

// Where the short link's Continue leads: the authorization URL itself.
async function authorizationUrl(shortLink) {
  const browser = new Browser();
  const res = await browser.request(`${shortLink}/go`);
  assert.equal(res.status, 302);
  return new URL(res.location);
}

describe('sudo step-up (max_age)', () => {
  test('max_age=0 asks for a fresh sign-in and succeeds with a fresh auth_time', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, { daemon, user: 'alice', args: 'max_age=0' });
    const url = await pam.waitForUrl();
    const auth = await authorizationUrl(url);
    assert.equal(auth.searchParams.get('max_age'), '0');
    assert.equal(auth.searchParams.get('prompt'), 'login');
    await approve(url, { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, SUCCESS);
  });

  test('max_age=300 is sent without prompt=login', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, { daemon, user: 'alice', args: 'max_age=300' });
    const url = await pam.waitForUrl();
    const auth = await authorizationUrl(url);
    assert.equal(auth.searchParams.get('max_age'), '300');
    assert.equal(auth.searchParams.get('prompt'), null);
    await approve(url, { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, result.output);
  });

  test('without max_age, no max_age is sent', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, { daemon, user: 'alice' });
    const url = await pam.waitForUrl();
    const auth = await authorizationUrl(url);
    assert.equal(auth.searchParams.get('max_age'), null);
  });
});

describe('limits on pending logins', () => {
  test('max_pending_per_user: a second pending login for alice is refused, bob is not', async (t) => {
    const daemon = await daemonFor(t, { config: { daemon: { max_pending_per_user: 1 } } });
    const first = pamFor(t, { daemon, user: 'alice' });
    await first.waitForUrl();
    const second = pamFor(t, { daemon, user: 'alice' });
    second.endInput();
    const r2 = await second.result();
    assert.notEqual(r2.code, 0, r2.output);
    assert.doesNotMatch(r2.output, /https?:\/\//, 'no link for a refused login');
    assert.match(r2.output, /too many sign-ins are waiting/);
    await daemon.waitForLog(/login user="alice" .*result=refused reason=too_many_pending/);
    const bob = pamFor(t, { daemon, user: 'bob' });
    await bob.waitForUrl();
  });

  test('max_pending: beyond the total, everyone is refused until one ends', async (t) => {
    const daemon = await daemonFor(t, { config: { daemon: { max_pending: 1 } } });
    const first = pamFor(t, { daemon, user: 'alice' });
    await first.waitForUrl();
    const bob = pamFor(t, { daemon, user: 'bob' });
    bob.endInput();
    const rb = await bob.result();
    assert.notEqual(rb.code, 0, rb.output);
    await daemon.waitForLog(/login user="bob" .*result=refused reason=too_many_pending/);
    // The first login ends (its connection closes): room again.
    first.kill();
    await daemon.waitForLog(/login user="alice" .*result=cancelled/);
    const again = pamFor(t, { daemon, user: 'bob' });
    await again.waitForUrl();
  });
});
