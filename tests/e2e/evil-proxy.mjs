// A hostile identity provider for the end-to-end tests: an HTTP server on
// 127.0.0.1 in front of the real test provider (tests/provider) that
// forwards everything, except the responses a test chooses to rewrite.
//
// The daemon is pointed at it with config overrides: the browser still
// goes straight to the provider's authorization endpoint, the daemon's
// token requests and JWKS fetches go through the proxy, and the issuer
// stays the provider's own (all three endpoints in the config: no
// discovery), so that tokens the proxy passes on untouched verify.
//
//   const proxy = await startEvilProxy({ upstream: provider.issuer });
//   startDaemon({ issuer: provider.issuer, config: { provider: proxy.endpoints } });
//   proxy.set({ token: idToken(({ payload }) => ...), jwks: reply(200, 'garbage') });
//   proxy.reset();                      // honest again
//   proxy.count('jwks');                // JWKS fetches so far
//
// A handler gets { kind, method, url, headers, body, forward } and returns
// a reply, or undefined to pass the provider's answer on. forward() makes
// the request to the provider (once; later calls give the same answer):
// { status, headers, body: Buffer, text(), json() }. A reply is
// { status, headers, body } (an object body is sent as JSON), or
// { reset: true } (the connection is reset, no answer), or { hang: true }
// (no answer until the proxy stops); delayMs waits before any of them,
// chunked sends the body without a Content-Length, and dribbleMs sends
// it one byte per that many milliseconds.
//
// Also here: compact JWS helpers (decode, sign with RS/PS/ES/EdDSA, HS or
// none) and key generation, to forge and re-sign tokens.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { generateKeyPair } from '../provider/keygen.mjs';

const HOST = '127.0.0.1';
const HOP_BY_HOP = new Set(['host', 'connection', 'keep-alive', 'content-length',
  'transfer-encoding', 'expect', 'upgrade', 'proxy-connection', 'te', 'trailer']);
const BODY_LIMIT = 1024 * 1024;

function sleep(ms) {
  return new Promise((resolve) => { setTimeout(resolve, ms); });
}

// ------------------------------------------------------------------ JWS

export function b64u(data) {
  if (typeof data === 'string') return Buffer.from(data, 'utf8').toString('base64url');
  if (Buffer.isBuffer(data) || data instanceof Uint8Array) return Buffer.from(data).toString('base64url');
  return Buffer.from(JSON.stringify(data), 'utf8').toString('base64url');
}

// { header, payload, signature (Buffer), signingInput, raw }; header and
// payload are parsed JSON.
export function decodeJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a compact JWS: ${parts.length} segments`);
  return {
    header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    signature: Buffer.from(parts[2], 'base64url'),
    signingInput: `${parts[0]}.${parts[1]}`,
    raw: token,
  };
}

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

// The signature of input (a string) for alg with key: a KeyObject (RS*,
// PS*, ES*, EdDSA), a secret (HS*: string or Buffer), nothing for none.
export function jwsSign(alg, input, key) {
  const data = Buffer.from(input, 'utf8');
  const bits = alg.slice(2);
  if (alg === 'none') return Buffer.alloc(0);
  if (alg.startsWith('HS')) return crypto.createHmac(HASH[bits], key).update(data).digest();
  if (alg.startsWith('RS')) return crypto.sign(HASH[bits], data, key);
  if (alg.startsWith('PS')) {
    return crypto.sign(HASH[bits], data, {
      key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8,
    });
  }
  if (alg.startsWith('ES')) return crypto.sign(HASH[bits], data, { key, dsaEncoding: 'ieee-p1363' });
  if (alg === 'EdDSA') return crypto.sign(null, data, key);
  throw new Error(`jwsSign: unknown alg ${alg}`);
}

// A compact JWS. header and payload are objects, or strings taken as the
// exact JSON text (e.g. with a member twice); header.alg says how to sign.
export function signJwt(header, payload, key) {
  const h = b64u(header);
  const p = b64u(payload);
  const alg = typeof header === 'string' ? JSON.parse(header).alg : header.alg;
  const input = `${h}.${p}`;
  return `${input}.${b64u(jwsSign(alg, input, key))}`;
}

const KEY_SHAPES = {
  RS256: ['rsa', { modulusLength: 2048 }],
  PS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  ES384: ['ec', { namedCurve: 'P-384' }],
  EdDSA: ['ed25519', {}],
};

/*
 * A signing key: { alg, kid, privateKey (KeyObject), privateJwk (with
 * kid, alg, use), publicJwk (likewise) }.
 */
export function generateSigningKey(alg = 'RS256', kid = `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`) {
  const shape = KEY_SHAPES[alg];
  if (!shape) throw new Error(`generateSigningKey: no shape for ${alg}`);
  const { privateKey, publicKey } = generateKeyPair(...shape);
  const meta = { kid, alg, use: 'sig' };
  return {
    alg,
    kid,
    privateKey,
    privateJwk: { ...privateKey.export({ format: 'jwk' }), ...meta },
    publicJwk: { ...publicKey.export({ format: 'jwk' }), ...meta },
  };
}

// Writes a private JWKS (for the provider's --keys) into dir; returns its path.
export function writePrivateJwks(dir, keys, name = 'signing-keys.json') {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify({ keys: keys.map((k) => k.privateJwk) }), { mode: 0o600 });
  return file;
}

// ------------------------------------------------------------- handlers

// A fixed answer.
export function reply(status, body, headers = {}) {
  return () => ({ status, body, headers });
}

// The connection is reset before any answer.
export function reset() {
  return () => ({ reset: true });
}

// The provider's JSON answer, rewritten by fn(doc, ctx) (which returns the
// new document, or undefined after changing doc in place). The status
// stays the provider's unless fn sets ctx.status.
export function rewriteJson(fn) {
  return async (ctx) => {
    const up = await ctx.forward();
    const doc = up.json();
    const out = await fn(doc, ctx);
    return { status: ctx.status ?? up.status, body: out === undefined ? doc : out };
  };
}

// The token response with its id_token replaced by fn(decoded, ctx): a
// new compact token (a string). decoded is decodeJwt's result.
export function rewriteIdToken(fn) {
  return rewriteJson(async (doc, ctx) => {
    if (typeof doc.id_token !== 'string') throw new Error(`no id_token from the provider: ${JSON.stringify(doc)}`);
    doc.id_token = await fn(decodeJwt(doc.id_token), ctx);
    return doc;
  });
}

// The id_token's claims changed by edit(payload) (in place, or return a
// new payload), and the header by editHeader, re-signed with key.
export function resignIdToken(key, edit = () => {}, editHeader = () => {}) {
  return rewriteIdToken(({ header, payload }) => {
    const p = edit(payload) ?? payload;
    const h = editHeader(header) ?? header;
    return signJwt(h, p, key);
  });
}

// ---------------------------------------------------------------- proxy

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function upstreamAnswer(status, headers, body) {
  return {
    status,
    headers,
    body,
    text: () => body.toString('utf8'),
    json: () => JSON.parse(body.toString('utf8')),
  };
}

/*
 * Starts the proxy. upstream: the provider's issuer URL.
 * Returns {
 *   url, upstream,
 *   endpoints: { authorization_endpoint, token_endpoint, jwks_uri }
 *     (config overrides for the daemon's [provider] section),
 *   deviceEndpoint: the device authorization endpoint on the proxy, when
 *     the provider has one (else null): for device_authorization_endpoint,
 *   set({ token, jwks, discovery, device, other }): the handlers from now on
 *     (kinds not named pass through),
 *   reset(): everything passes through,
 *   host(path, reply): serves a fixed reply at path on the proxy, and
 *     returns its URL (requests to it count as kind "hosted"),
 *   requests: [{ kind, method, path, at }], count(kind),
 *   errors: handler failures (the request got HTTP 599),
 *   stop()
 * }
 */
export async function startEvilProxy({ upstream }) {
  const discRes = await fetch(`${upstream}/.well-known/openid-configuration`);
  if (!discRes.ok) throw new Error(`evil proxy: discovery at ${upstream}: HTTP ${discRes.status}`);
  const disc = await discRes.json();
  const kinds = new Map([
    [new URL(disc.token_endpoint).pathname, 'token'],
    [new URL(disc.jwks_uri).pathname, 'jwks'],
    ['/.well-known/openid-configuration', 'discovery'],
  ]);
  // A provider with the device flow on (RFC 8628) has one more endpoint
  // the daemon calls: requests to it are of kind "device".
  const deviceUrl = typeof disc.device_authorization_endpoint === 'string'
    ? disc.device_authorization_endpoint : null;
  if (deviceUrl) kinds.set(new URL(deviceUrl).pathname, 'device');

  let handlers = {};
  const hosted = new Map();
  const requests = [];
  const errors = [];
  const sockets = new Set();

  async function handle(req, res) {
    const url = new URL(req.url, `http://${HOST}`);
    const kind = hosted.has(url.pathname) ? 'hosted' : (kinds.get(url.pathname) ?? 'other');
    requests.push({ kind, method: req.method, path: url.pathname, at: Date.now() });
    const body = await readBody(req);

    let answer;
    const forward = () => {
      answer ??= (async () => {
        const headers = {};
        for (const [k, v] of Object.entries(req.headers)) {
          if (!HOP_BY_HOP.has(k)) headers[k] = v;
        }
        const r = await fetch(new URL(req.url, upstream), {
          method: req.method,
          headers,
          body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
          redirect: 'manual',
        });
        const out = {};
        r.headers.forEach((v, k) => {
          if (!HOP_BY_HOP.has(k) && k !== 'content-encoding') out[k] = v;
        });
        return upstreamAnswer(r.status, out, Buffer.from(await r.arrayBuffer()));
      })();
      return answer;
    };

    let out;
    if (kind === 'hosted') {
      out = hosted.get(url.pathname);
    } else if (handlers[kind]) {
      out = await handlers[kind]({ kind, method: req.method, url, headers: req.headers, body, forward });
    }
    out ??= await forward();

    if (out.delayMs) await sleep(out.delayMs);
    if (out.hang) return; // answered by stop(), with a closed connection
    if (out.reset) {
      req.socket.resetAndDestroy();
      return;
    }
    let data = out.body ?? '';
    const headers = { ...(out.headers ?? {}) };
    if (!Buffer.isBuffer(data) && typeof data !== 'string') {
      data = JSON.stringify(data);
      headers['content-type'] ??= 'application/json; charset=utf-8';
    }
    data = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
    if (res.destroyed) return;
    if (!out.chunked && !out.dribbleMs) {
      headers['content-length'] = String(data.length);
      res.writeHead(out.status ?? 200, headers);
      res.end(data);
      return;
    }
    // Chunked transfer encoding: no length known up front; dribbleMs
    // sends one byte per that many milliseconds.
    res.writeHead(out.status ?? 200, headers);
    const piece = out.dribbleMs ? 1 : 8192;
    for (let i = 0; i < data.length && !res.destroyed; i += piece) {
      if (!res.write(data.subarray(i, i + piece))) {
        await new Promise((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
      }
      if (out.dribbleMs) await sleep(out.dribbleMs);
    }
    if (!res.destroyed) res.end();
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      errors.push(err);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(599, { 'content-type': 'text/plain' });
        res.end(`evil proxy: ${err.message}\n`);
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const url = `http://${HOST}:${server.address().port}`;
  const here = (u) => { const x = new URL(u); return `${url}${x.pathname}${x.search}`; };

  return {
    url,
    upstream,
    endpoints: {
      authorization_endpoint: disc.authorization_endpoint,
      token_endpoint: here(disc.token_endpoint),
      jwks_uri: here(disc.jwks_uri),
    },
    deviceEndpoint: deviceUrl ? here(deviceUrl) : null,
    requests,
    errors,
    set(next) { handlers = { ...next }; },
    reset() { handlers = {}; },
    host(p, answer) {
      hosted.set(p, typeof answer === 'function' ? answer() : answer);
      return `${url}${p}`;
    },
    count: (kind) => requests.filter((r) => r.kind === kind).length,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      });
    },
  };
}
