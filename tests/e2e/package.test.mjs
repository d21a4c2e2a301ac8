// The Debian packages, installed for real: `make deb`, apt-get install of
// libpam-zkauth and zkauth-verifyd, every file where it belongs, a whole
// login through the INSTALLED daemon (run as the zkauth user the package
// made) and the INSTALLED module (loaded by libpam by name from its module
// directory, under pam_wrapper), the pam-auth-update profile off by default
// and taken out again on removal, then `dpkg --purge` leaves nothing.
//
// Changes the machine: installs and purges the two packages (refuses to
// run when they are installed already), enables the pam-auth-update
// profile for a moment (the common-* files and pam-auth-update's state are
// restored byte for byte afterwards). The package leaves the zkauth system
// user in place on purge, as Debian does with system users; the test
// checks that, then removes the user when the test made it.
//
// Needs root and dpkg-buildpackage; skipped, saying why, otherwise, and
// under SAN=1 (the packages are built without sanitizers).
//
//   node --test tests/e2e/package.test.mjs
//   ZK_DEB_DIR=build/deb node --test tests/e2e/package.test.mjs   # .debs of an earlier `make deb`

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { approve } from './browser.mjs';
import {
  CLIENT_ID, CLIENT_SECRET, ROOT, SAN, freePort, preloadLibraries, removeTempDir,
  startProvider, tempDir, terminateChild, trackChild, waitFor, waitForChildLine,
  onPath, runCommand as run,
} from './lib.mjs';

const PACKAGES = ['libpam-zkauth', 'zkauth-verifyd'];
const DAEMON = '/usr/sbin/zkauth-verifyd';
const SERVICE = 'zkauth-pkg-test';
const USER = 'alice';
const USER_UID = 20001;
const SUCCESS = /successfully authenticated/;
const PAM_FILES = ['auth', 'account', 'password', 'session', 'session-noninteractive']
  .map((f) => `/etc/pam.d/common-${f}`);
const PAM_STATE_DIR = '/var/lib/pam';
// Waits for the dpkg lock rather than failing at once.
const APT = ['-o', 'DPkg::Lock::Timeout=120', 'install', '-y', '--no-install-recommends'];


function installed(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && /\binstalled$/.test(r.stdout);
}

function whySkip() {
  if (SAN) return 'the packages are built without sanitizers: runs in the plain pass';
  if (process.getuid?.() !== 0) return 'needs root: installs and purges packages';
  for (const cmd of ['dpkg', 'apt-get', 'setpriv', 'pamtester']) {
    if (!onPath(cmd)) return `${cmd} is not installed`;
  }
  if (!process.env.ZK_DEB_DIR && !onPath('dpkg-buildpackage')) {
    return 'dpkg-buildpackage is not installed (tests/deps.sh: dpkg-dev debhelper)';
  }
  const there = PACKAGES.filter(installed);
  if (there.length) return `${there.join(' and ')} installed on this machine already: not replacing it`;
  return null;
}

const skip = whySkip();


// The environment of a command that must not see the make that runs
// this test (make e2e passes its command line down in MAKEFLAGS).
function cleanEnv(extra = {}) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', ...extra };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL']) delete env[k];
  return env;
}

function readIfThere(file) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
}

// The files PAM's configuration is made of, to put back as they were.
function snapshotPam() {
  const files = [...PAM_FILES];
  if (fs.existsSync(PAM_STATE_DIR)) {
    for (const f of fs.readdirSync(PAM_STATE_DIR)) files.push(path.join(PAM_STATE_DIR, f));
  }
  return new Map(files.map((f) => [f, readIfThere(f)]));
}

function restorePam(snapshot) {
  for (const [file, data] of snapshot) {
    if (data === null) fs.rmSync(file, { force: true });
    else fs.writeFileSync(file, data);
  }
}

function pamMentionsZkauth() {
  return PAM_FILES.some((f) => (readIfThere(f)?.toString() ?? '').includes('pam_zkauth'));
}

function getent(db, name) {
  const r = spawnSync('getent', [db, name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split(':') : null;
}

describe('Debian packages', { skip: skip ?? false }, () => {
  let debs;
  let multiarch;
  let arch;
  let version;
  let userExisted;
  let pamSnapshot;
  let fileLists;
  let purged = false;

  before(async () => {
    userExisted = getent('passwd', 'zkauth') !== null;
    pamSnapshot = snapshotPam();
    multiarch = (onPath('dpkg-architecture') ? run('dpkg-architecture', ['-qDEB_HOST_MULTIARCH'])
      : run('gcc', ['-print-multiarch'])).output.trim();

    let dir = process.env.ZK_DEB_DIR && path.resolve(ROOT, process.env.ZK_DEB_DIR);
    if (!dir) {
      // The unit tests ran in make check already: nocheck keeps this short.
      run('make', ['-C', ROOT, 'deb'], {
        env: cleanEnv({ DEB_BUILD_OPTIONS: process.env.DEB_BUILD_OPTIONS ?? 'nocheck' }),
      });
      dir = path.join(ROOT, 'build', 'deb');
    }
    debs = PACKAGES.map((pkg) => {
      const found = fs.readdirSync(dir).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
      assert.equal(found.length, 1, `one ${pkg} .deb in ${dir}: ${found.join(' ')}`);
      return path.join(dir, found[0]);
    });
    version = run('dpkg-deb', ['-f', debs[0], 'Version']).output.trim();
    arch = run('dpkg-deb', ['-f', debs[0], 'Architecture']).output.trim();
    // apt-get pulls in what the packages depend on.
    run('apt-get', [...APT, ...debs], { env: cleanEnv() });
    fileLists = Object.fromEntries(PACKAGES.map((pkg) => [pkg,
      run('dpkg-query', ['-L', pkg]).output.split('\n').filter((l) => l.startsWith('/'))]));
  });

  after(async () => {
    if (!purged) run('dpkg', ['--purge', ...PACKAGES], { env: cleanEnv(), mayFail: true });
    if (pamSnapshot) restorePam(pamSnapshot);
    if (userExisted === false && getent('passwd', 'zkauth')) run('userdel', ['zkauth'], { mayFail: true });
    if (userExisted === false && getent('group', 'zkauth')) run('groupdel', ['zkauth'], { mayFail: true });
  });

  test('lintian: no errors, no warnings', (t) => {
    if (!onPath('lintian')) {
      t.skip('lintian is not installed');
      return;
    }
    const dir = path.dirname(debs[0]);
    const changes = fs.readdirSync(dir).filter((f) => f.endsWith(`_${version}_${arch}.changes`));
    assert.equal(changes.length, 1, `one .changes for ${version} in ${dir}`);
    // Overrides (packaging/debian/*.lintian-overrides) say why each one is there.
    const r = run('lintian', ['--fail-on', 'error,warning', '--pedantic', '--display-info',
      path.join(dir, changes[0])], { mayFail: true });
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, /^[EW]: /m, r.output);
  });

  test('the files are where Debian wants them', () => {
    const module = `/usr/lib/${multiarch}/security/pam_zkauth.so`;
    assert.ok(fileLists['libpam-zkauth'].includes(module), fileLists['libpam-zkauth'].join('\n'));
    // libpam looks in /lib/<multiarch>/security: the same directory on a
    // merged-/usr system.
    assert.equal(fs.realpathSync(`/lib/${multiarch}/security/pam_zkauth.so`), fs.realpathSync(module));
    assert.equal(fs.statSync(module).mode & 0o7777, 0o644);

    const files = [
      ['libpam-zkauth', '/usr/share/pam-configs/zkauth'],
      ['libpam-zkauth', '/usr/share/man/man8/pam_zkauth.8.gz'],
      ['zkauth-verifyd', DAEMON],
      ['zkauth-verifyd', '/usr/lib/sysusers.d/zkauth.conf'],
      ['zkauth-verifyd', '/etc/zkauth/zkauth.conf'],
      ['zkauth-verifyd', '/etc/zkauth/users.map'],
      ['zkauth-verifyd', '/usr/share/man/man8/zkauth-verifyd.8.gz'],
      ['zkauth-verifyd', '/usr/share/man/man5/zkauth.conf.5.gz'],
    ];
    for (const [pkg, file] of files) {
      assert.ok(fileLists[pkg].includes(file), `${pkg} ships ${file}`);
      assert.ok(fs.statSync(file).isFile(), `${file} is installed`);
    }
    assert.equal(fs.statSync(DAEMON).mode & 0o7777, 0o755);

    const conffiles = run('dpkg-query', ['-W', '-f=${Conffiles}', 'zkauth-verifyd']).output;
    for (const f of ['/etc/zkauth/zkauth.conf', '/etc/zkauth/users.map']) {
      assert.match(conffiles, new RegExp(`^ ${f} [0-9a-f]{32}$`, 'm'), `${f} is a conffile`);
    }

    const unit = fileLists['zkauth-verifyd'].find((f) => f.endsWith('/systemd/system/zkauth-verifyd.service'));
    assert.ok(unit, 'the systemd unit is shipped');
    const text = fs.readFileSync(unit, 'utf8');
    for (const line of ['User=zkauth', 'Type=notify', `ExecStart=${DAEMON}`, 'RuntimeDirectory=zkauth', 'LimitCORE=0']) {
      assert.ok(text.split('\n').includes(line), `the unit says ${line}`);
    }
    assert.doesNotMatch(text, /^PrivateUsers=/m, 'no PrivateUsers=: the daemon must see callers\' uids');
    if (onPath('systemd-analyze')) {
      // Also opens the unit's Documentation= man pages, where man is installed.
      run('systemd-analyze', ['verify', ...(onPath('man') ? [] : ['--man=no']), unit]);
      // Exposure at most 2.0 (the threshold counts tenths).
      const sec = run('systemd-analyze', ['security', '--offline=true', '--threshold=20', unit]).output;
      const m = /Overall exposure level for zkauth-verifyd\.service: (\d+\.\d+)/.exec(sec);
      assert.ok(m && Number(m[1]) <= 2.0, sec.split('\n').slice(-2).join('\n'));
    }

    for (const pkg of PACKAGES) {
      assert.ok(fs.existsSync(`/usr/share/doc/${pkg}/copyright`), `${pkg} has its copyright file`);
    }
  });

  test('the zkauth system user exists; nothing is enabled', () => {
    const pw = getent('passwd', 'zkauth');
    assert.ok(pw, 'the zkauth user exists');
    assert.ok(Number(pw[2]) > 0 && Number(pw[2]) < 1000, `a system uid: ${pw[2]}`);
    assert.match(pw[6], /nologin$/, 'no login shell');
    assert.ok(getent('group', 'zkauth'), 'the zkauth group exists');

    assert.ok(!pamMentionsZkauth(), 'the pam-auth-update profile is not enabled by installing');
    assert.ok(!fs.existsSync('/etc/systemd/system/multi-user.target.wants/zkauth-verifyd.service'),
      'the service is not enabled by installing');

    const upstream = version.replace(/-[^-]+$/, '');
    assert.equal(run(DAEMON, ['--version']).output.trim(), `zkauth-verifyd ${upstream}`);
    // The shipped zkauth.conf is all comments: the daemon refuses it.
    const check = run(DAEMON, ['--check-config'], { mayFail: true });
    assert.equal(check.code, 1, check.output);
    assert.match(check.output, /\/etc\/zkauth\/zkauth\.conf: key 'client_id': is required/);
  });

  test('a whole login with the installed daemon and module', async (t) => {
    const zkauth = getent('passwd', 'zkauth');
    const [uid, gid] = [Number(zkauth[2]), Number(zkauth[3])];
    const dir = tempDir('zkauth-pkg-');
    t.after(() => removeTempDir(dir));
    const provider = await startProvider();
    t.after(() => provider.stop());

    // The socket directory belongs to the daemon's user, like
    // RuntimeDirectory=zkauth; the secret file too.
    const runDir = path.join(dir, 'run');
    fs.mkdirSync(runDir, { mode: 0o755 });
    fs.chownSync(runDir, uid, gid);
    const socket = path.join(runDir, 'verifyd.sock');
    const secret = path.join(dir, 'client_secret');
    fs.writeFileSync(secret, `${CLIENT_SECRET}\n`, { mode: 0o600 });
    fs.chownSync(secret, uid, gid);
    const map = path.join(dir, 'users.map');
    fs.writeFileSync(map, `id-${USER} ${USER}\n`, { mode: 0o644 });
    const port = await freePort();
    const conf = path.join(dir, 'zkauth.conf');
    fs.writeFileSync(conf, [
      '[provider]', 'profile = oidc', `issuer = ${provider.issuer}`, `client_id = ${CLIENT_ID}`,
      `client_secret_file = ${secret}`, 'token_auth_method = client_secret_basic',
      `redirect_uri = http://127.0.0.1:${port}/zkauth/callback`,
      '[listener]', `listen = 127.0.0.1:${port}`,
      '[accounts]', `map_file = ${map}`,
      '[daemon]', `socket = ${socket}`, 'flow_timeout = 60', '',
    ].join('\n'), { mode: 0o644 });

    // The login account comes from nss_wrapper; zkauth is the real one.
    const passwd = path.join(dir, 'passwd');
    const group = path.join(dir, 'group');
    fs.writeFileSync(passwd, `root:x:0:0:root:/root:/bin/sh\nzkauth:x:${uid}:${gid}:zkauth:/:/usr/sbin/nologin\n`
      + `${USER}:x:${USER_UID}:${USER_UID}:${USER}:/nonexistent:/bin/sh\n`, { mode: 0o644 });
    fs.writeFileSync(group, `root:x:0:\nzkauth:x:${gid}:\n${USER}:x:${USER_UID}:\n`, { mode: 0o644 });
    const nss = { NSS_WRAPPER_PASSWD: passwd, NSS_WRAPPER_GROUP: group };

    const daemon = spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs',
      DAEMON, '-c', conf, '--log-stderr', '--debug'], {
      env: { ...process.env, ...nss, LD_PRELOAD: preloadLibraries('libnss_wrapper.so') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const dout = trackChild(daemon);
    t.after(() => terminateChild(daemon, dout));
    await waitFor(() => {
      if (daemon.exitCode !== null) throw new Error(`zkauth-verifyd exited:\n${dout.lines.join('\n')}`);
      return fs.existsSync(socket) && dout.lines.some((l) => /: ready: socket /.test(l));
    }, { what: 'the installed daemon\'s socket' });
    const st = fs.statSync(socket);
    assert.equal(st.uid, uid, 'the socket belongs to zkauth');
    assert.equal(st.mode & 0o777, 0o666, 'any local user may connect');

    // "pam_zkauth.so" by name: libpam finds the installed module itself.
    const pamDir = path.join(dir, 'pam.d');
    fs.mkdirSync(pamDir, { mode: 0o755 });
    fs.writeFileSync(path.join(pamDir, SERVICE),
      `auth required pam_zkauth.so socket=${socket} qr=off\naccount required pam_permit.so\n`);
    fs.writeFileSync(path.join(pamDir, 'other'), 'auth required pam_deny.so\naccount required pam_deny.so\n');
    const pam = spawn('pamtester', ['-v', SERVICE, USER, 'authenticate'], {
      env: {
        ...process.env, ...nss, PAM_WRAPPER: '1', PAM_WRAPPER_SERVICE_DIR: pamDir,
        LD_PRELOAD: preloadLibraries('libpam_wrapper.so', 'libnss_wrapper.so'),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const pout = trackChild(pam);
    t.after(() => terminateChild(pam, pout, 1000));
    const url = await waitForChildLine(pout, /^https?:\/\/\S+$/, 10000, 'a URL from the installed module');
    const page = await approve(url, { login: `id-${USER}` });
    assert.ok(page.status < 400, `callback page: HTTP ${page.status}\n${page.body}`);
    pam.stdin.end('\n');
    const { code } = await pout.closed;
    const output = pout.lines.join('\n');
    assert.equal(code, 0, `${output}\n--- daemon:\n${dout.lines.join('\n')}`);
    assert.match(output, SUCCESS);
    await waitForChildLine(dout, new RegExp(`\\blogin user="${USER}" sub="id-${USER}" .*\\bresult=granted\\b`),
      5000, 'the grant in the daemon log');
    const { code: dcode, killed } = await terminateChild(daemon, dout);
    assert.ok(!killed && dcode === 0, `the daemon stops cleanly on SIGTERM:\n${dout.lines.join('\n')}`);
  });

  test('pam-auth-update: the profile goes in on request, out on removal', (t) => {
    const r = run('pam-auth-update', ['--enable', 'zkauth'], { env: cleanEnv(), mayFail: true });
    if (!pamMentionsZkauth() && /locally modified|override/i.test(r.output)) {
      t.skip('the common-* files here are locally modified: pam-auth-update leaves them alone');
      return;
    }
    assert.equal(r.code, 0, r.output);
    const auth = fs.readFileSync('/etc/pam.d/common-auth', 'utf8');
    assert.match(auth, /^auth\s+\[success=\d+ default=ignore\]\s+pam_zkauth\.so\s*$/m, auth);
    // Removal (prerm) must take it out: no stack may name a missing module.
    run('dpkg', ['--remove', 'libpam-zkauth'], { env: cleanEnv() });
    assert.ok(!pamMentionsZkauth(), fs.readFileSync('/etc/pam.d/common-auth', 'utf8'));
    run('apt-get', [...APT, debs[0]], { env: cleanEnv() });
    assert.ok(!pamMentionsZkauth(), 'reinstalling does not enable it again');
  });

  test('dpkg --purge leaves nothing behind but the zkauth user', () => {
    const before = new Map();
    for (const f of Object.values(fileLists).flat()) {
      // (stat, not lstat: /lib is a link to usr/lib on a merged-/usr system)
      before.set(f, fs.statSync(f, { throwIfNoEntry: false })?.isDirectory() ?? false);
    }
    // Files an admin adds to /etc/zkauth, as README.Debian says.
    fs.writeFileSync('/etc/zkauth/client_secret', 'secret\n', { mode: 0o600 });
    run('dpkg', ['--purge', ...PACKAGES], { env: cleanEnv() });
    purged = true;

    for (const pkg of PACKAGES) assert.ok(!installed(pkg), `${pkg} is purged`);
    const left = [...before].filter(([f, isDir]) => !isDir && fs.existsSync(f)).map(([f]) => f);
    assert.deepEqual(left, [], 'no file of the packages is left');
    for (const d of ['/etc/zkauth', '/usr/share/doc/libpam-zkauth', '/usr/share/doc/zkauth-verifyd']) {
      assert.ok(!fs.existsSync(d), `${d} is gone`);
    }
    const leftover = run('find', ['/etc', '/usr', '/var/lib/systemd', '/var/lib/dpkg/info',
      '-name', '*zkauth*', '-not', '-path', `${ROOT}/*`], { mayFail: true }).output
      .split('\n').filter((l) => l.startsWith('/'));
    assert.deepEqual(leftover, [], 'nothing named after zkauth in /etc, /usr, /var/lib');
    assert.ok(!pamMentionsZkauth(), 'no PAM stack names the module');
    // Debian's convention: system users stay (files may still carry the uid).
    assert.ok(getent('passwd', 'zkauth'), 'the zkauth user stays');
  });
});

// ------------------------------------------------------------------ RPM

function whySkipRpm() {
  if (SAN) return 'the packages are built without sanitizers: runs in the plain pass';
  if (!onPath('rpmbuild')) return 'rpmbuild is not installed (Debian package rpm)';
  return null;
}

describe('RPM packages', { skip: whySkipRpm() ?? false }, () => {
  test('make rpm: pam_zkauth and zkauth-verifyd from the dist tarball', () => {
    run('make', ['-C', ROOT, 'rpm'], { env: cleanEnv() });
    const rpmDir = path.join(ROOT, 'build', 'rpm', 'RPMS');
    const rpms = fs.readdirSync(rpmDir).flatMap((a) => fs.readdirSync(path.join(rpmDir, a))
      .map((f) => path.join(rpmDir, a, f)));
    const find = (name) => {
      const found = rpms.filter((f) => new RegExp(`^${name}-\\d`).test(path.basename(f)));
      assert.equal(found.length, 1, `one ${name} rpm: ${rpms.join(' ')}`);
      return found[0];
    };
    const q = (file, ...args) => run('rpm', ['-qp', '--nosignature', ...args, file]).output;

    const module = find('pam_zkauth');
    assert.match(q(module, '-l'), /^\/usr\/lib(?:64)?\/security\/pam_zkauth\.so$/m);
    assert.match(q(module, '-l'), /^\/usr\/share\/man\/man8\/pam_zkauth\.8/m);
    // The module and the daemon speak one protocol version.
    assert.match(q(module, '--requires'), /^zkauth-verifyd\(\S+\) = \S+$/m);

    const daemon = find('zkauth-verifyd');
    const files = q(daemon, '-l');
    for (const f of ['/usr/sbin/zkauth-verifyd', '/usr/lib/systemd/system/zkauth-verifyd.service',
      '/usr/lib/sysusers.d/zkauth.conf', '/usr/share/man/man8/zkauth-verifyd.8',
      '/usr/share/man/man5/zkauth.conf.5']) {
      assert.ok(files.split('\n').some((l) => l === f || l.startsWith(`${f}.`)), `${f} in\n${files}`);
    }
    assert.deepEqual(q(daemon, '-c').trim().split('\n').sort(),
      ['/etc/zkauth/users.map', '/etc/zkauth/zkauth.conf'], 'the config files are %config');
    // The zkauth user is made before the files land.
    assert.match(q(daemon, '--scripts'), /preinstall scriptlet[\s\S]*zkauth/);
  });
});
