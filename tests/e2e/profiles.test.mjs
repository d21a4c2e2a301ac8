// Whole logins for each provider profile (DESIGN.md 3): pamtester with the
// built pam_zkauth.so, zkauth-verifyd configured for the profile, and the
// provider it talks to, all on 127.0.0.1:
//   - profile = zkauth    against the ZKAuth emulator (tests/emulators/zkauth.mjs)
//   - profile = oidc      against the test provider with token_auth_method
//                         client_secret_post and none (a public client)
//   - profile = zeroauth  against the ZeroAuth emulator (tests/emulators/zeroauth.mjs),
//                         whose upstream is the test provider
// One test provider for the file; a fresh daemon (and emulator) per test.
// A daemon that says "<feature> is not supported by this version" skips the
// tests of that feature, and nothing else does.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/profiles.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { approve } from './browser.mjs';
import {
  CLIENT_ID, CLIENT_SECRET, SERVICE, checkDaemonConfig, freePort, loginOutcomeRe, runPam,
  secretFile, startDaemon, startProvider,
} from './lib.mjs';
import { startZkauth } from '../emulators/zkauth.mjs';
import { startZeroauth } from '../emulators/zeroauth.mjs';
import { generateKeyPair } from '../provider/keygen.mjs';

const SUCCESS = /successfully authenticated/;
const LOG_GRANTED = (user, sub) => new RegExp(
  `\\blogin user="${user}" sub="${sub}" service="${SERVICE}" rhost="[^"]*" (?:\\S+ )*result=granted\\b`,
);
const LOG_ANY_GRANT = /\bresult=granted\b/;

// Clients of the test provider (provider.mjs --config): one per way of
// authenticating at its token endpoint, so that the provider refuses any
// other way, and ZeroAuth's own client for its upstream flow. Loopback
// redirect URIs match on any port (RFC 8252 7.3).
const LOOPBACK_CALLBACK = 'http://127.0.0.1/zkauth/callback';
const POST_CLIENT = {
  client_id: 'zkauth-post',
  client_secret: 'zkauth-post-secret-0123456789',
  token_endpoint_auth_method: 'client_secret_post',
  redirect_uris: [LOOPBACK_CALLBACK],
};
const PUBLIC_CLIENT = {
  client_id: 'zkauth-public',
  token_endpoint_auth_method: 'none',
  redirect_uris: [LOOPBACK_CALLBACK],
};
const ZEROAUTH_UPSTREAM_CLIENT = {
  client_id: 'zeroauth-upstream',
  client_secret: 'zeroauth-upstream-secret-0123456789',
  token_endpoint_auth_method: 'client_secret_basic',
  redirect_uris: [LOOPBACK_CALLBACK],
};
// private_key_jwt: one client per key type, each registered with its
// public key only; the daemon holds the private half in client_key_file.
function keyClient(id, type, options) {
  const { publicKey, privateKey } = generateKeyPair(type, options);
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: `${id}-key`, use: 'sig' };
  return {
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client: {
      client_id: id,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [jwk] },
      redirect_uris: [LOOPBACK_CALLBACK],
    },
  };
}
const PKJWT_RSA = keyClient('zkauth-pkjwt-rsa', 'rsa', { modulusLength: 2048 });
const PKJWT_EC = keyClient('zkauth-pkjwt-ec', 'ec', { namedCurve: 'P-256' });
const API_KEY = 'za_live_test_0123456789abcdef0123456789abcdef';

let provider;
before(async () => {
  provider = await startProvider({
    config: {
      clients: [POST_CLIENT, PUBLIC_CLIENT, ZEROAUTH_UPSTREAM_CLIENT, PKJWT_RSA.client, PKJWT_EC.client],
    },
  });
});
after(async () => { await provider?.stop(); });

async function daemonFor(t, opts) {
  const daemon = await startDaemon(opts);
  t.after(() => daemon.stop());
  return daemon;
}

// Skips t when the daemon names a feature of opts' config as not supported
// by this version; true when skipped. Any other complaint of the daemon is
// left for startDaemon to fail on.
async function skipUnsupported(t, opts) {
  const { unsupported } = await checkDaemonConfig(opts);
  if (!unsupported) return false;
  t.skip(`daemon does not support ${unsupported} yet`);
  return true;
}

// pamtester for user, the browser stand-in at the link with browserOpts
// (approve(): login, deny, ...), then Enter. Returns { url, page, result }.
async function login(t, daemon, { user = 'alice', args = '', ...browserOpts } = {}) {
  const pam = runPam({ daemon, user, args });
  t.after(() => pam.kill());
  const url = await pam.waitForUrl();
  const page = await approve(url, browserOpts);
  pam.pressEnter();
  pam.endInput();
  const result = await pam.result();
  return { url, page, result };
}

async function assertGranted(daemon, { page, result }, sub = 'id-alice') {
  assert.ok(page.status < 400, `callback page: HTTP ${page.status}\n${page.body}`);
  assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
  assert.match(result.output, SUCCESS);
  await daemon.waitForLog(LOG_GRANTED('alice', sub));
}

async function assertDenied(daemon, { result }, reason) {
  assert.notEqual(result.code, 0, result.output);
  assert.doesNotMatch(result.output, SUCCESS);
  await daemon.waitForLog(loginOutcomeRe('alice', 'denied', reason));
  assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
}

// ------------------------------------------------------------ zkauth

describe('profile = zkauth against the ZKAuth emulator', () => {
  // A ZKAuth emulator whose client is registered with this daemon's exact
  // redirect_uri, and the daemon's options for it. tokenAuth null: the
  // profile's preset (client_secret_json).
  async function zkauthSetup(t, { tokenAuth = 'client_secret_json', claims, alg } = {}) {
    const listenerPort = await freePort();
    const redirectUri = `http://127.0.0.1:${listenerPort}/zkauth/callback`;
    const zk = await startZkauth({
      clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [redirectUri] }],
      claims,
      alg,
    });
    t.after(() => zk.stop());
    const opts = {
      listenerPort,
      config: {
        provider: {
          profile: 'zkauth',
          issuer: zk.issuer,
          authorization_endpoint: zk.authorizationEndpoint,
          token_endpoint: zk.tokenEndpoint,
          jwks_uri: zk.jwksUri,
          token_auth_method: tokenAuth,
          redirect_uri: redirectUri,
        },
      },
    };
    return { zk, opts };
  }

  const tokenCalls = (zk) => zk.events.filter((e) => e.endpoint === 'token');

  test('a. id-alice signs alice in (JSON token request, PKCE, access_token verified)', async (t) => {
    const { zk, opts } = await zkauthSetup(t);
    const daemon = await daemonFor(t, opts);
    const out = await login(t, daemon, { login: 'id-alice' });

    await assertGranted(daemon, out);
    assert.ok(out.url.startsWith(`http://127.0.0.1:${opts.listenerPort}/`), `short link on the listener: ${out.url}`);
    assert.deepEqual(tokenCalls(zk).map((e) => [e.status, e.contentType, e.client_id]),
      [[200, 'application/json', CLIENT_ID]], 'one JSON token request, accepted');
  });

  test('b. id-bob may not sign in as alice', async (t) => {
    const { zk, opts } = await zkauthSetup(t);
    const daemon = await daemonFor(t, opts);
    const out = await login(t, daemon, { login: 'id-bob' });

    await assertDenied(daemon, out, 'wrong_user');
    assert.match(out.result.output, /may not sign in as alice/);
    assert.equal(tokenCalls(zk).filter((e) => e.status === 200).length, 1, 'the code was exchanged');
  });

  test('c. the profile preset (no token_auth_method) sends the JSON body too', async (t) => {
    const { zk, opts } = await zkauthSetup(t, { tokenAuth: null });
    const daemon = await daemonFor(t, opts);
    const out = await login(t, daemon, { login: 'id-alice' });

    await assertGranted(daemon, out);
    assert.deepEqual(tokenCalls(zk).map((e) => e.contentType), ['application/json']);
  });

  test('d. the person presses Deny at ZKAuth', async (t) => {
    const { zk, opts } = await zkauthSetup(t);
    const daemon = await daemonFor(t, opts);
    const out = await login(t, daemon, { deny: true });

    await assertDenied(daemon, out);
    assert.match(out.result.output, /denied/);
    assert.equal(tokenCalls(zk).length, 0, 'no token request after a denial');
  });

  test('e. an access_token for another audience signs nobody in', async (t) => {
    const { opts } = await zkauthSetup(t, { claims: (c) => ({ ...c, aud: 'another-client' }) });
    const daemon = await daemonFor(t, opts);
    const out = await login(t, daemon, { login: 'id-alice' });

    await assertDenied(daemon, out, 'E_AUD');
  });

  test('f. an access_token signed ES256 signs nobody in: the profile accepts RS256 only', async (t) => {
    const { opts } = await zkauthSetup(t, { alg: 'ES256' });
    const daemon = await daemonFor(t, opts);
    const out = await login(t, daemon, { login: 'id-alice' });

    await assertDenied(daemon, out, 'E_ALG');
  });
});

// -------------------------------------------------------------- oidc

for (const [method, client] of [['client_secret_post', POST_CLIENT], ['none', PUBLIC_CLIENT]]) {
  describe(`profile = oidc, token_auth_method = ${method}`, () => {
    function opts() {
      return {
        issuer: provider.issuer,
        clientSecret: client.client_secret,
        config: {
          provider: {
            client_id: client.client_id,
            token_auth_method: method,
            // A public client has no secret, and must not be given one.
            ...(method === 'none' && { client_secret_file: null }),
          },
        },
      };
    }

    test('a. id-alice signs alice in', async (t) => {
      const daemon = await daemonFor(t, opts());
      const out = await login(t, daemon, { login: 'id-alice' });
      await assertGranted(daemon, out);
    });

    test('b. id-bob may not sign in as alice', async (t) => {
      const daemon = await daemonFor(t, opts());
      const out = await login(t, daemon, { login: 'id-bob' });
      await assertDenied(daemon, out, 'wrong_user');
      assert.match(out.result.output, /may not sign in as alice/);
    });
  });
}

for (const [name, kc] of [['RSA', PKJWT_RSA], ['EC P-256', PKJWT_EC]]) {
  describe(`profile = oidc, token_auth_method = private_key_jwt (${name})`, () => {
    function opts(t, pem = kc.pem) {
      const key = secretFile('client_key.pem', pem);
      t.after(() => key.remove());
      return {
        issuer: provider.issuer,
        config: {
          provider: {
            client_id: kc.client.client_id,
            token_auth_method: 'private_key_jwt',
            client_key_file: key.file,
            client_secret_file: null,
          },
        },
      };
    }

    test('a. id-alice signs alice in; the client proves itself with its key', async (t) => {
      const daemon = await daemonFor(t, opts(t));
      const out = await login(t, daemon, { login: 'id-alice' });
      await assertGranted(daemon, out);
    });

    test('b. a key the provider does not know: the code exchange fails closed', async (t) => {
      const other = kc === PKJWT_RSA ? PKJWT_EC : PKJWT_RSA;
      const daemon = await daemonFor(t, opts(t, other.pem));
      const out = await login(t, daemon, { login: 'id-alice' });
      assert.notEqual(out.result.code, 0, out.result.output);
      assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
      assert.match(daemon.logs(), /token endpoint answered HTTP 401/);
    });
  });
}

// ---------------------------------------------------------- zeroauth

describe('profile = zeroauth against the ZeroAuth emulator', () => {
  // A ZeroAuth emulator whose upstream is the test provider and whose
  // registered redirect URI is this daemon's callback, and the daemon's
  // options for it: issuer is ZeroAuth's base URL (its API base and the
  // iss of its accessToken), the API key in api_key_file, ZeroAuth's JWKS.
  // The accessToken's aud is our client_id.
  async function zeroauthSetup(t, { apiKey = API_KEY, claims } = {}) {
    const listenerPort = await freePort();
    const redirectUri = `http://127.0.0.1:${listenerPort}/zkauth/callback`;
    const za = await startZeroauth({
      apiKey: API_KEY,
      upstream: { issuer: provider.issuer, ...ZEROAUTH_UPSTREAM_CLIENT },
      redirectUri,
      audience: CLIENT_ID,
      claims,
    });
    t.after(() => za.stop());
    const key = secretFile('zeroauth_api_key', `${apiKey}\n`);
    t.after(() => key.remove());
    const opts = {
      listenerPort,
      config: {
        provider: {
          profile: 'zeroauth',
          issuer: za.base,
          api_key_file: key.file,
          jwks_uri: za.jwksUri,
          redirect_uri: redirectUri,
          // The broker holds the client credentials and asks for the scopes.
          client_secret_file: null,
          token_auth_method: null,
          scopes: null,
        },
      },
    };
    return { za, opts };
  }

  const calls = (za, endpoint) => za.events.filter((e) => e.endpoint === endpoint);

  test('a. id-alice signs alice in through the brokered flow', async (t) => {
    const { za, opts } = await zeroauthSetup(t);
    if (await skipUnsupported(t, opts)) return;
    const daemon = await daemonFor(t, opts);
    const out = await login(t, daemon, { login: 'id-alice' });

    await assertGranted(daemon, out);
    assert.deepEqual(calls(za, 'authorize').map((e) => e.status), [200]);
    assert.deepEqual(calls(za, 'callback').map((e) => [e.status, e.sub]), [[200, 'id-alice']]);
  });

  test('b. id-bob may not sign in as alice', async (t) => {
    const { za, opts } = await zeroauthSetup(t);
    if (await skipUnsupported(t, opts)) return;
    const daemon = await daemonFor(t, opts);
    const out = await login(t, daemon, { login: 'id-bob' });

    await assertDenied(daemon, out, 'wrong_user');
    assert.match(out.result.output, /may not sign in as alice/);
    assert.deepEqual(calls(za, 'callback').map((e) => [e.status, e.sub]), [[200, 'id-bob']]);
  });

  test('c. a wrong API key: ZeroAuth answers 401 and no link is shown', async (t) => {
    const { za, opts } = await zeroauthSetup(t, { apiKey: 'za_live_wrong_key_0123456789abcdef' });
    if (await skipUnsupported(t, opts)) return;
    const daemon = await daemonFor(t, opts);
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=10' });
    t.after(() => pam.kill());
    pam.endInput();
    const result = await pam.result();

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.ok(!result.output.split('\n').some((l) => /^https?:\/\//.test(l)), `no URL shown:\n${result.output}`);
    assert.deepEqual(calls(za, 'authorize').map((e) => e.status), [401]);
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('d. an accessToken with another iss signs nobody in', async (t) => {
    const { opts } = await zeroauthSetup(t, { claims: (c) => ({ ...c, iss: 'https://zeroauth.dev' }) });
    if (await skipUnsupported(t, opts)) return;
    const daemon = await daemonFor(t, opts);
    const out = await login(t, daemon, { login: 'id-alice' });

    await assertDenied(daemon, out, 'E_ISS');
  });
});
