// The emulators keep the contracts of the providers they stand for (the
// seed documents): checked here by hand, without zkauth, so that a failing
// end-to-end test points at the daemon and not at its stand-in provider.
//
//   node --test tests/emulators/

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { approve } from '../e2e/browser.mjs';
import { startProvider, sleep } from '../e2e/lib.mjs';
import { verifyJwt } from './common.mjs';
import { startZkauth } from './zkauth.mjs';
import { startZeroauth } from './zeroauth.mjs';

const REDIRECT = 'http://127.0.0.1:9/zkauth/callback';
const CLIENT = { client_id: 'app', client_secret: 'app-secret', redirect_uris: [REDIRECT] };

function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

async function json(url, init) {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

// Starts the CLI of an emulator; resolves with the text after "READY ".
function runCli(file, args) {
  const child = spawn(process.execPath, [fileURLToPath(new URL(file, import.meta.url)), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not say READY within 15 s: ${out}`));
    }, 15000);
    child.stdout.on('data', (c) => {
      out += c;
      const m = /^READY (.*)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, ready: m[1] });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited ${code}`));
    });
  });
}

describe('ZKAuth emulator', () => {
  let zk;
  before(async () => { zk = await startZkauth({ clients: [CLIENT] }); });
  after(() => zk.stop());

  function authorizeUrl(params) {
    const u = new URL(zk.authorizationEndpoint);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
    return u.href;
  }

  async function code(challenge, login = 'id-alice') {
    const { callbackUrl } = await approve(authorizeUrl({
      client_id: 'app', redirect_uri: REDIRECT, response_type: 'code', state: 's1', scope: 'profile',
      code_challenge: challenge, code_challenge_method: 'S256',
    }), { login, follow: false });
    const u = new URL(callbackUrl);
    assert.equal(u.origin + u.pathname, REDIRECT);
    assert.equal(u.searchParams.get('state'), 's1');
    return u.searchParams.get('code');
  }

  const token = (body, type = 'application/json') => json(zk.tokenEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': type },
    body: type === 'application/json' ? JSON.stringify(body) : new URLSearchParams(body).toString(),
  });

  test('authorize: an unknown redirect_uri gets an error page, never a redirect', async () => {
    const res = await fetch(authorizeUrl({
      client_id: 'app', redirect_uri: 'http://127.0.0.1:9/other', response_type: 'code', state: 's',
    }), { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
  });

  test('authorize: PKCE is required, S256 only', async () => {
    for (const [challenge, method] of [[undefined, undefined], [pkce().challenge, 'plain']]) {
      const res = await fetch(authorizeUrl({
        client_id: 'app', redirect_uri: REDIRECT, response_type: 'code', state: 's',
        code_challenge: challenge, code_challenge_method: method,
      }), { redirect: 'manual' });
      assert.equal(res.status, 302);
      const back = new URL(res.headers.get('location'));
      assert.equal(back.searchParams.get('error'), 'invalid_request');
      assert.equal(back.searchParams.get('state'), 's');
    }
  });

  test('token: JSON only; single use; bound to verifier and client; RS256 JWT', async () => {
    const { verifier, challenge } = pkce();
    const c = await code(challenge);
    const base = {
      grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT,
      client_id: 'app', client_secret: 'app-secret', code_verifier: verifier,
    };
    const form = await token(base, 'application/x-www-form-urlencoded');
    assert.equal(form.status, 400);
    assert.equal(form.body.error, 'invalid_request');
    assert.equal((await token({ ...base, client_secret: 'wrong' })).status, 401);

    const ok = await token(base);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(Object.keys(ok.body).sort(), ['access_token', 'expires_in', 'token_type']);
    assert.equal(ok.body.token_type, 'Bearer');
    assert.equal(ok.body.expires_in, 900);
    const jwks = (await json(zk.jwksUri)).body;
    const claims = verifyJwt(ok.body.access_token, jwks, { issuer: zk.issuer, audience: 'app' });
    assert.equal(claims.sub, 'id-alice');
    assert.ok(claims.iat && claims.exp - claims.iat === 900);
    const header = JSON.parse(Buffer.from(ok.body.access_token.split('.')[0], 'base64url'));
    assert.equal(header.alg, 'RS256');
    assert.equal(header.kid, jwks.keys[0].kid);
    assert.equal(zk.issuer, new URL(zk.tokenEndpoint).origin, 'iss is the api host');

    const replay = await token(base);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');

    const other = pkce();
    const c2 = await code(other.challenge);
    const bad = await token({ ...base, code: c2, code_verifier: verifier });
    assert.equal(bad.body.error, 'invalid_grant');
    const retried = await token({ ...base, code: c2, code_verifier: other.verifier });
    assert.equal(retried.body.error, 'invalid_grant', 'a code is spent by a failed attempt');
  });

  test('CLI: prints READY with the endpoints and serves the JWKS', async () => {
    const { child, ready } = await runCli('./zkauth.mjs', ['--redirect-uri', REDIRECT]);
    try {
      const info = JSON.parse(ready);
      assert.match(info.authorization_endpoint, /\/api\/oauth\/authorize$/);
      assert.match(info.token_endpoint, /\/api\/oauth\/token$/);
      const jwks = await json(info.jwks_uri);
      assert.equal(jwks.body.keys[0].alg, 'RS256');
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('ZeroAuth emulator', () => {
  const KEY = 'za_test_0123456789';
  const UPSTREAM = {
    client_id: 'za-up', client_secret: 'za-up-secret', token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: ['http://127.0.0.1/zkauth/callback'],
  };
  let provider;
  let za;
  before(async () => {
    provider = await startProvider({ config: { clients: [UPSTREAM] } });
    za = await startZeroauth({
      apiKey: KEY, upstream: { issuer: provider.issuer, ...UPSTREAM }, redirectUri: REDIRECT, audience: 'aud-1', stateTtl: 2,
    });
  });
  after(async () => {
    await za?.stop();
    await provider?.stop();
  });

  const start = (key = KEY) => json(`${za.base}/v1/auth/oidc/authorize`, { headers: { Authorization: `Bearer ${key}` } });
  const callback = (body, key = KEY) => json(`${za.base}/v1/auth/oidc/callback`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });

  test('authorize: the API key is required; the URL is the upstream with PKCE and nonce', async () => {
    assert.equal((await json(`${za.base}/v1/auth/oidc/authorize`)).status, 401);
    assert.equal((await start('za_wrong')).status, 401);
    const ok = await start();
    assert.equal(ok.status, 200);
    assert.match(ok.body.state, /^[0-9a-f-]{36}$/);
    const u = new URL(ok.body.authorizeUrl);
    assert.equal(u.origin, provider.issuer);
    assert.equal(u.searchParams.get('state'), ok.body.state);
    assert.equal(u.searchParams.get('redirect_uri'), REDIRECT);
    assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(u.searchParams.get('nonce'));
  });

  test('callback: code and a pending state; tokens; the state is used once', async () => {
    const { body: { authorizeUrl, state } } = await start();
    const { callbackUrl } = await approve(authorizeUrl, { login: 'id-alice', follow: false });
    const code = new URL(callbackUrl).searchParams.get('code');
    assert.equal(new URL(callbackUrl).searchParams.get('state'), state);

    assert.equal((await callback({ state })).status, 400);
    assert.equal((await callback({ code, state }, 'za_wrong')).status, 401);
    assert.equal((await callback({ code, state: crypto.randomUUID() })).status, 400);
    const ok = await callback({ code, state });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    for (const k of ['accessToken', 'refreshToken', 'tokenType', 'expiresIn', 'sessionId', 'provider']) {
      assert.ok(k in ok.body, k);
    }
    const jwks = (await json(za.jwksUri)).body;
    const claims = verifyJwt(ok.body.accessToken, jwks, { issuer: za.base, audience: 'aud-1' });
    assert.equal(claims.sub, 'id-alice');
    assert.throws(() => verifyJwt(ok.body.refreshToken, jwks, { issuer: za.base, audience: 'aud-1' }), /aud/);
    assert.equal((await callback({ code, state })).status, 400, 'the state is spent');
  });

  test('callback: a state older than its lifetime is refused', async () => {
    const { body: { authorizeUrl, state } } = await start();
    const { callbackUrl } = await approve(authorizeUrl, { login: 'id-alice', follow: false });
    await sleep(2100);
    const late = await callback({ code: new URL(callbackUrl).searchParams.get('code'), state });
    assert.equal(late.status, 400);
    assert.equal(late.body.error, 'invalid_state');
  });

  test('CLI: prints READY with the base URL', async () => {
    const { child, ready } = await runCli('./zeroauth.mjs', [
      '--upstream', provider.issuer, '--upstream-client-id', UPSTREAM.client_id,
      '--upstream-client-secret', UPSTREAM.client_secret, '--redirect-uri', REDIRECT, '--api-key', KEY,
    ]);
    try {
      assert.match(ready, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await json(`${ready}/.well-known/jwks.json`)).body.keys[0].alg, 'RS256');
    } finally {
      child.kill('SIGTERM');
    }
  });
});
