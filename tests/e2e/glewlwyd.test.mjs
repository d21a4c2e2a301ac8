// Whole logins against Glewlwyd (Debian's package, a second real OpenID
// provider beside the npm oidc-provider): pamtester with the built
// pam_zkauth.so, zkauth-verifyd, and Glewlwyd (tests/e2e/glewlwyd.mjs),
// all on 127.0.0.1. One Glewlwyd for the file, a fresh daemon per test.
// Glewlwyd's login is a single-page app: approveGlewlwyd() calls the APIs
// it calls (sign-in, grant, continue) with the scripted browser's cookies.
//
// Glewlwyd makes each user's sub (a random 32-character string at the
// first token); the account map is written from what it reports.
// Without glewlwyd installed (tests/deps.sh) every test skips, saying so.
// Findings: the README's provider table.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/glewlwyd.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  approveGlewlwyd, approveGlewlwydDevice, glewlwydMissing, startGlewlwyd,
} from './glewlwyd.mjs';
import {
  SERVICE, checkDaemonConfig, freePort, loginOutcomeRe, runPam, secretFile, startDaemon,
} from './lib.mjs';

const SUCCESS = /successfully authenticated/;
const LOG_GRANTED = (user, sub) => new RegExp(
  `\\blogin user="${user}" sub="${sub}" service="${SERVICE}" rhost="[^"]*" (?:\\S+ )*result=granted\\b`,
);
const LOG_ANY_GRANT = /\bresult=granted\b/;
// The module's own wait for the verdict in the error-redirect test (s).
const MODULE_TIMEOUT_S = 30;

const missing = glewlwydMissing();
let gl;
before(async () => {
  if (!missing) gl = await startGlewlwyd();
});
after(async () => {
  // ZK_GLEWLWYD_LOG=1: Glewlwyd's own log (DEBUG) on stderr at the end.
  if (gl && process.env.ZK_GLEWLWYD_LOG === '1') process.stderr.write(`--- glewlwyd:\n${gl.logs()}\n`);
  await gl?.stop();
});

function skipped(t) {
  if (!missing) return false;
  t.skip(`Glewlwyd is not available: ${missing}`);
  return true;
}

// Skips t when the daemon says a feature of opts is not supported by this
// version (e.g. "flow = device"); true when skipped.
async function skipUnsupported(t, opts) {
  const { unsupported } = await checkDaemonConfig(opts);
  if (!unsupported) return false;
  t.skip(`daemon does not support ${unsupported} yet`);
  return true;
}

/*
 * The daemon's options for Glewlwyd's client `name` (gl.clients): its
 * token_auth_method, its secret or key, the account map from the subs
 * Glewlwyd reported (map: [[login, account], ...]). device: flow = device
 * without a redirect_uri; otherwise a fresh listener port whose callback
 * the client is allowed to redirect to.
 */
async function daemonOpts(t, name, { map = [['id-alice', 'alice'], ['id-bob', 'bob']], device = false, provider = {} } = {}) {
  const c = gl.clients[name];
  const p = { client_id: c.client_id, token_auth_method: c.method, ...provider };
  const opts = { issuer: gl.issuer, usersMap: gl.usersMap(map), config: { provider: p } };
  if (c.client_secret) {
    opts.clientSecret = c.client_secret;
  } else {
    p.client_secret_file = null;
  }
  if (c.key) {
    const key = secretFile('client_key.pem', c.key);
    t.after(() => key.remove());
    p.client_key_file = key.file;
  }
  if (device) {
    p.flow = 'device';
    p.redirect_uri = null;
  } else {
    opts.listenerPort = await freePort();
    await gl.allowRedirect(`http://127.0.0.1:${opts.listenerPort}/zkauth/callback`, [name]);
  }
  return opts;
}

async function daemonFor(t, opts) {
  const daemon = await startDaemon(opts);
  t.after(() => daemon.stop());
  return daemon;
}

// pamtester for user; approveGlewlwyd at the link as login; Enter.
async function login(t, daemon, { user = 'alice', login: as = 'id-alice', deny = false, args = '' } = {}) {
  const pam = runPam({ daemon, user, args });
  t.after(() => pam.kill());
  const url = await pam.waitForUrl();
  const page = await approveGlewlwyd(url, { login: as, deny });
  pam.pressEnter();
  pam.endInput();
  const result = await pam.result();
  return { url, page, result };
}

async function assertGranted(daemon, { page, result }, login = 'id-alice') {
  assert.ok(page.status < 400, `callback page: HTTP ${page.status}\n${page.body}\n--- daemon:\n${daemon.logs()}`);
  assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
  assert.match(result.output, SUCCESS);
  await daemon.waitForLog(LOG_GRANTED('alice', gl.subOf(login)));
}

// ------------------------------------------------------------ code flow

describe('Glewlwyd: code + PKCE, each way of client authentication', () => {
  test('a. client_secret_basic: id-alice signs alice in; the callback carries iss (RFC 9207)', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t, await daemonOpts(t, 'basic'));
    const out = await login(t, daemon);
    await assertGranted(daemon, out);
    const cb = new URL(out.page.callbackUrl);
    assert.equal(cb.searchParams.get('iss'), gl.issuer, `iss in ${cb}`);
    assert.ok(cb.searchParams.get('code'), 'a code');
  });

  test('b. client_secret_post', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t, await daemonOpts(t, 'post'));
    await assertGranted(daemon, await login(t, daemon));
  });

  test('c. private_key_jwt, RSA key registered as PEM', async (t) => {
    if (skipped(t)) return;
    const opts = await daemonOpts(t, 'pkjwtRsa');
    if (await skipUnsupported(t, opts)) return;
    const daemon = await daemonFor(t, opts);
    await assertGranted(daemon, await login(t, daemon));
  });

  test('d. private_key_jwt, EC P-256 key registered as PEM', async (t) => {
    if (skipped(t)) return;
    const opts = await daemonOpts(t, 'pkjwtEc');
    if (await skipUnsupported(t, opts)) return;
    const daemon = await daemonFor(t, opts);
    await assertGranted(daemon, await login(t, daemon));
  });

  for (const [name, what] of [['pkjwtRsaJwks', 'RSA'], ['pkjwtEcJwks', 'EC P-256']]) {
    test(`e. private_key_jwt, ${what} key registered as a JWKS`, async (t) => {
      if (skipped(t)) return;
      // Glewlwyd picks a JWKS-registered client key by the assertion's kid
      // alone (RFC 7523 does not ask for one): client_key_id sends it.
      const opts = await daemonOpts(t, name, { provider: { client_key_id: gl.clients[name].kid } });
      if (await skipUnsupported(t, opts)) return;
      const daemon = await daemonFor(t, opts);
      await assertGranted(daemon, await login(t, daemon));
    });
  }

  test('a2. RFC 9207: a callback whose iss is not Glewlwyd\'s approves nothing', async (t) => {
    if (skipped(t)) return;
    // Glewlwyd sends iss without saying so in its discovery document; the
    // daemon checks an iss that is there.
    assert.equal(gl.discovery.authorization_response_iss_parameter_supported, undefined);
    const daemon = await daemonFor(t, await daemonOpts(t, 'basic'));
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=10' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const { callbackUrl, browser } = await approveGlewlwyd(url, { login: 'id-alice', follow: false });
    const forged = new URL(callbackUrl);
    assert.equal(forged.searchParams.get('iss'), gl.issuer);
    forged.searchParams.set('iss', 'https://evil.example');
    const page = await browser.request(forged.href);
    assert.ok(page.status >= 400, `callback page: HTTP ${page.status}`);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.notEqual(result.code, 0, result.output);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'iss_mismatch'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('f. public client (none): PKCE alone', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t, await daemonOpts(t, 'public'));
    await assertGranted(daemon, await login(t, daemon));
  });
});

// ------------------------------------------------------------ identities

describe('Glewlwyd: who may sign in', () => {
  test('g. wrong identity: id-bob (mapped to bob) cannot sign in as alice', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t, await daemonOpts(t, 'basic'));
    const { result } = await login(t, daemon, { login: 'id-bob' });
    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.match(result.output, /may not sign in as alice/);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'wrong_user'));
    assert.match(daemon.logs(), new RegExp(`sub="${gl.subOf('id-bob')}"`));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('h. wrong identity: a Glewlwyd user who is not in the map at all', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t, await daemonOpts(t, 'basic', { map: [['id-alice', 'alice']] }));
    const { result } = await login(t, daemon, { login: 'id-bob' });
    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'wrong_user'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('i. error redirect: max_age=0 (step-up, with prompt=login) gets error=invalid_request; the login ends at once', async (t) => {
    if (skipped(t)) return;
    // An error redirect must end the login at once: the verdict comes when
    // the browser lands on the callback, not at the module's timeout.
    // Glewlwyd refuses max_age=0 ("max_age invalid": it takes only
    // max_age > 0), which OIDC Core allows; that is the error redirect
    // Glewlwyd makes for a person who signed in.
    const daemon = await daemonFor(t, await daemonOpts(t, 'basic'));
    const pam = runPam({ daemon, user: 'alice', args: `timeout=${MODULE_TIMEOUT_S} max_age=0` });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const page = await approveGlewlwyd(url, { login: 'id-alice' });
    const landed = Date.now();
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    const verdictMs = Date.now() - landed;
    t.diagnostic(`verdict ${verdictMs} ms after the callback (module timeout ${MODULE_TIMEOUT_S} s)`);

    const cb = new URL(page.callbackUrl);
    assert.equal(cb.searchParams.get('error'), 'invalid_request', page.callbackUrl);
    assert.equal(cb.searchParams.get('error_description'), 'max_age invalid', page.callbackUrl);
    assert.equal(cb.searchParams.get('iss'), gl.issuer, 'the error response names the issuer too');
    assert.equal(page.signedIn, true, 'the person signed in first (prompt=login)');
    assert.ok(page.status >= 400, `callback page: HTTP ${page.status}`);
    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.ok(verdictMs < MODULE_TIMEOUT_S * 1000, `the verdict took ${verdictMs} ms`);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'provider_error'));
    assert.match(daemon.logs(), /the provider answered error="invalid_request"/);
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('i2. max_age=300 (step-up): Glewlwyd\'s ID token says auth_time 0, so the daemon refuses it', async (t) => {
    if (skipped(t)) return;
    // Glewlwyd 2.7.5 takes auth_time at the token endpoint from the
    // session cookie of that request, which the daemon's back-channel call
    // does not have: every code-flow ID token says auth_time 0 (1970). The
    // daemon is right to refuse it when it asked for max_age.
    const daemon = await daemonFor(t, await daemonOpts(t, 'basic'));
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=20 max_age=300' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const page = await approveGlewlwyd(url, { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.ok(new URL(page.callbackUrl).searchParams.get('code'), `Glewlwyd sent a code: ${page.callbackUrl}`);
    assert.notEqual(result.code, 0, result.output);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'E_AUTH_TIME'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
    assert.equal(gl.users['id-alice'].firstIdToken.claims.auth_time, 0, 'Glewlwyd\'s auth_time');
    t.diagnostic((daemon.logs().split('\n').find((l) => /result=/.test(l)) ?? '').trim());
    t.skip('Glewlwyd cannot do step-up: its code-flow ID tokens carry auth_time 0; the daemon fails closed');
  });

  // No redirect at all: the login cannot end before the module's timeout.
  test('i3. the admin disabled the client: Glewlwyd answers HTTP 403 and sends the browser nowhere', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t, await daemonOpts(t, 'disabled'));
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=3' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    await assert.rejects(approveGlewlwyd(url, { login: 'id-alice' }),
      /the authorization endpoint did not redirect: HTTP 403/);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('i4. id-carol does not hold the openid scope: Glewlwyd sends her back to its login page', async (t) => {
    if (skipped(t)) return;
    // Its login app says "scopes unavailable" and shows no Continue; the
    // g_continue request a person could still make leads to the login
    // page again, never to the client: no error redirect.
    const daemon = await daemonFor(t, await daemonOpts(t, 'basic'));
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=3' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    await assert.rejects(approveGlewlwyd(url, { login: 'id-carol' }), /sent back to the login page after signing in/);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('j. the person refuses: Glewlwyd has no way to (the openid grant cannot be withdrawn)', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t, await daemonOpts(t, 'basic'));
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=10' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    // Signs in and withdraws the client's grant (scope ""), the nearest the
    // SPA comes to a Deny: Glewlwyd counts openid as granted all the same.
    const page = await approveGlewlwyd(url, { login: 'id-alice', deny: true });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    const cb = new URL(page.callbackUrl);
    if (cb.searchParams.get('error') !== 'access_denied') {
      const got = cb.searchParams.get('error') ? `error=${cb.searchParams.get('error')}` : 'a code';
      t.diagnostic(`grant withdrawn: Glewlwyd redirected with ${got}; pamtester exit ${result.code}`);
      t.skip(`Glewlwyd cannot refuse: its login app has no Deny, and with the grant withdrawn it still redirects with ${got} (openid is always taken as granted)`);
      return;
    }
    assert.notEqual(result.code, 0, result.output);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'denied_at_provider'));
  });
});

// ------------------------------------------------------------ signatures

describe('Glewlwyd: ID tokens signed with other algorithms', () => {
  for (const alg of ['ES256', 'EdDSA', 'PS256']) {
    test(`k. ${alg}: the daemon allows ${alg} alone and signs alice in`, async (t) => {
      if (skipped(t)) return;
      const name = `sign${alg}`;
      // Glewlwyd signs this client's tokens with that key.
      const { header } = await gl.codeFlow('id-alice', name);
      assert.equal(header.alg, alg, `Glewlwyd signed with ${header.alg}`);
      const opts = await daemonOpts(t, name, { provider: { allowed_algs: alg } });
      if (await skipUnsupported(t, opts)) return;
      const daemon = await daemonFor(t, opts);
      await assertGranted(daemon, await login(t, daemon));
    });
  }
});

// ------------------------------------------------------------ device flow

describe('Glewlwyd: device flow (RFC 8628)', () => {
  for (const [name, what] of [['device', 'client_secret_basic'], ['devicePublic', 'a public client']]) {
    test(`l. ${what}: id-alice approves the code; alice is signed in`, async (t) => {
      if (skipped(t)) return;
      const opts = await daemonOpts(t, name, { device: true });
      if (await skipUnsupported(t, opts)) return;
      const daemon = await daemonFor(t, opts);
      const pam = runPam({ daemon, user: 'alice', args: 'timeout=60' });
      t.after(() => pam.kill());
      const url = await pam.waitForUrl();
      assert.ok(url.startsWith(`${gl.issuer}/device?code=`), `verification_uri_complete at Glewlwyd: ${url}`);
      const started = Date.now();
      const page = await approveGlewlwydDevice(url, { login: 'id-alice' });
      assert.equal(page.outcome, 'deviceComplete', page.location);
      pam.pressEnter();
      pam.endInput();
      const result = await pam.result();
      t.diagnostic(`verdict ${Date.now() - started} ms after the approval began (interval 5 s)`);
      assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
      assert.match(result.output, SUCCESS);
      await daemon.waitForLog(LOG_GRANTED('alice', gl.subOf('id-alice')));
    });
  }

  test('m. device flow, wrong identity: id-bob approves alice\'s code', async (t) => {
    if (skipped(t)) return;
    const opts = await daemonOpts(t, 'device', { device: true });
    if (await skipUnsupported(t, opts)) return;
    const daemon = await daemonFor(t, opts);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=60' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const page = await approveGlewlwydDevice(url, { login: 'id-bob' });
    assert.equal(page.outcome, 'deviceComplete', page.location);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.notEqual(result.code, 0, result.output);
    assert.match(result.output, /may not sign in as alice/);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'wrong_user'));
  });

  test('n. device flow, the person refuses the code', (t) => {
    t.skip('Glewlwyd cannot refuse a device code: its device pages have no Deny; the code stays pending until it expires');
  });
});
