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
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/device.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { approveDevice } from './browser.mjs';
import {
  SERVICE, checkDaemonConfig, loginOutcomeRe, runPam, startDaemon, startProvider,
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
