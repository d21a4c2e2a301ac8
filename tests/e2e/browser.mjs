#!/usr/bin/env node
// A stand-in for the browser of the person who signs in: it opens the
// link the login prompt shows, signs in at the test provider's login page
// (or presses Deny there), and follows the redirects back to the daemon's
// callback listener, keeping cookies like a browser does.
//
//   node browser.mjs URL LOGIN [--deny]
//
// As a module: approve(url, { login, deny, tamperState, follow }).

import crypto from 'node:crypto';
import { pathToFileURL } from 'node:url';

const MAX_HOPS = 20;
const STEP_TIMEOUT_MS = 10000;

// Cookies as RFC 6265 keeps them, minus what the tests never meet: they
// belong to a host (any port), a path prefix, and expire on Max-Age=0 or
// an Expires in the past.
class CookieJar {
  #cookies = new Map(); // "host path name" -> { host, path, name, value }

  store(url, setCookies) {
    const u = new URL(url);
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = u.pathname.slice(0, u.pathname.lastIndexOf('/')) || '/';
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path' && v.startsWith('/')) path = v.trim();
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const id = `${u.hostname} ${path} ${name}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { host: u.hostname, path, name, value });
    }
  }

  header(url) {
    const u = new URL(url);
    const matches = [...this.#cookies.values()].filter((c) => c.host === u.hostname
      && (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)));
    // Longer paths first, as browsers send them.
    matches.sort((a, b) => b.path.length - a.path.length);
    return matches.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

function describe(step, res, body) {
  return `${step}: HTTP ${res.status} at ${res.url || '?'}: ${body.slice(0, 300).replace(/\s+/g, ' ')}`;
}

export class Browser {
  jar = new CookieJar();

  // One request, no automatic redirects. Returns { status, location, body }.
  async request(url, { method = 'GET', form } = {}) {
    const headers = { 'User-Agent': 'zkauth-test-browser', Accept: 'text/html' };
    const cookie = this.jar.header(url);
    if (cookie) headers.Cookie = cookie;
    let body;
    if (form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, {
      method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
    });
    this.jar.store(url, res.headers.getSetCookie());
    const text = await res.text();
    const loc = res.headers.get('location');
    return {
      status: res.status,
      url,
      location: res.status >= 300 && res.status < 400 && loc ? new URL(loc, url).href : null,
      body: text,
    };
  }
}

// The forms of a page: [{ action, method, fields: [names], text }].
function forms(html, base) {
  const found = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attr = (name) => (m[1].match(new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'i')) || [])[1];
    const fields = [...m[2].matchAll(/<input\b[^>]*\bname\s*=\s*"([^"]*)"/gi)].map((f) => f[1]);
    found.push({
      action: new URL(attr('action') ?? '', base).href,
      method: (attr('method') ?? 'get').toLowerCase(),
      fields,
      text: m[2],
    });
  }
  return found;
}

function randomLike(value) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (;;) {
    const bytes = crypto.randomBytes(value.length);
    const out = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
    if (out !== value) return out;
  }
}

/*
 * Opens url (the link from the login prompt: a short link on the daemon's
 * listener or the provider's authorization URL), signs in as login or,
 * with deny, presses Deny, and follows redirects until one leaves the
 * provider: that Location is the daemon's callback. Then, unless follow is
 * false, opens the callback (with tamperState, after replacing the state
 * parameter by another random value of the same length).
 * browser: a Browser to use (its cookies, e.g. a provider session, stay).
 * Returns { callbackUrl, fetchedUrl, status, body, browser }; callbackUrl
 * is the callback as the provider sent it, fetchedUrl what was opened.
 */
export async function approve(url, {
  login, deny = false, tamperState = false, follow = true, browser = new Browser(),
} = {}) {
  if (!deny && !login) throw new Error('approve: a login name is needed unless deny');

  // 1. Follow redirects to the provider's sign-in page. The daemon's short
  // link first shows who signs in where, with a Continue button: a person
  // reads it and goes on.
  let res = await browser.request(url);
  for (let hops = 0; res.location && hops < MAX_HOPS; hops++) {
    res = await browser.request(res.location);
  }
  let interstitial;
  const go = res.status === 200 ? confirmForm(res) : null;
  if (go) {
    interstitial = res.body;
    res = await browser.request(go.action, { method: 'POST', form: go.fields });
    for (let hops = 0; res.location && hops < MAX_HOPS; hops++) {
      res = await browser.request(res.location);
    }
  }
  const pageForms = res.status === 200 ? forms(res.body, res.url) : [];
  const loginForm = pageForms.find((f) => f.fields.includes('login'));
  const denyForm = pageForms.find((f) => /deny/i.test(f.text) || /\/abort$/.test(new URL(f.action).pathname));
  if (!loginForm || !denyForm) throw new Error(describe('no sign-in page', res, res.body));
  const providerOrigin = new URL(res.url).origin;

  // 2. Sign in, or deny.
  res = deny
    ? await browser.request(denyForm.action, { method: 'POST', form: {} })
    : await browser.request(loginForm.action, { method: 'POST', form: { login } });

  // 3. Stay with the provider until it sends the browser elsewhere.
  for (let hops = 0; ; hops++) {
    if (!res.location) throw new Error(describe('provider did not redirect', res, res.body));
    if (new URL(res.location).origin !== providerOrigin) break;
    if (hops >= MAX_HOPS) throw new Error('too many redirects at the provider');
    res = await browser.request(res.location);
  }
  const callbackUrl = res.location;
  // The browser goes with it: the callback counts only with its cookies.
  if (follow === false) return { callbackUrl, interstitial, browser };

  // 4. Land on the daemon's callback page.
  let fetchedUrl = callbackUrl;
  if (tamperState) {
    const u = new URL(callbackUrl);
    const state = u.searchParams.get('state');
    if (!state) throw new Error(`no state in the callback ${callbackUrl}`);
    u.searchParams.set('state', randomLike(state));
    fetchedUrl = u.href;
  }
  res = await browser.request(fetchedUrl);
  for (let hops = 0; res.location && hops < MAX_HOPS; hops++) {
    res = await browser.request(res.location);
  }
  return { callbackUrl, fetchedUrl, status: res.status, body: res.body, interstitial, browser };
}

// The short link's confirmation page's Continue form: a POST to .../go
// with its one-time token, or undefined.
function confirmForm(page) {
  return pageForms(page.body, page.url).find((f) => f.method === 'post'
    && /\/l\/[^/]+\/go$/.test(new URL(f.action).pathname));
}

/*
 * Opens a short link in browser (a fresh one unless given) and presses
 * Continue, as a person does; returns the authorization URL it leads to
 * (the browser keeps the login's cookie).
 */
export async function continueUrl(shortLink, browser = new Browser()) {
  const page = await browser.request(shortLink);
  const form = page.status === 200 ? confirmForm(page) : undefined;
  if (!form) throw new Error(describe('no confirmation page', page, page.body));
  const res = await browser.request(form.action, { method: 'POST', form: form.fields });
  if (res.status !== 303 || !res.location) throw new Error(describe('Continue did not redirect', res, res.body));
  return new URL(res.location);
}

// GET url with the Host header set to host (a proxy passing the browser's
// Host on, or a DNS-rebinding page's name): { status, body }.
export async function getWithHost(url, host) {
  const http = await import('node:http');
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    http.get({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, headers: { Host: host } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

// Opens a page once, as a fresh browser would (e.g. to replay a callback).
export async function open(url) {
  const res = await new Browser().request(url);
  return { status: res.status, location: res.location, body: res.body };
}

async function cli(argv) {
  const args = argv.filter((a) => !a.startsWith('--'));
  const deny = argv.includes('--deny');
  if (args.length !== (deny ? 1 : 2) && args.length !== 2) {
    process.stderr.write('usage: node browser.mjs URL LOGIN [--deny]\n');
    return 2;
  }
  const [url, login] = args;
  const out = await approve(url, { login, deny });
  process.stdout.write(`callback: ${out.callbackUrl}\nstatus: ${out.status}\n\n${out.body}\n`);
  return out.status < 400 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cli(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => {
    process.stderr.write(`browser: ${err.message}\n`);
    process.exitCode = 1;
  });
}

// ------------------------------------------------------------ device flow
// (tests/e2e/device.test.mjs; the provider's device pages: provider.mjs)

/*
 * The forms of a page with their fields' values:
 * [{ action, method, fields: { name: value }, text }]. Inputs (hidden or
 * not) and named buttons inside a form count; a later field of the same
 * name wins.
 */
export function pageForms(html, base) {
  const attr = (tag, name) => {
    const m = tag.match(new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'i'));
    return m ? (m[1] ?? m[2]).replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
      .replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>') : undefined;
  };
  const found = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const fields = {};
    for (const f of m[2].matchAll(/<(?:input|button)\b[^>]*>/gi)) {
      const name = attr(f[0], 'name');
      if (name !== undefined) fields[name] = attr(f[0], 'value') ?? '';
    }
    found.push({
      action: new URL(attr(m[0], 'action') ?? '', base).href,
      method: (attr(m[0], 'method') ?? 'get').toLowerCase(),
      fields,
      text: m[2],
    });
  }
  return found;
}

/*
 * Approves (or denies) a device login (RFC 8628) at the test provider the
 * way a person does on a phone: opens url, which is verification_uri_complete
 * (the code comes with it) or verification_uri (then userCode is typed in),
 * confirms the code, and signs in as login at the provider's login form.
 * deny presses Deny: on the sign-in page (denyAt 'login', the default) or
 * on the code confirmation page (denyAt 'confirm').
 * Returns { status, body, outcome } for the page the provider ends on;
 * outcome is 'approved' ("Device signed in"), 'denied' (access_denied),
 * 'expired', 'bad_code', or 'unknown'.
 */
export async function approveDevice(url, {
  login, userCode, deny = false, denyAt = 'login',
} = {}) {
  if (!deny && !login) throw new Error('approveDevice: a login name is needed unless deny');
  const browser = new Browser();
  const follow = async (first) => {
    let r = first;
    for (let hops = 0; r.location && hops < MAX_HOPS; hops++) r = await browser.request(r.location);
    if (r.location) throw new Error('approveDevice: too many redirects');
    return r;
  };
  const post = async (form, extra = {}) => follow(await browser.request(form.action, {
    method: 'POST', form: { ...form.fields, ...extra },
  }));

  let res = await follow(await browser.request(url));
  for (let step = 0; step < 10; step++) {
    if (res.status !== 200) break;
    const all = pageForms(res.body, res.url);
    const posts = all.filter((f) => f.method === 'post');
    const loginForm = posts.find((f) => 'login' in f.fields);
    const denyForm = posts.find((f) => /deny/i.test(f.text) || /\/abort$/.test(new URL(f.action).pathname));
    const confirmForm = posts.find((f) => f.fields.confirm === 'yes');
    const abortForm = posts.find((f) => f.fields.abort === 'yes');
    const codeForm = posts.find((f) => 'user_code' in f.fields && 'xsrf' in f.fields
      && !('confirm' in f.fields) && !('abort' in f.fields));

    if (loginForm && denyForm) {
      // The provider's sign-in page.
      res = deny && denyAt === 'login' ? await post(denyForm) : await post(loginForm, { login });
    } else if (confirmForm) {
      // "Confirm device": the code shown on the device, Continue or Deny.
      if (deny && denyAt === 'confirm') {
        if (!abortForm) throw new Error(describe('no Deny button on the confirmation page', res, res.body));
        res = await post(abortForm);
      } else {
        res = await post(confirmForm);
      }
    } else if (codeForm && /Submitting Callback|document\.forms\[0\]\.submit/.test(res.body)) {
      // The self-submitting form verification_uri_complete answers with
      // (a browser runs its script; we submit it).
      res = await post(codeForm);
    } else if (codeForm && codeForm.fields.user_code === '' && !/class="error"/.test(res.body)) {
      // verification_uri: type the code.
      if (!userCode) throw new Error('approveDevice: the page asks for the code: pass userCode');
      res = await post(codeForm, { user_code: userCode });
    } else {
      break;
    }
  }
  let outcome = 'unknown';
  if (/Device signed in/.test(res.body)) outcome = 'approved';
  else if (/access_denied/.test(res.body)) outcome = 'denied';
  else if (/expired/i.test(res.body)) outcome = 'expired';
  else if (/code is incorrect|already been used/i.test(res.body)) outcome = 'bad_code';
  return { status: res.status, body: res.body, outcome };
}
