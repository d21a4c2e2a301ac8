// The approval is bound to the browser of the person at the terminal.
//
// An attacker runs `ssh alice@host` (here: pamtester with an rhost), reads
// the short link off their own prompt and sends alice the .../go link, or
// presses Continue themselves and sends her the provider's URL. Alice's
// browser is signed in at the provider already (a live session from an
// earlier login of hers), so one click would take it straight back to the
// callback. Neither approves anything: the callback counts only from the
// browser that holds the login's cookie from its confirmation page.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  Browser, approve, continueUrl, getWithHost, pageForms,
} from './browser.mjs';
import {
  freePort, loginOutcomeRe, runPam, runPamService, startDaemon, startProvider,
} from './lib.mjs';

const SUCCESS = /successfully authenticated/;
const ATTACKER = '203.0.113.66';

let provider;
before(async () => { provider = await startProvider(); });
after(async () => { await provider?.stop(); });

async function daemonFor(t, opts = {}) {
  const daemon = await startDaemon({ issuer: provider.issuer, ...opts });
  t.after(() => daemon.stop());
  return daemon;
}

// Alice's own browser, signed in at the provider by a login of her own
// that went through: it holds a live provider session and a grant.
async function victimBrowser(t, daemon) {
  const browser = new Browser();
  const pam = runPam({ daemon, user: 'alice' });
  t.after(() => pam.kill());
  await approve(await pam.waitForUrl(), { login: 'id-alice', browser });
  pam.pressEnter();
  pam.endInput();
  const result = await pam.result();
  assert.equal(result.code, 0, `alice's own login: ${result.output}`);
  return browser;
}

// The attacker's login as alice, from their own address.
function attackerLogin(t, daemon, opts = {}) {
  const pam = runPamService({ daemon, user: 'alice', args: 'timeout=3', items: { rhost: ATTACKER }, ...opts });
  t.after(() => pam.kill());
  return pam;
}

// Follows redirects from url in browser; returns every response.
async function follow(browser, url) {
  const seen = [];
  let res = await browser.request(url);
  seen.push(res);
  for (let hops = 0; res.location && hops < 20; hops++) {
    res = await browser.request(res.location);
    seen.push(res);
  }
  return seen;
}

async function denied(pam) {
  pam.pressEnter();
  pam.endInput();
  const result = await pam.result();
  assert.notEqual(result.code, 0, result.output);
  assert.doesNotMatch(result.output, SUCCESS);
  return result;
}

describe('bound approval', { concurrency: 1 }, () => {
  test('a forwarded provider URL reaches the callback from a signed-in browser and approves nothing', async (t) => {
    const daemon = await daemonFor(t);
    const victim = await victimBrowser(t, daemon);

    const pam = attackerLogin(t, daemon);
    const shortLink = await pam.waitForUrl();
    // The attacker passes the confirmation page in their own browser.
    const authUrl = await continueUrl(shortLink, new Browser());

    const seen = await follow(victim, authUrl.href);
    const callback = seen.at(-1);
    // The provider session was live: no sign-in form on the way, the
    // browser went straight back to the daemon's callback.
    assert.ok(seen.every((r) => !/name="login"/.test(r.body)), 'the provider asked for no sign-in');
    assert.ok(callback.url.includes('/zkauth/callback?'), `ended at ${callback.url}`);
    assert.equal(callback.status, 403);
    assert.match(callback.body, /not started from this browser/);
    assert.match(callback.body, new RegExp(`alice on \\S+ \\(zkauth-test from ${ATTACKER.replace(/\./g, '\\.')}\\)`));

    await denied(pam);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'browser_not_bound'));
    assert.equal(daemon.logs().match(/result=granted/g).length, 1, 'only alice\'s own login was granted');
  });

  test('a forwarded .../go link shows the confirmation page and leads nowhere by itself', async (t) => {
    const daemon = await daemonFor(t);
    const victim = await victimBrowser(t, daemon);

    const pam = attackerLogin(t, daemon);
    const shortLink = await pam.waitForUrl();
    const res = await victim.request(`${shortLink}/go`);
    assert.equal(res.status, 200, 'a GET of .../go is not Continue');
    assert.equal(res.location, null);
    assert.match(res.body, new RegExp(`Sign in as alice on \\S+ \\(zkauth-test from ${ATTACKER.replace(/\./g, '\\.')}\\)\\?`));
    assert.match(res.body, /<form method="post"/);

    // A page elsewhere that posts Continue with the token the attacker
    // read off their own copy of the page: the victim's browser sends no
    // cookie of this login along (SameSite=Lax keeps it off cross-site
    // POSTs; here it never had one from the attacker's page view).
    const attacker = new Browser();
    const page = await attacker.request(shortLink);
    const form = pageForms(page.body, page.url).find((f) => f.method === 'post');
    const forged = await new Browser().request(form.action, { method: 'POST', form: form.fields });
    assert.equal(forged.status, 403, 'Continue without the cookie');
    assert.equal(forged.location, null);
    // The token is one-time and per page view: the attacker's own token,
    // replayed after a later view of the page, is spent.
    await attacker.request(shortLink);
    const stale = await attacker.request(form.action, { method: 'POST', form: form.fields });
    assert.equal(stale.status, 403, 'an old token');

    await denied(pam);
    assert.equal(daemon.logs().match(/result=granted/g).length, 1);
  });

  test('the callback with the code but without the cookie is refused, even for the right user', async (t) => {
    const daemon = await daemonFor(t);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=3' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const { callbackUrl } = await approve(url, { login: 'id-alice', follow: false });
    const res = await new Browser().request(callbackUrl);
    assert.equal(res.status, 403);
    assert.match(res.body, /not started from this browser/);
    await denied(pam);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'browser_not_bound'));
  });

  test('the cookie: per login, HttpOnly, SameSite=Lax, Path within the listener, no Secure on http', async (t) => {
    const daemon = await daemonFor(t);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=3' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const res = await fetch(url, { redirect: 'manual' });
    const cookies = res.headers.getSetCookie();
    assert.equal(cookies.length, 1, cookies.join('\n'));
    const id = url.split('/').at(-1);
    const [pair, ...attrs] = cookies[0].split(/;\s*/);
    assert.match(pair, new RegExp(`^zkauth-${id}=[A-Za-z0-9_-]{43}$`));
    assert.ok(attrs.includes('HttpOnly'), cookies[0]);
    assert.ok(attrs.includes('SameSite=Lax'), cookies[0]);
    assert.ok(attrs.includes('Path=/'), cookies[0]);
    assert.ok(!attrs.includes('Secure'), cookies[0]);
    assert.ok(attrs.some((a) => /^Max-Age=\d+$/.test(a) && Number(a.slice(8)) > 0 && Number(a.slice(8)) <= 120), cookies[0]);
    await res.text();
    await denied(pam);
  });

  test('the paste fallback needs no cookie: the person at the terminal pastes', async (t) => {
    const daemon = await daemonFor(t);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=10' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    // A phone that cannot reach the listener: it goes to the provider from
    // the confirmation page and lands on a callback address it cannot open.
    const { callbackUrl } = await approve(url, { login: 'id-alice', follow: false });
    pam.child.stdin.write(`${callbackUrl}\n`);
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, `${result.output}\n${daemon.logs()}`);
  });
});

describe('fresh sign-in for services that raise privileges', { concurrency: 1 }, () => {
  for (const service of ['su', 'sudo', 'polkit-1', 'xscreensaver']) {
    test(`${service}: max_age=0 and prompt=login by default`, async (t) => {
      const daemon = await daemonFor(t);
      const pam = runPamService({ daemon, service, user: 'alice', args: 'timeout=2' });
      t.after(() => pam.kill());
      const auth = await continueUrl(await pam.waitForUrl());
      assert.equal(auth.searchParams.get('max_age'), '0');
      assert.equal(auth.searchParams.get('prompt'), 'login');
      await denied(pam);
    });
  }

  test('a signed-in browser must sign in again for su: the forwarded URL asks for the login', async (t) => {
    const daemon = await daemonFor(t);
    const victim = await victimBrowser(t, daemon);
    const pam = runPamService({ daemon, service: 'su', user: 'alice', args: 'timeout=2' });
    t.after(() => pam.kill());
    const auth = await continueUrl(await pam.waitForUrl(), victim);
    const seen = await follow(victim, auth.href);
    assert.match(seen.at(-1).body, /name="login"/, 'the provider shows its sign-in form');
    await denied(pam);
  });

  test('step_up_services names the list: an empty one asks for no fresh sign-in', async (t) => {
    const daemon = await daemonFor(t, { config: { daemon: { step_up_services: '' } } });
    const pam = runPamService({ daemon, service: 'su', user: 'alice', args: 'timeout=2' });
    t.after(() => pam.kill());
    const auth = await continueUrl(await pam.waitForUrl());
    assert.equal(auth.searchParams.get('max_age'), null);
    assert.equal(auth.searchParams.get('prompt'), null);
    await denied(pam);
  });

  test('a service outside the list asks for none; one added to it does', async (t) => {
    const daemon = await daemonFor(t, { config: { daemon: { step_up_services: 'zkauth-test' } } });
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=2' });
    t.after(() => pam.kill());
    const auth = await continueUrl(await pam.waitForUrl());
    assert.equal(auth.searchParams.get('max_age'), '0');
    await denied(pam);
    const other = runPamService({ daemon, service: 'sudo', user: 'alice', args: 'timeout=2' });
    t.after(() => other.kill());
    const plain = await continueUrl(await other.waitForUrl());
    assert.equal(plain.searchParams.get('max_age'), null, 'sudo is not in this list');
    await denied(other);
  });
});

// terminal_code = yes: the confirmation page shows a second code that the
// person types at the prompt before the callback counts (number matching
// in reverse). Someone who sends alice the short link never sees it.
describe('terminal_code', { concurrency: 1 }, () => {
  const TERMINAL_CODE = /type this code at the login prompt on your terminal and press Enter: ([A-Z0-9]{3}-[A-Z0-9]{3})\./;
  const daemonOpts = { config: { daemon: { terminal_code: 'yes' } } };

  test('the page\'s code typed after the callback signs alice in', async (t) => {
    const daemon = await daemonFor(t, daemonOpts);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=10' });
    t.after(() => pam.kill());
    const page = await approve(await pam.waitForUrl(), { login: 'id-alice' });
    const code = (page.interstitial.match(TERMINAL_CODE) || [])[1];
    assert.ok(code, page.interstitial);
    assert.ok(!pam.output().includes(code), 'the prompt does not show the page\'s code');
    assert.equal(page.status, 200);
    assert.match(page.body, new RegExp(`type the code ${code} at the login prompt`));
    pam.child.stdin.write(`${code.toLowerCase()}\n`);
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, `${result.output}\n${daemon.logs()}`);
  });

  test('typed before the callback: the callback then counts at once', async (t) => {
    const daemon = await daemonFor(t, daemonOpts);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=10' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const browser = new Browser();
    const first = await browser.request(url);
    const code = (first.body.match(TERMINAL_CODE) || [])[1];
    assert.ok(code, first.body);
    pam.child.stdin.write(`${code}\n`);
    const page = await approve(url, { login: 'id-alice', browser });
    assert.match(page.body, /signed in as alice/);
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, `${result.output}\n${daemon.logs()}`);
  });

  test('a wrong code ends the login', async (t) => {
    const daemon = await daemonFor(t, daemonOpts);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=10' });
    t.after(() => pam.kill());
    const page = await approve(await pam.waitForUrl(), { login: 'id-alice' });
    const code = page.interstitial.match(TERMINAL_CODE)[1];
    pam.child.stdin.write(`${code === 'AAA-AAA' ? 'CCC-CCC' : 'AAA-AAA'}\n`);
    pam.endInput();
    const result = await pam.result();
    assert.notEqual(result.code, 0, result.output);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'terminal_code_mismatch'));
  });

  test('alice clicking through a forwarded short link approves nothing: the attacker lacks the code', async (t) => {
    const daemon = await daemonFor(t, daemonOpts);
    const pam = attackerLogin(t, daemon, { args: 'timeout=2' });
    const page = await approve(await pam.waitForUrl(), { login: 'id-alice' });
    assert.match(page.body, /type the code/);
    const result = await denied(pam);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.doesNotMatch(daemon.logs(), /result=granted/);
  });
});

test('the pam-auth-update profile passes no max_age: the fresh sign-in default stays', async () => {
  const fs = await import('node:fs');
  const { ROOT } = await import('./lib.mjs');
  const profile = fs.readFileSync(`${ROOT}/packaging/pam-configs/zkauth`, 'utf8');
  assert.match(profile, /pam_zkauth\.so/);
  assert.doesNotMatch(profile, /max_age/);
});

describe('the listener and the log', () => {
  test('plain HTTP on an address other than loopback is refused at start, whatever redirect_uri says', async () => {
    for (const listen of ['0.0.0.0', '[::]']) {
      const port = await freePort();
      await assert.rejects(
        startDaemon({ issuer: provider.issuer, config: { listener: { listen: `${listen}:${port}` } } }),
        /has no TLS and is not on loopback/,
        listen,
      );
    }
  });

  test('a user name made to look like fields cannot forge a log line', async (t) => {
    const daemon = await daemonFor(t);
    const forged = 'x" sub="id-alice" service="sshd" result=granted reason=mapped';
    const pam = runPam({ daemon, user: forged });
    t.after(() => pam.kill());
    pam.endInput();
    await pam.result();
    await daemon.waitForLog(/reason=unknown_user/);
    const line = daemon.logs().split('\n').find((l) => /reason=unknown_user/.test(l));
    assert.doesNotMatch(daemon.logs(), /result=granted/);
    assert.match(line, /^zkauth-verifyd: notice: login user="x\\x22\\x20sub\\x3d\\x22id-alice\\x22\\x20[^"]*" sub="" /, line);
    // One field each: no raw quote, space or '=' inside the user field.
    assert.equal(line.match(/ result=/g).length, 1, line);
  });
});

// The callback read strictly where RFC 6749 is strict, and as
// application/x-www-form-urlencoded where it is tolerant.
describe('the callback request', { concurrency: 1 }, () => {
  async function pending(t, daemon) {
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=5' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const { callbackUrl, browser } = await approve(url, { login: 'id-alice', follow: false });
    return { pam, callback: new URL(callbackUrl), browser };
  }

  for (const [name, edit] of [
    ['code twice, the real one first', (u) => u.searchParams.append('code', 'forged')],
    ['code twice, the real one last', (u) => {
      const real = u.searchParams.get('code');
      u.searchParams.set('code', 'forged');
      u.searchParams.append('code', real);
    }],
    ['state twice, the real one last', (u) => {
      const real = u.searchParams.get('state');
      u.searchParams.set('state', 'A'.repeat(43));
      u.searchParams.append('state', real);
    }],
    ['iss twice', (u) => u.searchParams.append('iss', u.searchParams.get('iss'))],
  ]) {
    test(`a repeated parameter (${name}) denies the login`, async (t) => {
      const daemon = await daemonFor(t);
      const { pam, callback, browser } = await pending(t, daemon);
      edit(callback);
      const res = await browser.request(callback.href);
      assert.equal(res.status, 400);
      assert.match(res.body, /repeats a parameter/);
      await denied(pam);
      await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'repeated_parameter'));
    });
  }

  test('a Host that is not redirect_uri\'s is refused before anything (DNS rebinding)', async (t) => {
    const daemon = await daemonFor(t);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=3' });
    t.after(() => pam.kill());
    const url = new URL(await pam.waitForUrl());
    const get = (host) => getWithHost(url.href, host);
    const evil = await get(`rebind.evil.example:${url.port}`);
    assert.equal(evil.status, 400);
    assert.doesNotMatch(evil.body, /Sign in as/);
    const ours = await get(`127.0.0.1:${url.port}`);
    assert.equal(ours.status, 200);
    assert.match(ours.body, /Sign in as alice/);
    await denied(pam);
  });

  test('an error redirect ending in a bare name ends the login at once, naming the error', async (t) => {
    const daemon = await daemonFor(t);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=60' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const browser = new Browser();
    const auth = await continueUrl(url, browser);
    const cb = new URL(auth.searchParams.get('redirect_uri'));
    const query = `error=unauthorized_client&state=${encodeURIComponent(auth.searchParams.get('state'))}`
      + `&iss=${encodeURIComponent(provider.issuer)}&error_description`;
    const started = Date.now();
    const res = await browser.request(`${cb.href}?${query}`);
    assert.equal(res.status, 403, res.body);
    assert.match(res.body, /it answered: unauthorized_client/);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.notEqual(result.code, 0, result.output);
    assert.ok(Date.now() - started < 30000, 'the verdict came long before the timeout');
    await daemon.waitForLog(/callback: the provider answered error="unauthorized_client"/);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'provider_error'));
  });
});
