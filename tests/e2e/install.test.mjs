// `make install` and `make uninstall` into a DESTDIR, from the tree that
// is already built (ZK_BUILD): every file where the Makefile promises, with
// its mode and its content, nothing else; the systemd unit names the
// daemon where SBINDIR put it; uninstall leaves no file behind.
//
// Changes nothing outside a temporary directory. Skipped under SAN=1: the
// plain build is what gets installed.
//
//   ZK_BUILD=$PWD/build node --test tests/e2e/install.test.mjs

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { DAEMON_BIN, MODULE, ROOT, SAN, ZK_BUILD, removeTempDir, tempDir } from './lib.mjs';

const UNITDIR = '/usr/lib/systemd/system';
const SYSUSERSDIR = '/usr/lib/sysusers.d';

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function whySkip() {
  if (SAN) return 'installs the plain build: runs in the plain pass';
  if (!onPath('make') || !onPath('install')) return 'make or install(1) is missing';
  for (const f of [MODULE, DAEMON_BIN]) {
    if (!fs.existsSync(f)) return `${f} is missing: run make`;
  }
  return false;
}

// make in the repository with the build directory of the tests; a make
// that runs us (make e2e) must not hand its own flags (jobserver, SAN=)
// down.
function make(target, vars) {
  const env = { ...process.env };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES']) delete env[k];
  const args = ['-s', '-C', ROOT, target, `BUILD=${ZK_BUILD}`,
    ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)];
  const r = spawnSync('make', args, { env, encoding: 'utf8' });
  assert.equal(r.status, 0, `make ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r;
}

function output(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

// Every non-directory under root, as absolute paths inside root.
function filesUnder(root) {
  const found = [];
  (function walk(dir) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else found.push(`/${path.relative(root, p)}`);
    }
  }(root));
  return found.sort();
}

function mode(file) {
  return fs.statSync(file).mode & 0o7777;
}

function sameBytes(a, b) {
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), `${a} differs from ${b}`);
}

// Where the Makefile puts the module: libpam's own directory, from
// pkg-config (PAMDIR). On a multiarch system that is the multiarch one.
function checkPamDir(pamdir) {
  const libdir = output('pkg-config', ['--variable=libdir', 'pam']);
  if (libdir) assert.equal(pamdir, `${libdir}/security`);
  const multiarch = output('gcc', ['-print-multiarch']);
  if (multiarch) {
    assert.ok([`/lib/${multiarch}/security`, `/usr/lib/${multiarch}/security`].includes(pamdir),
      `the module went to ${pamdir}, not libpam's multiarch directory for ${multiarch}`);
  }
}

function installOnce(prefix, { unitdir, sysusersdir } = {}) {
  const destdir = tempDir('zkauth-install-');
  try {
    const vars = { DESTDIR: destdir, PREFIX: prefix };
    if (unitdir) vars.UNITDIR = unitdir;
    if (sysusersdir) vars.SYSUSERSDIR = sysusersdir;
    make('install', vars);

    const files = filesUnder(destdir);
    const modules = files.filter((f) => path.basename(f) === 'pam_zkauth.so');
    assert.equal(modules.length, 1, `pam_zkauth.so installed ${modules.length} times: ${files.join(' ')}`);
    const pamdir = path.dirname(modules[0]);
    checkPamDir(pamdir);

    const at = (p) => path.join(destdir, p);
    const expected = {
      [`${pamdir}/pam_zkauth.so`]: { mode: 0o644, same: MODULE },
      [`${prefix}/sbin/zkauth-verifyd`]: { mode: 0o755, same: DAEMON_BIN },
      [`${prefix}/share/man/man8/pam_zkauth.8`]: { mode: 0o644, same: path.join(ROOT, 'packaging/man/pam_zkauth.8') },
      [`${prefix}/share/man/man8/zkauth-verifyd.8`]: { mode: 0o644, same: path.join(ROOT, 'packaging/man/zkauth-verifyd.8') },
      [`${prefix}/share/man/man5/zkauth.conf.5`]: { mode: 0o644, same: path.join(ROOT, 'packaging/man/zkauth.conf.5') },
    };
    if (unitdir) expected[`${unitdir}/zkauth-verifyd.service`] = { mode: 0o644 };
    if (sysusersdir) {
      expected[`${sysusersdir}/zkauth.conf`] = { mode: 0o644, same: path.join(ROOT, 'packaging/sysusers.d/zkauth.conf') };
    }
    assert.deepEqual(files, Object.keys(expected).sort(), 'the installed files');
    for (const [file, want] of Object.entries(expected)) {
      assert.equal(mode(at(file)).toString(8), want.mode.toString(8), `mode of ${file}`);
      if (want.same) sameBytes(at(file), want.same);
    }

    if (unitdir) {
      const unit = fs.readFileSync(at(`${unitdir}/zkauth-verifyd.service`), 'utf8');
      const source = fs.readFileSync(path.join(ROOT, 'packaging/systemd/zkauth-verifyd.service'), 'utf8');
      const exec = unit.split('\n').filter((l) => l.startsWith('ExecStart='));
      assert.equal(exec.length, 1, unit);
      assert.match(exec[0], new RegExp(`^ExecStart=${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/sbin/zkauth-verifyd(\\s|$)`));
      // nothing else of the unit changed, and no other path to the daemon is left
      assert.equal(unit.replaceAll(`${prefix}/sbin/zkauth-verifyd`, '/usr/sbin/zkauth-verifyd'), source);
      if (prefix !== '/usr') assert.doesNotMatch(unit, /\/usr\/sbin\/zkauth-verifyd/);
    }

    make('uninstall', vars);
    assert.deepEqual(filesUnder(destdir), [], 'files left after make uninstall');
  } finally {
    removeTempDir(destdir);
  }
}

describe('make install / uninstall', { skip: whySkip() }, () => {
  test('PREFIX=/usr with UNITDIR and SYSUSERSDIR', () => {
    installOnce('/usr', { unitdir: UNITDIR, sysusersdir: SYSUSERSDIR });
  });

  test('PREFIX=/usr/local with UNITDIR and SYSUSERSDIR: the unit runs /usr/local/sbin/zkauth-verifyd', () => {
    installOnce('/usr/local', { unitdir: '/usr/local/lib/systemd/system', sysusersdir: SYSUSERSDIR });
  });

  test('PREFIX=/usr/local without UNITDIR and SYSUSERSDIR: neither file is installed', () => {
    installOnce('/usr/local');
  });
});
