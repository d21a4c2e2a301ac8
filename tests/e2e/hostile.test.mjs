// Token verification against a hostile provider: whole logins (pamtester
// with pam_zkauth.so under pam_wrapper, zkauth-verifyd, the test provider
// and the browser stand-in), with the evil proxy (evil-proxy.mjs) between
// the daemon and the provider's token endpoint and JWKS.
//
// Every case: one login through a fresh daemon while the proxy forges or
// breaks the provider's answer is DENIED (pamtester fails, the daemon logs
// why), then an honest login through the same daemon is granted, and the
// daemon ends cleanly (no sanitizer report under SAN=1).
//
// The provider signs with a key this file makes (--keys), so that the
// proxy can re-sign a token with the provider's own key: then only the one
// claim it changed is wrong. Forgeries with a key of the attacker's own
// must fail on the signature.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/hostile.test.mjs

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';

import { approve, continueUrl } from './browser.mjs';
import {
  generateSigningKey, reply, reset, resignIdToken, rewriteIdToken, rewriteJson, signJwt,
  startEvilProxy, writePrivateJwks,
} from './evil-proxy.mjs';
import {
  CLIENT_ID, CLIENT_SECRET, loginOnce, loginOutcomeRe, runPam, startDaemon, startProvider, tempDir,
} from './lib.mjs';

const SUCCESS = /successfully authenticated/;
// Outcome fields outside the quoted ones (user, sub, ... come from the
// network and may hold anything): the log line's own words.
const unquoted = (line) => line.replace(/"[^"]*"/g, '""');
const grantsIn = (logs) => logs.split('\n').filter((l) => /\bresult=granted\b/.test(unquoted(l)));
const GRANTED = loginOutcomeRe('alice', 'granted', 'mapped');
const REJECTED = (e) => new RegExp(`identity token rejected: ${e}$`, 'm');

// What pamtester shows for each kind of verdict (pam_zkauth/verdict.c).
const SAYS_UNVERIFIED = /could not be verified/;
const SAYS_PROVIDER_DOWN = /identity provider is not available/;
const SAYS_WRONG_USER = /may not sign in as alice/;

// The daemon's caps (zkauth-verifyd/jwt.h, oidc.c, http.h).
const JWT_MAX = 16 * 1024;
const TOKEN_RESPONSE_MAX = 64 * 1024;
const HTTP_TIMEOUT_MS = 10000;

// Made when the file loads: the cases below are built from them.
const signer = generateSigningKey('RS256'); // the provider's own signing key
const attacker = generateSigningKey('RS256', signer.kid); // the attacker's, under the provider's kid
const attackerOwn = generateSigningKey('RS256'); // the attacker's, under a kid of its own

let keysDir;
let provider;

before(async () => {
  keysDir = tempDir('zkauth-hostile-');
  provider = await startProvider({ keys: writePrivateJwks(keysDir, [signer]) });
});

after(async () => {
  await provider?.stop();
  if (keysDir && process.env.ZK_KEEP !== '1') fs.rmSync(keysDir, { recursive: true, force: true });
});

async function setup(t, daemonOpts = {}) {
  const proxy = await startEvilProxy({ upstream: provider.issuer });
  t.after(() => proxy.stop());
  const daemon = await startDaemon({
    issuer: provider.issuer,
    ...daemonOpts,
    config: { ...daemonOpts.config, provider: { ...proxy.endpoints, ...daemonOpts.config?.provider } },
  });
  t.after(() => daemon.stop());
  return { proxy, daemon };
}

const now = () => Math.floor(Date.now() / 1000);

// Re-signed with the provider's own key: only the claims changed are wrong.
const claims = (edit) => resignIdToken(signer.privateKey, edit);
const header = (edit, key = signer.privateKey) => resignIdToken(key, () => {}, edit);

// A mode that needs the proxy first (e.g. to host an attacker document):
// fn(proxy) returns the proxy's handlers.
const withProxy = (fn) => ({ withProxy: fn });

/*
 * The whole case: mode is the handler for the token endpoint, or
 * withProxy(...). The hostile login is denied with the outcome
 * { result, reason } and the log lines logs (patterns), pamtester says
 * says; then the proxy is honest again and the same daemon grants a login.
 * check(proxy, daemon) may assert more after the denial.
 */
async function deniedThenHonest(t, {
  mode, result = 'denied', reason, logs = [], says, check,
}) {
  const { proxy, daemon } = await setup(t);
  proxy.set(mode.withProxy ? mode.withProxy(proxy) : { token: mode });

  const bad = await loginOnce(daemon);
  const ctx = () => `\n--- pamtester:\n${bad.result.output}\n--- daemon:\n${daemon.logs()}`;
  assert.notEqual(bad.result.code, 0, `the hostile login went through${ctx()}`);
  assert.doesNotMatch(bad.result.output, SUCCESS, ctx());
  if (says) assert.match(bad.result.output, says, ctx());
  await daemon.waitForLog(loginOutcomeRe('alice', result, reason));
  for (const re of logs) await daemon.waitForLog(re);
  assert.deepEqual(grantsIn(daemon.logs()), [], ctx());
  assert.deepEqual(proxy.errors, [], 'the proxy did what the test asked');
  if (check) await check(proxy, daemon);

  proxy.reset();
  const good = await loginOnce(daemon);
  assert.equal(good.result.code, 0, `the honest login after it failed\n--- pamtester:\n${good.result.output}\n--- daemon:\n${daemon.logs()}`);
  assert.match(good.result.output, SUCCESS);
  await daemon.waitForLog(GRANTED);
  // Ends cleanly on SIGTERM; under SAN=1 without a sanitizer report.
  await daemon.stop();
}

// A denial for a bad token: the log names the reason.
function badToken(mode, reason, more = {}) {
  return { mode, reason, logs: [REJECTED(reason)], says: SAYS_UNVERIFIED, ...more };
}

// A broken token endpoint: the provider counts as unavailable.
function providerError(mode, reason, log, more = {}) {
  return { mode, result: 'error', reason, logs: [log], says: SAYS_PROVIDER_DOWN, ...more };
}

const CASES = {
  // ---- keys and algorithms
  'id_token re-signed with an attacker key under the real kid -> E_SIG':
    badToken(header(() => {}, attacker.privateKey), 'E_SIG'),
  'sub changed to id-bob and re-signed with an attacker key -> E_SIG':
    badToken(resignIdToken(attacker.privateKey, (p) => { p.sub = 'id-bob'; }), 'E_SIG'),
  'signature of another token (the provider\'s own, for other claims) -> E_SIG':
    badToken(rewriteIdToken(({ header: h, payload }) => {
      const other = signJwt(h, { ...payload, sub: 'id-other' }, signer.privateKey);
      return `${b64json(h)}.${b64json(payload)}.${other.split('.')[2]}`;
    }), 'E_SIG'),
  'signature cut short by one byte -> E_SIG':
    badToken(rewriteIdToken(({ raw }) => {
      const [h, p, s] = raw.split('.');
      return `${h}.${p}.${Buffer.from(s, 'base64url').subarray(1).toString('base64url')}`;
    }), 'E_SIG'),
  'alg none, no signature -> E_ALG':
    badToken(header((h) => ({ ...h, alg: 'none' }), null), 'E_ALG'),
  'alg NONE, signature kept -> E_ALG':
    badToken(rewriteIdToken(({ raw, header: h }) => {
      const [, p, s] = raw.split('.');
      return `${b64json({ ...h, alg: 'NONE' })}.${p}.${s}`;
    }), 'E_ALG'),
  'HS256 signed with the client secret -> E_ALG':
    badToken(header((h) => ({ ...h, alg: 'HS256' }), CLIENT_SECRET), 'E_ALG'),
  'HS256 signed with the public key\'s PEM (RS/HS confusion) -> E_ALG':
    badToken(header((h) => ({ ...h, alg: 'HS256' }), publicPem(signer)), 'E_ALG'),
  'PS256 under a key whose JWK says RS256 -> E_ALG':
    badToken(header((h) => ({ ...h, alg: 'PS256' })), 'E_ALG'),
  'ES256 signed by the attacker under the RSA key\'s kid -> E_ALG':
    badToken(header((h) => ({ ...h, alg: 'ES256' }), generateSigningKey('ES256').privateKey), 'E_ALG'),
  'alg missing from the header -> E_ALG':
    badToken(rewriteIdToken(({ raw, header: h }) => {
      const [, p, s] = raw.split('.');
      const { alg, ...rest } = h;
      return `${b64json(rest)}.${p}.${s}`;
    }), 'E_ALG'),
  'jwk header with the attacker\'s key, no kid, signed by the attacker -> E_SIG':
    badToken(header((h) => {
      const { kid, ...rest } = h;
      return { ...rest, jwk: attackerOwn.publicJwk };
    }, attackerOwn.privateKey), 'E_SIG'),
  'jwk header with the attacker\'s key and kid, signed by the attacker -> E_KID':
    badToken(header((h) => ({ ...h, kid: attackerOwn.kid, jwk: attackerOwn.publicJwk }),
      attackerOwn.privateKey), 'E_KID'),
  'jku header at an attacker JWKS, real kid, signed by the attacker -> E_SIG, jku never fetched':
    badToken(withProxy((proxy) => {
      const jku = proxy.host('/attacker/jwks.json', { status: 200, body: { keys: [attacker.publicJwk] } });
      return { token: header((h) => ({ ...h, jku }), attacker.privateKey) };
    }), 'E_SIG', { check: (proxy) => assert.equal(proxy.count('hosted'), 0, 'the daemon fetched the jku') }),
  'x5u header at an attacker URL, attacker kid, signed by the attacker -> E_KID, x5u never fetched':
    badToken(withProxy((proxy) => {
      const x5u = proxy.host('/attacker/cert.pem', { status: 200, body: publicPem(attackerOwn) });
      return { token: header((h) => ({ ...h, kid: attackerOwn.kid, x5u }), attackerOwn.privateKey) };
    }), 'E_KID', { check: (proxy) => assert.equal(proxy.count('hosted'), 0, 'the daemon fetched the x5u') }),
  'crit header naming an extension -> E_CRIT':
    badToken(header((h) => ({ ...h, crit: ['exp'], exp: 1 })), 'E_CRIT'),

  // ---- form
  'four segments -> E_FORMAT':
    badToken(rewriteIdToken(({ raw }) => `${raw}.${raw.split('.')[2]}`), 'E_FORMAT'),
  'base64 with padding in the payload -> E_FORMAT':
    badToken(rewriteIdToken(({ raw }) => {
      const [h, p, s] = raw.split('.');
      return `${h}.${p}==.${s}`;
    }), 'E_FORMAT'),
  'payload with sub twice (id-bob, then id-alice), properly signed -> E_FORMAT':
    badToken(rewriteIdToken(({ header: h, payload }) => {
      const json = JSON.stringify({ ...payload, sub: 'id-bob' }).replace(/}$/, ',"sub":"id-alice"}');
      return signJwt(h, json, signer.privateKey);
    }), 'E_FORMAT'),

  'payload nested 100 deep, properly signed -> E_FORMAT':
    badToken(rewriteIdToken(({ header: h, payload }) => {
      const json = JSON.stringify(payload).replace(/}$/, `,"deep":${'['.repeat(100)}${']'.repeat(100)}}`);
      return signJwt(h, json, signer.privateKey);
    }), 'E_FORMAT'),
  'payload not UTF-8, properly signed -> E_FORMAT':
    badToken(rewriteIdToken(({ header: h, payload }) => {
      const json = Buffer.concat([Buffer.from(JSON.stringify(payload).replace(/}$/, ',"x":"')),
        Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
      const input = `${b64json(h)}.${json.toString('base64url')}`;
      return `${input}.${crypto.sign('sha256', Buffer.from(input), signer.privateKey).toString('base64url')}`;
    }), 'E_FORMAT'),

  // ---- claims, signed with the provider's own key
  'wrong aud -> E_AUD':
    badToken(claims((p) => { p.aud = 'another-client'; }), 'E_AUD'),
  'aud with another audience and no azp -> E_AUD':
    badToken(claims((p) => { p.aud = [CLIENT_ID, 'another-client']; delete p.azp; }), 'E_AUD'),
  'azp naming another client -> E_AUD':
    badToken(claims((p) => { p.azp = 'another-client'; }), 'E_AUD'),
  'wrong iss (a trailing slash) -> E_ISS':
    badToken(claims((p) => { p.iss = `${p.iss}/`; }), 'E_ISS'),
  'iss missing -> E_ISS':
    badToken(claims((p) => { delete p.iss; }), 'E_ISS'),
  'expired exp -> E_EXP':
    badToken(claims((p) => { p.iat = now() - 7200; p.exp = now() - 3600; }), 'E_EXP'),
  'exp as a string -> E_EXP':
    badToken(claims((p) => { p.exp = String(now() + 3600); }), 'E_EXP'),
  'exp missing -> E_EXP':
    badToken(claims((p) => { delete p.exp; }), 'E_EXP'),
  'exp a boolean -> E_EXP':
    badToken(claims((p) => { p.exp = true; }), 'E_EXP'),
  'exp null -> E_EXP':
    badToken(claims((p) => { p.exp = null; }), 'E_EXP'),
  'exp an array -> E_EXP':
    badToken(claims((p) => { p.exp = [now() + 3600]; }), 'E_EXP'),
  'expired by half a second (a fraction rounds exp down) -> E_EXP':
    badToken(claims((p) => { p.iat = now() - 7200; p.exp = now() - 60 + 0.5; }), 'E_EXP'),
  'exp far beyond 2^53 -> E_EXP':
    badToken(claims((p) => { p.exp = 1e300; }), 'E_EXP'),
  'nbf an hour ahead -> E_NBF':
    badToken(claims((p) => { p.nbf = now() + 3600; }), 'E_NBF'),
  'iat an hour ahead -> E_IAT':
    badToken(claims((p) => { p.iat = now() + 3600; }), 'E_IAT'),
  'iat missing (OIDC Core 3.1.3.7 requires it) -> E_IAT':
    badToken(claims((p) => { delete p.iat; }), 'E_IAT'),
  'iat a string -> E_IAT':
    badToken(claims((p) => { p.iat = String(now()); }), 'E_IAT'),
  'an access token (typ at+jwt) passed as the ID token -> E_FORMAT':
    badToken(header((h) => { h.typ = 'at+jwt'; }), 'E_FORMAT'),
  'typ logout+jwt as the ID token -> E_FORMAT':
    badToken(header((h) => { h.typ = 'logout+jwt'; }), 'E_FORMAT'),
  'nonce changed -> E_NONCE':
    badToken(claims((p) => { p.nonce = `${p.nonce.slice(0, -1)}${p.nonce.endsWith('A') ? 'B' : 'A'}`; }), 'E_NONCE'),
  'nonce missing -> E_NONCE':
    badToken(claims((p) => { delete p.nonce; }), 'E_NONCE'),
  'sub missing -> E_SUB':
    badToken(claims((p) => { delete p.sub; }), 'E_SUB'),
  'sub a number -> E_SUB':
    badToken(claims((p) => { p.sub = 12345; }), 'E_SUB'),
  'sub id-alice with a NUL and more after it -> E_SUB':
    badToken(claims((p) => { p.sub = 'id-alice\u0000evil'; }), 'E_SUB'),
  'sub of 256 characters -> E_SUB':
    badToken(claims((p) => { p.sub = `id-alice${'x'.repeat(248)}`; }), 'E_SUB'),
  'sub with a line break and a forged log line -> E_SUB':
    badToken(claims((p) => {
      p.sub = 'id-alice\nzkauth-verifyd: info: login user="alice" sub="id-alice" result=granted reason=mapped';
    }), 'E_SUB'),
  'sub with quotes and a forged result=granted (log injection) -> wrong_user, one result in the line':
    {
      mode: claims((p) => { p.sub = 'id-bob" result=granted reason=mapped x="'; }),
      reason: 'wrong_user',
      says: SAYS_WRONG_USER,
      check: (proxy, daemon) => {
        const line = daemon.logs().split('\n').find((l) => /\blogin user="alice" /.test(l));
        assert.deepEqual(unquoted(line).match(/\bresult=\S+/g), ['result=denied'], line);
      },
    },
  'sub changed to id-bob (mapped to bob), signed by the provider -> wrong_user':
    { mode: claims((p) => { p.sub = 'id-bob'; }), reason: 'wrong_user', says: SAYS_WRONG_USER },
  'sub id-alice with a trailing space -> wrong_user':
    { mode: claims((p) => { p.sub = 'id-alice '; }), reason: 'wrong_user', says: SAYS_WRONG_USER },

  // ---- sizes
  'id_token over 16 KiB, properly signed -> E_SIZE':
    badToken(claims((p) => { p.pad = 'x'.repeat(JWT_MAX); }), 'E_SIZE'),
  'token response over 64 KiB -> refused as too large':
    providerError(rewriteJson((doc) => { doc.pad = 'x'.repeat(TOKEN_RESPONSE_MAX + 1024); }),
      'token_endpoint_unreachable', /token endpoint unreachable or answer too large/),

  'token response over 64 KiB, chunked (no Content-Length) -> refused as too large':
    providerError(async (ctx) => {
      const doc = (await ctx.forward()).json();
      return { status: 200, body: { ...doc, pad: 'x'.repeat(TOKEN_RESPONSE_MAX + 1024) }, chunked: true };
    }, 'token_endpoint_unreachable', /token endpoint unreachable or answer too large/),
  'token response gzip-encoded (unasked), 32 MiB once inflated -> not taken':
    {
      mode: async (ctx) => {
        const doc = (await ctx.forward()).text();
        const bomb = zlib.gzipSync(Buffer.concat([Buffer.from(doc.replace(/}$/, ',"pad":"')),
          Buffer.alloc(32 * 1024 * 1024, 0x78), Buffer.from('"}')]), { level: 9 });
        return { status: 200, body: bomb, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } };
      },
      result: 'error',
      says: SAYS_PROVIDER_DOWN,
      logs: [/result=error reason=(?:no_token|token_endpoint_unreachable)$/m],
    },

  // ---- a broken token endpoint
  'token endpoint: HTTP 500 -> error':
    providerError(reply(500, { error: 'server_error' }), 'token_endpoint_error', /token endpoint answered HTTP 500/),
  'token endpoint: HTTP 400 invalid_grant -> denied':
    { mode: reply(400, { error: 'invalid_grant' }), reason: 'invalid_grant', logs: [/refused the code \(invalid_grant\)/] },
  'token endpoint: redirect to an attacker URL -> error, not followed':
    providerError(withProxy((proxy) => ({
      token: reply(307, '', { location: proxy.host('/attacker/token', { status: 200, body: { id_token: 'x' } }) }),
    })), 'token_endpoint_error', /token endpoint answered HTTP 307/,
    { check: (proxy) => assert.equal(proxy.count('hosted'), 0, 'the daemon followed the redirect') }),
  'token endpoint: garbage, not JSON -> no_token':
    providerError(reply(200, '\u0000\u00ff}{ garbage', { 'content-type': 'application/json' }),
      'no_token', /token response has no id_token/),
  'token endpoint: an empty body -> no_token':
    providerError(reply(200, '', { 'content-type': 'application/json' }), 'no_token', /token response has no id_token/),
  'token endpoint: an HTML page -> no_token':
    providerError(reply(200, '<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>',
      { 'content-type': 'text/html' }), 'no_token', /token response has no id_token/),
  'token endpoint: JSON without id_token -> no_token':
    providerError(rewriteJson((doc) => { delete doc.id_token; }), 'no_token', /token response has no id_token/),
  'token endpoint: id_token not a string -> no_token':
    providerError(rewriteJson((doc) => { doc.id_token = { sub: 'id-alice' }; }), 'no_token', /token response has no id_token/),
  'token endpoint: the response in an array -> no_token':
    providerError(rewriteJson((doc) => [doc]), 'no_token', /token response has no id_token/),
  'token endpoint: connection reset -> error':
    providerError(reset(), 'token_endpoint_unreachable', /token endpoint unreachable/),
};

function b64json(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

// The public key as PEM (what an RS256/HS256 confusion would use as the secret).
function publicPem(key) {
  return crypto.createPublicKey(key.privateKey).export({ format: 'pem', type: 'spki' });
}

// The token endpoint answers, if at all, after the daemon's HTTP timeout.
async function tooSlow(t, handler) {
  const { proxy, daemon } = await setup(t);
  proxy.set({ token: handler });

  const pam = runPam({ daemon, user: 'alice', args: 'timeout=60' });
  t.after(() => pam.kill());
  const url = await pam.waitForUrl();
  const { callbackUrl, browser } = await approve(url, { login: 'id-alice', follow: false });
  const started = Date.now();
  // The daemon answers the browser only when the exchange is over, which
  // is as late as the browser stand-in gives up: open the callback here,
  // with the browser's confirmation cookie.
  const page = fetch(callbackUrl, {
    headers: { Cookie: browser.jar.header(callbackUrl) }, signal: AbortSignal.timeout(60000),
  }).then((r) => r.text(), (e) => e);
  pam.pressEnter();
  pam.endInput();
  const result = await pam.result();
  const took = Date.now() - started;
  await page;

  assert.notEqual(result.code, 0, result.output);
  assert.doesNotMatch(result.output, SUCCESS);
  assert.match(result.output, SAYS_PROVIDER_DOWN);
  await daemon.waitForLog(loginOutcomeRe('alice', 'error', 'token_endpoint_unreachable'));
  assert.ok(took >= HTTP_TIMEOUT_MS - 1000 && took < HTTP_TIMEOUT_MS + 5000, `verdict after ${took} ms`);

  proxy.reset();
  const good = await loginOnce(daemon);
  assert.equal(good.result.code, 0, `${good.result.output}\n--- daemon:\n${daemon.logs()}`);
  await daemon.waitForLog(GRANTED);
  await daemon.stop();
}

describe('a hostile provider', { concurrency: true }, () => {
  // These two wait out the daemon's 10 s HTTP timeout, meanwhile the rest runs.
  test('token endpoint answering after the HTTP timeout -> error after about 10 s', (t) => tooSlow(t,
    async (ctx) => ({ ...await ctx.forward(), delayMs: HTTP_TIMEOUT_MS + 3000 })));
  test('token endpoint dribbling one byte a second -> cut at the HTTP timeout', (t) => tooSlow(t,
    async (ctx) => ({ ...await ctx.forward(), dribbleMs: 1000 })));

  describe('each forgery is denied, then an honest login goes through', { concurrency: 1 }, () => {
    test('control: the proxy re-signs with the provider\'s key, nothing changed -> granted', async (t) => {
      const { proxy, daemon } = await setup(t);
      proxy.set({ token: claims(() => {}) });
      const { result } = await loginOnce(daemon);
      assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
      await daemon.waitForLog(GRANTED);
      assert.ok(proxy.count('token') === 1 && proxy.count('jwks') === 1, JSON.stringify(proxy.requests));
      await daemon.stop();
    });

    for (const [name, c] of Object.entries(CASES)) {
      test(name, (t) => deniedThenHonest(t, c));
    }
  });
});

// RFC 7519 2: a NumericDate may have a fraction; each rounds to the
// stricter side (exp down, iat and nbf up) and the token is good.
describe('NumericDate with fractions', { concurrency: 1 }, () => {
  for (const [name, edit] of [
    ['exp, iat and nbf with fractions', (p) => { p.exp = now() + 3600.5; p.iat = now() - 0.25; p.nbf = now() - 1.75; }],
    ['typ JWT in the header', null],
  ]) {
    test(`${name} -> granted`, async (t) => {
      const { proxy, daemon } = await setup(t);
      proxy.set({ token: edit ? claims(edit) : header((h) => { h.typ = 'JWT'; }) });
      const { result } = await loginOnce(daemon);
      assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
      await daemon.waitForLog(GRANTED);
      await daemon.stop();
    });
  }
});

// [accounts] require_groups: a valid token whose groups claim holds none of
// the listed groups is denied; one that holds any of them goes through.
describe('require_groups', { concurrency: 1 }, () => {
  const withGroups = (groups) => claims((c) => {
    if (groups === undefined) delete c.groups;
    else c.groups = groups;
  });
  const daemonOpts = { config: { accounts: { require_groups: 'ssh-users admins' } } };

  test('a listed group in the token -> granted', async (t) => {
    const { proxy, daemon } = await setup(t, daemonOpts);
    proxy.set({ token: withGroups(['staff', 'ssh-users']) });
    const { result } = await loginOnce(daemon);
    assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
    await daemon.waitForLog(GRANTED);
    await daemon.stop();
  });

  for (const [name, groups] of [['no listed group', ['staff', 'ssh-user']], ['no groups claim', undefined],
    ['groups not strings', [1, true]]]) {
    test(`${name} -> denied (E_GROUPS)`, async (t) => {
      const { proxy, daemon } = await setup(t, daemonOpts);
      proxy.set({ token: withGroups(groups) });
      const { result } = await loginOnce(daemon);
      assert.notEqual(result.code, 0, result.output);
      assert.doesNotMatch(result.output, SUCCESS);
      assert.match(result.output, /denied/);
      await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'E_GROUPS'));
      await daemon.stop();
    });
  }
});

// [provider] acr_values: asked for on the authorization request, and the
// token's acr must be one of them.
describe('acr_values', { concurrency: 1 }, () => {
  const withAcr = (acr) => claims((c) => {
    if (acr === undefined) delete c.acr;
    else c.acr = acr;
  });
  const daemonOpts = { config: { provider: { acr_values: 'urn:zk:mfa phr' } } };

  test('acr_values on the request; a listed acr -> granted', async (t) => {
    const { proxy, daemon } = await setup(t, daemonOpts);
    proxy.set({ token: withAcr('phr') });
    const pam = runPam({ daemon, user: 'alice' });
    t.after(() => pam.kill());
    const url = await pam.waitForUrl();
    const go = await continueUrl(url);
    assert.equal(go.searchParams.get('acr_values'), 'urn:zk:mfa phr');
    await approve(url, { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
    await daemon.waitForLog(GRANTED);
    await daemon.stop();
  });

  for (const [name, acr] of [['another acr', 'urn:zk:pwd'], ['no acr claim', undefined]]) {
    test(`${name} -> denied (E_ACR)`, async (t) => {
      const { proxy, daemon } = await setup(t, daemonOpts);
      proxy.set({ token: withAcr(acr) });
      const { result } = await loginOnce(daemon);
      assert.notEqual(result.code, 0, result.output);
      assert.doesNotMatch(result.output, SUCCESS);
      await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'E_ACR'));
      await daemon.stop();
    });
  }
});

// The daemon's issuer is the proxy: discovery goes through it. The real
// provider's document names the real issuer, which is not ours.
describe('a discovery document that speaks for another issuer', () => {
  async function viaProxy(t, rewrite) {
    const proxy = await startEvilProxy({ upstream: provider.issuer });
    t.after(() => proxy.stop());
    if (rewrite) {
      proxy.set({
        discovery: async ({ forward }) => {
          const doc = (await forward()).json();
          doc.issuer = rewrite(proxy.url);
          return { status: 200, body: doc };
        },
      });
    }
    const daemon = await startDaemon({ issuer: proxy.url });
    t.after(() => daemon.stop());
    return { proxy, daemon };
  }

  async function refused(t, daemon) {
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=10' });
    t.after(() => pam.kill());
    pam.pressEnter();
    pam.endInput();
    return pam.result(20000);
  }

  for (const [name, rewrite] of [
    ['the provider\'s own issuer, not the configured one', null],
    ['our issuer with a trailing slash', (u) => `${u}/`],
    ['our issuer in capitals', (u) => u.toUpperCase()],
  ]) {
    test(`${name}: the document is not used, no sign-in starts`, async (t) => {
      const { proxy, daemon } = await viaProxy(t, rewrite);
      const result = await refused(t, daemon);

      assert.notEqual(result.code, 0, result.output);
      assert.doesNotMatch(result.output, SUCCESS);
      assert.doesNotMatch(result.output, /^https?:\/\//m, 'no link is shown');
      assert.match(result.output, SAYS_PROVIDER_DOWN);
      await daemon.waitForLog(/discovery document names another issuer/);
      await daemon.waitForLog(loginOutcomeRe('alice', 'error', 'provider_unavailable'));
      assert.ok(proxy.count('discovery') >= 1, 'the daemon asked the proxy for the document');
      assert.doesNotMatch(daemon.logs(), /\bdiscovered\b/);
      assert.deepEqual(grantsIn(daemon.logs()), []);
    });
  }

  // PKCE (RFC 9700 2.1.1): a provider that lists its challenge methods
  // without S256 is not used; one that lists none is (many omit the list).
  for (const [name, methods, used] of [
    ['code_challenge_methods_supported without S256', ['plain'], false],
    ['an empty code_challenge_methods_supported', [], false],
    ['no code_challenge_methods_supported at all', undefined, true],
  ]) {
    test(`${name}: ${used ? 'used' : 'no sign-in starts'}`, async (t) => {
      const proxy = await startEvilProxy({ upstream: provider.issuer });
      t.after(() => proxy.stop());
      proxy.set({
        discovery: async ({ forward }) => {
          const doc = (await forward()).json();
          doc.issuer = proxy.url;
          if (methods === undefined) delete doc.code_challenge_methods_supported;
          else doc.code_challenge_methods_supported = methods;
          return { status: 200, body: doc };
        },
      });
      const daemon = await startDaemon({ issuer: proxy.url });
      t.after(() => daemon.stop());
      if (!used) {
        const result = await refused(t, daemon);
        assert.notEqual(result.code, 0, result.output);
        assert.doesNotMatch(result.output, /^https?:\/\//m, 'no link is shown');
        assert.match(result.output, SAYS_PROVIDER_DOWN);
        await daemon.waitForLog(/code_challenge_methods_supported does not list S256/);
        await daemon.waitForLog(loginOutcomeRe('alice', 'error', 'provider_unavailable'));
      } else {
        const pam = runPam({ daemon, user: 'alice', args: 'timeout=2' });
        t.after(() => pam.kill());
        await pam.waitForUrl();
        await daemon.waitForLog(/\bdiscovered\b/);
      }
    });
  }

  // The control: the same document naming our issuer exactly is used; the
  // provider's answer then names its real issuer (RFC 9207 iss, which the
  // document says it sends), which is not ours: a mix-up, refused before
  // any code is exchanged.
  test('our issuer exactly: discovered, and the provider\'s answer is refused (RFC 9207)', async (t) => {
    const { daemon } = await viaProxy(t, (u) => u);
    const { result } = await loginOnce(daemon);

    assert.notEqual(result.code, 0, result.output);
    await daemon.waitForLog(/\bdiscovered\b/);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'iss_mismatch'));
    assert.deepEqual(grantsIn(daemon.logs()), []);
  });
});
