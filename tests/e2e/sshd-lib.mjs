// Harness for the OpenSSH tests: a real Debian sshd on a loopback port
// with its own sshd_config and host key in a temporary directory and the
// built pam_zkauth.so as its PAM "sshd" service (pam_wrapper), a real
// ssh client in a pseudo-terminal (script(1) from util-linux), a real
// local account for the login, and a QR check: the half-block QR the
// client shows, drawn to a PNG and read back with zbarimg.
//
// Needs root (sshd and useradd) and the Debian packages openssh-server,
// openssh-client, bsdutils (script), passwd (useradd) and zbar-tools.
//
// Environment: as lib.mjs (ZK_BUILD, SAN=1, ZK_KEEP=1).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

import {
  MODULE, SAN, checkSanitizerOutput, childClosed, freePort, preloadLibraries, removeTempDir,
  sanitizerEnvironment, tempDir, terminateChild, trackChild, waitForChildLine,
} from './lib.mjs';

export const SSHD = '/usr/sbin/sshd';
const PRIVSEP_DIR = '/run/sshd';
const ACCOUNT_MARK = 'zkauth e2e test account';

const SANITIZER_REPORT = /AddressSanitizer|LeakSanitizer|runtime error:/;

// What is missing to run these tests, or null.
export function missingTools() {
  if (process.getuid?.() !== 0) return 'not root (sshd and useradd need it)';
  for (const tool of [SSHD, '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/script',
    '/usr/sbin/useradd', '/usr/sbin/userdel', '/usr/bin/zbarimg']) {
    if (!fs.existsSync(tool)) return `${tool} is missing (tests/deps.sh)`;
  }
  return null;
}

// --------------------------------------------------------------- account

function getent(name) {
  try {
    return execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

/*
 * Creates a real local account (a system account, no password, shell
 * /bin/sh, its home a fresh temporary directory) for sshd to log in.
 * One left over by an earlier run that was killed (same name, our
 * comment) is removed first; any other account of that name is an error.
 * Returns { name, uid, gid, home, remove() }.
 */
export function createAccount(name) {
  const old = getent(name);
  if (old) {
    if (old.split(':')[4] !== ACCOUNT_MARK) {
      throw new Error(`an account ${name} exists and is not ours: ${old}`);
    }
    execFileSync('userdel', [name]);
  }
  const home = tempDir('zkauth-sshd-home-');
  execFileSync('useradd', ['--system', '--user-group', '--no-create-home',
    '--home-dir', home, '--shell', '/bin/sh', '--comment', ACCOUNT_MARK, name]);
  const [, , uid, gid] = getent(name).split(':');
  fs.chownSync(home, Number(uid), Number(gid));
  let removed = false;
  return {
    name,
    uid: Number(uid),
    gid: Number(gid),
    home,
    remove() {
      if (removed) return;
      removed = true;
      try { execFileSync('userdel', [name]); } finally { fs.rmSync(home, { recursive: true, force: true }); }
    },
  };
}

// ------------------------------------------------------------------ sshd

/*
 * Starts `/usr/sbin/sshd -D -e -f CONFIG` on 127.0.0.1 and a free port,
 * keyboard-interactive only, PAM service "sshd" from pam_wrapper's
 * service directory:
 *   auth required <build>/pam_zkauth.so socket=<socket> <moduleArgs>
 *                                    (or opts.auth: the auth lines)
 *   account required pam_permit.so   (or opts.account: the account lines)
 *   session required pam_permit.so
 * opts: socket (required), moduleArgs ('qr=utf8'), auth, account, allowUsers
 *   (names), loginGraceTime (seconds, 10).
 * Returns { dir, port, logs(), waitForLog(re, ms), stop() }.
 */
export async function startSshd(opts = {}) {
  if (!opts.socket) throw new Error('startSshd: a socket is needed');
  if (!fs.existsSync(MODULE)) throw new Error(`${MODULE} is missing: run make`);
  const dir = tempDir('zkauth-sshd-');
  const port = await freePort();

  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'zkauth-e2e', '-f', hostKey]);

  const pamDir = path.join(dir, 'pam.d');
  fs.mkdirSync(pamDir, { mode: 0o755 });
  // The first line makes the file unique (see removePamWrapperDirs).
  const service = `# zkauth e2e sshd ${path.basename(dir)}\n`
    + (opts.auth ?? `auth required ${MODULE} socket=${opts.socket} ${opts.moduleArgs ?? 'qr=utf8'}\n`)
    + (opts.account ?? 'account required pam_permit.so\n')
    + 'session required pam_permit.so\n'
    + 'password required pam_deny.so\n';
  fs.writeFileSync(path.join(pamDir, 'sshd'), service, { mode: 0o644 });
  fs.writeFileSync(path.join(pamDir, 'other'),
    'auth required pam_deny.so\naccount required pam_deny.so\n'
    + 'session required pam_deny.so\npassword required pam_deny.so\n', { mode: 0o644 });

  const config = path.join(dir, 'sshd_config');
  const lines = [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${hostKey}`,
    'PidFile none',
    'LogLevel VERBOSE',
    'UsePAM yes',
    'KbdInteractiveAuthentication yes',
    'AuthenticationMethods keyboard-interactive',
    'PasswordAuthentication no',
    'PubkeyAuthentication no',
    'HostbasedAuthentication no',
    'GSSAPIAuthentication no',
    'PermitRootLogin no',
    'PermitEmptyPasswords no',
    'AuthorizedKeysFile none',
    `LoginGraceTime ${opts.loginGraceTime ?? 10}`,
    'MaxAuthTries 3',
    'MaxStartups 10:30:20',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    'PermitTTY yes',
  ];
  if (opts.allowUsers?.length) lines.push(`AllowUsers ${opts.allowUsers.join(' ')}`);
  fs.writeFileSync(config, `${lines.join('\n')}\n`, { mode: 0o644 });

  // The privilege separation directory the Debian package makes at boot.
  fs.mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });

  const env = {
    ...process.env,
    ...sanitizerEnvironment(),
    PAM_WRAPPER: '1',
    PAM_WRAPPER_SERVICE_DIR: pamDir,
    LD_PRELOAD: preloadLibraries('libpam_wrapper.so'),
  };
  if (SAN) {
    // As for pamtester: the module stays mapped after pam_end. sshd's
    // PAM process ends with _exit (no leak check runs there) and its
    // pre-auth child is in a seccomp sandbox that LeakSanitizer's
    // ptrace-based scan would trip: errors are reported, leaks not.
    env.LD_PRELOAD += `:${MODULE}`;
    env.ASAN_OPTIONS = `${env.ASAN_OPTIONS}:detect_leaks=0:log_path=${path.join(dir, 'asan')}`;
    env.UBSAN_OPTIONS = `${env.UBSAN_OPTIONS}:log_path=${path.join(dir, 'ubsan')}`;
  }
  // Its own process group: stop() ends the listener and every
  // connection process it forked.
  const child = spawn(SSHD, ['-D', '-e', '-f', config],
    { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const out = trackChild(child);
  try {
    await waitForChildLine(out, /Server listening on 127\.0\.0\.1 port/, 10000, 'sshd to listen');
  } catch (err) {
    await stopGroup(child, out);
    removePamWrapperDirs(service);
    removeTempDir(dir);
    throw err;
  }

  let stopped;
  return {
    dir,
    port,
    logs: () => out.lines.join('\n'),
    waitForLog: (re, ms = 5000) => waitForChildLine(out, re, ms, `an sshd log line matching ${re}`),
    // Ends sshd; under SAN=1, rejects when a sanitizer report names the module.
    stop() {
      stopped ??= (async () => {
        await stopGroup(child, out);
        let text = out.lines.join('\n');
        if (SAN) {
          for (const f of fs.readdirSync(dir).filter((n) => /^(asan|ubsan)\.\d+$/.test(n))) {
            text += `\n${fs.readFileSync(path.join(dir, f), 'utf8')}`;
          }
        }
        removePamWrapperDirs(service);
        removeTempDir(dir);
        if (SAN && SANITIZER_REPORT.test(text)) checkSanitizerOutput('sshd', text);
      })();
      return stopped;
    },
  };
}

async function stopGroup(child, out) {
  if (child.exitCode === null && child.signalCode === null) {
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
  }
  const timer = setTimeout(() => {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  }, 5000);
  await terminateChild(child, out);
  clearTimeout(timer);
  // Connection processes of the group that outlive the listener.
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* none left */ }
}

/*
 * pam_wrapper copies the service directory to /tmp/pam.X (a fixed-length
 * name: it patches libpam's "/etc/pam.d") in every process that starts
 * PAM and removes it when that process exits normally; sshd's PAM and
 * connection processes end with _exit or a signal and leave theirs. Once
 * sshd is gone, those holding our service file (its socket path is ours
 * alone) are removed.
 */
function removePamWrapperDirs(service) {
  let names;
  try {
    names = fs.readdirSync('/tmp').filter((n) => /^pam\..$/.test(n));
  } catch {
    return;
  }
  for (const n of names) {
    const d = path.join('/tmp', n);
    try {
      if (fs.readFileSync(path.join(d, 'sshd'), 'utf8') === service) fs.rmSync(d, { recursive: true, force: true });
    } catch { /* not ours, or gone */ }
  }
}

// ----------------------------------------------------------- ssh client

function shellQuote(s) {
  return `'${String(s).replace(/'/g, "'\\''")}'`;
}

const URL_LINE = /^https?:\/\/\S+$/;

/*
 * Runs the real ssh client in a pseudo-terminal:
 *   script -qefc "exec ssh ... -p PORT USER@127.0.0.1 COMMAND" /dev/null
 * keyboard-interactive only, one attempt, no known_hosts, no config file,
 * a UTF-8 locale (ssh shows non-ASCII prompt text only under one).
 * opts: port, user, command ('id -un'), echo (a stream to copy output to).
 * Returns { child, lines(), output(), waitFor(re, ms), waitForUrl(ms),
 *   pressEnter(), killClient(), kill(), result(ms) -> { code, signal, output, lines, ms } }.
 * Lines are the terminal's output with carriage returns removed.
 */
export function runSsh(opts = {}) {
  const home = tempDir('zkauth-ssh-');
  const sshArgs = [
    'ssh', '-F', '/dev/null',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'PreferredAuthentications=keyboard-interactive',
    '-o', 'KbdInteractiveAuthentication=yes',
    '-o', 'NumberOfPasswordPrompts=1',
    '-o', 'BatchMode=no',
    '-o', 'ConnectTimeout=10',
    '-o', 'IdentityAgent=none',
    '-o', 'RequestTTY=no',
    '-p', String(opts.port),
    `${opts.user}@127.0.0.1`,
    opts.command ?? 'id -un',
  ];
  const cmd = `exec ${sshArgs.map(shellQuote).join(' ')}`;
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TERM: 'dumb',
    SHELL: '/bin/sh',
  };
  const started = Date.now();
  const child = spawn('script', ['-qefc', cmd, '/dev/null'], { env, cwd: home, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});

  const out = { raw: '', lines: [], partial: '', listeners: new Set() };
  const onData = (chunk) => {
    const text = chunk.replace(/\r/g, '');
    out.raw += text;
    if (opts.echo) opts.echo.write(text);
    out.partial += text;
    const parts = out.partial.split('\n');
    out.partial = parts.pop();
    for (const line of parts) {
      out.lines.push(line);
      for (const l of out.listeners) l();
    }
    // A prompt waits without a newline: listeners see partial lines too.
    for (const l of out.listeners) l();
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  out.closed = childClosed(child, 'ssh').then((r) => {
    if (out.partial) { out.lines.push(out.partial); out.partial = ''; }
    for (const l of out.listeners) l();
    return r;
  });

  const allLines = () => (out.partial ? [...out.lines, out.partial] : [...out.lines]);

  // Resolves with the first line matching re.
  function waitFor(re, ms = 10000, what = `output matching ${re}`) {
    return new Promise((resolve, reject) => {
      let finished = false;
      const check = () => {
        if (finished) return;
        const hit = allLines().find((l) => re.test(l));
        if (hit !== undefined) { done(); resolve(hit); return; }
        if (child.exitCode !== null || child.signalCode !== null) {
          out.closed.then(() => {
            if (finished) return;
            const late = allLines().find((l) => re.test(l));
            done();
            if (late !== undefined) resolve(late);
            else reject(new Error(`ssh ended before ${what}; output:\n${out.raw}`));
          });
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; output so far:\n${out.raw}`));
      }, ms);
      function done() {
        finished = true;
        clearTimeout(timer);
        out.listeners.delete(check);
      }
      out.listeners.add(check);
      check();
    });
  }

  function kill() {
    const pid = sshPid(child.pid);
    if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  let done;
  return {
    child,
    lines: allLines,
    output: () => out.raw,
    waitFor,
    waitForUrl: (ms = 15000) => waitFor(URL_LINE, ms, 'a URL in the ssh prompt'),
    pressEnter() {
      if (child.stdin.writable) child.stdin.write('\r');
    },
    // Kills the ssh client itself (not script), as a dropped connection:
    // script's child is ssh (exec).
    killClient() {
      const pid = sshPid(child.pid);
      if (pid) process.kill(pid, 'SIGKILL');
      else if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return pid;
    },
    kill,
    result(ms = 60000) {
      done ??= (async () => {
        const timer = setTimeout(kill, ms);
        const { code, signal } = await out.closed;
        clearTimeout(timer);
        if (child.stdin.writable) child.stdin.end();
        removeTempDir(home);
        return { code, signal, output: out.raw, lines: allLines(), ms: Date.now() - started };
      })();
      return done;
    },
  };
}

// The pid of script's child (ssh, exec'd by the shell), or 0.
function sshPid(scriptPid) {
  try {
    const kids = fs.readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').trim().split(/\s+/);
    for (const k of kids) {
      if (!k) continue;
      const exe = fs.readlinkSync(`/proc/${k}/exe`);
      if (path.basename(exe) === 'ssh') return Number(k);
    }
  } catch { /* gone */ }
  return 0;
}

// ------------------------------------------------------------------- QR

const UPPER = '\u2580';
const LOWER = '\u2584';
const FULL = '\u2588';
export const QR_CHARS = /[\u2580\u2584\u2588]/;

/*
 * The QR block as the terminal shows it: the run of lines made only of
 * QR characters (half blocks and spaces with at least one block; with
 * ascii, "##" and double spaces with at least one "##") that stands right
 * before the URL line. Returns { rows, urlIndex } or null.
 */
export const QR_ASCII_LINE = /^(?:##|  )*##(?:##|  )*$/;
const isQrLine = (line, ascii) => (ascii ? QR_ASCII_LINE.test(line)
  : /^[ \u2580\u2584\u2588]+$/.test(line) && QR_CHARS.test(line));

export function findQr(lines, url, { ascii = false } = {}) {
  const urlIndex = lines.indexOf(url);
  if (urlIndex < 0) return null;
  // At most one blank line between the QR and the URL.
  let end = urlIndex;
  while (end > 0 && lines[end - 1].trim() === '') end--;
  if (urlIndex - end > 1) return null;
  let start = end;
  while (start > 0 && isQrLine(lines[start - 1], ascii)) start--;
  if (start === end) return null;
  return { rows: lines.slice(start, end), urlIndex };
}

/*
 * The modules of an ASCII QR as pam_zkauth/qr.c draws it: "##" a light
 * module, two spaces a dark one, one line per module row (true: light).
 */
export function asciiQrModules(rows) {
  return rows.map((row) => {
    if (row.length % 2 !== 0 || !QR_ASCII_LINE.test(row)) throw new Error(`not an ASCII QR row: ${JSON.stringify(row)}`);
    const cells = [];
    for (let x = 0; x < row.length; x += 2) cells.push(row[x] === '#');
    return cells;
  });
}

/*
 * The modules of a half-block QR as pam_zkauth/qr.c draws it: each
 * character is one module wide and two tall; the ink of a character is
 * the light modules ('\u2588' both, '\u2580' the top one, '\u2584' the
 * bottom one, ' ' neither), meant for a terminal that prints light ink on
 * a dark background. Returns a matrix of booleans (true: light).
 */
export function qrModules(rows) {
  const width = Math.max(...rows.map((r) => [...r].length));
  const grid = [];
  for (const row of rows) {
    const chars = [...row];
    const top = [];
    const bottom = [];
    for (let x = 0; x < width; x++) {
      const c = chars[x] ?? ' ';
      if (c !== ' ' && c !== UPPER && c !== LOWER && c !== FULL) throw new Error(`not a QR character: ${JSON.stringify(c)}`);
      top.push(c === FULL || c === UPPER);
      bottom.push(c === FULL || c === LOWER);
    }
    grid.push(top, bottom);
  }
  return grid;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/*
 * An 8-bit greyscale PNG of a module matrix: light modules white, the
 * rest black (the terminal's dark background), scale pixels a module,
 * with a margin of dark modules around it as on a terminal.
 */
export function modulesToPng(grid, { scale = 6, margin = 4 } = {}) {
  const h = grid.length;
  const w = Math.max(...grid.map((r) => r.length));
  const W = (w + 2 * margin) * scale;
  const H = (h + 2 * margin) * scale;
  const raw = Buffer.alloc((W + 1) * H); // filter byte 0 + black pixels
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!grid[y][x]) continue;
      for (let dy = 0; dy < scale; dy++) {
        const row = ((y + margin) * scale + dy) * (W + 1) + 1;
        raw.fill(255, row + (x + margin) * scale, row + (x + margin + 1) * scale);
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(W, 0);
  ihdr.writeUInt32BE(H, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/*
 * Draws the QR rows (half blocks, or with ascii "##" cells) to a PNG and
 * decodes it with `zbarimg --raw -q`.
 * Returns { text, file }: the decoded text (one code expected) and the
 * PNG, which is kept only with ZK_KEEP=1.
 */
export function decodeQr(rows, { ascii = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkauth-qr-'));
  const file = path.join(dir, 'qr.png');
  try {
    fs.writeFileSync(file, modulesToPng(ascii ? asciiQrModules(rows) : qrModules(rows)));
    let text;
    try {
      text = execFileSync('zbarimg', ['--raw', '-q', '--nodbus', file],
        { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new Error(`zbarimg found no code (exit ${err.status}) in ${file}`);
    }
    return { text: text.replace(/\n$/, ''), file };
  } finally {
    removeTempDir(dir);
  }
}
