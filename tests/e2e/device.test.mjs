// Whole logins with the device authorization grant (RFC 8628, flow =
// device): pamtester with the built pam_zkauth.so, zkauth-verifyd, and the
// test provider with its device flow on (provider.mjs: deviceFlow). The
// module shows verification_uri_complete as the URL (and QR) and the
// user_code on a "Code: ..." line; the person approves the code at the
// provider (browser.mjs approveDevice) and presses Enter while the daemon
// polls the token endpoint (every 5 s: the provider sends no interval).
// A daemon that says "flow = device is not supported by this version"
// skips these tests, and nothing else does.
//
// The second block puts the evil proxy (evil-proxy.mjs) between the daemon
// and the provider, to see how the daemon polls (RFC 8628 3.4, 3.5): it
// rewrites interval and expires_in in the device authorization response,
// answers chosen polls itself (slow_down, expired_token, server_error) and
// passes the rest on, noting when each poll came. Timing is only ever
// checked from below: no poll sooner than the provider allowed.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/device.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { approveDevice } from './browser.mjs';
import { rewriteJson, startEvilProxy } from './evil-proxy.mjs';
import {
  SERVICE, checkDaemonConfig, loginOutcomeRe, runPam, startDaemon, startProvider, waitFor,
} from './lib.mjs';

const SUCCESS = /successfully authenticated/;
const LOG_GRANTED = (user, sub) => new RegExp(
  `\\blogin user="${user}" sub="${sub}" service="${SERVICE}" rhost="[^"]*" (?:\\S+ )*result=granted\\b`,
);
const LOG_ANY_GRANT = /\bresult=granted\b/;
const DEVICE = { features: { deviceFlow: { enabled: true } } };
// The device code's lifetime in the expiry test: longer than one polling
// interval (5 s), short enough for the test.
const SHORT_TTL_S = 8;

let provider;
let unsupported = null;
before(async () => {
  provider = await startProvider({ config: DEVICE });
  ({ unsupported } = await checkDaemonConfig(daemonOpts(provider)));
});
after(async () => { await provider?.stop(); });

// The daemon's options for the device flow against p: no callback, so no
// redirect_uri.
function daemonOpts(p) {
  return { issuer: p.issuer, config: { provider: { flow: 'device', redirect_uri: null } } };
}

function skipped(t) {
  if (!unsupported) return false;
  t.skip(`daemon does not support ${unsupported} yet`);
  return true;
}

async function daemonFor(t, p = provider) {
  const daemon = await startDaemon(daemonOpts(p));
  t.after(() => daemon.stop());
  return daemon;
}

// pamtester for alice; resolves once the prompt shows the link, with the
// link and its user_code.
async function startLogin(t, daemon, { args = 'timeout=60' } = {}) {
  const pam = runPam({ daemon, user: 'alice', args });
  t.after(() => pam.kill());
  const url = await pam.waitForUrl();
  const userCode = new URL(url).searchParams.get('user_code');
  return { pam, url, userCode };
}

async function finish(pam) {
  pam.pressEnter();
  pam.endInput();
  return pam.result();
}

describe('device flow (RFC 8628) through the test provider', () => {
  test('a. id-alice approves the code shown: alice is signed in', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t);
    const { pam, url, userCode } = await startLogin(t, daemon);

    assert.ok(url.startsWith(`${provider.issuer}/device?`), `verification_uri_complete at the provider: ${url}`);
    assert.ok(userCode, `the URL carries the user_code: ${url}`);
    const page = await approveDevice(url, { login: 'id-alice' });
    assert.equal(page.outcome, 'approved', page.body);
    const result = await finish(pam);

    assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
    assert.match(result.output, SUCCESS);
    const lines = result.output.split('\n');
    assert.ok(lines.includes(url), 'the URL stands alone on its line');
    assert.ok(lines.some((l) => l.trim() === `Code: ${userCode}`), `a "Code: ${userCode}" line:\n${result.output}`);
    await daemon.waitForLog(LOG_GRANTED('alice', 'id-alice'));
  });

  test('b. id-bob types the code at verification_uri: not alice, denied', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t);
    const { pam, url, userCode } = await startLogin(t, daemon);

    const page = await approveDevice(`${new URL(url).origin}/device`, { userCode, login: 'id-bob' });
    assert.equal(page.outcome, 'approved', page.body);
    const result = await finish(pam);

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.match(result.output, /may not sign in as alice/);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'wrong_user'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('c. the person presses Deny at the sign-in page', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t);
    const { pam, url } = await startLogin(t, daemon);

    const page = await approveDevice(url, { deny: true });
    assert.equal(page.outcome, 'denied', page.body);
    const result = await finish(pam);

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.match(result.output, /denied/);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'denied_at_provider'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test('d. the person presses Deny where the code is confirmed', async (t) => {
    if (skipped(t)) return;
    const daemon = await daemonFor(t);
    const { pam, url } = await startLogin(t, daemon);

    const page = await approveDevice(url, { deny: true, denyAt: 'confirm' });
    assert.equal(page.outcome, 'denied', page.body);
    const result = await finish(pam);

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'denied_at_provider'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });

  test(`e. nobody approves within expires_in (${SHORT_TTL_S} s): expired`, async (t) => {
    if (skipped(t)) return;
    const shortLived = await startProvider({ config: { ...DEVICE, ttl: { DeviceCode: SHORT_TTL_S } } });
    t.after(() => shortLived.stop());
    const daemon = await daemonFor(t, shortLived);
    const started = Date.now();
    const { pam } = await startLogin(t, daemon);
    // Enter at once: the module waits for the verdict (up to 25 s), which
    // the device code's end must bring well before flow_timeout (120 s).
    const result = await finish(pam);
    const took = (Date.now() - started) / 1000;

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.match(result.output, /expired/);
    assert.ok(took < SHORT_TTL_S + 12, `expired after ${took} s`);
    await daemon.waitForLog(loginOutcomeRe('alice', 'expired'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
  });
});

// ------------------------------------------------------------- polling

// Slack on every lower bound between two polls (timers, scheduling).
const SLACK_MS = 200;
// pamtester's words for PAM_AUTH_ERR (pam_strerror).
const PAM_AUTH_ERR_TEXT = /Authentication failure/;
const ERROR = (error) => ({ status: 400, body: { error } });

/*
 * A daemon for the device flow whose calls to the provider go through the
 * evil proxy. rewrite: fields to put into the device authorization
 * response (e.g. { interval: 2 }). The returned script is a list of
 * answers for the next polls, taken in order; a poll with nothing left in
 * it goes on to the provider. Returns { proxy, daemon, script, polls,
 * authorizedAt }: polls is [{ at, status, error }] in the order they came
 * (at: performance.now() ms), authorizedAt() the time of the device
 * authorization request.
 */
async function pollingSetup(t, rewrite = {}) {
  const proxy = await startEvilProxy({ upstream: provider.issuer });
  t.after(() => proxy.stop());
  assert.ok(proxy.deviceEndpoint, 'the provider offers a device authorization endpoint');
  const script = [];
  const polls = [];
  let authorizedAt = null;
  proxy.set({
    device: rewriteJson((doc) => {
      authorizedAt ??= performance.now();
      Object.assign(doc, rewrite);
    }),
    token: async (ctx) => {
      const at = performance.now();
      const scripted = script.shift();
      if (scripted) {
        polls.push({ at, status: scripted.status, error: scripted.body?.error ?? null });
        return scripted;
      }
      const up = await ctx.forward();
      let error = null;
      try { error = up.json().error ?? null; } catch { /* not JSON: recorded as no error */ }
      polls.push({ at, status: up.status, error });
      return undefined; // the provider's own answer
    },
  });
  const daemon = await startDaemon({
    issuer: provider.issuer,
    config: {
      provider: {
        ...proxy.endpoints,
        device_authorization_endpoint: proxy.deviceEndpoint,
        flow: 'device',
        redirect_uri: null,
      },
    },
  });
  // Registered last, so it runs first: the daemon stops before the proxy.
  t.after(() => daemon.stop());
  return { proxy, daemon, script, polls, authorizedAt: () => authorizedAt };
}

// The gaps in seconds before each poll: from the device authorization
// request to the first poll, then between polls.
function gaps(polls, authorizedAt) {
  const times = [authorizedAt, ...polls.map((p) => p.at)];
  return times.slice(1).map((at, i) => (at - times[i]) / 1000);
}

function describePolls(polls, authorizedAt) {
  return polls.map((p, i) => `poll ${i + 1} at +${((p.at - authorizedAt) / 1000).toFixed(2)} s: `
    + `HTTP ${p.status} ${p.error ?? ''}`).join('\n');
}

function waitForPolls(polls, n, ms = 20000) {
  return waitFor(() => polls.length >= n, { ms, what: `${n} polls at the token endpoint` });
}

// Asserts that no gap before poll `from` (1-based) onwards is shorter than
// seconds (less the slack).
function assertGapsAtLeast(polls, authorizedAt, seconds, { from = 1, to = polls.length } = {}) {
  const g = gaps(polls, authorizedAt);
  for (let i = from - 1; i < to; i++) {
    assert.ok(g[i] * 1000 >= seconds * 1000 - SLACK_MS,
      `poll ${i + 1} came ${g[i].toFixed(3)} s after the one before; at least ${seconds} s expected\n`
      + describePolls(polls, authorizedAt));
  }
}

const LOG_DEVICE_GRANTED = LOG_GRANTED('alice', 'id-alice');

// RFC 8628 5.4: a device code can be phished remotely, so an admin may
// refuse the device flow where the login comes from another host.
describe('device flow: device_flow_remote', () => {
  async function remoteLogin(t, value, rhost) {
    const opts = daemonOpts(provider);
    opts.config.provider.device_flow_remote = value;
    const daemon = await startDaemon(opts);
    t.after(() => daemon.stop());
    const pam = runPam({ daemon, user: 'alice', args: 'timeout=5', items: rhost ? { rhost } : {} });
    t.after(() => pam.kill());
    return { daemon, pam };
  }

  test('no: a login with a remote host is refused before any code is shown', async (t) => {
    if (skipped(t)) return;
    const { daemon, pam } = await remoteLogin(t, 'no', '203.0.113.9');
    const result = await finish(pam);
    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, /Code: /);
    await daemon.waitForLog(loginOutcomeRe('alice', 'refused', 'device_flow_remote'));
  });

  test('no: a local login (no remote host) still gets its code', async (t) => {
    if (skipped(t)) return;
    const { pam } = await remoteLogin(t, 'no', null);
    const url = await pam.waitForUrl();
    assert.ok(new URL(url).searchParams.get('user_code'));
  });

  test('yes (the default): the remote login gets its code, shown with who signs in from where', async (t) => {
    if (skipped(t)) return;
    const { pam } = await remoteLogin(t, 'yes', '203.0.113.9');
    const url = await pam.waitForUrl();
    assert.ok(new URL(url).searchParams.get('user_code'));
    assert.match(pam.output(), /^alice@\S+ \(zkauth-test from 203\.0\.113\.9\)$/m);
  });
});

describe('device flow: how the daemon polls the token endpoint (RFC 8628 3.4, 3.5)', () => {
  test('a. interval 2 s from the provider: no poll sooner than 2 s after the one before', async (t) => {
    if (skipped(t)) return;
    const INTERVAL = 2;
    const { daemon, polls, authorizedAt } = await pollingSetup(t, { interval: INTERVAL });
    const { pam, url } = await startLogin(t, daemon);

    await waitForPolls(polls, 3);
    const page = await approveDevice(url, { login: 'id-alice' });
    assert.equal(page.outcome, 'approved', page.body);
    const result = await finish(pam);

    assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
    assert.match(result.output, SUCCESS);
    await daemon.waitForLog(LOG_DEVICE_GRANTED);
    assert.ok(polls.length >= 4, describePolls(polls, authorizedAt()));
    assert.equal(polls.at(-1).status, 200, 'the last poll got the tokens');
    assertGapsAtLeast(polls, authorizedAt(), INTERVAL);
  });

  test('b. slow_down: the interval grows by 5 s, for that poll and every later one', async (t) => {
    if (skipped(t)) return;
    const INTERVAL = 1;
    const { daemon, script, polls, authorizedAt } = await pollingSetup(t, { interval: INTERVAL });
    script.push(ERROR('slow_down'));
    const { pam, url } = await startLogin(t, daemon);

    // Poll 1: slow_down (ours); poll 2: authorization_pending (the
    // provider's); approved after it, so poll 3 gets the tokens.
    await waitForPolls(polls, 2, 20000);
    const page = await approveDevice(url, { login: 'id-alice' });
    assert.equal(page.outcome, 'approved', page.body);
    const result = await finish(pam);

    assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
    assert.match(result.output, SUCCESS);
    await daemon.waitForLog(LOG_DEVICE_GRANTED);
    const seen = describePolls(polls, authorizedAt());
    assert.equal(polls[0].error, 'slow_down', seen);
    assert.equal(polls[1].error, 'authorization_pending', seen);
    assert.ok(polls.length >= 3, seen);
    assertGapsAtLeast(polls, authorizedAt(), INTERVAL, { to: 1 });
    assertGapsAtLeast(polls, authorizedAt(), INTERVAL + 5, { from: 2 });
  });

  test('c. authorization_pending: the daemon keeps polling until the person approves', async (t) => {
    if (skipped(t)) return;
    const INTERVAL = 1;
    const { daemon, polls, authorizedAt } = await pollingSetup(t, { interval: INTERVAL });
    const { pam, url } = await startLogin(t, daemon);

    await waitForPolls(polls, 2);
    const before = polls.length;
    const page = await approveDevice(url, { login: 'id-alice' });
    assert.equal(page.outcome, 'approved', page.body);
    const result = await finish(pam);

    assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
    assert.match(result.output, SUCCESS);
    await daemon.waitForLog(LOG_DEVICE_GRANTED);
    const seen = describePolls(polls, authorizedAt());
    assert.ok(before >= 2, seen);
    for (const p of polls.slice(0, before)) {
      assert.equal(p.error, 'authorization_pending', `the provider said pending before approval\n${seen}`);
    }
    assert.equal(polls.at(-1).status, 200, `the last poll got the tokens\n${seen}`);
    assert.equal(polls.filter((p) => p.status === 200).length, 1, seen);
    assertGapsAtLeast(polls, authorizedAt(), INTERVAL);
  });

  test('d. expired_token from the token endpoint: the login ends as expired', async (t) => {
    if (skipped(t)) return;
    const { daemon, script, polls, authorizedAt } = await pollingSetup(t, { interval: 1 });
    script.push(ERROR('expired_token'));
    const { pam } = await startLogin(t, daemon);
    const result = await finish(pam);

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.match(result.output, PAM_AUTH_ERR_TEXT);
    assert.match(result.output, /expired/);
    await daemon.waitForLog(loginOutcomeRe('alice', 'expired'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
    assert.equal(polls.length, 1, `no poll after expired_token\n${describePolls(polls, authorizedAt())}`);
  });

  test('e. an unknown error while polling (server_error): no grant, polling stops', async (t) => {
    if (skipped(t)) return;
    const INTERVAL = 1;
    const { daemon, script, polls, authorizedAt } = await pollingSetup(t, { interval: INTERVAL });
    // Fail closed: an answer the daemon does not know ends the login; it
    // is neither "keep waiting" nor a go-ahead.
    script.push(ERROR('server_error'));
    const { pam, url } = await startLogin(t, daemon);
    const result = await finish(pam);

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    await daemon.waitForLog(/\blogin user="alice" .*\bresult=(?:denied|error)\b/);
    // Approving now must not turn the ended login into a grant: wait a few
    // intervals for any late poll.
    const page = await approveDevice(url, { login: 'id-alice' });
    assert.equal(page.outcome, 'approved', page.body);
    await new Promise((resolve) => { setTimeout(resolve, 3 * INTERVAL * 1000); });
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
    assert.equal(polls.length, 1, `no poll after server_error\n${describePolls(polls, authorizedAt())}`);
  });

  test('f. interval 120 s, expires_in 8 s: at most one poll, just before expiry; expired', async (t) => {
    if (skipped(t)) return;
    const EXPIRES = 8;
    const { daemon, polls, authorizedAt } = await pollingSetup(t, { interval: 120, expires_in: EXPIRES });
    const { pam } = await startLogin(t, daemon);
    // Enter at once: the module waits for the verdict, which the end of
    // the device code brings.
    const result = await finish(pam);

    assert.notEqual(result.code, 0, result.output);
    assert.doesNotMatch(result.output, SUCCESS);
    assert.match(result.output, PAM_AUTH_ERR_TEXT);
    assert.match(result.output, /expired/);
    await daemon.waitForLog(loginOutcomeRe('alice', 'expired'));
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT);
    const seen = describePolls(polls, authorizedAt());
    assert.ok(polls.length <= 1, `the provider asked for 120 s between polls; the daemon polled `
      + `${polls.length} times in ${EXPIRES} s\n${seen}`);
    // The one poll allowed is the last chance before the code expires,
    // not an early one.
    if (polls.length === 1) assertGapsAtLeast(polls, authorizedAt(), EXPIRES - 3);
  });
});
