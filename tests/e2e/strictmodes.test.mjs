// Secrets stay in the process, and the daemon trusts only files that no
// one else can change: it is not dumpable (no core file, no reading of its
// memory by another process of its uid), and --check-config and the start
// refuse a trusted file that is group-writable, a symbolic link, or in a
// directory others can write to, naming the file and the fault.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/strictmodes.test.mjs

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  DAEMON_BIN, ROOT, SAN, checkDaemonConfig, freePort, removeTempDir, sanitizerEnvironment,
  startDaemon, tempDir, terminateChild, trackChild, waitFor,
} from './lib.mjs';

const ISSUER = 'http://127.0.0.1:9/';

// Root may read any process's memory (CAP_SYS_PTRACE), dumpable or not,
// and a process without it may not read one that has more capabilities
// than itself. As root, the daemon and the reader therefore both run
// without CAP_SYS_PTRACE and with otherwise the same capabilities: then,
// as between two processes of one ordinary user, only the daemon's
// dumpable flag decides.
const NO_PTRACE = process.getuid() === 0 ? ['setpriv', '--bounding-set=-sys_ptrace', '--'] : [];

function spawnNoPtrace(cmd, args, opts) {
  const argv = [...NO_PTRACE, cmd, ...args];
  return spawn(argv[0], argv.slice(1), opts);
}

// Whether a process of the test's uid (without CAP_SYS_PTRACE) may open
// /proc/PID/mem: the kernel's check for a ptrace attach. A non-dumpable
// process's /proc files also belong to root, which alone refuses an
// ordinary user.
function openMem(pid) {
  const argv = [...NO_PTRACE, 'dd', `if=/proc/${pid}/mem`, 'bs=1', 'count=0', 'status=none'];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  return { ok: r.status === 0, err: r.stderr.trim() };
}

// "Max core file size  SOFT  HARD  bytes" of /proc/PID/limits.
function coreLimit(pid) {
  const m = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return { soft: m[1], hard: m[2] };
}

/*
 * A config for a daemon that needs no provider at start (discovery is
 * retried in the background): client secret, account map and zkauth.conf
 * in dir. Returns { conf, socket }.
 */
async function writeConfig(dir) {
  const port = await freePort();
  const secret = path.join(dir, 'client_secret');
  const map = path.join(dir, 'users.map');
  const socket = path.join(dir, 'verifyd.sock');
  fs.writeFileSync(secret, 'zkauth-test-secret\n', { mode: 0o600 });
  fs.writeFileSync(map, 'id-alice alice\n', { mode: 0o644 });
  const conf = path.join(dir, 'zkauth.conf');
  fs.writeFileSync(conf, [
    '[provider]', `issuer = ${ISSUER}`, 'client_id = zkauth-test', `client_secret_file = ${secret}`,
    `redirect_uri = http://127.0.0.1:${port}/zkauth/callback`,
    '[listener]', `listen = 127.0.0.1:${port}`,
    '[accounts]', `map_file = ${map}`,
    '[daemon]', `socket = ${socket}`, '',
  ].join('\n'), { mode: 0o644 });
  return { conf, socket };
}

function checkConfig(conf) {
  const r = spawnSync(DAEMON_BIN, ['--check-config', '-c', conf], { encoding: 'utf8' });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('zkauth-verifyd is not dumpable', () => {
  test('the unit file sets LimitCORE=0', () => {
    const unit = fs.readFileSync(path.join(ROOT, 'packaging/systemd/zkauth-verifyd.service'), 'utf8');
    assert.ok(unit.split('\n').includes('LimitCORE=0'), 'LimitCORE=0 in [Service]');
  });

  test('another process of its uid cannot read its memory; no core file', async (t) => {
    const dir = tempDir();
    t.after(() => removeTempDir(dir));
    const { conf, socket } = await writeConfig(dir);

    // The control: the same reader reads a dumpable process started the
    // same way.
    const sleeper = spawnNoPtrace('sleep', ['60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const sout = trackChild(sleeper);
    t.after(() => terminateChild(sleeper, sout));
    await waitFor(() => fs.existsSync(`/proc/${sleeper.pid}/cmdline`)
      && fs.readFileSync(`/proc/${sleeper.pid}/cmdline`, 'utf8').startsWith('sleep'), { what: 'sleep' });
    const control = openMem(sleeper.pid);
    assert.ok(control.ok, `the reader cannot read a dumpable process either: ${control.err}`);

    const daemon = spawnNoPtrace(DAEMON_BIN, ['-c', conf, '--log-stderr', '--debug'], {
      env: { ...process.env, ...sanitizerEnvironment() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = trackChild(daemon);
    let stopped = false;
    t.after(() => { if (!stopped) return terminateChild(daemon, out); });
    await waitFor(() => {
      if (daemon.exitCode !== null) throw new Error(`zkauth-verifyd exited:\n${out.lines.join('\n')}`);
      return fs.existsSync(socket) && out.lines.some((l) => /: ready: socket /.test(l));
    }, { what: 'the daemon socket' });

    const r = openMem(daemon.pid);
    assert.ok(!r.ok, `/proc/${daemon.pid}/mem could be opened: the daemon is dumpable`);
    assert.match(r.err, /Permission denied/);

    // RLIMIT_CORE 0, hard limit too. Only a proof where ours is above 0.
    const core = coreLimit(daemon.pid);
    assert.deepEqual(core, { soft: '0', hard: '0' }, `the daemon's core limit: ${JSON.stringify(core)}`);
    if (coreLimit(process.pid).hard === '0') t.diagnostic('the test runs with a hard core limit of 0 already');

    stopped = true;
    const { code } = await terminateChild(daemon, out);
    const text = out.lines.join('\n');
    assert.equal(code, 0, `zkauth-verifyd did not stop cleanly:\n${text}`);
    if (SAN) assert.doesNotMatch(text, /AddressSanitizer|LeakSanitizer|runtime error:/);
  });
});

describe('StrictModes for the files the daemon trusts', () => {
  test('a group-writable account map: --check-config and the start refuse it, naming the file', async (t) => {
    const dir = tempDir();
    t.after(() => removeTempDir(dir));
    const map = path.join(dir, 'users.map');
    fs.writeFileSync(map, 'id-alice alice\n');
    fs.chmodSync(map, 0o664);
    const opts = { issuer: ISSUER, config: { accounts: { map_file: map } } };

    const r = await checkDaemonConfig(opts);
    assert.equal(r.code, 1, r.output);
    assert.ok(r.output.includes(`map_file: ${map}: group-writable (mode 0664)`), r.output);
    assert.match(r.output, /chmod g-w/);
    await assert.rejects(startDaemon(opts), (err) => {
      assert.ok(err.message.includes(`${map}: group-writable (mode 0664)`), err.message);
      return true;
    });

    fs.chmodSync(map, 0o644);
    const ok = await checkDaemonConfig(opts);
    assert.equal(ok.code, 0, ok.output);
  });

  test('ca_file in a world-writable directory without the sticky bit is refused', async (t) => {
    const dir = tempDir();
    t.after(() => removeTempDir(dir));
    const sub = path.join(dir, 'ca');
    fs.mkdirSync(sub);
    fs.chmodSync(sub, 0o777);
    const ca = path.join(sub, 'ca.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n', { mode: 0o644 });
    const opts = { issuer: ISSUER, config: { provider: { ca_file: ca } } };

    const r = await checkDaemonConfig(opts);
    assert.equal(r.code, 1, r.output);
    assert.ok(r.output.includes(`ca_file: ${ca}: directory ${sub} is world-writable (mode 0777)`), r.output);

    fs.chmodSync(sub, 0o755);
    const ok = await checkDaemonConfig(opts);
    assert.equal(ok.code, 0, ok.output);
  });

  test('a symbolic link as zkauth.conf is refused', async (t) => {
    const dir = tempDir();
    t.after(() => removeTempDir(dir));
    const { conf } = await writeConfig(dir);
    const link = path.join(dir, 'link.conf');
    fs.symlinkSync(conf, link);

    const ok = checkConfig(conf);
    assert.equal(ok.code, 0, ok.output);
    const r = checkConfig(link);
    assert.equal(r.code, 1, r.output);
    assert.ok(r.output.includes(`${link}: is a symbolic link`), r.output);
  });
});
