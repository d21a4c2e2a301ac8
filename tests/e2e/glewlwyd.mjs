// Glewlwyd (Debian's package `glewlwyd`, an OpenID Connect provider in C)
// as a second real provider for the end-to-end tests, beside the npm
// oidc-provider of tests/provider/.
//
// startGlewlwyd() runs /usr/bin/glewlwyd on 127.0.0.1 on a free port with
// a fresh sqlite database (made from the packaged schema) and a config
// file in a temporary directory, never through systemd, and sets it up
// through its admin REST API (/api/...): the OIDC plugin instance, the
// test users and one client per way of authenticating at the token
// endpoint. stop() ends the process and removes the directory.
//
// Glewlwyd's login page is a JavaScript single-page app that the scripted
// browser (browser.mjs) cannot run. approveGlewlwyd() and
// approveGlewlwydDevice() call the HTTP APIs that app calls instead:
//   POST /api/auth            {username, password}: sets the session cookie
//   PUT  /api/auth/grant/<id> {scope}: the user's consent for the client
//   GET  <callback_url>&g_continue: back to the authorization endpoint,
//        which now redirects to the client with the code (or, for the
//        device flow, to the login page with prompt=deviceComplete)
// The cookie lives in the Browser's jar, so the same Browser object that
// pressed Continue on the daemon's page signs in and lands on the callback.
//
// Notes on what Glewlwyd does: the README's provider table.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import { Browser, continueUrl } from './browser.mjs';
import {
  freePort, removeTempDir, tempDir, terminateChild, trackChild, waitFor, waitForChildLine,
} from './lib.mjs';
import { generateKeyPair } from '../provider/keygen.mjs';

export const GLEWLWYD_BIN = process.env.ZK_GLEWLWYD ?? '/usr/bin/glewlwyd';
const MODULE_ROOT = '/usr/lib/glewlwyd';
// The schema with the admin user, its scopes and the database user and
// client backends: dbconfig-common's copy is a plain file outside
// /usr/share/doc (which minimal images may leave out); the doc copy is the
// same SQL with DROP TABLE lines in front.
const SCHEMAS = [
  '/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3',
  '/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz',
  '/usr/share/doc/glewlwyd/database/init.sqlite3.sql',
];
// What the schema creates (and GETTING_STARTED.md says): admin / password.
const ADMIN = { username: 'admin', password: 'password' };
export const PLUGIN = 'oidc';
// Every test user's password.
export const USER_PASSWORD = 'zkauth-glewlwyd-Passw0rd';
const SECRET = (id) => `${id}-secret-0123456789abcdef`;
const STEP_TIMEOUT_MS = 10000;
const MAX_HOPS = 20;

// Signing keys of the plugin: kid -> key type. The first one is the
// default (clients without sign_kid get RS256 ID tokens).
const SIGNING_KEYS = {
  RS256: { kid: 'rs256', type: 'rsa', options: { modulusLength: 2048 } },
  ES256: { kid: 'es256', type: 'ec', options: { namedCurve: 'P-256' } },
  EdDSA: { kid: 'eddsa', type: 'ed25519', options: {} },
  PS256: { kid: 'ps256', type: 'rsa', options: { modulusLength: 2048 } },
};

/*
 * Why Glewlwyd cannot run here, or null: no binary, no sqlite3 (the CLI
 * makes the database from the schema), no schema.
 */
export function glewlwydMissing() {
  if (!fs.existsSync(GLEWLWYD_BIN)) return `${GLEWLWYD_BIN} is not installed (apt-get install glewlwyd: tests/deps.sh)`;
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
  } catch {
    return 'the sqlite3 command is not installed (tests/deps.sh)';
  }
  if (!SCHEMAS.some((s) => fs.existsSync(s))) return `no Glewlwyd sqlite schema at ${SCHEMAS.join(' or ')}`;
  return null;
}

let stdbuf;
function hasStdbuf() {
  if (stdbuf === undefined) {
    try {
      execFileSync('stdbuf', ['--version'], { stdio: 'ignore' });
      stdbuf = true;
    } catch {
      stdbuf = false;
    }
  }
  return stdbuf;
}

function schemaText() {
  const file = SCHEMAS.find((s) => fs.existsSync(s));
  const raw = fs.readFileSync(file);
  return file.endsWith('.gz') ? zlib.gunzipSync(raw).toString('utf8') : raw.toString('utf8');
}

function configText({ port, base, db, logLevel }) {
  // libconfig syntax; glewlwyd(8) and /etc/glewlwyd/glewlwyd.conf list the
  // keys. cookie_secure = 0: plain http on loopback. No
  // use_secure_connection: Glewlwyd 2.7.5 reads "use_secure_connection =
  // false" without key files as "secure connection is active but
  // certificate is not valid" and exits.
  return `# written by tests/e2e/glewlwyd.mjs
port = ${port}
bind_address = "127.0.0.1"
external_url = "${base}"
login_url = "login.html"
api_prefix = "api"
log_mode = "console"
log_level = "${logLevel}"
cookie_secure = 0
cookie_same_site = "empty"
session_key = "GLEWLWYD2_SESSION_ID"
session_expiration = 3600
admin_session_authentication = "cookie"
profile_session_authentication = "cookie"
allow_multiple_user_per_session = true
login_api_enabled = true
add_x_frame_option_header_deny = true
admin_scope = "g_admin"
profile_scope = "g_profile"
user_module_path = "${MODULE_ROOT}/user"
client_module_path = "${MODULE_ROOT}/client"
user_auth_scheme_module_path = "${MODULE_ROOT}/scheme"
plugin_module_path = "${MODULE_ROOT}/plugin"
hash_algorithm = "SHA512"
database = {
  type = "sqlite3"
  path = "${db}"
};
`;
}

// ------------------------------------------------------------ HTTP

function describe(step, res, body) {
  return `glewlwyd: ${step}: HTTP ${res.status} at ${res.url || '?'}: ${String(body).slice(0, 300).replace(/\s+/g, ' ')}`;
}

/*
 * One JSON request with browser's cookies (the Browser of browser.mjs
 * only sends forms); Set-Cookie goes back into its jar. Returns
 * { status, location, body (parsed JSON or text), headers }.
 */
async function jsonRequest(browser, url, { method = 'GET', body, headers: extra = {} } = {}) {
  const headers = { 'User-Agent': 'zkauth-test-browser', Accept: 'application/json', ...extra };
  const cookie = browser.jar.header(url);
  if (cookie) headers.Cookie = cookie;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(url, {
    method, headers, body: payload, redirect: 'manual', signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  browser.jar.store(url, res.headers.getSetCookie());
  const text = await res.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* text */ }
  const loc = res.headers.get('location');
  return {
    status: res.status,
    url,
    location: res.status >= 300 && res.status < 400 && loc ? new URL(loc, url).href : null,
    body: parsed,
    headers: res.headers,
  };
}

async function formPost(url, form, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', ...headers },
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  const text = await res.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* text */ }
  return { status: res.status, body };
}

export function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

// --------------------------------------------------- signing in (the SPA)

// The login page's address parsed: its callback_url (where the SPA goes
// on with g_continue), client_id, scope and prompt.
function loginPage(location) {
  const u = new URL(location);
  return {
    url: u,
    callbackUrl: u.searchParams.get('callback_url'),
    clientId: u.searchParams.get('client_id'),
    scope: u.searchParams.get('scope'),
    prompt: u.searchParams.get('prompt'),
  };
}

function isLoginPage(location, origin) {
  if (!location) return false;
  const u = new URL(location);
  return u.origin === origin && /\/login\.html$/.test(u.pathname);
}

/*
 * What the login SPA does once it is shown login.html?callback_url=...:
 * signs in with the password (POST /api/auth), asks which of the
 * requested scopes the client holds (GET /api/auth/grant/<client>/<scope>),
 * grants what is missing (PUT /api/auth/grant/<client>; Glewlwyd's app
 * shows no consent for "openid" alone and takes it as granted), and goes
 * back to callback_url with g_continue. grantScope '' withdraws the
 * client's grant instead (all the app offers in the way of refusing).
 * Returns { res: the answer to the g_continue request, scopesUnavailable:
 * true when the app would have shown "scopes unavailable" and no Continue
 * button (the user may not have the scope); the harness goes on anyway, as
 * a hand-made g_continue request would }.
 */
async function spaSignIn(browser, origin, page, { login, password, grantScope }) {
  const auth = await jsonRequest(browser, `${origin}/api/auth/`, {
    method: 'POST', body: { username: login, password },
  });
  if (auth.status !== 200) throw new Error(describe(`sign-in as ${login}`, auth, JSON.stringify(auth.body)));
  let scopesUnavailable = false;
  if (page.clientId && page.scope) {
    const held = await jsonRequest(browser,
      `${origin}/api/auth/grant/${encodeURIComponent(page.clientId)}/${encodeURIComponent(page.scope)}`);
    scopesUnavailable = held.status !== 200 || !held.body?.scope?.length;
    const missing = scopesUnavailable ? [] : held.body.scope
      .filter((sc) => sc.name !== 'openid' && !sc.granted).map((sc) => sc.name);
    const scope = grantScope ?? (missing.length
      ? held.body.scope.filter((sc) => sc.name !== 'openid').map((sc) => sc.name).join(' ') : null);
    if (scope !== null) {
      const grant = await jsonRequest(browser, `${origin}/api/auth/grant/${encodeURIComponent(page.clientId)}`, {
        method: 'PUT', body: { scope },
      });
      if (grant.status !== 200) throw new Error(describe(`grant of "${scope}" to ${page.clientId}`, grant, JSON.stringify(grant.body)));
    }
  }
  if (!page.callbackUrl) throw new Error(`glewlwyd: the login page has no callback_url: ${page.url}`);
  // The app appends "&g_continue" (a bare name): Glewlwyd only asks
  // whether the key is there.
  const back = `${page.callbackUrl}${page.callbackUrl.includes('?') ? '&' : '?'}g_continue`;
  return { res: await browser.request(back), scopesUnavailable };
}

/*
 * Signs in at Glewlwyd from its authorization URL with browser and follows
 * its redirects until one leaves Glewlwyd. Returns { location, login:
 * the login page it went through (null when Glewlwyd did not show one),
 * scopesUnavailable (spaSignIn) }.
 */
async function authorize(browser, authUrl, { login, password, grantScope }) {
  const origin = new URL(authUrl).origin;
  let res = await browser.request(authUrl);
  let page = null;
  let scopesUnavailable = false;
  for (let hops = 0; ; hops++) {
    if (hops >= MAX_HOPS) throw new Error('glewlwyd: too many redirects');
    if (!res.location) throw new Error(describe('the authorization endpoint did not redirect', res, res.body));
    if (new URL(res.location).origin !== origin) return { location: res.location, login: page, scopesUnavailable };
    if (isLoginPage(res.location, origin)) {
      if (page) throw new Error(`glewlwyd: sent back to the login page after signing in: ${res.location}`);
      page = loginPage(res.location);
      ({ res, scopesUnavailable } = await spaSignIn(browser, origin, page, { login, password, grantScope }));
    } else {
      res = await browser.request(res.location);
    }
  }
}

/*
 * Signs in at Glewlwyd from an authorization URL of one's own (not the
 * daemon's): { location (where Glewlwyd sent the browser: the client's
 * redirect_uri with code or error), signedIn, scopesUnavailable }.
 */
export async function signInAt(authUrl, { login, password = USER_PASSWORD, browser = new Browser(), grantScope } = {}) {
  const r = await authorize(browser, String(authUrl), { login, password, grantScope });
  return { location: r.location, signedIn: r.login !== null, scopesUnavailable: r.scopesUnavailable };
}

/*
 * The person at the daemon's short link: opens it in a Browser, presses
 * Continue on the daemon's confirmation page, signs in at Glewlwyd as
 * login with the same Browser, and follows the redirects to the daemon's
 * callback with it. deny: the person signs in but withdraws the client's
 * grant instead of giving it (the SPA has no Deny button; see
 * the README's provider table for what Glewlwyd then does). follow false: stop before
 * opening the callback.
 * Returns { status, body, callbackUrl, browser, signedIn (false when
 * Glewlwyd redirected back without a login page), scopesUnavailable }.
 */
export async function approveGlewlwyd(shortLink, {
  login, password = USER_PASSWORD, deny = false, follow = true, browser = new Browser(),
} = {}) {
  if (!login) throw new Error('approveGlewlwyd: a login name is needed (Glewlwyd has no Deny before signing in)');
  const authUrl = await continueUrl(shortLink, browser);
  const { location: callbackUrl, login: page, scopesUnavailable } = await authorize(browser, authUrl.href, {
    login, password, grantScope: deny ? '' : undefined,
  });
  const seen = { callbackUrl, browser, signedIn: page !== null, scopesUnavailable };
  if (!follow) return seen;
  let res = await browser.request(callbackUrl);
  for (let hops = 0; res.location && hops < MAX_HOPS; hops++) res = await browser.request(res.location);
  return { status: res.status, body: res.body, ...seen };
}

/*
 * The person approving a device login (RFC 8628) at Glewlwyd: opens url
 * (verification_uri_complete, /api/oidc/device?code=...), signs in as
 * login, grants the client, and goes on. Returns { outcome, location }:
 * outcome is the prompt Glewlwyd's last redirect names ('deviceComplete'
 * when approved, 'deviceCodeError' for an unknown code, ...).
 */
export async function approveGlewlwydDevice(url, { login, password = USER_PASSWORD, browser = new Browser() } = {}) {
  const origin = new URL(url).origin;
  let res = await browser.request(url);
  let signedIn = false;
  for (let hops = 0; hops < MAX_HOPS; hops++) {
    if (!res.location) throw new Error(describe('the device page did not redirect', res, res.body));
    if (!isLoginPage(res.location, origin)) {
      res = await browser.request(res.location);
      continue;
    }
    const page = loginPage(res.location);
    if (page.prompt && page.prompt !== 'device') return { outcome: page.prompt, location: res.location };
    if (signedIn) throw new Error(`glewlwyd: sent back to the login page after signing in: ${res.location}`);
    signedIn = true;
    ({ res } = await spaSignIn(browser, origin, page, { login, password }));
  }
  throw new Error('glewlwyd: too many redirects on the device pages');
}

// ------------------------------------------------------------- clients

/*
 * The clients, one per way of authenticating at the token endpoint, so
 * that Glewlwyd refuses any other way. Each: { client_id, client_secret?,
 * key? (PEM private key, for private_key_jwt), method, signKid? }.
 */
function clientSpecs(keys) {
  const specs = {
    basic: { client_id: 'zk-basic', method: 'client_secret_basic', secret: true },
    post: { client_id: 'zk-post', method: 'client_secret_post', secret: true },
    public: { client_id: 'zk-public', method: 'none' },
    pkjwtRsa: { client_id: 'zk-pkjwt-rsa', method: 'private_key_jwt', key: keys.rsa, register: 'pubkey' },
    pkjwtEc: { client_id: 'zk-pkjwt-ec', method: 'private_key_jwt', key: keys.ec, register: 'pubkey' },
    pkjwtRsaJwks: { client_id: 'zk-pkjwt-rsa-jwks', method: 'private_key_jwt', key: keys.rsa, register: 'jwks' },
    pkjwtEcJwks: { client_id: 'zk-pkjwt-ec-jwks', method: 'private_key_jwt', key: keys.ec, register: 'jwks' },
    device: { client_id: 'zk-device', method: 'client_secret_basic', secret: true, device: true },
    devicePublic: { client_id: 'zk-device-public', method: 'none', device: true },
    // Disabled by the admin: Glewlwyd answers its authorization requests
    // with an error redirect.
    disabled: { client_id: 'zk-disabled', method: 'client_secret_basic', secret: true, disabled: true },
    // The harness's own client: it finds each user's sub with one login.
    harness: { client_id: 'zk-harness', method: 'client_secret_basic', secret: true },
  };
  for (const alg of Object.keys(SIGNING_KEYS)) {
    specs[`sign${alg}`] = {
      client_id: `zk-sign-${alg.toLowerCase()}`, method: 'client_secret_basic', secret: true, signKid: SIGNING_KEYS[alg].kid,
    };
  }
  return specs;
}

function clientBody(spec, keyInfo, redirectUris) {
  const body = {
    client_id: spec.client_id,
    name: spec.client_id,
    description: `zkauth e2e: ${spec.method}`,
    enabled: !spec.disabled,
    confidential: spec.method !== 'none',
    redirect_uri: spec.device ? [] : redirectUris,
    authorization_type: spec.device ? ['device_authorization'] : ['code'],
    scope: [],
  };
  if (spec.method !== 'none') body.token_endpoint_auth_method = [spec.method];
  if (spec.secret) body.client_secret = SECRET(spec.client_id);
  if (spec.register === 'pubkey') body.pubkey = keyInfo.publicPem;
  if (spec.register === 'jwks') body.jwks = { keys: [keyInfo.publicJwk] };
  if (spec.signKid) body.sign_kid = spec.signKid;
  return body;
}

// ------------------------------------------------------------- starting

/*
 * Starts Glewlwyd. opts:
 *   redirectUris  the daemon callbacks the code-flow clients accept
 *                 (Glewlwyd compares them exactly, port included; more can
 *                 be added later with allowRedirect)
 *   algs          the signing keys besides RS256 (default ES256 EdDSA PS256)
 *   logLevel      Glewlwyd's (default DEBUG; its output is in logs())
 *   deviceInterval, deviceExpiration  device flow (s; default 5, 600)
 * Returns { issuer, url, port, clients, users, subOf(login), usersMap(pairs),
 *   allowRedirect(uri, clientIds?), admin(method, path, body), discovery,
 *   logs(), stop() }.
 */
export async function startGlewlwyd(opts = {}) {
  const missing = glewlwydMissing();
  if (missing) throw new Error(missing);
  const dir = tempDir('zkauth-glewlwyd-');
  let child = null;
  let out = null;
  try {
    const port = opts.port ?? await freePort();
    const base = `http://127.0.0.1:${port}`;
    const db = path.join(dir, 'glewlwyd.db');
    execFileSync('sqlite3', [db], { input: schemaText(), stdio: ['pipe', 'ignore', 'pipe'] });
    const conf = path.join(dir, 'glewlwyd.conf');
    fs.writeFileSync(conf, configText({ port, base, db, logLevel: opts.logLevel ?? 'DEBUG' }));

    // Its console log goes to stdout, which C buffers in blocks on a
    // pipe: stdbuf(1) makes it a line at a time, so logs() is current.
    const argv = [`--config-file=${conf}`];
    child = hasStdbuf()
      ? spawn('stdbuf', ['-oL', '-eL', GLEWLWYD_BIN, ...argv], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(GLEWLWYD_BIN, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    out = trackChild(child);
    await waitForChildLine(out, /Glewlwyd started on port/, 15000, 'Glewlwyd to start');
    await waitFor(async () => {
      try {
        const r = await fetch(`${base}/config`, { signal: AbortSignal.timeout(2000) });
        return r.ok;
      } catch {
        return false;
      }
    }, { ms: 10000, what: 'Glewlwyd to answer' });

    const gl = await setUp({ base, port, opts, logs: () => out.lines.join('\n') });
    const stop = async () => {
      await terminateChild(child, out);
      removeTempDir(dir);
    };
    return { ...gl, dir, pid: child.pid, logs: () => out.lines.join('\n'), stop };
  } catch (err) {
    if (child) await terminateChild(child, out);
    removeTempDir(dir);
    if (out) err.message += `\n--- glewlwyd:\n${out.lines.slice(-40).join('\n')}`;
    throw err;
  }
}

async function setUp({ base, port, opts }) {
  const api = `${base}/api`;
  const adminBrowser = new Browser();
  const admin = async (method, p, body) => {
    const r = await jsonRequest(adminBrowser, `${api}${p}`, { method, body });
    if (r.status !== 200) throw new Error(describe(`admin ${method} ${p}`, r, JSON.stringify(r.body)));
    return r.body;
  };
  const login = await jsonRequest(adminBrowser, `${api}/auth/`, { method: 'POST', body: ADMIN });
  if (login.status !== 200) throw new Error(describe('admin sign-in (admin/password from the schema)', login, login.body));

  // The database client backend keeps only the properties its data-format
  // names: add sign_kid (the plugin's client-sign_kid-parameter).
  const clientMod = await admin('GET', '/mod/client/database');
  clientMod.parameters['data-format'].sign_kid = { multiple: false, read: true, write: true };
  await admin('PUT', '/mod/client/database', {
    module: clientMod.module,
    display_name: clientMod.display_name,
    order_rank: clientMod.order_rank,
    readonly: clientMod.readonly,
    enabled: true,
    parameters: clientMod.parameters,
  });
  // The running instance keeps its old parameters until reset.
  await admin('PUT', '/mod/client/database/reset');

  // The openid scope asks for the password (the schema has it without:
  // any session with a user would do).
  await admin('PUT', '/scope/openid', {
    display_name: 'Open ID', description: 'Open ID Connect scope', password_required: true, password_max_age: 0, scheme: {},
  });

  // Signing keys: a private JWKS, one key per algorithm.
  const algs = ['RS256', ...(opts.algs ?? ['ES256', 'EdDSA', 'PS256']).filter((a) => a !== 'RS256')];
  const jwks = { keys: [] };
  for (const alg of algs) {
    const k = SIGNING_KEYS[alg];
    if (!k) throw new Error(`startGlewlwyd: no key for ${alg}`);
    const { privateKey } = generateKeyPair(k.type, k.options);
    jwks.keys.push({ ...privateKey.export({ format: 'jwk' }), kid: k.kid, alg, use: 'sig' });
  }
  const issuer = `${api}/${PLUGIN}`;
  const parameters = {
    iss: issuer,
    'jwks-private': JSON.stringify(jwks),
    'default-kid': SIGNING_KEYS.RS256.kid,
    'client-sign_kid-parameter': 'sign_kid',
    'jwks-show': true,
    'subject-type': 'public',
    'access-token-duration': 3600,
    'refresh-token-duration': 1209600,
    'code-duration': 600,
    'refresh-token-rolling': false,
    'allow-non-oidc': false,
    'auth-type-code-enabled': true,
    'auth-type-token-enabled': false,
    'auth-type-id-token-enabled': true,
    'auth-type-none-enabled': false,
    'auth-type-password-enabled': false,
    'auth-type-client-enabled': false,
    'auth-type-refresh-enabled': false,
    'auth-type-device-enabled': true,
    'device-authorization-expiration': opts.deviceExpiration ?? 600,
    'device-authorization-interval': opts.deviceInterval ?? 5,
    'pkce-allowed': true,
    'pkce-method-plain-allowed': false,
    // private_key_jwt needs JWT requests allowed, and says where a client
    // keeps its public key: PEM (pubkey) or a JWKS (jwks).
    'request-parameter-allow': true,
    'client-pubkey-parameter': 'pubkey',
    'client-jwks-parameter': 'jwks',
    'client-jwks_uri-parameter': 'jwks_uri',
    // RFC 9207: iss in the authorization response.
    'oauth-as-iss-id': true,
    'name-claim': 'no',
    'email-claim': 'no',
    'scope-claim': 'no',
    'address-claim': { type: 'no' },
    claims: [],
    'session-management-allowed': false,
  };
  Object.assign(parameters, opts.pluginParameters ?? {});
  await admin('POST', '/mod/plugin/', {
    module: 'oidc', name: PLUGIN, display_name: 'OpenID Connect', enabled: true, order_rank: 0, readonly: false, parameters,
  });

  // Users: id-alice and id-bob may use openid; id-carol may not (the
  // scope is not hers), which Glewlwyd answers with an error redirect.
  const users = {};
  for (const u of opts.users ?? [
    { username: 'id-alice', scope: ['openid', 'g_profile'] },
    { username: 'id-bob', scope: ['openid', 'g_profile'] },
    { username: 'id-carol', scope: ['g_profile'] },
  ]) {
    await admin('POST', '/user/', {
      username: u.username, name: u.username, password: u.password ?? USER_PASSWORD, scope: u.scope, enabled: true,
    });
    users[u.username] = { username: u.username, password: u.password ?? USER_PASSWORD, scope: u.scope, sub: null };
  }

  // Clients.
  const keyPair = (type, options) => {
    const { privateKey, publicKey } = generateKeyPair(type, options);
    return {
      pem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      publicPem: publicKey.export({ type: 'spki', format: 'pem' }),
      publicJwk: { ...publicKey.export({ format: 'jwk' }), use: 'sig' },
    };
  };
  const keys = { rsa: keyPair('rsa', { modulusLength: 2048 }), ec: keyPair('ec', { namedCurve: 'P-256' }) };
  keys.rsa.publicJwk.kid = 'zk-client-rsa';
  keys.rsa.publicJwk.alg = 'RS256';
  keys.ec.publicJwk.kid = 'zk-client-ec';
  keys.ec.publicJwk.alg = 'ES256';
  const HARNESS_CALLBACK = 'http://127.0.0.1/zkauth-harness/callback';
  const specs = clientSpecs(keys);
  const clients = {};
  for (const [name, spec] of Object.entries(specs)) {
    const keyInfo = spec.key;
    // The harness callback too, for codeFlow() (it is never opened).
    const redirects = [HARNESS_CALLBACK, ...(name === 'harness' ? [] : opts.redirectUris ?? [])];
    const body = clientBody(spec, keyInfo, redirects);
    await admin('POST', '/client/', body);
    clients[name] = {
      client_id: spec.client_id,
      method: spec.method,
      client_secret: body.client_secret,
      key: keyInfo?.pem,
      kid: keyInfo?.publicJwk?.kid,
      registered: spec.register,
      signKid: spec.signKid,
      body,
    };
  }

  const discovery = (await jsonRequest(new Browser(), `${issuer}/.well-known/openid-configuration`)).body;
  if (!discovery || discovery.issuer !== issuer) {
    throw new Error(`glewlwyd: discovery at ${issuer} does not name it: ${JSON.stringify(discovery)}`);
  }

  // One code flow with a client_secret_basic client (the harness's own
  // unless named), straight to the token endpoint: { idToken, header,
  // claims, callbackUrl }.
  async function codeFlow(username, name = 'harness') {
    const c = clients[name];
    if (c.method !== 'client_secret_basic') throw new Error(`glewlwyd: codeFlow needs a client_secret_basic client, not ${name}`);
    const u = users[username];
    const auth = new URL(discovery.authorization_endpoint);
    auth.search = new URLSearchParams({
      response_type: 'code', client_id: c.client_id, redirect_uri: HARNESS_CALLBACK,
      scope: 'openid', state: 'harness-state', nonce: 'harness-nonce',
    }).toString();
    const { location } = await authorize(new Browser(), auth.href, { login: username, password: u?.password ?? USER_PASSWORD });
    const code = new URL(location).searchParams.get('code');
    if (!code) throw new Error(`glewlwyd: no code for the harness login of ${username}: ${location}`);
    const basic = Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64');
    const tok = await formPost(discovery.token_endpoint, {
      grant_type: 'authorization_code', code, redirect_uri: HARNESS_CALLBACK,
    }, { Authorization: `Basic ${basic}` });
    if (tok.status !== 200 || !tok.body.id_token) {
      throw new Error(`glewlwyd: harness token request for ${username}: HTTP ${tok.status} ${JSON.stringify(tok.body)}`);
    }
    const { header, payload } = decodeJwt(tok.body.id_token);
    return { idToken: tok.body.id_token, header, claims: payload, callbackUrl: location };
  }

  // Each user's sub: Glewlwyd makes a random one at the first token and
  // keeps it (table gpo_subject_identifier); one login with the harness
  // client asks for it.
  for (const u of Object.values(users)) {
    if (!u.scope.includes('openid')) continue;
    const first = await codeFlow(u.username);
    u.sub = first.claims.sub;
    u.firstIdToken = { header: first.header, claims: first.claims };
  }

  return {
    issuer,
    url: base,
    port,
    discovery,
    clients,
    users,
    admin,
    codeFlow,
    subOf(username) {
      const u = users[username];
      if (!u?.sub) throw new Error(`glewlwyd: no sub for ${username}`);
      return u.sub;
    },
    // The daemon's account map from [login, local account] pairs.
    usersMap(pairs) {
      return pairs.map(([loginName, account]) => `${users[loginName]?.sub ?? loginName} ${account}\n`).join('');
    },
    // Lets the code-flow clients (or those named) redirect to uri too.
    async allowRedirect(uri, names = Object.keys(clients).filter((n) => n !== 'harness' && !specs[n].device)) {
      for (const name of names) {
        const c = clients[name];
        if (!c.body.redirect_uri.includes(uri)) c.body.redirect_uri.push(uri);
        await admin('PUT', `/client/${encodeURIComponent(c.client_id)}`, c.body);
      }
    },
  };
}
