// The RPM packages, installed into a scratch root: `make rpm` (or the rpms
// an earlier `make rpm` of the same tree made), rpmlint with
// packaging/rpm/zkauth.rpmlintrc, `rpm --root DIR -i` of every rpm, each
// file where it belongs with its owner, mode and content, the scriptlets
// (run against stand-in commands: DIR has no /bin/sh to run them in), the
// authselect profile rendered for its features as authselect would, the
// INSTALLED daemon's --check-config, whole logins through the INSTALLED
// module (by its path in DIR, under pam_wrapper) on its own and in the
// profile's system-auth, against a daemon of the build and the test
// provider, then `rpm --root DIR -e` leaves nothing but a modified %config
// file (and the admin's own file next to it).
//
// Changes nothing outside its temporary directories, but `make rpm`
// rewrites build/rpm and the dist tarball at the top of the tree.
// Needs root (rpm installs files owned by root) and rpm; skipped, saying
// why, otherwise, and under SAN=1 (the packages are built without
// sanitizers). Without rpmlint (tests/deps.sh installs it) its test fails.
// Debian has no authselect: the test renders the profile's templates.
//
//   ZK_BUILD=$PWD/build node --test tests/e2e/rpm.test.mjs
//   ZK_RPM_DIR=build/rpm/RPMS node --test tests/e2e/rpm.test.mjs   # rpms of an earlier `make rpm`

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';

import { approve } from './browser.mjs';
import {
  CLIENT_SECRET, ROOT, SAN, removeTempDir, runPamService, startDaemon, startProvider, tempDir,
  onPath, runCommand as run,
} from './lib.mjs';

const PACKAGES = ['pam_zkauth', 'zkauth-verifyd'];
const RPMLINTRC = path.join(ROOT, 'packaging', 'rpm', 'zkauth.rpmlintrc');
const PROFILE_SRC = path.join(ROOT, 'packaging', 'authselect', 'zkauth');
const PROFILE = '/usr/share/authselect/vendor/zkauth';
const DAEMON = '/usr/sbin/zkauth-verifyd';
const SERVICE = 'zkauth-rpm-test';
const SUCCESS = /successfully authenticated/;
// `rpm --root` keeps its database in DIR/var/lib/rpm (Debian's rpm
// defaults to ~/.rpmdb).
const DB = ['--dbpath', '/var/lib/rpm'];
const SCRIPTLETS = ['PRETRANS', 'PREIN', 'POSTIN', 'PREUN', 'POSTUN', 'POSTTRANS'];


function whySkip() {
  if (SAN) return 'the packages are built without sanitizers: runs in the plain pass';
  if (process.getuid?.() !== 0) return 'needs root: rpm installs files owned by root';
  if (!onPath('rpm')) return 'rpm is not installed (tests/deps.sh: rpm)';
  if (!process.env.ZK_RPM_DIR && !onPath('rpmbuild')) return 'rpmbuild is not installed (tests/deps.sh: rpm)';
  return null;
}

const skip = whySkip();


// The environment of a command that must not see the make that runs
// this test (make e2e passes its command line down in MAKEFLAGS).
function cleanEnv() {
  const env = { ...process.env };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL']) delete env[k];
  return env;
}

// One query of an rpm file (stdout only: Debian's rpm adds a warning
// about using rpm directly on stderr).
function qp(file, ...args) {
  return run('rpm', ['-qp', '--nosignature', ...args, file]).stdout;
}

// The files of a package, from its header.
function headerFiles(file) {
  return qp(file, '--qf', '[%{FILENAMES}\t%{FILEMODES:octal}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\n]')
    .split('\n').filter(Boolean).map((l) => {
      const [name, mode, user, group, flags] = l.split('\t');
      return { name, mode: parseInt(mode, 8), user, group, flags };
    });
}

function rpmFilesIn(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return rpmFilesIn(p);
    return e.name.endsWith('.rpm') && !e.name.endsWith('.src.rpm') ? [p] : [];
  });
}

/*
 * The rpms to test: those of ZK_RPM_DIR, or of an earlier `make rpm` when
 * its source tarball is the one `make dist` makes of the tree now (the
 * tarball is reproducible, and holds the spec too), or of a fresh
 * `make rpm`.
 */
function buildRpms() {
  if (process.env.ZK_RPM_DIR) return { dir: path.resolve(ROOT, process.env.ZK_RPM_DIR), built: 'ZK_RPM_DIR' };
  const rpmBuild = path.join(ROOT, 'build', 'rpm');
  const dir = path.join(rpmBuild, 'RPMS');
  run('make', ['-C', ROOT, 'dist'], { env: cleanEnv() });
  const version = /^VERSION\s*:=\s*(\S+)/m.exec(fs.readFileSync(path.join(ROOT, 'Makefile'), 'utf8'))[1];
  const tarball = `zkauth-${version}.tar.gz`;
  const same = (a, b) => fs.existsSync(a) && fs.existsSync(b) && fs.readFileSync(a).equals(fs.readFileSync(b));
  const sources = path.join(rpmBuild, 'SOURCES');
  if (same(path.join(ROOT, tarball), path.join(sources, tarball))
      && same(path.join(ROOT, 'packaging', 'sysusers.d', 'zkauth.conf'), path.join(sources, 'zkauth.sysusers'))
      && fs.existsSync(dir)) {
    const made = fs.statSync(path.join(sources, tarball)).mtimeMs;
    const rpms = rpmFilesIn(dir);
    if (PACKAGES.every((p) => rpms.some((f) => path.basename(f).startsWith(`${p}-`)
        && fs.statSync(f).mtimeMs >= made))) {
      return { dir, built: 'reused' };
    }
  }
  run('make', ['-C', ROOT, 'rpm'], { env: cleanEnv() });
  return { dir, built: 'make rpm' };
}

// ------------------------------------------------- authselect templates

// authselect's template operators (authselect-profiles(5); the regular
// expression of src/lib/util/template.c).
const OPERATOR = /\{(?:(continue if|stop if|include if|exclude if) ([^{}|:]+)|(if) ([^{}|:]+):([^{}|]*)(?:\|([^{}|]*))?|(imply) "([^{}"|]+)" if ([^{}|:]+))\}/;

// "feature", not, and, or and parentheses, as authselect evaluates them.
function evaluate(expression, features) {
  const tokens = expression.match(/"[^"]*"|\(|\)|[^\s()"]+/g) ?? [];
  let i = 0;
  const atom = () => {
    const t = tokens[i++];
    if (t === '(') {
      const v = or();
      assert.equal(tokens[i++], ')', `a ")" in ${expression}`);
      return v;
    }
    assert.match(t ?? '', /^"[^"]+"$/, `a feature in ${expression}`);
    return features.has(t.slice(1, -1));
  };
  const not = () => {
    if (tokens[i] !== 'not') return atom();
    i++;
    return !not();
  };
  const and = () => {
    let v = not();
    while (tokens[i] === 'and') { i++; v = not() && v; }
    return v;
  };
  const or = () => {
    let v = and();
    while (tokens[i] === 'or') { i++; v = and() || v; }
    return v;
  };
  const value = or();
  assert.equal(i, tokens.length, `the whole expression ${expression}`);
  return value;
}

// A profile file for a set of features, as `authselect select` writes it
// (without its "Generated by authselect" preamble).
function render(template, features) {
  const enabled = new Set(features);
  const out = [];
  for (let line of template.split('\n')) {
    let keep = true;
    let stop = false;
    let m;
    while (keep && !stop && (m = OPERATOR.exec(line))) {
      const [op, at] = [m[0], m.index];
      const cut = () => line.slice(0, at) + line.slice(at + op.length);
      if (m[1]) {
        const on = evaluate(m[2], enabled);
        if (m[1] === 'include if' || m[1] === 'exclude if') {
          if (on === (m[1] === 'include if')) line = cut();
          else keep = false;
        } else if (on === (m[1] === 'continue if')) {
          keep = false;
        } else {
          line = line.slice(0, at);
          stop = true;
        }
      } else if (m[3]) {
        line = line.slice(0, at) + (evaluate(m[4], enabled) ? m[5] : (m[6] ?? '')) + line.slice(at + op.length);
      } else {
        if (evaluate(m[9], enabled)) enabled.add(m[8]);
        keep = false;
      }
    }
    if (keep) out.push(line.trimEnd());
    if (stop) break;
  }
  return out.join('\n');
}

// The features a template names.
function templateFeatures(template) {
  const found = new Set();
  for (const m of template.matchAll(new RegExp(OPERATOR, 'g'))) {
    for (const expr of [m[2], m[4], m[9]]) {
      for (const f of (expr ?? '').matchAll(/"([^"]+)"/g)) found.add(f[1]);
    }
    if (m[8]) found.add(m[8]);
  }
  return found;
}

const PAM_LINE = /^-?(auth|account|password|session)\s+(required|requisite|sufficient|optional|\[[a-z_]+=[a-z0-9]+(?: [a-z_]+=[a-z0-9]+)*\])\s+\S+\.so(\s|$)/;

// ----------------------------------------------------------- scriptlets

// One stand-in for the commands the scriptlets run: it logs "name args"
// and answers as on a machine without the zkauth user, with
// $AUTHSELECT_CURRENT as the selected authselect profile.
const STUB = `#!/bin/sh
echo "$(basename "$0") $*" >>"$STUB_LOG"
case "$(basename "$0") \${1:-}" in
"getent "*) exit 2 ;;
"authselect current") [ -n "\${AUTHSELECT_CURRENT:-}" ] || exit 2; echo "$AUTHSELECT_CURRENT" ;;
"authselect select") [ -z "\${AUTHSELECT_FAIL_SELECT:-}" ] || exit 1 ;;
esac
exit 0
`;
const STUBBED = ['getent', 'groupadd', 'useradd', 'systemctl', 'systemd-sysusers', 'authselect'];

describe('RPM packages', { skip: skip ?? false }, () => {
  let rpms;
  let root;
  let work;
  let fileLists;
  let modulePath;

  before(() => {
    const started = Date.now();
    const { dir, built } = buildRpms();
    const all = rpmFilesIn(dir);
    rpms = Object.fromEntries(PACKAGES.map((pkg) => {
      const found = all.filter((f) => new RegExp(`^${pkg}-\\d`).test(path.basename(f)));
      assert.equal(found.length, 1, `one ${pkg} rpm in ${dir}: ${all.join(' ')}`);
      return [pkg, found[0]];
    }));
    // The -debuginfo (and -debugsource) packages of this build.
    const version = qp(rpms.pam_zkauth, '--qf', '%{VERSION}-%{RELEASE}.%{ARCH}');
    rpms.debug = all.filter((f) => /-debug(info|source)-/.test(path.basename(f))
      && path.basename(f).includes(version));
    process.stderr.write(`rpms (${built}, ${Date.now() - started} ms): ${[...PACKAGES.map((p) => rpms[p]), ...rpms.debug]
      .map((f) => path.basename(f)).join(' ')}\n`);

    root = tempDir('zkauth-rpmroot-');
    work = tempDir('zkauth-rpmtest-');
    run('rpm', ['--root', root, ...DB, '--initdb']);
    // --noscripts: rpm runs scriptlets chrooted into DIR, which has no
    // /bin/sh; the scriptlets test runs them. --nodeps: DIR has no libc.
    run('rpm', ['--root', root, ...DB, '--nodeps', '--noscripts', '-i',
      ...PACKAGES.map((p) => rpms[p]), ...rpms.debug]);
    fileLists = Object.fromEntries(PACKAGES.map((pkg) => [pkg, headerFiles(rpms[pkg])]));
    modulePath = fileLists.pam_zkauth.map((f) => f.name).find((f) => /^\/usr\/lib(64)?\/security\/pam_zkauth\.so$/.test(f));
  });

  after(() => {
    if (root) removeTempDir(root);
    if (work) removeTempDir(work);
  });

  test('rpmlint: no errors, no warnings but the filtered ones', () => {
    assert.ok(onPath('rpmlint'), 'rpmlint is not installed (tests/deps.sh: rpmlint)');
    // Each filter says why it is there; rpmlint reports one nothing matched.
    // Without a -debuginfo package (the spec strips the binaries itself
    // where find-debuginfo or eu-strip is missing) its filters go.
    let rc = RPMLINTRC;
    if (!rpms.debug.length) {
      rc = path.join(work, 'zkauth.rpmlintrc');
      fs.writeFileSync(rc, fs.readFileSync(RPMLINTRC, 'utf8').split('\n')
        .filter((l) => !/^addFilter\(r"\^zkauth-debuginfo\\\./.test(l)).join('\n'));
    }
    const r = run('rpmlint', ['-r', rc, ...PACKAGES.map((p) => rpms[p]), ...rpms.debug],
      { mayFail: true, env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, /^\S+: [EW]: /m, r.output);
    assert.match(r.output, / 0 errors, 0 warnings, /, r.output);
  });

  test('the files are where Fedora wants them, with their owners and modes', () => {
    assert.ok(modulePath, `the module in ${fileLists.pam_zkauth.map((f) => f.name).join(' ')}`);
    const docDir = (pkg, kind) => new RegExp(`^/usr/share/${kind}/${pkg}(-[^/]+)?(/|$)`);
    const expected = {
      pam_zkauth: [modulePath, '/usr/share/man/man8/pam_zkauth.8.gz', '/usr/share/authselect',
        '/usr/share/authselect/vendor', PROFILE, ...fs.readdirSync(PROFILE_SRC).map((f) => `${PROFILE}/${f}`)],
      'zkauth-verifyd': [DAEMON, '/usr/lib/systemd/system/zkauth-verifyd.service',
        '/usr/lib/sysusers.d/zkauth.conf', '/etc/zkauth', '/etc/zkauth/zkauth.conf', '/etc/zkauth/users.map',
        '/usr/share/man/man5/zkauth.conf.5.gz', '/usr/share/man/man8/zkauth-verifyd.8.gz'],
    };
    for (const pkg of PACKAGES) {
      const names = fileLists[pkg].map((f) => f.name);
      for (const f of expected[pkg]) assert.ok(names.includes(f), `${pkg} ships ${f}:\n${names.join('\n')}`);
      // Nothing else but its license, its documents and build-id links.
      const extra = names.filter((f) => !expected[pkg].includes(f) && !docDir(pkg, 'licenses').test(f)
        && !docDir(pkg, 'doc').test(f) && !/^\/usr\/lib\/\.build-id(\/|$)/.test(f));
      assert.deepEqual(extra, [], `${pkg}: unexpected files`);
      assert.ok(names.some((f) => docDir(pkg, 'licenses').test(f) && f.endsWith('/LICENSE')), `${pkg}: %license LICENSE`);

      for (const f of fileLists[pkg]) {
        const st = fs.lstatSync(path.join(root, f.name));
        assert.equal(st.mode, f.mode, `${f.name}: installed as the header says (${f.mode.toString(8)})`);
        assert.ok(st.uid === 0 && st.gid === 0 && f.user === 'root' && f.group === 'root', `${f.name} belongs to root`);
        if (st.isDirectory()) assert.equal(st.mode & 0o7777, 0o755, `${f.name}: 0755`);
        else if (st.isFile()) {
          const want = f.name === DAEMON ? [0o755] : f.name === modulePath ? [0o755, 0o644] : [0o644];
          assert.ok(want.includes(st.mode & 0o7777), `${f.name}: mode ${(st.mode & 0o7777).toString(8)}`);
        } else assert.ok(st.isSymbolicLink(), `${f.name}: a file, a directory or a link`);
      }
    }

    // %config(noreplace): the admin's edits survive upgrades.
    const flags = Object.fromEntries(fileLists['zkauth-verifyd'].map((f) => [f.name, f.flags]));
    for (const f of ['/etc/zkauth/zkauth.conf', '/etc/zkauth/users.map']) {
      assert.match(flags[f], /c/, `${f} is %config`);
      assert.match(flags[f], /n/, `${f} is noreplace`);
    }
    const configs = [...fileLists.pam_zkauth, ...fileLists['zkauth-verifyd']].filter((f) => /c/.test(f.flags));
    assert.deepEqual(configs.map((f) => f.name).sort(), ['/etc/zkauth/users.map', '/etc/zkauth/zkauth.conf']);

    // rpm's own check of every file: digest, size, mode, owner, link.
    const v = run('rpm', ['--root', root, ...DB, '-V', '--nodeps', '--noscripts', ...PACKAGES], { mayFail: true });
    assert.equal(v.code, 0, v.output);
    assert.equal(v.stdout, '', v.stdout);

    // The contents: what the tree has.
    const same = (installed, source) => assert.equal(fs.readFileSync(path.join(root, installed), 'utf8'),
      fs.readFileSync(path.join(ROOT, source), 'utf8'), `${installed} is ${source}`);
    same('/etc/zkauth/zkauth.conf', 'packaging/zkauth.conf');
    same('/etc/zkauth/users.map', 'packaging/users.map');
    same('/usr/lib/sysusers.d/zkauth.conf', 'packaging/sysusers.d/zkauth.conf');
    for (const [page, src] of [['man8/pam_zkauth.8', 'pam_zkauth.8'], ['man8/zkauth-verifyd.8', 'zkauth-verifyd.8'],
      ['man5/zkauth.conf.5', 'zkauth.conf.5']]) {
      assert.equal(zlib.gunzipSync(fs.readFileSync(path.join(root, '/usr/share/man', `${page}.gz`))).toString(),
        fs.readFileSync(path.join(ROOT, 'packaging/man', src), 'utf8'), `${page} is packaging/man/${src}`);
    }
    for (const f of fs.readdirSync(PROFILE_SRC)) {
      const src = path.join(PROFILE_SRC, f);
      const dst = path.join(root, PROFILE, f);
      if (fs.lstatSync(src).isSymbolicLink()) assert.equal(fs.readlinkSync(dst), fs.readlinkSync(src), `${f}: a link`);
      else assert.equal(fs.readFileSync(dst, 'utf8'), fs.readFileSync(src, 'utf8'), `${PROFILE}/${f}`);
    }
    const unit = fs.readFileSync(path.join(root, '/usr/lib/systemd/system/zkauth-verifyd.service'), 'utf8');
    for (const line of ['User=zkauth', 'Type=notify', `ExecStart=${DAEMON}`, 'RuntimeDirectory=zkauth', 'LimitCORE=0']) {
      assert.ok(unit.split('\n').includes(line), `the unit says ${line}`);
    }

    // Stripped, with the debug information in the -debuginfo package.
    for (const bin of [DAEMON, modulePath]) {
      const sections = run('readelf', ['-S', '--wide', path.join(root, bin)]).stdout;
      assert.doesNotMatch(sections, /\s\.symtab\s/, `${bin} is stripped`);
      assert.doesNotMatch(sections, /\s\.debug_info\s/, `${bin} has no debug information`);
      if (rpms.debug.length) assert.match(sections, /\s\.gnu_debuglink\s/, `${bin} names its .debug file`);
    }
    if (rpms.debug.length) {
      const debugFiles = rpms.debug.flatMap((f) => qp(f, '-l').split('\n')).filter((f) => f.endsWith('.debug'));
      for (const bin of [DAEMON, modulePath]) {
        assert.ok(debugFiles.some((f) => f.startsWith(`/usr/lib/debug${bin}`)), `the debug information of ${bin}`);
      }
    }
    // Every build-id link resolves, across the packages.
    for (const top of ['/usr/lib/.build-id', '/usr/lib/debug/.build-id']) {
      const dir = path.join(root, top);
      if (!fs.existsSync(dir)) continue;
      for (const link of run('find', [dir, '-type', 'l']).stdout.split('\n').filter(Boolean)) {
        const target = path.resolve(path.dirname(link), fs.readlinkSync(link));
        assert.ok(target.startsWith(`${root}/`) && fs.existsSync(target), `${link} -> ${fs.readlinkSync(link)}`);
      }
    }
  });

  test('the scriptlets: not empty, POSIX sh, and what they do', (t) => {
    const stubs = path.join(work, 'stubs');
    fs.mkdirSync(stubs);
    fs.writeFileSync(path.join(stubs, 'stub'), STUB, { mode: 0o755 });
    for (const cmd of STUBBED) fs.symlinkSync('stub', path.join(stubs, cmd));
    const log = path.join(work, 'stub.log');

    const scripts = {};
    for (const pkg of PACKAGES) {
      scripts[pkg] = {};
      for (const tag of SCRIPTLETS) {
        const body = qp(rpms[pkg], '--qf', `%{${tag}}`);
        if (body === '(none)') continue;
        const prog = qp(rpms[pkg], '--qf', `%{${tag}PROG}`);
        assert.equal(prog, '/bin/sh', `${pkg} ${tag}: run by /bin/sh`);
        const code = body.split('\n').filter((l) => l.trim() && !/^\s*#/.test(l));
        assert.ok(code.length > 0, `${pkg} ${tag} is not empty:\n${body}`);
        const file = path.join(work, `${pkg}.${tag}`);
        fs.writeFileSync(file, body);
        // Debian's sh is dash: this is also a check for bashisms.
        run('sh', ['-n', file]);
        scripts[pkg][tag] = { body, file };
      }
    }
    assert.deepEqual(Object.keys(scripts['zkauth-verifyd']).sort(), ['POSTIN', 'POSTUN', 'PREIN', 'PREUN']);
    assert.deepEqual(Object.keys(scripts.pam_zkauth).sort(), ['POSTTRANS', 'PREUN']);

    const all = Object.values(scripts).flatMap((s) => Object.values(s)).map((s) => s.body).join('\n');
    if (/systemd-update-helper|systemd-sysusers/.test(all)) {
      t.skip('built with systemd-rpm-macros: its scriptlets are systemd\'s, not run here');
      return;
    }
    // Runs a scriptlet as rpm does (sh FILE COUNT), with the stand-ins first on PATH.
    const runScript = (pkg, tag, count, env = {}) => {
      fs.writeFileSync(log, '');
      run('sh', [scripts[pkg][tag].file, String(count)], {
        env: { PATH: `${stubs}:/usr/bin:/bin`, STUB_LOG: log, ...env },
      });
      return fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
    };

    // %pre: the zkauth user of the sysusers.d file, without systemd-rpm-macros.
    const pre = runScript('zkauth-verifyd', 'PREIN', 1);
    assert.ok(pre.includes('groupadd -r zkauth'), pre.join('\n'));
    const useradd = pre.find((l) => l.startsWith('useradd '));
    assert.match(useradd ?? '', /^useradd -r -g zkauth -d \/ -s \/sbin\/nologin -c zkauth OpenID Connect login verifier zkauth$/,
      pre.join('\n'));
    // %post: the preset decides on the first install only.
    assert.deepEqual(runScript('zkauth-verifyd', 'POSTIN', 1), ['systemctl --no-reload preset zkauth-verifyd.service']);
    assert.deepEqual(runScript('zkauth-verifyd', 'POSTIN', 2), []);
    // %preun: stopped and disabled on removal, left alone on upgrade.
    assert.deepEqual(runScript('zkauth-verifyd', 'PREUN', 0),
      ['systemctl --no-reload disable --now zkauth-verifyd.service']);
    assert.deepEqual(runScript('zkauth-verifyd', 'PREUN', 1), []);
    // %postun: restarted after an upgrade, where systemd runs.
    const booted = fs.existsSync('/run/systemd/system');
    assert.deepEqual(runScript('zkauth-verifyd', 'POSTUN', 1),
      booted ? ['systemctl daemon-reload', 'systemctl try-restart zkauth-verifyd.service'] : []);
    assert.deepEqual(runScript('zkauth-verifyd', 'POSTUN', 0), booted ? ['systemctl daemon-reload'] : []);

    // pam_zkauth %preun: out of the authselect PAM stacks before the module goes.
    const current = 'authselect current --raw';
    assert.deepEqual(runScript('pam_zkauth', 'PREUN', 0, { AUTHSELECT_CURRENT: 'zkauth with-faillock with-zkauth with-mkhomedir' }),
      [current, 'authselect select local with-faillock with-mkhomedir --quiet']);
    assert.deepEqual(runScript('pam_zkauth', 'PREUN', 0, { AUTHSELECT_CURRENT: 'zkauth with-zkauth', AUTHSELECT_FAIL_SELECT: '1' }),
      [current, 'authselect select local --quiet', 'authselect disable-feature with-zkauth']);
    assert.deepEqual(runScript('pam_zkauth', 'PREUN', 0, { AUTHSELECT_CURRENT: 'sssd with-zkauth' }), [current]);
    assert.deepEqual(runScript('pam_zkauth', 'PREUN', 0), [current]);
    assert.deepEqual(runScript('pam_zkauth', 'PREUN', 1, { AUTHSELECT_CURRENT: 'zkauth with-zkauth' }), []);
    // %posttrans: an upgraded profile is applied where it is selected.
    assert.deepEqual(runScript('pam_zkauth', 'POSTTRANS', 0, { AUTHSELECT_CURRENT: 'zkauth with-zkauth' }),
      [current, 'authselect apply-changes']);
    assert.deepEqual(runScript('pam_zkauth', 'POSTTRANS', 0, { AUTHSELECT_CURRENT: 'local' }), [current]);
  });

  test('the authselect profile: opt-in with-zkauth, no module arguments', () => {
    const dir = path.join(root, PROFILE);
    const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
    const readme = read('README');
    assert.match(readme.split('\n')[0], /\S/, 'the first line of README is the profile\'s name');
    assert.match(readme, /^ {2}authselect select zkauth with-zkauth$/m, 'README says how to select it');

    const pamFiles = ['system-auth', 'password-auth', 'fingerprint-auth', 'smartcard-auth', 'switchable-auth', 'postlogin'];
    const templates = [...pamFiles, 'nsswitch.conf', 'dconf-db', 'dconf-locks', 'REQUIREMENTS'];
    // Every feature the templates use is documented in README.
    const features = new Set(templates.flatMap((f) => [...templateFeatures(read(f))]));
    assert.ok(features.has('with-zkauth'));
    for (const f of features) assert.match(readme, new RegExp(`^${f}::$`, 'm'), `README documents ${f}`);

    const zkLine = /^auth\s+\[success=done default=ignore\]\s+pam_zkauth\.so$/;
    const sets = [[], ['with-zkauth'], ['with-zkauth', 'with-faillock', 'with-fingerprint', 'with-pam-u2f-2fa'],
      ['with-faillock', 'with-mkhomedir', 'with-systemd-homed', 'without-nullok']];
    for (const set of sets) {
      for (const f of pamFiles) {
        const lines = render(read(f), set).split('\n');
        for (const l of lines.filter((x) => x.trim() && !x.startsWith('#'))) {
          assert.match(l, PAM_LINE, `${f} for [${set}]: a PAM line`);
        }
        const zk = lines.filter((l) => l.includes('pam_zkauth'));
        if (!set.includes('with-zkauth') || !['system-auth', 'password-auth'].includes(f)) {
          assert.deepEqual(zk, [], `${f} for [${set}]: no pam_zkauth.so`);
          continue;
        }
        // Exactly one line, no arguments (no max_age: the daemon's
        // step_up_services decide), right before the password.
        assert.equal(zk.length, 1, `${f}: ${zk.join('\n')}`);
        assert.match(zk[0], zkLine, zk[0]);
        const at = lines.indexOf(zk[0]);
        assert.match(lines[at + 1], /^auth\s+sufficient\s+pam_unix\.so\b/, `${f}: pam_unix after pam_zkauth`);
        // A second factor that is required stays required.
        const u2f = lines.findIndex((l) => /^auth\s+required\s+pam_u2f\.so/.test(l));
        if (set.includes('with-pam-u2f-2fa')) assert.ok(u2f >= 0 && u2f < at, `${f}: pam_u2f 2FA before pam_zkauth`);
      }
      for (const f of ['nsswitch.conf', 'dconf-db', 'dconf-locks']) {
        assert.doesNotMatch(render(read(f), set), /[{}]/, `${f} for [${set}]: every operator rendered`);
      }
      const req = render(read('REQUIREMENTS'), set);
      assert.equal(/zkauth-verifyd/.test(req), set.includes('with-zkauth'), `REQUIREMENTS for [${set}]:\n${req}`);
      if (set.length === 0) assert.equal(req.trim(), '', 'no requirements without features');
    }
  });

  test('the installed daemon: --version, --check-config', () => {
    const daemon = path.join(root, DAEMON);
    const version = qp(rpms['zkauth-verifyd'], '--qf', '%{VERSION}');
    assert.equal(run(daemon, ['--version']).output.trim(), `zkauth-verifyd ${version}`);
    // The shipped zkauth.conf is all comments: the daemon refuses it.
    const shipped = run(daemon, ['--check-config', '-c', path.join(root, '/etc/zkauth/zkauth.conf')], { mayFail: true });
    assert.equal(shipped.code, 1, shipped.output);
    assert.match(shipped.output, /key 'client_id': is required/, shipped.output);

    const dir = path.join(work, 'check');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'client_secret'), `${CLIENT_SECRET}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'users.map'), 'id-alice alice\n', { mode: 0o644 });
    const conf = path.join(dir, 'zkauth.conf');
    fs.writeFileSync(conf, [
      '[provider]', 'profile = oidc', 'issuer = https://idp.example.com', 'client_id = ssh-hosts',
      `client_secret_file = ${dir}/client_secret`, 'token_auth_method = client_secret_basic',
      'redirect_uri = https://host.example.com:8443/zkauth/callback',
      '[listener]', 'listen = 127.0.0.1:8443',
      '[accounts]', `map_file = ${dir}/users.map`,
      '[daemon]', `socket = ${dir}/verifyd.sock`, '',
    ].join('\n'), { mode: 0o644 });
    const r = run(daemon, ['--check-config', '-c', conf], { mayFail: true });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, new RegExp(`^${conf}: OK$`, 'm'));
    assert.ok(!fs.existsSync(path.join(dir, 'verifyd.sock')), '--check-config starts nothing');
  });

  describe('logins through the installed module', () => {
    let provider;
    let daemon;

    before(async () => {
      provider = await startProvider();
      daemon = await startDaemon({ issuer: provider.issuer, flowTimeout: 60 });
    });

    after(async () => {
      await daemon?.stop();
      await provider?.stop();
    });

    // One login: pamtester through stack, the browser stand-in approves.
    async function login(stack) {
      const pam = runPamService({ daemon, service: SERVICE, stack });
      try {
        const url = await pam.waitForUrl();
        const page = await approve(url, { login: 'id-alice' });
        assert.ok(page.status < 400, `callback page: HTTP ${page.status}\n${page.body}`);
        pam.pressEnter();
        pam.endInput();
        const result = await pam.result();
        assert.equal(result.code, 0, `${result.output}\n--- daemon:\n${daemon.logs()}`);
        assert.match(result.output, SUCCESS);
        await daemon.waitForLog(new RegExp(`\\blogin user="alice" sub="id-alice" service="${SERVICE}" .*\\bresult=granted\\b`));
      } finally {
        pam.kill();
      }
    }

    const module = () => path.join(root, modulePath);

    test('on its own, by its path in the scratch root', async () => {
      await login(`auth required ${module()} socket=${daemon.socket} qr=off\n`
        + 'account required pam_permit.so\nsession required pam_permit.so\n');
    });

    // The auth lines of the profile's system-auth for with-zkauth, the
    // module by its path in DIR and told where the test daemon is.
    function systemAuth(socket) {
      const text = render(fs.readFileSync(path.join(root, PROFILE, 'system-auth'), 'utf8'), ['with-zkauth']);
      const auth = text.split('\n').filter((l) => /^auth\s/.test(l))
        .map((l) => l.replace(/(\s)pam_zkauth\.so$/, `$1${module()} socket=${socket} qr=off`));
      assert.equal(auth.filter((l) => l.includes(module())).length, 1, auth.join('\n'));
      return `${auth.join('\n')}\naccount required pam_permit.so\nsession required pam_permit.so\n`;
    }

    test('in the authselect profile\'s system-auth (with-zkauth): zkauth first', async () => {
      await login(systemAuth(daemon.socket));
    });

    test('in system-auth, without the daemon: the password is asked for', async () => {
      const gone = path.join(work, 'no-daemon', 'verifyd.sock');
      const pam = runPamService({ daemon, service: SERVICE, stack: systemAuth(gone) });
      try {
        // No answer to the password prompt: pam_unix fails, pam_deny ends it.
        pam.endInput();
        const result = await pam.result(30000);
        assert.notEqual(result.code, 0, result.output);
        assert.match(result.output, /Password:/, `pam_unix asked for the password:\n${result.output}`);
        assert.doesNotMatch(result.output, /^https?:\/\//m, 'no sign-in link without the daemon');
      } finally {
        pam.kill();
      }
    });
  });

  test('rpm -e leaves nothing but a modified %config file', () => {
    const etc = path.join(root, '/etc/zkauth');
    // The admin's edit of the map, and the admin's own secret file.
    fs.appendFileSync(path.join(etc, 'users.map'), 'id-alice alice\n');
    fs.writeFileSync(path.join(etc, 'client_secret'), 'secret\n', { mode: 0o600 });
    const names = [...PACKAGES, ...rpms.debug.map((f) => qp(f, '--qf', '%{NAME}'))];
    run('rpm', ['--root', root, ...DB, '-e', '--nodeps', '--noscripts', ...names]);
    assert.equal(run('rpm', ['--root', root, ...DB, '-qa']).stdout, '', 'no package left in the database');

    const left = run('find', [root, '-not', '-type', 'd', '-not', '-path', `${root}/var/lib/rpm/*`]).stdout
      .split('\n').filter(Boolean).map((f) => f.slice(root.length)).sort();
    // rpm keeps an edited %config file as .rpmsave; the unedited one goes.
    assert.deepEqual(left, ['/etc/zkauth/client_secret', '/etc/zkauth/users.map.rpmsave']);
    // The packages' own directories are gone, but the one still holding those.
    const dirs = Object.values(fileLists).flat().filter((f) => (f.mode & 0o170000) === 0o040000).map((f) => f.name);
    assert.deepEqual(dirs.filter((d) => fs.existsSync(path.join(root, d))), ['/etc/zkauth']);
  });

});
