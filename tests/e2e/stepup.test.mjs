// sudo step-up and the daemon's limits, through the PAM stack:
//   max_age=N on the PAM line asks the provider for a fresh sign-in
//   (max_age, and prompt=login when N is 0) and requires auth_time within N;
//   max_pending_per_user and max_pending refuse logins beyond them.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { approve, continueUrl } from './browser.mjs';
import { runPam, sleep, startDaemon, startProvider, waitFor } from './lib.mjs';

const SUCCESS = /successfully authenticated/;

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

// Where the short link's Continue leads: the authorization URL itself.
async function authorizationUrl(shortLink) {
  return continueUrl(shortLink);
}

describe('sudo step-up (max_age)', () => {
  test('max_age=0 asks for a fresh sign-in and succeeds with a fresh auth_time', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, { daemon, user: 'alice', args: 'max_age=0' });
    const url = await pam.waitForUrl();
    const auth = await authorizationUrl(url);
    assert.equal(auth.searchParams.get('max_age'), '0');
    assert.equal(auth.searchParams.get('prompt'), 'login');
    await approve(url, { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, SUCCESS);
  });

  test('max_age=300 is sent without prompt=login', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, { daemon, user: 'alice', args: 'max_age=300' });
    const url = await pam.waitForUrl();
    const auth = await authorizationUrl(url);
    assert.equal(auth.searchParams.get('max_age'), '300');
    assert.equal(auth.searchParams.get('prompt'), null);
    await approve(url, { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.equal(result.code, 0, result.output);
  });

  test('without max_age, no max_age is sent', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, { daemon, user: 'alice' });
    const url = await pam.waitForUrl();
    const auth = await authorizationUrl(url);
    assert.equal(auth.searchParams.get('max_age'), null);
  });
});

describe('limits on pending logins', () => {
  test('max_pending_per_user: a second pending login for alice is refused, bob is not', async (t) => {
    const daemon = await daemonFor(t, { config: { daemon: { max_pending_per_user: 1 } } });
    const first = pamFor(t, { daemon, user: 'alice' });
    await first.waitForUrl();
    const second = pamFor(t, { daemon, user: 'alice' });
    second.endInput();
    const r2 = await second.result();
    assert.notEqual(r2.code, 0, r2.output);
    assert.doesNotMatch(r2.output, /https?:\/\//, 'no link for a refused login');
    assert.match(r2.output, /too many sign-ins are waiting/);
    await daemon.waitForLog(/login user="alice" .*result=refused reason=too_many_pending/);
    const bob = pamFor(t, { daemon, user: 'bob' });
    await bob.waitForUrl();
  });

  test('max_pending: beyond the total, everyone is refused until one ends', async (t) => {
    const daemon = await daemonFor(t, { config: { daemon: { max_pending: 1 } } });
    const first = pamFor(t, { daemon, user: 'alice' });
    await first.waitForUrl();
    const bob = pamFor(t, { daemon, user: 'bob' });
    bob.endInput();
    const rb = await bob.result();
    assert.notEqual(rb.code, 0, rb.output);
    await daemon.waitForLog(/login user="bob" .*result=refused reason=too_many_pending/);
    // The first login ends (its connection closes): room again.
    first.kill();
    await daemon.waitForLog(/login user="alice" .*result=cancelled/);
    const again = pamFor(t, { daemon, user: 'bob' });
    await again.waitForUrl();
  });
});

// Pending logins are counted per (account, source): the remote host, or
// for a local login the caller and its terminal. Someone holding idle
// `ssh alice@host` connections cannot keep alice out.
describe('pending limits cannot lock an account out', () => {
  const ATTACKER = (n) => `203.0.113.${60 + n}`;
  const held = async (t, daemon, rhost) => {
    const pam = pamFor(t, { daemon, user: 'alice', args: 'timeout=2', items: { rhost } });
    return { pam, url: await pam.waitForUrl() };
  };
  const aliceLogs = async (t, daemon) => {
    const pam = pamFor(t, { daemon, user: 'alice', items: { rhost: '198.51.100.7' } });
    await approve(await pam.waitForUrl(), { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    return pam.result();
  };

  test('three idle logins for alice from elsewhere: alice still signs in; a fourth from there is refused', async (t) => {
    const daemon = await daemonFor(t);
    for (let i = 0; i < 3; i++) await held(t, daemon, ATTACKER(0));
    const fourth = pamFor(t, { daemon, user: 'alice', items: { rhost: ATTACKER(0) } });
    fourth.endInput();
    const r4 = await fourth.result();
    assert.match(r4.output, /too many sign-ins are waiting/);
    const result = await aliceLogs(t, daemon);
    assert.equal(result.code, 0, `${result.output}\n${daemon.logs()}`);
  });

  test('max_pending_per_account: the oldest login whose link nobody opened gives way', async (t) => {
    const daemon = await daemonFor(t, { config: { daemon: { max_pending_per_account: 3 } } });
    const first = await held(t, daemon, ATTACKER(1));
    await held(t, daemon, ATTACKER(2));
    await held(t, daemon, ATTACKER(3));
    const result = await aliceLogs(t, daemon);
    assert.equal(result.code, 0, `${result.output}\n${daemon.logs()}`);
    await daemon.waitForLog(new RegExp(`login user="alice" sub="" service="\\S+" rhost="${ATTACKER(1).replace(/\./g, '\\.')}" .*result=cancelled reason=displaced`));
    first.pam.pressEnter();
    first.pam.endInput();
    const r1 = await first.pam.result();
    assert.notEqual(r1.code, 0, r1.output);
  });

  test('max_pending_per_account: logins whose links were opened are not displaced', async (t) => {
    const daemon = await daemonFor(t, { config: { daemon: { max_pending_per_account: 3 } } });
    for (let i = 1; i <= 3; i++) {
      const { url } = await held(t, daemon, ATTACKER(i));
      assert.equal((await fetch(url)).status, 200);
    }
    const alice = pamFor(t, { daemon, user: 'alice', items: { rhost: '198.51.100.7' } });
    alice.endInput();
    const r = await alice.result();
    assert.match(r.output, /too many sign-ins are waiting/);
    assert.doesNotMatch(daemon.logs(), /reason=displaced/);
  });

  for (const errno of ['EMFILE', 'ENFILE']) {
    test(`an account lookup that fails with ${errno} is "busy", never "no such account"`, async (t) => {
      const daemon = await daemonFor(t, { preload: ['getpw_fail.so'], env: { ZK_TEST_GETPW_ERRNO: errno } });
      const pam = pamFor(t, { daemon, user: 'alice' });
      pam.endInput();
      const r = await pam.result();
      assert.notEqual(r.code, 0, r.output);
      assert.match(r.output, /too many sign-ins are waiting/);
      await daemon.waitForLog(/login user="alice" .*result=refused reason=account_lookup_failed/);
      assert.doesNotMatch(daemon.logs(), /unknown_user/);
    });
  }

  test('without the fault the preload changes nothing: alice is known', async (t) => {
    const daemon = await daemonFor(t, { preload: ['getpw_fail.so'] });
    const pam = pamFor(t, { daemon, user: 'alice' });
    await pam.waitForUrl();
    const nobody = pamFor(t, { daemon, user: 'zkt-nosuchuser' });
    nobody.endInput();
    await nobody.result();
    await daemon.waitForLog(/login user="zkt-nosuchuser" .*reason=unknown_user/);
  });

  test('over the module socket\'s connection cap, the module hears "busy", not a closed socket', async (t) => {
    // max_pending 1: the cap is max_pending + 16 connections.
    const daemon = await daemonFor(t, { config: { daemon: { max_pending: 1 } } });
    const net = await import('node:net');
    const conns = [];
    t.after(() => conns.forEach((c) => c.destroy()));
    for (let i = 0; i < 17; i++) {
      const c = net.createConnection(daemon.socket);
      c.on('error', () => {});
      await new Promise((resolve) => c.once('connect', resolve));
      conns.push(c);
    }
    await sleep(200);
    const pam = pamFor(t, { daemon, user: 'alice' });
    pam.endInput();
    const r = await pam.result();
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /too many sign-ins are waiting/);
    assert.doesNotMatch(r.output, /not available/);
  });
});

// The module socket under abuse by a local user (a script speaking the
// wire protocol of include/zkauth_proto.h directly).
function frame(type, body) {
  const h = Buffer.alloc(8);
  h.write('ZK', 0, 'latin1');
  h[2] = 1;
  h[3] = type;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}
const str = (s) => {
  const b = Buffer.from(s);
  const l = Buffer.alloc(2);
  l.writeUInt16BE(b.length);
  return Buffer.concat([l, b]);
};
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const START = (user) => frame(1, Buffer.concat([str(user), str('abuse'), str(''), str(''), u32(0xffffffff), u32(0)]));
const WAIT0 = frame(3, u32(0));

// A child as another uid that opens n connections, says START for its own
// user on each, and keeps them; prints how many the daemon left open.
const HOLDER = `
const net = require('node:net');
const [sock, n, start] = [process.argv[1], Number(process.argv[2]), Buffer.from(process.argv[3], 'hex')];
let open = 0;
for (let i = 0; i < n; i++) {
  const c = net.createConnection(sock, () => { open++; c.write(start); });
  c.on('error', () => {});
  c.on('close', () => { open--; });
}
setTimeout(() => { console.log('open ' + open); }, 1500);
setTimeout(() => process.exit(0), 6000);
`;

describe('the module socket under abuse', () => {
  test('a local user cannot hold more connections than its own logins allow', async (t) => {
    const daemon = await daemonFor(t);
    const { spawn } = await import('node:child_process');
    const bob = 20002;
    const child = spawn('setpriv', [`--reuid=${bob}`, `--regid=${bob}`, '--clear-groups', process.execPath,
      '-e', HOLDER, daemon.socket, '20', START('bob').toString('hex')],
    { env: { ...process.env, ...daemon.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    await waitFor(() => /open \d+/.test(out), { ms: 20000, what: '"open N" from the holder' });
    const open = Number(out.match(/open (\d+)/)[1]);
    assert.ok(open <= 4, `bob kept ${open} connections (max_pending_per_user 3, +1)`);
    // root (sshd) is still served
    const pam = pamFor(t, { daemon, user: 'alice' });
    await pam.waitForUrl();
  });

  test('a peer that floods WAIT and never reads does not grow the daemon', async (t) => {
    const daemon = await daemonFor(t);
    const net = await import('node:net');
    const c = net.createConnection(daemon.socket);
    c.on('error', () => {}); // the daemon may stop before our writes are out
    await new Promise((resolve) => c.once('connect', resolve));
    c.pause(); // never read
    const rssOf = () => Number(fs.readFileSync(`/proc/${daemon.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
    c.write(START('alice'));
    await sleep(300);
    const before = rssOf();
    // 80 MiB of WAIT frames: answered without backpressure, the verdicts
    // queued for a peer that never reads would add about 95 MiB.
    const burst = Buffer.concat(Array(4096).fill(WAIT0));
    for (let i = 0; i < 1700; i++) c.write(burst);
    await sleep(3000);
    const grown = rssOf() - before;
    c.destroy();
    assert.ok(grown < 32 * 1024, `daemon resident memory grew by ${grown} KiB`);
  });
});
