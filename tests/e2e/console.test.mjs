// Real logins other than ssh: the console ("login"), sudo step-up and a
// screen locker.
//
//   a. a login(1)-style stack under pam_wrapper: service "login" with the
//      module for auth and account and pam_permit for the session, run by
//      pamtester through authenticate, acct_mgmt, open_session and
//      close_session with PAM_TTY=tty1;
//   b. sudo step-up under pam_wrapper (service "sudo", max_age=N): the
//      authorization request asks for a fresh sign-in, and a token whose
//      auth_time is too old or missing is refused (the evil proxy
//      re-signs the provider's token with the provider's own key);
//   c. the REAL sudo (setuid root, /etc/pam.d/sudo), run by a real
//      unprivileged account in a pseudo-terminal: /etc/pam.d/sudo and a
//      sudoers.d file are replaced for the test and restored byte for
//      byte afterwards, even when it fails (and at the next run, when a
//      run was killed before it could);
//   d. a screen locker: a process of a real unprivileged account runs the
//      PAM conversation for itself (allowed) and for others (refused by
//      the daemon before any link is shown).
//
// c and d need root (useradd, /etc); c is skipped, saying why, when sudo
// is missing or cannot run (e.g. a nosuid file system), and under SAN=1
// (sudo is setuid root: the loader ignores LD_PRELOAD there, so the
// ASan-built module cannot have its runtime loaded first).
//
// Packages: sudo (c), util-linux (setpriv), bsdutils (script), passwd
// (useradd), pamtester, libpam-wrapper, libnss-wrapper.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/console.test.mjs

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { approve, continueUrl } from './browser.mjs';
import {
  generateSigningKey, resignIdToken, startEvilProxy, writePrivateJwks,
} from './evil-proxy.mjs';
import {
  MODULE, SAN, addDaemonAccount, childClosed, loginOutcomeRe, removeTempDir, runPamService, startDaemon,
  startProvider, tempDir, waitFor,
} from './lib.mjs';
import { createAccount } from './sshd-lib.mjs';

const SUCCESS = /successfully authenticated/;
const URL_LINE = /^https?:\/\/\S+$/;
const SAYS_UNVERIFIED = /could not be verified/;
const SAYS_NOT_ALLOWED = /not allowed/;
const REJECTED = (e) => new RegExp(`identity token rejected: ${e}$`, 'm');
const LOG_ANY_GRANT = /\bresult=granted\b/;

// The account names the real-account tests make (and remove).
const SUDO_USER = 'zkt-sudo';
const LOCK_USER = 'zkt-lock';

// The provider signs with this key (--keys), so that the evil proxy can
// re-sign a token with it: then only the claim it changed is wrong.
const signer = generateSigningKey('RS256');

let keysDir;
let provider;

before(async () => {
  keysDir = tempDir('zkauth-console-');
  provider = await startProvider({ keys: writePrivateJwks(keysDir, [signer]) });
});

after(async () => {
  await provider?.stop();
  if (keysDir) removeTempDir(keysDir);
});

async function daemonFor(t, opts = {}) {
  const daemon = await startDaemon({ issuer: provider.issuer, ...opts });
  t.after(() => daemon.stop());
  return daemon;
}

function pamFor(t, opts, cleanup) {
  const pam = runPamService(opts);
  if (cleanup) cleanup(async () => { pam.kill(); await pam.result(); });
  else t.after(() => pam.kill());
  return pam;
}

/*
 * t.after runs hooks in the order they were added; the real-account tests
 * need the reverse (the account's processes end before userdel, the
 * machine's files come back before the account goes). Returns add(fn):
 * the fns run last added first, each even when one before it failed.
 */
function cleanupStack(t) {
  const fns = [];
  t.after(async () => {
    let first;
    for (const fn of fns.reverse()) {
      try { await fn(); } catch (err) { first ??= err; }
    }
    if (first) throw first;
  });
  return (fn) => { fns.push(fn); };
}

// Where the short link's Continue leads: the authorization URL itself.
async function authorizationUrl(shortLink) {
  return continueUrl(shortLink);
}

// The prompt's first line: "USER@HOST (SERVICE)" (no rhost here).
const whoLine = (user, service) => new RegExp(`^${user}@\\S+ \\(${service}\\)$`, 'm');

// The daemon's outcome line for user with service="service".
const outcome = (user, service, result, reason) => {
  const re = loginOutcomeRe(user, result, reason);
  return new RegExp(`(?=.*\\bservice="${service}")${re.source}`);
};

const now = () => Math.floor(Date.now() / 1000);

// ------------------------------------------------------------- a. login

describe('a. console login (service "login")', () => {
  test('auth + account + session on tty1: approve, then Enter, succeeds', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, {
      daemon,
      service: 'login',
      user: 'alice',
      items: { tty: 'tty1' },
      account: `account required ${MODULE}\n`,
      session: 'session required pam_permit.so\n',
      ops: ['authenticate', 'acct_mgmt', 'open_session', 'close_session'],
    });
    const url = await pam.waitForUrl();
    assert.match(pam.output(), whoLine('alice', 'login'), 'the prompt names the service');
    await approve(url, { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();

    assert.equal(result.code, 0, result.output);
    assert.match(result.output, SUCCESS);
    assert.match(result.output, /account management done/);
    assert.match(result.output, /successfully opened a session/);
    assert.match(result.output, /session has successfully been closed/);
    await daemon.waitForLog(outcome('alice', 'login', 'granted'));
  });
});

// --------------------------------------------------------- b. step-up

describe('b. sudo step-up (service "sudo", max_age)', () => {
  test('max_age=0 asks for max_age=0 and prompt=login, and succeeds after approval', async (t) => {
    const daemon = await daemonFor(t);
    const pam = pamFor(t, { daemon, service: 'sudo', user: 'alice', args: 'max_age=0' });
    const url = await pam.waitForUrl();
    assert.match(pam.output(), whoLine('alice', 'sudo'));
    const auth = await authorizationUrl(url);
    assert.equal(auth.searchParams.get('max_age'), '0');
    assert.equal(auth.searchParams.get('prompt'), 'login');
    await approve(url, { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();

    assert.equal(result.code, 0, result.output);
    assert.match(result.output, SUCCESS);
    await daemon.waitForLog(outcome('alice', 'sudo', 'granted'));
  });

  // A fresh daemon behind the evil proxy; one step-up with max_age=60
  // while the proxy rewrites the token with edit(payload).
  async function stepUpThroughProxy(t, edit) {
    const proxy = await startEvilProxy({ upstream: provider.issuer });
    t.after(() => proxy.stop());
    const daemon = await daemonFor(t, { config: { provider: proxy.endpoints } });
    const seen = [];
    proxy.set({
      token: resignIdToken(signer.privateKey, (p) => {
        seen.push({ ...p });
        edit(p);
      }),
    });
    const pam = pamFor(t, { daemon, service: 'sudo', user: 'alice', args: 'max_age=60' });
    const url = await pam.waitForUrl();
    await approve(url, { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    assert.deepEqual(proxy.errors, [], 'the proxy did what the test asked');
    assert.equal(seen.length, 1, 'one token went through the proxy');
    return { proxy, daemon, result, original: seen[0] };
  }

  function assertDenied({ daemon, result }, reason) {
    const ctx = `\n--- pamtester:\n${result.output}\n--- daemon:\n${daemon.logs()}`;
    assert.notEqual(result.code, 0, `the step-up went through${ctx}`);
    assert.doesNotMatch(result.output, SUCCESS, ctx);
    assert.match(result.output, SAYS_UNVERIFIED, ctx);
    assert.doesNotMatch(daemon.logs(), LOG_ANY_GRANT, ctx);
    return Promise.all([
      daemon.waitForLog(outcome('alice', 'sudo', 'denied', reason)),
      daemon.waitForLog(REJECTED(reason)),
    ]);
  }

  test('auth_time an hour old with max_age=60 is refused (E_AUTH_TIME)', async (t) => {
    const run = await stepUpThroughProxy(t, (p) => { p.auth_time = now() - 3600; });
    assert.equal(typeof run.original.auth_time, 'number', 'the provider sent auth_time');
    await assertDenied(run, 'E_AUTH_TIME');

    // The same daemon, the provider's own token: granted (the refusal
    // was for auth_time alone).
    run.proxy.reset();
    const pam = pamFor(t, { daemon: run.daemon, service: 'sudo', user: 'alice', args: 'max_age=60' });
    await approve(await pam.waitForUrl(), { login: 'id-alice' });
    pam.pressEnter();
    pam.endInput();
    const good = await pam.result();
    assert.equal(good.code, 0, `${good.output}\n--- daemon:\n${run.daemon.logs()}`);
    await run.daemon.waitForLog(outcome('alice', 'sudo', 'granted'));
  });

  test('no auth_time at all with max_age=60 is refused (E_AUTH_TIME)', async (t) => {
    const run = await stepUpThroughProxy(t, (p) => { delete p.auth_time; });
    assert.equal(typeof run.original.auth_time, 'number', 'the provider sent auth_time');
    await assertDenied(run, 'E_AUTH_TIME');
  });
});

// ------------------------------------------------------ c. real sudo

const SUDO = '/usr/bin/sudo';
const PAM_SUDO = '/etc/pam.d/sudo';
// Beside it while the test runs: the machine's file, for a run that was
// killed before it could restore it (see recoverPamSudo).
const PAM_SUDO_BACKUP = '/etc/pam.d/sudo.zkauth-e2e-orig';
const SUDOERS_FILE = '/etc/sudoers.d/zkauth-test';
const SUDO_TS_DIR = '/run/sudo/ts';
const MARK = '# zkauth e2e test: replaced for tests/e2e/console.test.mjs, restored after it';

function sudoSkip() {
  if (process.getuid?.() !== 0) return 'not root (it replaces /etc/pam.d/sudo and adds an account)';
  if (SAN) {
    return 'SAN=1: sudo is setuid root, so the loader ignores LD_PRELOAD and the ASan-built module '
      + 'cannot have its runtime first ("ASan runtime does not come first in initial library list")';
  }
  for (const tool of [SUDO, '/usr/sbin/visudo', '/usr/bin/script', '/usr/bin/setpriv',
    '/usr/sbin/useradd', '/usr/sbin/userdel']) {
    if (!fs.existsSync(tool)) return `${tool} is missing (install the sudo package: tests/deps.sh)`;
  }
  const st = fs.statSync(SUDO);
  if (st.uid !== 0 || (st.mode & 0o4000) === 0) return `${SUDO} is not setuid root`;
  if (!fs.existsSync(PAM_SUDO)) return `${PAM_SUDO} is missing`;
  return false;
}

// Writes data to file through a new file and a rename (never half
// written), mode and owner given.
function replaceFile(file, data, { mode, uid = 0, gid = 0, atime, mtime }) {
  const next = `${file}.zkauth-e2e-new`;
  fs.writeFileSync(next, data, { mode });
  fs.chmodSync(next, mode);
  fs.chownSync(next, uid, gid);
  if (mtime) fs.utimesSync(next, atime, mtime);
  fs.renameSync(next, file);
}

// A run killed mid-test leaves our /etc/pam.d/sudo and the backup: put
// the machine's file back first. A backup without our file in place is
// stale (the file changed since): dropped.
function recoverPamSudo() {
  if (!fs.existsSync(PAM_SUDO_BACKUP)) return;
  if (fs.readFileSync(PAM_SUDO, 'utf8').startsWith(MARK)) {
    const st = fs.statSync(PAM_SUDO_BACKUP);
    replaceFile(PAM_SUDO, fs.readFileSync(PAM_SUDO_BACKUP), {
      mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, atime: st.atime, mtime: st.mtime,
    });
  }
  fs.rmSync(PAM_SUDO_BACKUP, { force: true });
}

/*
 * Replaces /etc/pam.d/sudo with text and installs sudoers (checked with
 * visudo first). Returns restore(): the machine's /etc/pam.d/sudo back
 * byte for byte (with its mode, owner and times), the sudoers file gone.
 */
function installSudoConfig(pamText, sudoersText) {
  recoverPamSudo();
  if (fs.existsSync(SUDOERS_FILE) && !fs.readFileSync(SUDOERS_FILE, 'utf8').startsWith(MARK)) {
    throw new Error(`${SUDOERS_FILE} exists and is not ours`);
  }
  const original = fs.readFileSync(PAM_SUDO);
  const st = fs.statSync(PAM_SUDO);
  const owner = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, atime: st.atime, mtime: st.mtime };
  const restore = () => {
    const errors = [];
    try {
      if (!fs.readFileSync(PAM_SUDO).equals(original)) replaceFile(PAM_SUDO, original, owner);
      assert.ok(fs.readFileSync(PAM_SUDO).equals(original), `${PAM_SUDO} restored`);
      fs.rmSync(PAM_SUDO_BACKUP, { force: true });
    } catch (err) { errors.push(err); }
    try { fs.rmSync(SUDOERS_FILE, { force: true }); } catch (err) { errors.push(err); }
    if (errors.length) throw errors[0];
  };
  try {
    replaceFile(PAM_SUDO_BACKUP, original, owner);
    replaceFile(PAM_SUDO, pamText, { ...owner, atime: undefined, mtime: undefined });
    const dir = tempDir('zkauth-sudoers-');
    try {
      const candidate = path.join(dir, 'sudoers');
      fs.writeFileSync(candidate, sudoersText, { mode: 0o440 });
      execFileSync('visudo', ['-c', '-q', '-f', candidate], { stdio: ['ignore', 'pipe', 'pipe'] });
    } finally {
      removeTempDir(dir);
    }
    replaceFile(SUDOERS_FILE, sudoersText, { mode: 0o440 });
  } catch (err) {
    restore();
    throw err;
  }
  return restore;
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, "'\\''")}'`;
}

/*
 * Runs command (argv) as account in a pseudo-terminal that belongs to it:
 *   setpriv --reuid --regid --init-groups script -qefc "exec ..." /dev/null
 * Returns { child, output(), waitFor(re, ms), type(text), kill(), result(ms) }.
 * Output has carriage returns removed.
 */
function runInTerminal(account, command) {
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TERM: 'dumb',
    SHELL: '/bin/sh',
  };
  const child = spawn('setpriv', [
    `--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups',
    'script', '-qefc', `exec ${command.map(shellQuote).join(' ')}`, '/dev/null',
  ], { env, cwd: account.home, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  let raw = '';
  const onData = (chunk) => { raw += chunk.replace(/\r/g, ''); };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const closed = childClosed(child, 'script');
  const alive = () => child.exitCode === null && child.signalCode === null;
  // The processes in script's terminal (the command and what it forked).
  const descendants = (pid) => {
    let kids = [];
    try {
      kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch { /* gone */ }
    return kids.flatMap((k) => [k, ...descendants(k)]);
  };
  return {
    child,
    output: () => raw,
    // Resolves with the first line matching re.
    async waitFor(re, ms = 15000) {
      const hit = () => raw.split('\n').find((l) => re.test(l));
      try {
        return await waitFor(() => {
          const line = hit();
          if (line !== undefined) return { line };
          if (!alive()) throw new Error(`the terminal ended before a line matching ${re}`);
          return null;
        }, { ms, what: `a line matching ${re} in the terminal` }).then((h) => h.line);
      } catch (err) {
        err.message += `; output so far:\n${raw}`;
        throw err;
      }
    },
    type(text) {
      if (child.stdin.writable) child.stdin.write(text);
    },
    async kill() {
      if (!alive()) return;
      for (const pid of descendants(child.pid).reverse()) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      child.kill('SIGKILL');
      await closed;
    },
    async result(ms = 30000) {
      const timer = setTimeout(() => { this.kill(); }, ms);
      const { code, signal } = await closed;
      clearTimeout(timer);
      if (child.stdin.writable) child.stdin.end();
      return { code, signal, output: raw, lines: raw.split('\n') };
    },
  };
}

const sudoSkipReason = sudoSkip();

describe('c. the real sudo (/etc/pam.d/sudo)', () => {
  test(`${SUDO_USER} runs "sudo -S -u root id -un" after approving: prints root`, { skip: sudoSkipReason }, async (t) => {
    const cleanup = cleanupStack(t);
    const account = createAccount(SUDO_USER);
    cleanup(() => account.remove());
    // sudo's time stamp record of the account (timestamp_timeout=0 makes
    // it useless, not absent).
    cleanup(() => fs.rmSync(path.join(SUDO_TS_DIR, SUDO_USER), { force: true }));

    const daemon = await daemonFor(t, { usersMap: `id-alice ${SUDO_USER}\n` });
    addDaemonAccount(daemon, account);

    const restore = installSudoConfig(
      `${MARK}\n`
      + `auth required ${MODULE} socket=${daemon.socket} max_age=0\n`
      + '@include common-account\n'
      + '@include common-session-noninteractive\n',
      `${MARK}\n`
      + `Defaults:${SUDO_USER} !lecture, timestamp_timeout=0, passwd_tries=1\n`
      + `${SUDO_USER} ALL=(root) /usr/bin/id\n`,
    );
    cleanup(restore);

    const term = runInTerminal(account, [SUDO, '-S', '-u', 'root', '/usr/bin/id', '-un']);
    cleanup(() => term.kill());

    let url;
    try {
      url = (await term.waitFor(URL_LINE)).trim();
    } catch (err) {
      if (/effective uid is not 0|nosuid|no new privileges/.test(term.output())) {
        t.skip(`sudo cannot become root here: ${term.output().trim()}`);
        return;
      }
      throw err;
    }
    const ctx = () => `\n--- terminal:\n${term.output()}\n--- daemon:\n${daemon.logs()}`;
    assert.match(term.output(), whoLine(SUDO_USER, 'sudo'), `the prompt names sudo${ctx()}`);
    const auth = await authorizationUrl(url);
    assert.equal(auth.searchParams.get('max_age'), '0');
    assert.equal(auth.searchParams.get('prompt'), 'login');
    await approve(url, { login: 'id-alice' });
    term.type('\r');
    const result = await term.result();

    assert.equal(result.code, 0, `sudo failed${ctx()}`);
    assert.ok(result.lines.some((l) => l.trim() === 'root'), `id -un printed root${ctx()}`);
    // sudo (setuid root) is the module's caller: the daemon sees uid 0.
    await daemon.waitForLog(outcome(SUDO_USER, 'sudo', 'granted'));
    assert.match(daemon.logs(), new RegExp(`login user="${SUDO_USER}" .*\\buid=0\\b.*result=granted`));
  });
});

// --------------------------------------------------- d. screen locker

describe('d. screen locker (a non-root caller)', { skip: process.getuid?.() === 0 ? false : 'not root (useradd)' }, () => {
  test(`${LOCK_USER} unlocks itself; asking for alice or root is refused without a link`, async (t) => {
    const cleanup = cleanupStack(t);
    const account = createAccount(LOCK_USER);
    cleanup(() => account.remove());
    const daemon = await daemonFor(t, { usersMap: `id-alice ${LOCK_USER}\nid-alice alice\n` });
    addDaemonAccount(daemon, account);
    const as = { daemon, service: 'xscreensaver', uid: account.uid, gid: account.gid };

    const self = pamFor(t, { ...as, user: LOCK_USER }, cleanup);
    const url = await self.waitForUrl();
    assert.match(self.output(), whoLine(LOCK_USER, 'xscreensaver'));
    await approve(url, { login: 'id-alice' });
    self.pressEnter();
    self.endInput();
    const ok = await self.result();
    assert.equal(ok.code, 0, `${ok.output}\n--- daemon:\n${daemon.logs()}`);
    assert.match(ok.output, SUCCESS);
    await daemon.waitForLog(new RegExp(
      `login user="${LOCK_USER}" .*\\buid=${account.uid}\\b.*result=granted`,
    ));

    for (const other of ['alice', 'root']) {
      const pam = pamFor(t, { ...as, user: other }, cleanup);
      pam.endInput();
      const r = await pam.result();
      const ctx = `\n--- pamtester:\n${r.output}\n--- daemon:\n${daemon.logs()}`;
      assert.notEqual(r.code, 0, `uid ${account.uid} signed in ${other}${ctx}`);
      assert.doesNotMatch(r.output, SUCCESS, ctx);
      assert.match(r.output, SAYS_NOT_ALLOWED, ctx);
      assert.ok(!r.output.split('\n').some((l) => URL_LINE.test(l)), `no link for ${other}${ctx}`);
      await daemon.waitForLog(new RegExp(
        `login user="${other}" .*\\buid=${account.uid}\\b.*result=refused reason=caller_not_allowed\\b`,
      ));
    }
    assert.equal(daemon.logs().split('\n').filter((l) => LOG_ANY_GRANT.test(l)).length, 1,
      'only the self sign-in was granted');
  });
});
