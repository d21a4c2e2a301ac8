#!/usr/bin/env node
// An emulator of ZKAuth, the primary provider of zkauth, written from the
// integration guide (shared seeds 000 and 001) for the end-to-end tests.
//
//   node zkauth.mjs [--port N] [--api-port N] [--issuer URL]
//                   [--client-id ID] [--client-secret S] [--redirect-uri URI]...
//                   [--code-ttl S] [--config FILE] [--verbose]
//
// Like the real service it has two hosts (two ports on 127.0.0.1):
//   "auth" (auth.zkauth.tech):  GET  /api/oauth/authorize   and the sign-in page
//   "api"  (api.zkauth.tech):   POST /api/oauth/token        (JSON body only)
//                               GET  /.well-known/jwks.json
// The issuer, the iss of every access token, is the api origin unless
// --issuer says otherwise. When it listens it prints one line,
//   READY {"issuer":..., "authorization_endpoint":..., "token_endpoint":..., "jwks_uri":...}
// and SIGTERM ends it.
//
// The contract, as the guide states it:
//   - authorize: client_id, redirect_uri (exactly a registered one),
//     response_type=code, state (required), scope (optional),
//     code_challenge + code_challenge_method=S256. PKCE is enforced for
//     every client here (the guide: "Public: Yes"; the daemon always sends it).
//     An unknown client or redirect_uri gets an error page, never a redirect;
//     other errors go back to the redirect_uri as error=...&state=...
//   - the sign-in page has a field "login" (the subject: sub is exactly the
//     login typed) with a Sign-in button, and a Deny button
//     (error=access_denied). Sign-in redirects to redirect_uri?code=...&state=...
//   - codes are short-lived (60 s, --code-ttl) and single use, bound to
//     client_id, redirect_uri and code_challenge.
//   - token: POST with Content-Type application/json only (a form body is
//     refused with 400 invalid_request), fields grant_type=authorization_code,
//     code, redirect_uri, client_id, client_secret (always required: the
//     guide's "current client_secret requirement"), code_verifier.
//     Answers {access_token, token_type:"Bearer", expires_in:900}: no
//     id_token, no refresh_token. access_token is an RS256 JWT with kid in
//     the header and claims iss, sub, aud (= client_id), iat, exp, jti,
//     client_id, scope.
//   - errors of the token endpoint: {error, error_description} with 400
//     (invalid_request, unsupported_grant_type, invalid_grant) or 401
//     (invalid_client), as the guide names no other shape.
//
// Config file (JSON, every key optional; the command line wins):
//   { "port": 0, "apiPort": 0, "issuer": URL, "codeTtl": 60,
//     "clients": [ { "client_id", "client_secret", "redirect_uris": [...] } ] }
//
// As a module: startZkauth(opts) -> { issuer, authorizationEndpoint,
//   tokenEndpoint, jwksUri, events, addClient(c), rotateKey(), stop() }.

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

import {
  escapeHtml, generateSigningKey, listen, mediaType, page, queryParams,
  randomToken, readBody, redirect, runCli, safeEqual, sendHtml, sendJson, sha256b64url, signJwt,
} from './common.mjs';

const ACCESS_TOKEN_TTL = 900;
const INTERACTION_TTL = 600;
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const TOKEN_FIELDS = ['grant_type', 'code', 'redirect_uri', 'client_id', 'client_secret', 'code_verifier'];

/*
 * Starts the emulator. opts: port, apiPort (0: any), issuer (default: the
 * api origin), clients [{ client_id, client_secret, redirect_uris }],
 * codeTtl (s), claims(claims) -> claims (a test hook that may change the
 * access token's claims), log (function for one line per request).
 *
 * events lists what happened, for the tests to look at:
 *   { endpoint: 'authorize'|'login'|'deny'|'token', status, error?, client_id?,
 *     contentType?, sub? }
 */
export async function startZkauth(opts = {}) {
  const clients = new Map();
  const interactions = new Map(); // id -> authorization request
  const codes = new Map(); // code -> grant
  const events = [];
  const codeTtl = opts.codeTtl ?? 60;
  const log = opts.log ?? (() => {});
  // ZKAuth signs with RS256; alg lets a test make it misbehave.
  const alg = opts.alg ?? 'RS256';
  let key = generateSigningKey(alg, 'zkauth');
  let retired = [];

  function addClient(c) {
    if (!c.client_id || !c.client_secret || !Array.isArray(c.redirect_uris) || c.redirect_uris.length === 0) {
      throw new Error('a ZKAuth client needs client_id, client_secret and redirect_uris');
    }
    clients.set(c.client_id, { ...c });
  }
  for (const c of opts.clients ?? []) addClient(c);

  function note(event) {
    events.push(event);
    log(JSON.stringify(event));
  }

  function sweep() {
    const now = Date.now();
    for (const [k, v] of interactions) if (v.expiresAt <= now) interactions.delete(k);
    for (const [k, v] of codes) if (v.expiresAt <= now) codes.delete(k);
  }

  // ------------------------------------------------------------ auth host

  function backWithError(res, request, error, description) {
    const u = new URL(request.redirect_uri);
    u.searchParams.set('error', error);
    u.searchParams.set('error_description', description);
    if (request.state) u.searchParams.set('state', request.state);
    redirect(res, u.href);
  }

  function authorize(req, res, url) {
    let q;
    try {
      q = queryParams(url);
    } catch (err) {
      note({ endpoint: 'authorize', status: 400, error: 'invalid_request' });
      return sendHtml(res, 400, page('Sign-in error', `<p>invalid_request: ${escapeHtml(err.message)}</p>`));
    }
    const client = clients.get(q.client_id ?? '');
    // Without a known client and its exact redirect_uri nothing may be
    // sent back: an error page, never a redirect.
    if (!client || !q.redirect_uri || !client.redirect_uris.includes(q.redirect_uri)) {
      const why = !client ? 'unknown client_id' : 'redirect_uri is not registered for this client';
      note({ endpoint: 'authorize', status: 400, error: client ? 'invalid_redirect_uri' : 'invalid_client', client_id: q.client_id });
      return sendHtml(res, 400, page('Sign-in error', `<p>${escapeHtml(why)}</p>`));
    }
    const request = {
      client_id: q.client_id,
      redirect_uri: q.redirect_uri,
      state: q.state,
      scope: q.scope ?? '',
      code_challenge: q.code_challenge,
    };
    let error;
    if (q.response_type !== 'code') error = ['unsupported_response_type', 'response_type must be code'];
    else if (!q.state) error = ['invalid_request', 'state is required'];
    else if (!q.code_challenge) error = ['invalid_request', 'code_challenge is required (PKCE)'];
    else if (q.code_challenge_method !== 'S256') error = ['invalid_request', 'code_challenge_method must be S256'];
    else if (!CHALLENGE.test(q.code_challenge)) error = ['invalid_request', 'code_challenge is not an S256 challenge'];
    if (error) {
      note({ endpoint: 'authorize', status: 302, error: error[0], client_id: q.client_id });
      return backWithError(res, request, ...error);
    }

    sweep();
    const id = randomToken(16);
    interactions.set(id, { ...request, expiresAt: Date.now() + INTERACTION_TTL * 1000 });
    note({ endpoint: 'authorize', status: 200, client_id: q.client_id });
    return sendHtml(res, 200, page('ZKAuth Identity', `
<p>Sign in to continue to <b>${escapeHtml(client.client_id)}</b>.</p>
<form method="post" action="/interaction/${id}/login" autocomplete="off">
  <label>Login <input type="text" name="login" required autofocus></label>
  <button type="submit">Sign-in</button>
</form>
<form method="post" action="/interaction/${id}/abort">
  <button type="submit">Deny</button>
</form>`));
  }

  async function interaction(req, res, id, action) {
    const body = new URLSearchParams(await readBody(req));
    sweep();
    const request = interactions.get(id);
    if (!request) {
      return sendHtml(res, 400, page('Sign-in error', '<p>This sign-in request is unknown or expired.</p>'));
    }
    if (action === 'abort') {
      interactions.delete(id);
      note({ endpoint: 'deny', status: 302, client_id: request.client_id });
      return backWithError(res, request, 'access_denied', 'the user denied the request');
    }
    const login = body.get('login') ?? '';
    if (login === '') return sendHtml(res, 400, page('ZKAuth Identity', '<p>Type a login name.</p>'));
    interactions.delete(id);
    const code = randomToken(32);
    codes.set(code, {
      client_id: request.client_id,
      redirect_uri: request.redirect_uri,
      code_challenge: request.code_challenge,
      scope: request.scope,
      sub: login,
      expiresAt: Date.now() + codeTtl * 1000,
    });
    note({ endpoint: 'login', status: 302, client_id: request.client_id, sub: login });
    const u = new URL(request.redirect_uri);
    u.searchParams.set('code', code);
    u.searchParams.set('state', request.state);
    return redirect(res, u.href);
  }

  const auth = await listen(opts.port ?? 0, async (req, res, url) => {
    log(`auth: ${req.method} ${url.pathname}`);
    if (url.pathname === '/api/oauth/authorize' && (req.method === 'GET' || req.method === 'HEAD')) {
      return authorize(req, res, url);
    }
    const m = /^\/interaction\/([A-Za-z0-9_-]+)\/(login|abort)$/.exec(url.pathname);
    if (m && req.method === 'POST') return interaction(req, res, m[1], m[2]);
    return sendHtml(res, 404, page('Not found', ''));
  }, { onError: (req, url, err) => log(`auth: ${req.method} ${url.pathname}: ${err.message}`) });

  // ------------------------------------------------------------- api host

  let issuer = opts.issuer;

  async function token(req, res) {
    const contentType = mediaType(req);
    const event = { endpoint: 'token', contentType };
    const fail = (status, error, description) => {
      Object.assign(event, { status, error });
      note(event);
      sendJson(res, status, { error, error_description: description });
    };
    const text = await readBody(req);
    if (contentType !== 'application/json') {
      return fail(400, 'invalid_request', 'the token request must be a JSON body (Content-Type: application/json)');
    }
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      return fail(400, 'invalid_request', 'the body is not valid JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return fail(400, 'invalid_request', 'the body must be a JSON object');
    }
    for (const f of TOKEN_FIELDS) {
      if (body[f] !== undefined && typeof body[f] !== 'string') {
        return fail(400, 'invalid_request', `${f} must be a string`);
      }
    }
    event.client_id = body.client_id;
    if (body.grant_type !== 'authorization_code') {
      return fail(400, 'unsupported_grant_type', 'grant_type must be authorization_code');
    }
    const client = clients.get(body.client_id ?? '');
    if (!client || !safeEqual(body.client_secret ?? '', client.client_secret)) {
      return fail(401, 'invalid_client', 'client authentication failed');
    }
    if (!body.code) return fail(400, 'invalid_request', 'code is required');
    if (!body.redirect_uri) return fail(400, 'invalid_request', 'redirect_uri is required');

    sweep();
    const grant = codes.get(body.code);
    // Single use: whatever happens next, this code is spent.
    codes.delete(body.code);
    if (!grant || grant.expiresAt <= Date.now()) return fail(400, 'invalid_grant', 'the code is invalid, expired or used');
    if (grant.client_id !== body.client_id) return fail(400, 'invalid_grant', 'the code was issued to another client');
    if (grant.redirect_uri !== body.redirect_uri) return fail(400, 'invalid_grant', 'redirect_uri does not match');
    if (!body.code_verifier) return fail(400, 'invalid_grant', 'code_verifier is required (PKCE)');
    if (!VERIFIER.test(body.code_verifier) || sha256b64url(body.code_verifier) !== grant.code_challenge) {
      return fail(400, 'invalid_grant', 'code_verifier does not match the code_challenge');
    }

    const now = Math.floor(Date.now() / 1000);
    let claims = {
      iss: issuer,
      sub: grant.sub,
      aud: grant.client_id,
      iat: now,
      exp: now + ACCESS_TOKEN_TTL,
      jti: randomToken(16),
      client_id: grant.client_id,
      scope: grant.scope,
    };
    if (opts.claims) claims = opts.claims(claims);
    Object.assign(event, { status: 200, sub: grant.sub });
    note(event);
    return sendJson(res, 200, {
      access_token: signJwt(key, claims),
      token_type: 'Bearer',
      expires_in: ACCESS_TOKEN_TTL,
    });
  }

  const api = await listen(opts.apiPort ?? 0, async (req, res, url) => {
    log(`api: ${req.method} ${url.pathname}`);
    if (url.pathname === '/api/oauth/token') {
      if (req.method !== 'POST') {
        return sendJson(res, 405, { error: 'invalid_request', error_description: 'use POST' }, { Allow: 'POST' });
      }
      return token(req, res);
    }
    if (url.pathname === '/.well-known/jwks.json' && req.method === 'GET') {
      return sendJson(res, 200, { keys: [key.publicJwk, ...retired.map((k) => k.publicJwk)] },
        { 'Cache-Control': 'public, max-age=300' });
    }
    return sendJson(res, 404, { error: 'not_found', error_description: `no route ${req.method} ${url.pathname}` });
  }, { onError: (req, url, err) => log(`api: ${req.method} ${url.pathname}: ${err.message}`) });

  issuer ??= api.origin;

  return {
    issuer,
    authOrigin: auth.origin,
    apiOrigin: api.origin,
    authorizationEndpoint: `${auth.origin}/api/oauth/authorize`,
    tokenEndpoint: `${api.origin}/api/oauth/token`,
    jwksUri: `${api.origin}/.well-known/jwks.json`,
    events,
    addClient,
    // A new signing key; the old one stays in the JWKS (retired) unless drop.
    rotateKey({ drop = false } = {}) {
      if (!drop) retired = [key, ...retired].slice(0, 2);
      key = generateSigningKey(alg, 'zkauth');
      return key.kid;
    },
    async stop() {
      await Promise.all([auth.close(), api.close()]);
    },
  };
}

// ------------------------------------------------------------------- CLI

function cliOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      'api-port': { type: 'string' },
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'code-ttl': { type: 'string' },
      config: { type: 'string' },
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
  const file = values.config ? JSON.parse(fs.readFileSync(values.config, 'utf8')) : {};
  const clients = [...(file.clients ?? [])];
  if (values['client-id'] || clients.length === 0) {
    clients.push({
      client_id: values['client-id'] ?? 'zkauth-test',
      client_secret: values['client-secret'] ?? 'zkauth-test-secret',
      redirect_uris: values['redirect-uri'] ?? ['http://127.0.0.1:8443/zkauth/callback'],
    });
  }
  return {
    port: Number(values.port ?? file.port ?? 0),
    apiPort: Number(values['api-port'] ?? file.apiPort ?? 0),
    issuer: values.issuer ?? file.issuer,
    codeTtl: Number(values['code-ttl'] ?? file.codeTtl ?? 60),
    clients,
    log: values.verbose ? (line) => process.stderr.write(`zkauth: ${line}\n`) : undefined,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCli(() => startZkauth(cliOptions(process.argv.slice(2))), (emu) => JSON.stringify({
    issuer: emu.issuer,
    authorization_endpoint: emu.authorizationEndpoint,
    token_endpoint: emu.tokenEndpoint,
    jwks_uri: emu.jwksUri,
  }));
}
