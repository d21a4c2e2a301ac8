#!/usr/bin/env node
// A real OpenID Connect provider (the npm package oidc-provider) on
// 127.0.0.1, for the zkauth end-to-end tests and the demo.
//
//   node provider.mjs [--port N] [--config FILE] [--keys FILE] [--alg ALG]...
//                     [--client-id ID] [--client-secret S] [--redirect-uri URI]...
//                     [--auth-method M] [--tls-cert FILE --tls-key FILE] [--verbose]
//
// The issuer is http://127.0.0.1:PORT (port 0 picks a free one); when it
// listens it prints "READY <issuer>" on stdout. SIGTERM ends it.
//
// TLS: with --tls-cert FILE --tls-key FILE (PEM; the certificate file may
// hold the chain after the leaf), or "tls": {"cert": FILE, "key": FILE} in
// the config file, it serves https on 127.0.0.1 and the issuer is
// https://127.0.0.1:PORT. Clients then need the CA that signed the
// certificate. A client coming back to an https redirect URI on loopback
// must register it with its port and "application_type": "web" (the
// loopback port-agnostic match of RFC 8252 is for http only).
//
// Whoever signs in at the login form becomes the subject: sub is exactly
// the login name typed there. The requested scopes are granted without a
// consent screen. The "Deny" button ends the request with access_denied.
//
// Signing keys are generated at start (RS256 unless --alg says otherwise)
// or read from --keys FILE, a JWKS with private keys; the first key of an
// algorithm signs. Keys can be rotated while running:
//   - SIGHUP reads --keys FILE again, or generates fresh keys;
//   - POST /_admin/keys with {"keys":[private JWKs]} or {"generate":["ES256"]}
//     installs those keys, and answers with the public JWKS.
// Sessions, codes and grants live in memory and survive a rotation.
//
// The config file is JSON; every key is optional and the command line wins:
//   { "port": 0, "keys": "FILE" | {"keys": [...]}, "algs": ["RS256"],
//     "clients": [ client metadata, as in OpenID Connect Dynamic Client
//                  Registration: client_id, client_secret, redirect_uris,
//                  token_endpoint_auth_method, ... ],
//     "features": { oidc-provider features, e.g. "deviceFlow": {"enabled": true} },
//     "ttl": { oidc-provider ttl overrides, in seconds } }
//
// Device flow (RFC 8628): --device-flow or "features": {"deviceFlow":
// {"enabled": true}} turns it on; discovery then has
// device_authorization_endpoint (/device/auth) and every client that does
// not list its grant_types may use the device_code grant. The person opens
// verification_uri_complete (/device?user_code=...) or verification_uri
// (/device) and types the code, confirms on a page with Continue and Deny
// buttons, then signs in at the usual login form (Sign-in / Deny). The end
// page says "Device signed in" or, on a denial or a bad code, names the
// problem. A short device code lifetime: "ttl": {"DeviceCode": 5}. The
// provider sends no "interval": clients poll every 5 s (RFC 8628 3.2).

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';
import { generateKeyPair } from './keygen.mjs';

const HOST = '127.0.0.1';

const DEFAULT_CLIENT = {
  client_id: 'zkauth-test',
  client_secret: 'zkauth-test-secret',
  // A native client on loopback may come back on any port (RFC 8252 7.3),
  // so one registration serves every daemon the tests start.
  redirect_uris: ['http://127.0.0.1/zkauth/callback'],
  token_endpoint_auth_method: 'client_secret_basic',
};

// ---------------------------------------------------------------- options

function readOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      config: { type: 'string' },
      keys: { type: 'string' },
      alg: { type: 'string', multiple: true },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'auth-method': { type: 'string' },
      'device-flow': { type: 'boolean', default: false },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
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
  const opts = {
    port: Number(values.port ?? file.port ?? 0),
    keys: values.keys ?? file.keys ?? null,
    algs: values.alg ?? file.algs ?? ['RS256'],
    clients: file.clients ?? [],
    features: file.features ?? {},
    ttl: file.ttl ?? {},
    verbose: values.verbose,
    tlsCert: values['tls-cert'] ?? file.tls?.cert ?? null,
    tlsKey: values['tls-key'] ?? file.tls?.key ?? null,
  };
  if (!opts.tlsCert !== !opts.tlsKey) throw new Error('--tls-cert and --tls-key go together');
  if (values['device-flow']) {
    opts.features = { ...opts.features, deviceFlow: { ...opts.features.deviceFlow, enabled: true } };
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error(`bad port: ${values.port ?? file.port}`);
  }

  const fromArgs = values['client-id'] || values['client-secret']
    || values['redirect-uri'] || values['auth-method'];
  if (fromArgs || opts.clients.length === 0) {
    const client = { ...DEFAULT_CLIENT };
    if (values['client-id']) client.client_id = values['client-id'];
    if (values['client-secret']) client.client_secret = values['client-secret'];
    if (values['redirect-uri']) client.redirect_uris = values['redirect-uri'];
    if (values['auth-method']) client.token_endpoint_auth_method = values['auth-method'];
    opts.clients = [...opts.clients, client];
  }
  return opts;
}

// ------------------------------------------------------------------- keys

const KEY_SHAPES = {
  RS256: ['rsa', { modulusLength: 2048 }],
  RS384: ['rsa', { modulusLength: 2048 }],
  RS512: ['rsa', { modulusLength: 2048 }],
  PS256: ['rsa', { modulusLength: 2048 }],
  PS384: ['rsa', { modulusLength: 2048 }],
  PS512: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  ES384: ['ec', { namedCurve: 'P-384' }],
  ES512: ['ec', { namedCurve: 'P-521' }],
  EdDSA: ['ed25519', {}],
};

function generateKey(alg) {
  const shape = KEY_SHAPES[alg];
  if (!shape) throw new Error(`cannot generate a key for ${alg}`);
  const { privateKey } = generateKeyPair(...shape);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}` };
}

// A private JWKS: generated for algs, or from a file or an inline object.
function loadKeys(source, algs) {
  if (source === null) return { keys: algs.map(generateKey) };
  const jwks = typeof source === 'string' ? JSON.parse(fs.readFileSync(source, 'utf8')) : source;
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    throw new Error('a JWKS needs a non-empty "keys" array');
  }
  return jwks;
}

function publicJwks(jwks) {
  return {
    keys: jwks.keys.map((jwk) => {
      const pub = crypto.createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'jwk' });
      const { kid, alg, use } = jwk;
      return { ...pub, ...(kid && { kid }), ...(alg && { alg }), ...(use && { use }) };
    }),
  };
}

// What the ID token is signed with when a client does not say: the first
// key's algorithm (an RSA key without "alg" means RS256, EC P-256 ES256, ...).
function defaultAlg(jwks) {
  const [first] = jwks.keys;
  if (first.alg) return first.alg;
  if (first.kty === 'EC') return { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[first.crv];
  if (first.kty === 'OKP') return 'EdDSA';
  return 'RS256';
}

// --------------------------------------------------------------- provider

function makeProvider(issuer, opts, jwks) {
  const alg = defaultAlg(jwks);
  const deviceFlow = opts.features.deviceFlow?.enabled === true;
  const clients = opts.clients.map((c) => ({
    // Native clients may register http redirect URIs on loopback addresses
    // (RFC 8252), which is what the daemon's test listener uses.
    application_type: 'native',
    grant_types: deviceFlow ? ['authorization_code', DEVICE_CODE_GRANT] : ['authorization_code'],
    response_types: ['code'],
    // auth_time in every ID token, not only when max_age is asked for.
    require_auth_time: true,
    id_token_signed_response_alg: alg,
    ...c,
  }));

  const provider = new Provider(issuer, {
    clients,
    jwks,
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      ...opts.features,
      ...(deviceFlow && { deviceFlow: { ...DEVICE_PAGES, ...opts.features.deviceFlow } }),
    },
    ttl: opts.ttl,
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => ({ sub }),
    }),
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
        'ES256', 'ES384', 'ES512', 'EdDSA'],
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<p>${escapeHtml(out.error)}: ${escapeHtml(out.error_description ?? '')}</p>`);
    },
  });

  for (const event of ['server_error', 'authorization.error', 'grant.error',
    'interaction.error', 'introspection.error', 'jwks.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => {
      console.error(`provider: ${event}: ${err.error ?? err.name}: ${err.error_description ?? err.message}`);
    });
  }
  if (opts.verbose) {
    provider.on('grant.success', () => console.error('provider: grant.success'));
    provider.on('interaction.ended', () => console.error('provider: interaction.ended'));
  }
  return provider;
}

// ----------------------------------------------------------- interactions

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(html),
  });
  res.end(html);
}

async function readForm(req, limit = 16384) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

// Grants what the authorization request asked for: the missing scopes and
// claims the consent prompt lists, or else the requested scope.
async function grantRequested(provider, details, accountId) {
  const { Grant } = provider;
  const clientId = details.params.client_id;
  let grant = details.grantId ? await Grant.find(details.grantId) : undefined;
  if (!grant) grant = new Grant({ accountId, clientId });

  const missing = details.prompt.name === 'consent' ? details.prompt.details : {};
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  else grant.addOIDCScope(String(details.params.scope ?? 'openid'));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function handleInteraction(provider, req, res, path) {
  const [uid, action] = path.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const { prompt } = details;

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'consent') {
      const grantId = await grantRequested(provider, details, details.session.accountId);
      return provider.interactionFinished(req, res, { consent: { grantId } },
        { mergeWithLastSubmission: true });
    }
    const client = escapeHtml(details.params.client_id);
    return sendHtml(res, 200, page('Sign in', `
<p>Sign in to continue to <b>${client}</b>.</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
  <label>Login <input type="text" name="login" required autofocus></label>
  <button type="submit">Sign-in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort">
  <button type="submit">Deny</button>
</form>`));
  }

  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    if (login === '' || prompt.name !== 'login') {
      return sendHtml(res, 400, page('Sign in', '<p>Type a login name.</p>'));
    }
    const grantId = await grantRequested(provider, details, login);
    return provider.interactionFinished(req, res, {
      login: { accountId: login },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  }

  if (req.method === 'POST' && action === 'abort') {
    await readForm(req);
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }

  return sendHtml(res, 404, page('Not found', ''));
}

// ------------------------------------------------------------ device flow

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

// The pages of the device flow, plain enough for the browser stand-in
// (tests/e2e/browser.mjs approveDevice) to read: every button is a form of
// its own. oidc-provider hands over form, the code confirmation form with
// the hidden fields xsrf, user_code and confirm=yes.
const DEVICE_PAGES = {
  async userCodeInputSource(ctx, form, _out, err) {
    let msg = '<p>Enter the code shown on your device.</p>';
    if (err?.name === 'AbortedError') msg = '<p class="error">access_denied: the sign-in was denied.</p>';
    else if (err?.name === 'ExpiredError') msg = '<p class="error">expired_token: the code has expired.</p>';
    else if (err?.name === 'AlreadyUsedError') msg = '<p class="error">The code has already been used.</p>';
    else if (err?.userCode || err?.name === 'NoCodeError' || err?.name === 'NotFoundError') {
      msg = '<p class="error">The code is incorrect.</p>';
    } else if (err) msg = `<p class="error">${escapeHtml(err.error ?? err.name ?? 'error')}: ${escapeHtml(err.error_description ?? err.message ?? '')}</p>`;
    ctx.type = 'html';
    ctx.body = page('Device sign-in', `${msg}
${form.replace(/<\/form>\s*$/, '<button type="submit">Continue</button>\n</form>')}`);
  },
  async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
    const action = ctx.oidc.urlFor('code_verification');
    const xsrf = ctx.oidc.session.state.secret;
    ctx.type = 'html';
    ctx.body = page('Confirm device', `
<p><b>${escapeHtml(client.clientName ?? client.clientId)}</b> asks to sign in with the code
<code>${escapeHtml(userCode)}</code>. Continue only if your device shows this code.</p>
${form.replace(/<\/form>\s*$/, '<button type="submit">Continue</button>\n</form>')}
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="xsrf" value="${escapeHtml(xsrf)}"/>
<input type="hidden" name="user_code" value="${escapeHtml(userCode)}"/>
<input type="hidden" name="abort" value="yes"/>
<button type="submit">Deny</button>
</form>`);
  },
  async successSource(ctx) {
    ctx.type = 'html';
    ctx.body = page('Device signed in', '<p>Your device is signed in. You can close this page.</p>');
  },
};

// ------------------------------------------------------------------- main

async function main() {
  const opts = readOptions(process.argv.slice(2));

  const tls = opts.tlsCert !== null;
  const server = tls
    ? https.createServer({ cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey) })
    : http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, HOST, resolve);
  });
  const { port } = server.address();
  const issuer = `${tls ? 'https' : 'http'}://${HOST}:${port}`;

  let provider;
  let handler;
  function install(jwks) {
    provider = makeProvider(issuer, opts, jwks);
    handler = provider.callback();
    return publicJwks(jwks);
  }
  install(loadKeys(opts.keys, opts.algs));

  server.on('request', async (req, res) => {
    const { pathname } = new URL(req.url, issuer);
    try {
      if (pathname.startsWith('/interaction/')) {
        await handleInteraction(provider, req, res, pathname.slice('/interaction/'.length));
      } else if (pathname === '/_admin/keys' && req.method === 'POST') {
        let body = '';
        for await (const chunk of req) body += chunk;
        const asked = JSON.parse(body || '{}');
        const jwks = asked.keys ? { keys: asked.keys } : loadKeys(null, asked.generate ?? opts.algs);
        const pub = install(jwks);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(pub));
      } else {
        handler(req, res);
      }
    } catch (err) {
      console.error(`provider: ${req.method} ${pathname}: ${err.message}`);
      if (!res.headersSent) sendHtml(res, 400, page('Error', `<p>${escapeHtml(err.message)}</p>`));
      else res.end();
    }
  });

  process.on('SIGHUP', () => {
    try {
      install(loadKeys(opts.keys, opts.algs));
      console.error('provider: keys reloaded');
    } catch (err) {
      console.error(`provider: key reload failed: ${err.message}`);
    }
  });
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
  process.on('SIGINT', () => process.exit(0));

  process.stdout.write(`READY ${issuer}\n`);
}

main().catch((err) => {
  console.error(`provider: ${err.message}`);
  process.exit(1);
});
