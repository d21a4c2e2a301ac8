// The test provider and the browser stand-in on their own, with a small
// relying party written here: what the daemon relies on when it talks to
// the provider (discovery, PKCE S256, client_secret_basic, an ID token with
// nonce, auth_time and sub = the login name, key rotation). When the login
// tests fail, this tells whether the cause is on this side.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { approve, Browser } from './browser.mjs';
import { CLIENT_ID, CLIENT_SECRET, startProvider } from './lib.mjs';

const REDIRECT_URI = 'http://127.0.0.1:45678/zkauth/callback';

function b64url(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

async function discover(issuer) {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  return res.json();
}

function authorizationUrl(meta, { verifier, state, nonce, pkce = true, extra = {} }) {
  const u = new URL(meta.authorization_endpoint);
  u.searchParams.set('client_id', CLIENT_ID);
  u.searchParams.set('redirect_uri', REDIRECT_URI);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('scope', 'openid');
  u.searchParams.set('state', state);
  u.searchParams.set('nonce', nonce);
  if (pkce) {
    u.searchParams.set('code_challenge', b64url(crypto.createHash('sha256').update(verifier).digest()));
    u.searchParams.set('code_challenge_method', 'S256');
  }
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
  return u.href;
}

async function exchange(meta, code, verifier) {
  const basic = Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
    }),
  });
  return { status: res.status, body: await res.json() };
}

// Verifies a JWT against the provider's JWKS; returns { header, claims }.
async function verifyJwt(meta, jwt) {
  const [h, p, s] = jwt.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const jwks = await (await fetch(meta.jwks_uri)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} is in the JWKS`);
  assert.equal(jwk.d, undefined, 'the JWKS publishes no private parts');
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  const hash = { RS256: 'sha256', PS256: 'sha256', ES256: 'sha256', EdDSA: null }[header.alg];
  const keyOpts = header.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' }
    : header.alg === 'PS256' ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key;
  assert.ok(crypto.verify(hash, data, keyOpts, sig), 'signature verifies');
  return { header, claims: JSON.parse(Buffer.from(p, 'base64url')) };
}

// One whole login as a relying party would do it.
async function login(issuer, name, { deny = false, pkce = true, extra } = {}) {
  const meta = await discover(issuer);
  const verifier = b64url(crypto.randomBytes(32));
  const state = b64url(crypto.randomBytes(16));
  const nonce = b64url(crypto.randomBytes(16));
  const { callbackUrl } = await approve(authorizationUrl(meta, { verifier, state, nonce, pkce, extra }),
    { login: name, deny, follow: false });
  const cb = new URL(callbackUrl);
  return { meta, verifier, state, nonce, cb };
}

describe('test provider (RS256)', () => {
  let provider;
  before(async () => { provider = await startProvider(); });
  after(async () => { await provider?.stop(); });

  test('discovery names the issuer and S256', async () => {
    const meta = await discover(provider.issuer);
    assert.match(provider.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(meta.issuer, provider.issuer);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.ok(meta.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
  });

  test('code + PKCE login gives an ID token for the typed login', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { meta, verifier, state, nonce, cb } = await login(provider.issuer, 'id-alice');
    assert.equal(`${cb.origin}${cb.pathname}`, REDIRECT_URI);
    assert.equal(cb.searchParams.get('state'), state);
    assert.equal(cb.searchParams.get('iss'), provider.issuer);
    const code = cb.searchParams.get('code');
    assert.ok(code);

    const { status, body } = await exchange(meta, code, verifier);
    assert.equal(status, 200, JSON.stringify(body));
    const { header, claims } = await verifyJwt(meta, body.id_token);
    assert.equal(header.alg, 'RS256');
    assert.equal(claims.iss, provider.issuer);
    assert.equal(claims.aud, CLIENT_ID);
    assert.equal(claims.sub, 'id-alice');
    assert.equal(claims.nonce, nonce);
    assert.ok(claims.auth_time >= before - 1 && claims.auth_time <= claims.iat);
    assert.ok(claims.exp > claims.iat);

    const again = await exchange(meta, code, verifier);
    assert.equal(again.status, 400, 'a code is single use');
    assert.equal(again.body.error, 'invalid_grant');
  });

  test('a consent prompt is answered without a page', async () => {
    // Signed in once, the same browser asks again with prompt=consent:
    // no login form, the consent interaction grants and redirects.
    const meta = await discover(provider.issuer);
    const browser = new Browser();
    const verifier = b64url(crypto.randomBytes(32));
    const params = { verifier, state: 'st', nonce: 'n1' };
    let res = await browser.request(authorizationUrl(meta, params));
    res = await browser.request(res.location);
    const form = res.body.match(/action="([^"]*\/login)"/)[1];
    res = await browser.request(new URL(form, res.url).href, { method: 'POST', form: { login: 'id-alice' } });
    while (res.location.startsWith(provider.issuer)) res = await browser.request(res.location);
    assert.ok(new URL(res.location).searchParams.get('code'));

    res = await browser.request(authorizationUrl(meta, { ...params, extra: { prompt: 'consent' } }));
    const hops = [];
    while (res.location.startsWith(provider.issuer)) {
      hops.push(new URL(res.location).pathname);
      assert.notEqual(res.status, 200, 'no page on the way');
      res = await browser.request(res.location);
    }
    assert.ok(hops.some((h) => h.startsWith('/interaction/')), `went through an interaction: ${hops}`);
    const code = new URL(res.location).searchParams.get('code');
    const { status, body } = await exchange(meta, code, verifier);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal((await verifyJwt(meta, body.id_token)).claims.sub, 'id-alice');
  });

  test('a wrong code_verifier is refused', async () => {
    const { meta, cb } = await login(provider.issuer, 'id-bob');
    const { status, body } = await exchange(meta, cb.searchParams.get('code'), b64url(crypto.randomBytes(32)));
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_grant');
  });

  test('PKCE is required', async () => {
    const meta = await discover(provider.issuer);
    const url = authorizationUrl(meta, { state: 's'.repeat(22), nonce: 'n', pkce: false });
    const res = await fetch(url, { redirect: 'manual' });
    // Refused before any sign-in page, back at the redirect_uri.
    assert.equal(res.status, 303);
    const back = new URL(res.headers.get('location'));
    assert.equal(`${back.origin}${back.pathname}`, REDIRECT_URI);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description'), /PKCE/);
  });

  test('Deny ends with access_denied at the redirect_uri', async () => {
    const { cb, state } = await login(provider.issuer, undefined, { deny: true });
    assert.equal(cb.searchParams.get('error'), 'access_denied');
    assert.equal(cb.searchParams.get('state'), state);
    assert.equal(cb.searchParams.get('code'), null);
  });

  test('keys rotate through the admin endpoint', async () => {
    const pub = await provider.rotate({ generate: ['ES256'] });
    assert.equal(pub.keys.length, 1);
    assert.equal(pub.keys[0].d, undefined);
    const { meta, verifier, nonce, cb } = await login(provider.issuer, 'id-alice');
    const { body } = await exchange(meta, cb.searchParams.get('code'), verifier);
    const { header, claims } = await verifyJwt(meta, body.id_token);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, pub.keys[0].kid);
    assert.equal(claims.nonce, nonce);
  });
});

describe('test provider (EdDSA key)', () => {
  let provider;
  before(async () => { provider = await startProvider({ algs: ['EdDSA'] }); });
  after(async () => { await provider?.stop(); });

  test('the ID token is signed with EdDSA', async () => {
    const { meta, verifier, cb } = await login(provider.issuer, 'id-alice');
    const { body } = await exchange(meta, cb.searchParams.get('code'), verifier);
    const { header, claims } = await verifyJwt(meta, body.id_token);
    assert.equal(header.alg, 'EdDSA');
    assert.equal(claims.sub, 'id-alice');
  });
});
