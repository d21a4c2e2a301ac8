// The callback listener as a hostile client meets it: raw sockets
// (node:net) against zkauth-verifyd's listener on 127.0.0.1, with the
// test provider, pamtester and the browser stand-in for whole logins.
//
// The listener's deadline and caps (zkauth-verifyd/listener.c): the whole
// request within 10 s of accept; max_connections and
// max_connections_per_address in [listener]; 64 descriptors kept from the
// listener for the module socket. What it refuses, it refuses with a
// status code and approves nothing.
//
// Client sockets bind 127.0.0.2 and up to come from other addresses:
// Linux routes all of 127/8 to lo.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/listener.test.mjs

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { approve } from './browser.mjs';
import { startEvilProxy } from './evil-proxy.mjs';
import {
  freePort, loginOutcomeRe, runPam, sleep, startDaemon, startProvider, waitFor,
} from './lib.mjs';

// zkauth-verifyd/listener.c
const DEADLINE_MS = 10000;
const FD_RESERVE = 64;

const SUCCESS = /successfully authenticated/;
const GRANTED = loginOutcomeRe('alice', 'granted');
const ANY_GRANT = /\bresult=granted\b/;

// The flood, in a process of its own (argv: port, connections): from
// stdin's first line on, it keeps that many connections to the listener
// from 127.0.0.10 to 127.0.0.21 (25 each for 300, under the default 32
// per address), opening again whatever is closed, and prints how many
// are open every 200 ms.
const FLOODER = `
const net = require('node:net');
const port = Number(process.argv[1]);
const n = Number(process.argv[2]);
let open = 0;
function one(i) {
  const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.' + (10 + (i % 12)) });
  let up = false;
  s.on('connect', () => { up = true; open++; });
  s.on('error', () => {});
  s.on('close', () => { if (up) open--; setTimeout(() => one(i), 100); });
}
process.stdin.once('data', () => {
  for (let i = 0; i < n; i++) one(i);
  setInterval(() => process.stdout.write('open ' + open + '\\n'), 200);
});
`;

let provider;
before(async () => { provider = await startProvider(); });
after(async () => { await provider?.stop(); });

async function daemonFor(t, opts = {}) {
  const daemon = await startDaemon({ issuer: provider.issuer, ...opts });
  t.after(() => daemon.stop());
  return daemon;
}

function pamFor(t, opts) {
  const pam = runPam(opts);
  t.after(() => pam.kill());
  return pam;
}

/*
 * A raw connection: { sock, data (Buffer so far), openedAt, closedAt,
 * connected, closed (promises), response() }. Closed means by either
 * side, a reset included.
 */
function connect(port, { from = '127.0.0.1' } = {}) {
  const sock = net.connect({ host: '127.0.0.1', port, localAddress: from });
  const c = { sock, data: Buffer.alloc(0), openedAt: Date.now(), closedAt: null, error: null };
  sock.on('data', (b) => { c.data = Buffer.concat([c.data, b]); });
  sock.on('error', (e) => { c.error = e; });
  c.connected = new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  c.closed = new Promise((resolve) => {
    sock.once('close', () => { c.closedAt = Date.now(); resolve(c); });
  });
  c.response = () => parse(c.data);
  return c;
}

// Whether promise settles within ms.
async function within(promise, ms) {
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  const done = await Promise.race([promise.then(() => true), late]);
  clearTimeout(timer);
  return done;
}

// { status, head (lower-cased header names -> [values]), body, count (responses seen) }.
function parse(data) {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const lines = (end < 0 ? text : text.slice(0, end)).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(lines[0] ?? '');
  const head = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) (head[line.slice(0, i).toLowerCase()] ??= []).push(line.slice(i + 1).trim());
  }
  return {
    status: m ? Number(m[1]) : null,
    head,
    body: end < 0 ? '' : text.slice(end + 4),
    count: (text.match(/(?:^|\r\n)HTTP\/1\.[01] \d{3} /g) ?? []).length,
    text,
  };
}

// Sends raw (a string, latin1, or a Buffer) on a fresh connection and
// waits up to ms for the listener to close it. { ...parse(), closed, c }.
async function exchange(port, raw, { from, ms = 5000 } = {}) {
  const c = connect(port, { from });
  await c.connected;
  c.sock.write(typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw);
  const closed = await within(c.closed, ms);
  if (!closed) c.sock.destroy();
  return { ...c.response(), closed, c };
}

// Connections that stay open and idle until closed by the test.
async function holdOpen(t, port, from, n) {
  const conns = [];
  for (let i = 0; i < n; i++) {
    const c = connect(port, { from });
    conns.push(c);
    await c.connected;
  }
  t.after(() => { for (const c of conns) c.sock.destroy(); });
  return conns;
}

const still = (conns) => conns.filter((c) => c.closedAt === null).length;

// The short link's confirmation page as a raw GET: its cookie and the
// Continue form's token, as a browser would send them back.
async function confirmation(port, linkPath) {
  const res = await exchange(port, `GET ${linkPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  assert.equal(res.status, 200, `the confirmation page:\n${res.text}`);
  const cookie = (res.head['set-cookie'] ?? [])[0]?.split(';')[0];
  const token = /name="t" value="([^"]+)"/.exec(res.body)?.[1];
  assert.ok(cookie && token, `no cookie or token on the confirmation page:\n${res.text}`);
  return { cookie, token };
}

describe('the listener under a hostile client', () => {
  test('a. slowloris: one header byte every 2 s is cut at the deadline', async (t) => {
    const daemon = await daemonFor(t);
    const port = daemon.listenerPort;
    const slowHead = connect(port);
    const slowBody = connect(port);
    await Promise.all([slowHead.connected, slowBody.connected]);
    slowHead.sock.write(`GET /l/x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `);
    slowBody.sock.write(`POST /l/x/go HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`
      + 'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n');
    const drip = setInterval(() => {
      for (const c of [slowHead, slowBody]) if (c.closedAt === null) c.sock.write('a');
    }, 2000);
    t.after(() => clearInterval(drip));

    const limit = DEADLINE_MS + 5000;
    const cut = await within(Promise.all([slowHead.closed, slowBody.closed]), limit);
    clearInterval(drip);
    for (const c of [slowHead, slowBody]) c.sock.destroy();
    assert.ok(cut, `a client sending a byte every 2 s was still connected after ${limit} ms`
      + ` (head: ${slowHead.closedAt ? 'closed' : 'open'}, body: ${slowBody.closedAt ? 'closed' : 'open'})`);
    const took = [slowHead, slowBody].map((c) => c.closedAt - c.openedAt);
    t.diagnostic(`closed after ${took.join(' and ')} ms (deadline ${DEADLINE_MS} ms)`);
    for (const c of [slowHead, slowBody]) {
      const { status } = c.response();
      assert.ok(status === null || status === 408, `answered ${status}:\n${c.response().text}`);
    }
  });

  test('b. max_connections_per_address: the fourth from 127.0.0.1 is closed, 127.0.0.2 is served', async (t) => {
    const daemon = await daemonFor(t, { config: { listener: { max_connections_per_address: 3 } } });
    const port = daemon.listenerPort;
    const held = await holdOpen(t, port, '127.0.0.1', 3);

    const fourth = connect(port, { from: '127.0.0.1' });
    t.after(() => fourth.sock.destroy());
    await fourth.connected;
    assert.ok(await within(fourth.closed, 3000), 'the fourth connection from 127.0.0.1 stayed open');
    assert.equal(fourth.data.length, 0, `the fourth got an answer:\n${fourth.response().text}`);

    const other = await exchange(port, `GET /l/unknown HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
      { from: '127.0.0.2' });
    assert.equal(other.status, 404, `127.0.0.2 got no page:\n${other.text}`);
    assert.match(other.body, /Sign-in link not valid/);
    assert.equal(still(held), 3, 'the three held connections from 127.0.0.1 were closed');
    // Held, and served: one of them asks now.
    held[0].sock.write(`GET /l/unknown HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    assert.ok(await within(held[0].closed, 3000), 'a held connection got no answer');
    assert.equal(held[0].response().status, 404);
    await daemon.waitForLog(/127\.0\.0\.1 has 3 connections open.*max_connections_per_address/);
  });

  test('c. max_connections: over the global cap a new connection is closed, a free slot is used', async (t) => {
    const daemon = await daemonFor(t, {
      config: { listener: { max_connections: 4, max_connections_per_address: 100 } },
    });
    const port = daemon.listenerPort;
    const held = [
      ...await holdOpen(t, port, '127.0.0.1', 2),
      ...await holdOpen(t, port, '127.0.0.2', 2),
    ];

    const fifth = connect(port, { from: '127.0.0.3' });
    t.after(() => fifth.sock.destroy());
    await fifth.connected;
    assert.ok(await within(fifth.closed, 3000), 'a fifth connection stayed open over max_connections = 4');
    assert.equal(fifth.data.length, 0, `the fifth got an answer:\n${fifth.response().text}`);
    assert.equal(still(held), 4, 'the four held connections were closed');
    await daemon.waitForLog(/listener: 4 connections open, the most allowed/);

    held[0].sock.destroy();
    await held[0].closed;
    // The daemon notices the close on its next turn of the loop.
    const page = await waitFor(async () => {
      const res = await exchange(port, `GET /l/unknown HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
        { from: '127.0.0.3' });
      return res.status === 404 && res;
    }, { ms: 3000, what: 'a page once a slot was freed' });
    assert.match(page.body, /Sign-in link not valid/);
  });
});

describe('malformed and smuggled requests get their status and approve nothing', () => {
  let daemon;
  let pam;
  let url;
  let port;
  let link;
  const statuses = [];

  before(async () => {
    daemon = await startDaemon({ issuer: provider.issuer });
    port = daemon.listenerPort;
    pam = runPam({ daemon, user: 'alice', args: 'timeout=120' });
    url = await pam.waitForUrl();
    link = new URL(url).pathname;
  });
  after(async () => {
    pam?.kill();
    await daemon?.stop();
  });

  const host = () => `Host: 127.0.0.1:${port}\r\n`;
  // The Continue POST a browser sends, with the page's token and cookie:
  // only the framing around it is wrong.
  const form = async () => {
    const { cookie, token } = await confirmation(port, link);
    return { cookie: `Cookie: ${cookie}\r\n`, body: `t=${token}` };
  };
  const post = 'Content-Type: application/x-www-form-urlencoded\r\n';

  async function expect(raw, status, what) {
    const res = await exchange(port, raw);
    statuses.push(res.status);
    assert.equal(res.status, status, `${what}: expected ${status}\n--- answer:\n${res.text}`);
    assert.ok(res.closed, `${what}: the connection stayed open`);
    assert.equal(res.count, 1, `${what}: ${res.count} answers`);
    assert.deepEqual(res.head.connection, ['close'], `${what}: no Connection: close`);
    return res;
  }

  test('e1. Transfer-Encoding (alone, or with Content-Length) -> 400', async () => {
    let f = await form();
    const chunked = `${f.body.length.toString(16)}\r\n${f.body}\r\n0\r\n\r\n`;
    await expect(`POST ${link}/go HTTP/1.1\r\n${host()}${f.cookie}${post}`
      + `Transfer-Encoding: chunked\r\n\r\n${chunked}`, 400, 'chunked Continue');
    f = await form();
    await expect(`POST ${link}/go HTTP/1.1\r\n${host()}${f.cookie}${post}`
      + `Content-Length: ${f.body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${f.body}`, 400,
      'Content-Length and Transfer-Encoding');
    await expect(`GET ${link} HTTP/1.1\r\n${host()}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400,
      'a chunked GET');
  });

  test('e2. two Content-Length headers -> 400', async () => {
    let f = await form();
    await expect(`POST ${link}/go HTTP/1.1\r\n${host()}${f.cookie}${post}`
      + `Content-Length: ${f.body.length}\r\nContent-Length: ${f.body.length}\r\n\r\n${f.body}`, 400,
      'the same length twice');
    f = await form();
    await expect(`POST ${link}/go HTTP/1.1\r\n${host()}${f.cookie}${post}`
      + `Content-Length: ${f.body.length}\r\nContent-Length: 1000\r\n\r\n${f.body}`, 400,
      'two lengths');
  });

  test('e3. obs-fold, NUL, other control bytes, a bare LF -> 400', async () => {
    await expect(`GET ${link} HTTP/1.1\r\n${host()}X-A: one\r\n two\r\n\r\n`, 400, 'obs-fold');
    await expect(`GET ${link} HTTP/1.1\r\n${host()}X-A: a\0b\r\n\r\n`, 400, 'NUL in a header');
    await expect(`GET ${link} HTTP/1.1\r\n${host()}X-A: a\x01b\r\n\r\n`, 400, 'a control byte');
    await expect(`GET ${link} HTTP/1.1\n${host()}\r\n`, 400, 'a bare LF');
    await expect(`GET ${link} HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n`, 400, 'space before the colon');
  });

  test('e4. headers over 8 KiB or over 64 lines -> 431', async () => {
    await expect(`GET ${link} HTTP/1.1\r\n${host()}X-Big: ${'a'.repeat(9000)}\r\n\r\n`, 431,
      'a 9000-byte header');
    await expect(`GET ${link}?${'a'.repeat(9000)} HTTP/1.1\r\n${host()}\r\n`, 431,
      'a 9000-byte request line');
    let many = '';
    for (let i = 0; i < 65; i++) many += `X-${i}: v\r\n`;
    await expect(`GET ${link} HTTP/1.1\r\n${host()}${many}\r\n`, 431, '66 header lines');
  });

  test('e5. POST without length -> 411, above 1024 bytes -> 413, GET with a body -> 400', async () => {
    const f = await form();
    await expect(`POST ${link}/go HTTP/1.1\r\n${host()}${f.cookie}${post}\r\n${f.body}`, 411,
      'POST without Content-Length');
    await expect(`POST ${link}/go HTTP/1.1\r\n${host()}${post}Content-Length: 2000\r\n\r\n`
      + `t=${'a'.repeat(1998)}`, 413, 'a 2000-byte body');
    await expect(`POST ${link}/go HTTP/1.1\r\n${host()}${post}Content-Length: 99999999999999999999\r\n\r\n`,
      413, 'a huge length');
    await expect(`GET ${link} HTTP/1.1\r\n${host()}Content-Length: 5\r\n\r\nhello`, 400, 'GET with a body');
  });

  test('e6. absolute-form, authority-form and asterisk targets -> 400; HTTP/1.1 without Host -> 400', async () => {
    await expect(`GET http://127.0.0.1:${port}${link} HTTP/1.1\r\n${host()}\r\n`, 400, 'absolute-form');
    await expect(`GET 127.0.0.1:${port} HTTP/1.1\r\n${host()}\r\n`, 400, 'authority-form');
    await expect(`GET * HTTP/1.1\r\n${host()}\r\n`, 400, 'asterisk');
    await expect(`GET ${link} HTTP/1.1\r\n\r\n`, 400, 'no Host');
    await expect(`GET ${link} HTTP/1.1\r\n${host()}Host: evil.example\r\n\r\n`, 400, 'two Hosts');
  });

  test('e7. methods: unknown -> 501, known but not served -> 405 with Allow; versions', async () => {
    await expect(`FOO ${link} HTTP/1.1\r\n${host()}\r\n`, 501, 'FOO');
    const put = await expect(`PUT ${link} HTTP/1.1\r\n${host()}Content-Length: 0\r\n\r\n`, 405, 'PUT');
    assert.deepEqual(put.head.allow, ['GET, POST']);
    await expect(`GET ${link} HTTP/2.0\r\n${host()}\r\n`, 505, 'HTTP/2.0');
    await expect(`GET ${link}\r\n\r\n`, 400, 'HTTP/0.9');
    // HTTP/1.0 is served, but not without Host: the Host check (DNS
    // rebinding) needs one.
    await expect(`GET ${link} HTTP/1.0\r\n\r\n`, 400, 'HTTP/1.0 without Host');
    const page = await expect(`GET ${link} HTTP/1.0\r\n${host()}\r\n`, 200, 'HTTP/1.0');
    assert.match(page.body, /Sign in\?/);
  });

  test('e8. one request per connection: a pipelined second request is not answered', async () => {
    const res = await expect(`GET ${link} HTTP/1.1\r\n${host()}\r\nGET /l/unknown HTTP/1.1\r\n${host()}\r\n`,
      200, 'two pipelined GETs');
    assert.match(res.body, /Sign in\?/);
  });

  test('e9. none of them approved anything; a browser then signs in', async () => {
    assert.ok(!statuses.includes(303), `a refused request was redirected to the provider: ${statuses}`);
    assert.doesNotMatch(daemon.logs(), ANY_GRANT);
    const page = await approve(url, { login: 'id-alice' });
    assert.ok(page.status < 400, `callback page: HTTP ${page.status}\n${page.body}`);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
    await daemon.waitForLog(GRANTED);
  });
});

describe('an answer that waits for the provider', () => {
  test('f. is not cut by the deadline, and a browser that leaves is forgotten', async (t) => {
    const EXCHANGE_MS = 6000;
    const proxy = await startEvilProxy({ upstream: provider.issuer });
    t.after(() => proxy.stop());
    const daemon = await daemonFor(t, { config: { provider: proxy.endpoints } });
    const port = daemon.listenerPort;
    proxy.set({ token: async (ctx) => ({ ...await ctx.forward(), delayMs: EXCHANGE_MS }) });

    // Connected 5 s before it asks: its answer comes about 11 s after
    // accept, past the request deadline, which no longer applies.
    const pam = pamFor(t, { daemon, user: 'alice', args: 'timeout=60' });
    const url = await pam.waitForUrl();
    const { callbackUrl, browser } = await approve(url, { login: 'id-alice', follow: false });
    const cb = new URL(callbackUrl);
    const c = connect(port);
    t.after(() => c.sock.destroy());
    await c.connected;
    await sleep(5000);
    c.sock.write(`GET ${cb.pathname}${cb.search} HTTP/1.1\r\n${`Host: ${cb.host}\r\n`}`
      + `Cookie: ${browser.jar.header(callbackUrl)}\r\n\r\n`);
    pam.pressEnter();
    pam.endInput();
    const closed = await within(c.closed, EXCHANGE_MS + 10000);
    const res = c.response();
    assert.equal(res.status, 200, `no answer to the waiting callback:\n${res.text}`);
    assert.match(res.body, /Signed in/);
    assert.ok(closed, 'the connection stayed open after the answer');
    t.diagnostic(`answered and closed ${c.closedAt - c.openedAt} ms after accept`);
    assert.ok(c.closedAt - c.openedAt > DEADLINE_MS, 'answered before the deadline: nothing proved');
    const result = await pam.result();
    assert.equal(result.code, 0, result.output);

    // The second browser gives up while the code is exchanged: the login
    // still ends (granted), with no page to send and nothing left behind.
    const pam2 = pamFor(t, { daemon, user: 'alice', args: 'timeout=60' });
    const url2 = await pam2.waitForUrl();
    const second = await approve(url2, { login: 'id-alice', follow: false });
    const cb2 = new URL(second.callbackUrl);
    const gone = connect(port);
    await gone.connected;
    gone.sock.write(`GET ${cb2.pathname}${cb2.search} HTTP/1.1\r\nHost: ${cb2.host}\r\n`
      + `Cookie: ${second.browser.jar.header(second.callbackUrl)}\r\n\r\n`);
    await sleep(1000);
    gone.sock.destroy();
    pam2.pressEnter();
    pam2.endInput();
    const result2 = await pam2.result();
    assert.equal(result2.code, 0, `${result2.output}\n--- daemon:\n${daemon.logs()}`);
    assert.equal(gone.data.length, 0);

    // Stopped with a callback waiting, idle connections and a request
    // half sent: every connection is closed, nothing leaks (SAN=1), and
    // the daemon ends cleanly (stop() rejects otherwise).
    const pam3 = pamFor(t, { daemon, user: 'alice', args: 'timeout=60' });
    const third = await approve(await pam3.waitForUrl(), { login: 'id-alice', follow: false });
    const cb3 = new URL(third.callbackUrl);
    const waiting = connect(port);
    await waiting.connected;
    waiting.sock.write(`GET ${cb3.pathname}${cb3.search} HTTP/1.1\r\nHost: ${cb3.host}\r\n`
      + `Cookie: ${third.browser.jar.header(third.callbackUrl)}\r\n\r\n`);
    const idle = await holdOpen(t, port, '127.0.0.1', 3);
    idle[0].sock.write('GET /l/x HTTP/1.1\r\nHo');
    pam3.pressEnter();
    pam3.endInput();
    await sleep(1000);
    await daemon.stop();
    const all = [waiting, ...idle];
    assert.ok(await within(Promise.all(all.map((x) => x.closed)), 3000),
      `${still(all)} connections still open after the daemon stopped`);
  });
});

// Last in the file: it lowers this process's descriptor limit for good
// (raising the hard limit again needs CAP_SYS_RESOURCE), which the tests
// after it would inherit.
describe('a flooded listener', () => {
  test('d. the module socket keeps working while the listener is flooded', async (t) => {
    // The daemon inherits a small descriptor limit from this process. A
    // flood from a child started before (with the old limit) would take
    // every descriptor from a listener without a reserve, and then the
    // module socket could accept nothing.
    const NOFILE = 200;
    const FLOOD = 300;
    const listenerPort = await freePort();
    const flooder = spawn(process.execPath, ['-e', FLOODER, String(listenerPort), String(FLOOD)],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => flooder.kill('SIGKILL'));
    let open = 0;
    flooder.stdout.setEncoding('utf8');
    flooder.stdout.on('data', (s) => {
      const m = /open (\d+)\n$/.exec(s);
      if (m) open = Number(m[1]);
    });
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${NOFILE}:${NOFILE}`]);
    const daemon = await daemonFor(t, { listenerPort, config: { daemon: { max_pending: 10 } } });

    flooder.stdin.write('go\n');
    await sleep(2000);
    const pam = pamFor(t, { daemon, user: 'alice' });
    const url = await pam.waitForUrl(20000);
    t.diagnostic(`${open} flood connections open when the module socket answered START`);
    const probe = connect(listenerPort, { from: '127.0.0.200' });
    t.after(() => probe.sock.destroy());
    await probe.connected;
    assert.ok(await within(probe.closed, 3000), 'the listener was not full: a probe stayed open');
    assert.equal(probe.data.length, 0);

    const gone = new Promise((resolve) => { flooder.once('exit', resolve); });
    flooder.kill('SIGKILL');
    await gone;
    // The browser gets in once the flood is gone and the daemon has seen
    // its connections close.
    await waitFor(async () => (await exchange(listenerPort,
      `GET /l/unknown HTTP/1.1\r\nHost: 127.0.0.1:${listenerPort}\r\n\r\n`)).status === 404,
    { what: 'room on the listener after the flood' });
    const page = await approve(url, { login: 'id-alice' });
    assert.ok(page.status < 400, `callback page: HTTP ${page.status}\n${page.body}`);
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
    assert.match(result.output, SUCCESS);
    await daemon.waitForLog(GRANTED);
    await daemon.waitForLog(new RegExp(`max_connections = 512 does not fit RLIMIT_NOFILE ${NOFILE} `
      + `with ${FD_RESERVE} descriptors .*at most ${NOFILE - FD_RESERVE} connections`));
  });
});
