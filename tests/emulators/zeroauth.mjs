#!/usr/bin/env node
// An emulator of ZeroAuth's brokered OIDC API, written from its
// documentation (shared seed 002) for the end-to-end tests. ZeroAuth sits
// between its customer (here: zkauth-verifyd) and an upstream OpenID
// provider (here: the test provider, tests/provider/provider.mjs).
//
//   node zeroauth.mjs --upstream ISSUER --redirect-uri URI [--api-key KEY]...
//                     [--upstream-client-id ID] [--upstream-client-secret S]
//                     [--upstream-auth-method client_secret_basic|client_secret_post]
//                     [--audience AUD] [--state-ttl S] [--port N] [--verbose]
//
// Base URL: http://127.0.0.1:PORT. When it listens it prints "READY <base>";
// SIGTERM ends it.
//
// The contract, as the documentation states it:
//   - GET <base>/v1/auth/oidc/authorize with "Authorization: Bearer <API key>"
//     (key scope oidc:authorize) answers {authorizeUrl, state}. ZeroAuth
//     makes and keeps the PKCE verifier (S256) and the nonce; authorizeUrl is
//     the upstream's authorization endpoint with response_type=code,
//     client_id, redirect_uri, scope, state, code_challenge,
//     code_challenge_method=S256 and nonce. The redirect_uri is the one
//     registered with ZeroAuth (--redirect-uri), not a request parameter:
//     the upstream sends the browser there with ?code=...&state=...
//     Query parameters of this request are ignored.
//   - POST <base>/v1/auth/oidc/callback with the API key (scope oidc:callback)
//     and a JSON body {code, state}: code must be present, state must match
//     a pending authorization of the same API key and be at most 10 minutes
//     old (--state-ttl); a state is used once, whatever the outcome.
//     ZeroAuth exchanges the code upstream, verifies the ID token (signature
//     by the upstream JWKS, iss, aud, exp, nonce) and answers
//       {accessToken, refreshToken, tokenType:"Bearer", expiresIn:3600,
//        sessionId, provider:"oidc", dataStorageConfirmation:{...}}
//   - accessToken: a JWT signed by ZeroAuth's own RS256 key (kid in the
//     header), claims iss = the base URL, sub = the upstream sub, aud =
//     --audience (default "zeroauth"), iat, exp, jti, sid = sessionId,
//     provider, token_use = "access". refreshToken is signed by the same key
//     with token_use = "refresh" and aud "<audience>:refresh", so that it can
//     never pass for an access token.
//   - GET <base>/.well-known/jwks.json: ZeroAuth's public keys.
//   - errors (the documentation shows none): {error, error_description};
//     401 for a missing or wrong API key, 403 for a key without the scope,
//     400 for a bad request, a missing/unknown/expired state, or a code the
//     upstream refused (invalid_grant), 502 when the upstream is unreachable.
//
// As a module: startZeroauth(opts) -> { base, issuer, jwksUri, events, stop() }.

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import crypto from 'node:crypto';

import {
  HttpError, bearer, generateSigningKey, listen, mediaType, randomToken, readBody,
  runCli, safeEqual, sendJson, sha256b64url, signJwt, verifyJwt,
} from './common.mjs';

const SCOPE_AUTHORIZE = 'oidc:authorize';
const SCOPE_CALLBACK = 'oidc:callback';
const ACCESS_TTL = 3600;
const REFRESH_TTL = 30 * 24 * 3600;
const UPSTREAM_TIMEOUT_MS = 10000;

async function fetchJson(url, init = {}) {
  const res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

/*
 * Starts the emulator. opts: port (0: any), apiKeys: [{ key, scopes }]
 * (or apiKey: one key with both OIDC scopes), upstream: { issuer,
 * client_id, client_secret, token_endpoint_auth_method }, redirectUri,
 * scope ('openid email profile'), audience ('zeroauth'), stateTtl (600 s),
 * claims(claims) -> claims (a test hook on the accessToken), log.
 *
 * events lists what happened: { endpoint: 'authorize'|'callback', status,
 *   error?, sub? }.
 */
export async function startZeroauth(opts = {}) {
  const keys = [...(opts.apiKeys ?? [])];
  if (opts.apiKey) keys.push({ key: opts.apiKey, scopes: [SCOPE_AUTHORIZE, SCOPE_CALLBACK] });
  if (keys.length === 0) throw new Error('ZeroAuth needs at least one API key');
  const up = opts.upstream;
  if (!up?.issuer || !up.client_id) throw new Error('ZeroAuth needs upstream.issuer and upstream.client_id');
  if (!opts.redirectUri) throw new Error('ZeroAuth needs the redirectUri registered for the upstream flow');
  const scope = opts.scope ?? 'openid email profile';
  const audience = opts.audience ?? 'zeroauth';
  const stateTtl = opts.stateTtl ?? 600;
  const log = opts.log ?? (() => {});
  const signing = generateSigningKey('RS256', 'zeroauth');
  const pending = new Map(); // state -> { key, verifier, nonce, expiresAt }
  const events = [];

  const disc = await fetchJson(`${up.issuer}/.well-known/openid-configuration`);
  if (disc.status !== 200 || disc.body?.issuer !== up.issuer) {
    throw new Error(`upstream discovery at ${up.issuer} failed (HTTP ${disc.status})`);
  }
  const upstream = disc.body;

  function note(event) {
    events.push(event);
    log(JSON.stringify(event));
  }

  // The API key's entry, or an HttpError: 401 without a valid key, 403
  // when the key lacks scope.
  function authenticate(req, needed) {
    const presented = bearer(req);
    const entry = presented && keys.find((k) => safeEqual(presented, k.key));
    if (!entry) throw new HttpError(401, 'unauthorized', 'missing or invalid API key');
    if (!entry.scopes.includes(needed)) throw new HttpError(403, 'insufficient_scope', `the API key lacks scope ${needed}`);
    return entry;
  }

  function sweep() {
    const now = Date.now();
    for (const [s, p] of pending) if (p.expiresAt <= now) pending.delete(s);
  }

  function authorize(req, res) {
    const entry = authenticate(req, SCOPE_AUTHORIZE);
    sweep();
    const state = crypto.randomUUID();
    const verifier = randomToken(48);
    const nonce = randomToken(24);
    pending.set(state, { key: entry.key, verifier, nonce, expiresAt: Date.now() + stateTtl * 1000 });
    const u = new URL(upstream.authorization_endpoint);
    u.searchParams.set('response_type', 'code');
    u.searchParams.set('client_id', up.client_id);
    u.searchParams.set('redirect_uri', opts.redirectUri);
    u.searchParams.set('scope', scope);
    u.searchParams.set('state', state);
    u.searchParams.set('code_challenge', sha256b64url(verifier));
    u.searchParams.set('code_challenge_method', 'S256');
    u.searchParams.set('nonce', nonce);
    note({ endpoint: 'authorize', status: 200 });
    sendJson(res, 200, { authorizeUrl: u.href, state });
  }

  async function exchangeUpstream(code, flow) {
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: opts.redirectUri,
      code_verifier: flow.verifier,
    });
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
    if ((up.token_endpoint_auth_method ?? 'client_secret_basic') === 'client_secret_basic') {
      const id = encodeURIComponent(up.client_id);
      const secret = encodeURIComponent(up.client_secret ?? '');
      headers.Authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    } else {
      form.set('client_id', up.client_id);
      if (up.client_secret) form.set('client_secret', up.client_secret);
    }
    let answer;
    try {
      answer = await fetchJson(upstream.token_endpoint, { method: 'POST', headers, body: form.toString() });
    } catch (err) {
      throw new HttpError(502, 'upstream_unavailable', `the identity provider is unreachable: ${err.message}`);
    }
    if (answer.status !== 200 || typeof answer.body?.id_token !== 'string') {
      const why = answer.body?.error ?? `HTTP ${answer.status}`;
      throw new HttpError(400, 'invalid_grant', `the identity provider refused the code (${why})`);
    }
    let jwks;
    try {
      jwks = (await fetchJson(upstream.jwks_uri)).body;
    } catch (err) {
      throw new HttpError(502, 'upstream_unavailable', `the identity provider's keys are unreachable: ${err.message}`);
    }
    try {
      return verifyJwt(answer.body.id_token, jwks ?? {}, {
        issuer: up.issuer, audience: up.client_id, nonce: flow.nonce,
      });
    } catch (err) {
      throw new HttpError(401, 'invalid_id_token', `the identity provider's ID token is invalid: ${err.message}`);
    }
  }

  async function callback(req, res) {
    const entry = authenticate(req, SCOPE_CALLBACK);
    const text = await readBody(req);
    if (mediaType(req) !== 'application/json') {
      throw new HttpError(400, 'invalid_request', 'the body must be JSON (Content-Type: application/json)');
    }
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'invalid_request', 'the body is not valid JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new HttpError(400, 'invalid_request', 'the body must be a JSON object');
    }
    if (typeof body.code !== 'string' || body.code === '') throw new HttpError(400, 'invalid_request', 'code must be present');
    if (typeof body.state !== 'string' || body.state === '') throw new HttpError(400, 'invalid_state', 'state must be present');
    const flow = pending.get(body.state);
    if (!flow || flow.key !== entry.key) {
      throw new HttpError(400, 'invalid_state', 'state does not match a pending authorization request');
    }
    pending.delete(body.state);
    if (flow.expiresAt <= Date.now()) throw new HttpError(400, 'invalid_state', 'the authorization request has expired');

    const idClaims = await exchangeUpstream(body.code, flow);
    const now = Math.floor(Date.now() / 1000);
    const sessionId = crypto.randomUUID();
    let claims = {
      iss: base,
      sub: idClaims.sub,
      aud: audience,
      iat: now,
      exp: now + ACCESS_TTL,
      jti: crypto.randomUUID(),
      sid: sessionId,
      provider: 'oidc',
      token_use: 'access',
    };
    if (opts.claims) claims = opts.claims(claims);
    const refreshToken = signJwt(signing, {
      iss: base, sub: idClaims.sub, aud: `${audience}:refresh`, iat: now, exp: now + REFRESH_TTL,
      jti: crypto.randomUUID(), sid: sessionId, token_use: 'refresh',
    });
    note({ endpoint: 'callback', status: 200, sub: idClaims.sub });
    sendJson(res, 200, {
      accessToken: signJwt(signing, claims),
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: ACCESS_TTL,
      sessionId,
      provider: 'oidc',
      dataStorageConfirmation: {
        biometricDataStored: false,
        message: 'Zero biometric data stored. Ever.',
      },
    });
  }

  const srv = await listen(opts.port ?? 0, async (req, res, url) => {
    log(`${req.method} ${url.pathname}`);
    const endpoint = url.pathname === '/v1/auth/oidc/authorize' ? 'authorize'
      : url.pathname === '/v1/auth/oidc/callback' ? 'callback' : null;
    try {
      if (endpoint === 'authorize' && req.method === 'GET') return authorize(req, res);
      if (endpoint === 'callback' && req.method === 'POST') return await callback(req, res);
    } catch (err) {
      note({ endpoint, status: err.status ?? 500, error: err.error ?? 'server_error' });
      throw err;
    }
    if (url.pathname === '/.well-known/jwks.json' && req.method === 'GET') {
      return sendJson(res, 200, { keys: [signing.publicJwk] }, { 'Cache-Control': 'public, max-age=300' });
    }
    if (endpoint) {
      return sendJson(res, 405, { error: 'method_not_allowed', error_description: `${req.method} is not allowed here` });
    }
    return sendJson(res, 404, { error: 'not_found', error_description: `no route ${req.method} ${url.pathname}` });
  }, { onError: (req, url, err) => log(`${req.method} ${url.pathname}: ${err.message}`) });
  const base = srv.origin;

  return {
    base,
    issuer: base,
    jwksUri: `${base}/.well-known/jwks.json`,
    events,
    stop: () => srv.close(),
  };
}

// ------------------------------------------------------------------- CLI

function cliOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      'api-key': { type: 'string', multiple: true },
      upstream: { type: 'string' },
      'upstream-client-id': { type: 'string' },
      'upstream-client-secret': { type: 'string' },
      'upstream-auth-method': { type: 'string' },
      'redirect-uri': { type: 'string' },
      audience: { type: 'string' },
      scope: { type: 'string' },
      'state-ttl': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    const text = fs.readFileSync(new URL(import.meta.url), 'utf8');
    const usage = text.split('\n').slice(1).filter((l) => l.startsWith('//'));
    process.stdout.write(`${usage.map((l) => l.replace(/^\/\/ ?/, '')).join('\n')}\n`);
    process.exit(0);
  }
  return {
    port: Number(values.port ?? 0),
    apiKeys: (values['api-key'] ?? ['za_test_key'])
      .map((key) => ({ key, scopes: [SCOPE_AUTHORIZE, SCOPE_CALLBACK] })),
    upstream: {
      issuer: values.upstream,
      client_id: values['upstream-client-id'] ?? 'zkauth-test',
      client_secret: values['upstream-client-secret'] ?? 'zkauth-test-secret',
      token_endpoint_auth_method: values['upstream-auth-method'] ?? 'client_secret_basic',
    },
    redirectUri: values['redirect-uri'],
    audience: values.audience,
    scope: values.scope,
    stateTtl: values['state-ttl'] === undefined ? undefined : Number(values['state-ttl']),
    log: values.verbose ? (line) => process.stderr.write(`zeroauth: ${line}\n`) : undefined,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCli(() => startZeroauth(cliOptions(process.argv.slice(2))), (emu) => emu.base);
}
