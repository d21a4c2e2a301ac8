// What the provider emulators (zkauth.mjs, zeroauth.mjs) share: signing
// keys and JWTs, JWT verification against a JWKS, and small HTTP helpers.
// Node's own modules only: the emulators run without npm packages.

import crypto from 'node:crypto';
import http from 'node:http';
import { generateKeyPair } from '../provider/keygen.mjs';

export const HOST = '127.0.0.1';

// Upper bound of any request body the emulators read.
export const BODY_MAX = 16384;

export function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

export function randomToken(bytes = 32) {
  return crypto.randomBytes(bytes).toString('base64url');
}

export function sha256b64url(text) {
  return crypto.createHash('sha256').update(text, 'ascii').digest('base64url');
}

// Compares two strings without leaking where they differ.
export function safeEqual(a, b) {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const x = crypto.createHash('sha256').update(a).digest();
  const y = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(x, y) && a === b;
}

// ------------------------------------------------------------------ keys

const SHAPES = {
  RS256: ['rsa', { modulusLength: 2048 }],
  PS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  EdDSA: ['ed25519', {}],
};

// A signing key: { alg, kid, privateKey, publicJwk }.
export function generateSigningKey(alg = 'RS256', kidPrefix = 'key') {
  const shape = SHAPES[alg];
  if (!shape) throw new Error(`no key shape for ${alg}`);
  const { privateKey, publicKey } = generateKeyPair(...shape);
  const kid = `${kidPrefix}-${crypto.randomBytes(6).toString('hex')}`;
  return {
    alg,
    kid,
    privateKey,
    publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' },
  };
}

function signOptions(alg) {
  switch (alg) {
    case 'RS256': return ['sha256', {}];
    case 'RS384': return ['sha384', {}];
    case 'RS512': return ['sha512', {}];
    case 'PS256': return ['sha256', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }];
    case 'PS384': return ['sha384', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }];
    case 'PS512': return ['sha512', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }];
    case 'ES256': return ['sha256', { dsaEncoding: 'ieee-p1363' }];
    case 'ES384': return ['sha384', { dsaEncoding: 'ieee-p1363' }];
    case 'ES512': return ['sha512', { dsaEncoding: 'ieee-p1363' }];
    case 'EdDSA': return [null, {}];
    default: return null;
  }
}

// A compact JWS over payload with key (from generateSigningKey).
export function signJwt(key, payload, header = {}) {
  const head = { alg: key.alg, typ: 'JWT', kid: key.kid, ...header };
  const input = `${b64url(JSON.stringify(head))}.${b64url(JSON.stringify(payload))}`;
  const [hash, extra] = signOptions(key.alg);
  const sig = crypto.sign(hash, Buffer.from(input), { key: key.privateKey, ...extra });
  return `${input}.${b64url(sig)}`;
}

/*
 * Verifies a compact JWS against a public JWKS and checks the usual ID
 * token claims: iss exact, aud contains audience, exp in the future (with
 * skew seconds), nonce exact when given. Returns the claims; throws an
 * Error whose message says what failed.
 */
export function verifyJwt(token, jwks, { issuer, audience, nonce, skew = 60 } = {}) {
  const parts = String(token).split('.');
  if (parts.length !== 3) throw new Error('not a compact JWS');
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new Error('undecodable JWT');
  }
  const opts = signOptions(header.alg);
  if (!opts || header.alg === 'none') throw new Error(`algorithm ${header.alg} not accepted`);
  const candidates = (jwks.keys ?? []).filter((k) => (header.kid === undefined || k.kid === header.kid)
    && (k.alg === undefined || k.alg === header.alg) && (k.use === undefined || k.use === 'sig'));
  if (candidates.length === 0) throw new Error(`no key for kid ${header.kid}`);
  const input = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2], 'base64url');
  const [hash, extra] = opts;
  const ok = candidates.some((jwk) => {
    try {
      const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
      return crypto.verify(hash, input, { key, ...extra }, sig);
    } catch {
      return false;
    }
  });
  if (!ok) throw new Error('bad signature');
  const now = Math.floor(Date.now() / 1000);
  if (issuer !== undefined && claims.iss !== issuer) throw new Error(`iss ${claims.iss} is not ${issuer}`);
  if (audience !== undefined) {
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(audience)) throw new Error(`aud does not contain ${audience}`);
  }
  if (typeof claims.exp !== 'number' || claims.exp + skew < now) throw new Error('expired');
  if (nonce !== undefined && claims.nonce !== nonce) throw new Error('nonce mismatch');
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new Error('no sub');
  return claims;
}

// ------------------------------------------------------------------ HTTP

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(title, body) {
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

export function sendHtml(res, status, html, headers = {}) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(html),
    ...headers,
  });
  res.end(html);
}

export function sendJson(res, status, obj, headers = {}) {
  const text = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function redirect(res, location) {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store', 'Content-Length': 0 });
  res.end();
}

export class HttpError extends Error {
  constructor(status, error, description) {
    super(description);
    this.status = status;
    this.error = error;
  }
}

// The request body as a string, at most limit bytes (413 beyond).
export async function readBody(req, limit = BODY_MAX) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, 'invalid_request', `request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// The media type of a request, lower case, without parameters.
export function mediaType(req) {
  return String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

// The bearer token of an Authorization header, or null.
export function bearer(req) {
  const m = /^Bearer +([\x21-\x7e]+)\s*$/i.exec(req.headers.authorization ?? '');
  return m ? m[1] : null;
}

// Query parameters; a repeated parameter is an error (RFC 6749 3.1).
export function queryParams(url) {
  const out = {};
  for (const [k, v] of url.searchParams) {
    if (Object.hasOwn(out, k)) throw new HttpError(400, 'invalid_request', `parameter ${k} repeated`);
    out[k] = v;
  }
  return out;
}

// An http.Server listening on 127.0.0.1:port (0: any free port), with its
// origin. handler(req, res, url) may be async; a thrown HttpError becomes
// a JSON error answer, anything else a 500.
export async function listen(port, handler, { onError } = {}) {
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, resolve);
  });
  const origin = `http://${HOST}:${server.address().port}`;
  server.on('request', async (req, res) => {
    const url = new URL(req.url, origin);
    try {
      await handler(req, res, url);
    } catch (err) {
      onError?.(req, url, err);
      if (res.headersSent) {
        res.end();
      } else if (err instanceof HttpError) {
        sendJson(res, err.status, { error: err.error, error_description: err.message });
      } else {
        sendJson(res, 500, { error: 'server_error', error_description: 'internal error' });
      }
    }
  });
  return {
    server,
    origin,
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// Prints "READY <text>" once an emulator listens, and ends it on SIGTERM.
export function runCli(start, describeReady) {
  start().then((emu) => {
    process.stdout.write(`READY ${describeReady(emu)}\n`);
    const stop = () => { emu.stop().finally(() => process.exit(0)); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  }, (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
