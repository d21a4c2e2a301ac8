// Harness for the end-to-end tests and the demo: the test identity
// provider, zkauth-verifyd with a config in a fresh temporary directory,
// and pamtester running the built pam_zkauth.so under pam_wrapper.
//
// Nothing on the machine changes: local accounts come from nss_wrapper
// (a passwd and a group file in the temporary directory) and the PAM
// service file from pam_wrapper's service directory.
//
// Environment:
//   ZK_BUILD  the build directory with zkauth-verifyd and pam_zkauth.so
//             (default: build, or build-san when SAN=1, in the repository)
//   SAN=1     the binaries are built with ASan/UBSan: preload the runtimes
//             into pamtester and fail on sanitizer reports
//   ZK_KEEP=1 keep the temporary directories for a look afterwards

import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describeProcess, startWatchdog } from './watchdog.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SAN = process.env.SAN === '1';
export const ZK_BUILD = path.resolve(ROOT, process.env.ZK_BUILD || (SAN ? 'build-san' : 'build'));
export const DAEMON_BIN = path.join(ZK_BUILD, 'zkauth-verifyd');
export const MODULE = path.join(ZK_BUILD, 'pam_zkauth.so');
const PROVIDER = path.join(ROOT, 'tests', 'provider', 'provider.mjs');
const LSAN_SUPP = path.join(ROOT, 'tests', 'lsan.supp');

export const CLIENT_ID = 'zkauth-test';
export const CLIENT_SECRET = 'zkauth-test-secret';
export const SERVICE = 'zkauth-test';

// Local accounts the tests use (nss_wrapper).
export const ACCOUNTS = {
  root: { uid: 0, gid: 0, home: '/root' },
  zkauth: { uid: 20000, gid: 20000, home: '/nonexistent' },
  alice: { uid: 20001, gid: 20001, home: '/nonexistent' },
  bob: { uid: 20002, gid: 20002, home: '/nonexistent' },
};

const URL_LINE = /^https?:\/\/\S+$/;
const SANITIZER_REPORT = /AddressSanitizer|LeakSanitizer|runtime error:/;

export function sleep(ms) {
  return new Promise((resolve) => { setTimeout(resolve, ms); });
}

// ------------------------------------------------------------ processes

// How long a child's output pipes may stay open after it has exited.
const PIPE_GRACE_MS = 3000;

// The processes (other than this one) that hold the other ends of
// child's stdio. Node's "pipes" to a child are socket pairs: the other
// end has an inode of its own, which ss(8) tells.
function pipeHolders(child) {
  const wanted = new Set();
  let peers = null;
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    const fd = s?._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) continue;
    let link;
    try {
      link = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^(socket|pipe):\[(\d+)\]$/.exec(link);
    if (!m) continue;
    if (m[1] === 'pipe') {
      wanted.add(link);
      continue;
    }
    peers ??= unixSocketPeers();
    if (peers.has(m[2])) wanted.add(`socket:[${peers.get(m[2])}]`);
  }
  const found = [];
  if (wanted.size === 0) return found;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    let fds;
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone
    }
    const holds = fds.some((fd) => {
      try { return wanted.has(fs.readlinkSync(`/proc/${pid}/fd/${fd}`)); } catch { return false; }
    });
    if (holds) found.push(describeProcess(pid));
  }
  return found;
}

// inode -> peer inode of every connected Unix socket (ss -xan).
function unixSocketPeers() {
  const peers = new Map();
  let out = '';
  try {
    out = execFileSync('ss', ['-xan'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return peers; // no ss: the holders go unnamed
  }
  for (const line of out.split('\n')) {
    // u_str ESTAB 0 0 * 13861498 * 13861499
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && /^\d+$/.test(f[5]) && /^\d+$/.test(f[7])) peers.set(f[5], f[7]);
  }
  return peers;
}

/*
 * Resolves { code, signal } once child has ended and its output pipes
 * have closed. A process that inherited the pipes and outlived child
 * would keep them open, and a wait for 'close' would then never end: so
 * PIPE_GRACE_MS after the exit the pipes are closed from this end, and
 * stderr names the processes that held them. No stray process can hang
 * a test file this way; it shows in the output instead.
 */
export function childClosed(child, what = child.spawnfile) {
  return new Promise((resolve) => {
    let timer = null;
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
    const giveUp = (code, signal) => {
      timer = setTimeout(() => {
        let holders;
        try {
          holders = pipeHolders(child);
        } catch (err) {
          holders = [`(could not look: ${err.message})`];
        }
        process.stderr.write(`e2e: ${what} (pid ${child.pid}) ended (${signal ?? code}) but its output `
          + `pipes were still open ${PIPE_GRACE_MS} ms later; closed here. Held by:\n`
          + `${holders.map((h) => `e2e:   ${h}\n`).join('') || 'e2e:   (no process found)\n'}`);
        for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
        resolve({ code, signal });
      }, PIPE_GRACE_MS);
    };
    child.once('exit', giveUp);
    // A process that could not be started has no exit to wait for.
    child.once('error', () => { if (child.pid === undefined) giveUp(null, null); });
  });
}

// See watchdog.mjs. ZK_WATCHDOG_S="S1,S2": when it reports (seconds).
if (process.env.NODE_TEST_CONTEXT) {
  startWatchdog((process.env.ZK_WATCHDOG_S ?? '150,270').split(',').map(Number).filter((n) => n > 0));
}

// Polls check() until it returns something truthy, or throws after ms.
export async function waitFor(check, { ms = 10000, every = 50, what = 'condition' } = {}) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

export async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address();
  await new Promise((resolve) => { srv.close(resolve); });
  return port;
}

export function tempDir(prefix = 'zkauth-e2e-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  // Readable by the unprivileged uids some tests run pamtester as.
  fs.chmodSync(dir, 0o755);
  return dir;
}

function removeDir(dir) {
  if (process.env.ZK_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------- libraries

let multiarch;
function findLibrary(name) {
  if (path.isAbsolute(name)) return name;
  if (multiarch === undefined) {
    try {
      multiarch = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
    } catch {
      multiarch = '';
    }
  }
  const dirs = multiarch ? [`/usr/lib/${multiarch}`, `/lib/${multiarch}`] : [];
  for (const d of [...dirs, '/usr/lib64', '/usr/lib']) {
    const candidate = path.join(d, name);
    if (fs.existsSync(candidate)) return candidate;
  }
  // Anywhere under /usr/lib, as a last resort.
  try {
    const found = execFileSync('find', ['/usr/lib', '-name', name, '-print', '-quit'], { encoding: 'utf8' }).trim();
    if (found) return found;
  } catch { /* fall through */ }
  throw new Error(`${name} not found (install it: tests/deps.sh)`);
}

function gccFile(name) {
  const p = execFileSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
  if (!path.isAbsolute(p) || !fs.existsSync(p)) throw new Error(`gcc does not know ${name}`);
  return p;
}

// LD_PRELOAD for a process of ours: the sanitizer runtimes must come first.
function preload(...libs) {
  const list = SAN ? [gccFile('libasan.so'), gccFile('libubsan.so')] : [];
  return [...list, ...libs.map(findLibrary)].join(':');
}

function sanitizerEnv() {
  if (!SAN) return {};
  return {
    ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
    LSAN_OPTIONS: `suppressions=${LSAN_SUPP}:print_suppressions=0`,
  };
}

// nss_wrapper files in dir; returns the environment that uses them.
function writeAccounts(dir) {
  const passwd = path.join(dir, 'passwd');
  const group = path.join(dir, 'group');
  if (!fs.existsSync(passwd)) {
    fs.writeFileSync(passwd, Object.entries(ACCOUNTS)
      .map(([name, a]) => `${name}:x:${a.uid}:${a.gid}:${name}:${a.home}:/bin/sh\n`).join(''), { mode: 0o644 });
    fs.writeFileSync(group, Object.entries(ACCOUNTS)
      .map(([name, a]) => `${name}:x:${a.gid}:\n`).join(''), { mode: 0o644 });
  }
  return { NSS_WRAPPER_PASSWD: passwd, NSS_WRAPPER_GROUP: group };
}

// Spawned child with its output kept as lines; stdout and stderr also
// interleaved in one list in the order they came.
function track(child, { echo } = {}) {
  const out = { stdout: '', stderr: '', lines: [], listeners: new Set() };
  for (const stream of ['stdout', 'stderr']) {
    let partial = '';
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk) => {
      out[stream] += chunk;
      if (echo) echo.write(chunk);
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop();
      for (const line of parts) {
        out.lines.push(line);
        for (const l of out.listeners) l(line);
      }
    });
    child[stream].on('end', () => {
      if (partial) {
        out.lines.push(partial);
        for (const l of out.listeners) l(partial);
      }
    });
  }
  // Unlike 'exit', this also waits for the pipes to drain (childClosed).
  out.closed = childClosed(child);
  return out;
}

// Resolves with the first line (past or future) matching re; rejects when
// the process ends first or after ms.
function waitForLine(out, re, ms, what) {
  return new Promise((resolve, reject) => {
    const hit = out.lines.find((l) => re.test(l));
    if (hit !== undefined) { resolve(hit); return; }
    const timer = setTimeout(() => {
      out.listeners.delete(listen);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}; output so far:\n${out.lines.join('\n')}`));
    }, ms);
    function listen(line) {
      if (!re.test(line)) return;
      clearTimeout(timer);
      out.listeners.delete(listen);
      resolve(line);
    }
    out.listeners.add(listen);
    out.closed.then(() => {
      if (!out.listeners.has(listen)) return;
      clearTimeout(timer);
      out.listeners.delete(listen);
      reject(new Error(`process ended before ${what}; output:\n${out.lines.join('\n')}`));
    });
  });
}

// SIGTERM, then SIGKILL after ms. Resolves with { code, signal, killed }.
async function terminate(child, out, ms = 5000) {
  let killed = false;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, ms);
    await out.closed;
    clearTimeout(timer);
  }
  return { ...await out.closed, killed };
}

// --------------------------------------------------------------- provider

/*
 * Starts tests/provider/provider.mjs. opts: port (0: any), config (an
 * object written to a JSON config file), keys (a private JWKS file),
 * algs (['ES256', ...]), verbose.
 * Returns { issuer, port, logs(), rotate(body), stop() }.
 */
export async function startProvider(opts = {}) {
  if (!fs.existsSync(path.join(ROOT, 'tests', 'provider', 'node_modules', 'oidc-provider'))) {
    throw new Error('the test provider is not installed: run tests/deps.sh (npm ci in tests/provider)');
  }
  const dir = tempDir('zkauth-provider-');
  const args = [PROVIDER, '--port', String(opts.port ?? 0)];
  if (opts.config) {
    const file = path.join(dir, 'provider.json');
    fs.writeFileSync(file, JSON.stringify(opts.config));
    args.push('--config', file);
  }
  if (opts.keys) args.push('--keys', opts.keys);
  for (const alg of opts.algs ?? []) args.push('--alg', alg);
  if (opts.verbose) args.push('--verbose');

  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = track(child);
  let ready;
  try {
    ready = await waitForLine(out, /^READY /, 15000, 'the provider to be ready');
  } catch (err) {
    await terminate(child, out);
    removeDir(dir);
    throw err;
  }
  const issuer = ready.slice('READY '.length).trim();
  return {
    issuer,
    port: Number(new URL(issuer).port),
    logs: () => out.lines.join('\n'),
    async rotate(body = {}) {
      const res = await fetch(`${issuer}/_admin/keys`, { method: 'POST', body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`key rotation failed: HTTP ${res.status}`);
      return res.json();
    },
    async stop() {
      await terminate(child, out);
      removeDir(dir);
    },
  };
}

// ----------------------------------------------------------------- daemon

function iniText(sections) {
  let text = '# written by tests/e2e/lib.mjs\n';
  for (const [name, keys] of Object.entries(sections)) {
    text += `\n[${name}]\n`;
    for (const [k, v] of Object.entries(keys)) if (v !== null && v !== undefined) text += `${k} = ${v}\n`;
  }
  return text;
}

/*
 * Writes a daemon configuration into dir: the client secret (0600), the
 * account map and zkauth.conf, from the defaults merged with opts (see
 * startDaemon). Returns { listenerPort, socket, confFile }.
 */
async function writeDaemonConfig(dir, opts) {
  const listenerPort = opts.listenerPort ?? await freePort();
  const socket = path.join(dir, 'verifyd.sock');
  const secretFile = path.join(dir, 'client_secret');
  const mapFile = path.join(dir, 'users.map');
  fs.writeFileSync(secretFile, opts.clientSecret ?? CLIENT_SECRET, { mode: 0o600 });
  fs.writeFileSync(mapFile, opts.usersMap ?? 'id-alice alice\nid-bob bob\n', { mode: 0o644 });

  const sections = {
    provider: {
      profile: 'oidc',
      issuer: opts.issuer,
      client_id: CLIENT_ID,
      client_secret_file: secretFile,
      token_auth_method: 'client_secret_basic',
      redirect_uri: `http://127.0.0.1:${listenerPort}/zkauth/callback`,
      scopes: 'openid',
    },
    listener: { listen: `127.0.0.1:${listenerPort}` },
    accounts: { map_file: mapFile },
    daemon: { socket, flow_timeout: opts.flowTimeout ?? 120 },
  };
  for (const [name, keys] of Object.entries(opts.config ?? {})) {
    sections[name] = { ...sections[name], ...keys };
  }
  const confFile = path.join(dir, 'zkauth.conf');
  fs.writeFileSync(confFile, iniText(sections), { mode: 0o644 });
  return { listenerPort, socket, confFile };
}

/*
 * What a daemon log must never hold: the client secret, a JWT (an ID or
 * access token, a client assertion), a form body with the PKCE verifier,
 * the secret or the assertion, a private key. Returns what was found, or
 * null.
 */
export function secretInLog(text, clientSecret) {
  if (clientSecret && text.includes(clientSecret)) return 'the client secret';
  if (/eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}/.test(text)) return 'a JWT';
  const field = /\b(code_verifier|client_secret|client_assertion)=[^&\s"]/.exec(text);
  if (field) return `a form field ${field[1]}`;
  if (/PRIVATE KEY-----/.test(text)) return 'a private key';
  return null;
}

/*
 * Starts zkauth-verifyd with a fresh config directory.
 * opts: issuer (required unless opts.config.provider sets everything),
 *   listenerPort, flowTimeout, usersMap (text), clientSecret,
 *   config: { section: { key: value|null } } merged over the defaults
 *   (null removes a key), args: extra command line arguments,
 *   preload: test-only libraries of <build>/tests/ to preload (before
 *   nss_wrapper), env: more environment.
 * Returns { dir, socket, listenerPort, env, logs(), waitForLog(re), stop() }.
 */
export async function startDaemon(opts = {}) {
  if (!fs.existsSync(DAEMON_BIN)) throw new Error(`${DAEMON_BIN} is missing: run make`);
  const dir = tempDir('zkauth-daemon-');
  const { listenerPort, socket, confFile } = await writeDaemonConfig(dir, opts);

  const env = {
    ...process.env,
    ...writeAccounts(dir),
    ...sanitizerEnv(),
    ...(opts.env ?? {}),
    LD_PRELOAD: preload(...(opts.preload ?? []).map((p) => path.join(ZK_BUILD, 'tests', p)), 'libnss_wrapper.so'),
  };
  const child = spawn(DAEMON_BIN, ['-c', confFile, '--log-stderr', '--debug', ...(opts.args ?? [])],
    { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = track(child);

  try {
    await waitFor(() => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`zkauth-verifyd exited (${child.exitCode ?? child.signalCode}):\n${out.lines.join('\n')}`);
      }
      // The socket file appears at bind(), before listen(): wait for the
      // daemon to say it is ready, not for the file.
      return fs.existsSync(socket) && out.lines.some((l) => /: ready: socket /.test(l));
    }, { ms: 10000, what: 'the daemon socket' });
  } catch (err) {
    await terminate(child, out);
    removeDir(dir);
    throw err;
  }

  let stopped;
  return {
    dir,
    socket,
    listenerPort,
    confFile,
    pid: child.pid,
    env,
    logs: () => out.lines.join('\n'),
    waitForLog: (re, ms = 5000) => waitForLine(out, re, ms, `a daemon log line matching ${re}`),
    // Ends the daemon; rejects when it did not end cleanly on SIGTERM
    // (within 5 s, exit status 0) or, under SAN=1, reported an error.
    stop() {
      stopped ??= (async () => {
        const { code, signal, killed } = await terminate(child, out);
        const text = out.lines.join('\n');
        removeDir(dir);
        if (SAN && SANITIZER_REPORT.test(text)) {
          throw new Error(`zkauth-verifyd: sanitizer report:\n${text}`);
        }
        if (killed || code !== 0) {
          throw new Error(`zkauth-verifyd did not stop cleanly on SIGTERM (${killed ? 'killed' : `exit ${code ?? signal}`}):\n${text}`);
        }
        // Even with --debug, nothing secret reaches the log.
        const leak = secretInLog(text, opts.clientSecret ?? CLIENT_SECRET);
        if (leak) throw new Error(`zkauth-verifyd logged ${leak}:\n${text}`);
      })();
      return stopped;
    },
  };
}

// ------------------------------------------------------------------- PAM

/*
 * Runs `pamtester -v zkauth-test USER authenticate` with pam_zkauth.so from
 * the build directory under pam_wrapper.
 * opts: daemon (from startDaemon) or socket + env, user ('alice'),
 *   args (module arguments, string or array), uid/gid (run as that user
 *   through setpriv), items ({ rhost, tty, ruser }: pamtester -I), echo
 *   (a stream to copy the output to, e.g. process.stdout).
 * Returns { child, waitForUrl(), pressEnter(), endInput(), lines(),
 *   result() -> { code, signal, stdout, stderr, output, ms } }.
 */
export function runPam(opts = {}) {
  return runPamService(opts);
}

// Sanitizer reports in pamtester's output: a memory error, undefined
// behaviour, or a leak that involves the module fails the test; a leak
// only in pamtester or the wrappers is shown (suppress it in
// tests/lsan.supp). The module's frames name its sources (pam_zkauth/)
// or its entry points (pam_sm_*, the only module in the test stack);
// "<unknown module>" is what frames of an unloaded module look like.
function checkSanitizer(who, output) {
  if (!SANITIZER_REPORT.test(output)) return;
  if (/pam_zkauth|pam_sm_|<unknown module>|runtime error:|ERROR: AddressSanitizer/.test(output)) {
    throw new Error(`${who}: sanitizer report involving pam_zkauth:\n${output}`);
  }
  process.stderr.write(`# ${who}: sanitizer report outside pam_zkauth (not failed):\n${output}\n`);
}

// ------------------------------------------- for other harness files
// (tests/e2e/sshd-lib.mjs: a real sshd and ssh client)

/*
 * Adds an account to a daemon's nss_wrapper passwd and group files, e.g.
 * a real account a test created on the machine, so that the daemon
 * (which resolves users through nss_wrapper only) knows it too. The files
 * are replaced, not edited in place: nss_wrapper reloads a file that was
 * replaced (its open copy has no links left) before the next lookup.
 */
export function addDaemonAccount(daemon, { name, uid, gid = uid, home = '/nonexistent', shell = '/bin/sh' }) {
  for (const [file, line] of [
    ['passwd', `${name}:x:${uid}:${gid}:${name}:${home}:${shell}\n`],
    ['group', `${name}:x:${gid}:\n`],
  ]) {
    const target = path.join(daemon.dir, file);
    const next = `${target}.new`;
    fs.writeFileSync(next, fs.readFileSync(target, 'utf8') + line, { mode: 0o644 });
    fs.renameSync(next, target);
  }
}

// The building blocks above, for harness files that run other programs.
export {
  track as trackChild,
  waitForLine as waitForChildLine,
  terminate as terminateChild,
  preload as preloadLibraries,
  sanitizerEnv as sanitizerEnvironment,
  checkSanitizer as checkSanitizerOutput,
  removeDir as removeTempDir,
};

// ------------------------------------------- whole logins, in one call
// (tests/e2e/hostile.test.mjs, tests/e2e/keys.test.mjs)

/*
 * One whole login through daemon: pamtester for user, the browser
 * stand-in (browser.mjs) signs in as login at the provider, then Enter.
 * opts: user ('alice'), login ('id-alice'), args (module arguments),
 * pam (more runPam options), browser (more approve options).
 * Returns { url, page, result } with result from runPam's result().
 * pamtester is killed when a step fails.
 */
export async function loginOnce(daemon, {
  user = 'alice', login = 'id-alice', args = '', pam: pamOpts = {}, browser = {},
} = {}) {
  const { approve } = await import('./browser.mjs');
  const pam = runPam({ daemon, user, args, ...pamOpts });
  try {
    const url = await pam.waitForUrl();
    const page = await approve(url, { login, ...browser });
    pam.pressEnter();
    pam.endInput();
    const result = await pam.result();
    return { url, page, result };
  } finally {
    pam.kill();
  }
}

/*
 * The daemon's one line per login outcome (DESIGN.md 6) as a pattern:
 *   login user="alice" sub="id-alice" service="zkauth-test" rhost="" uid=0 result=denied reason=E_SIG
 * reason (optional) must be the whole reason word.
 */
export function loginOutcomeRe(user, result, reason) {
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`\\blogin user="${esc(user)}" .*\\bresult=${esc(result)}\\b`
    + (reason ? ` .*\\breason=${esc(reason)}(?:\\s|$)` : ''));
}

// ------------------------------------------- what the daemon supports
// (tests/e2e/profiles.test.mjs, tests/e2e/device.test.mjs)

/*
 * Runs `zkauth-verifyd --check-config -c FILE` on the config that
 * startDaemon would write for the same opts (both use writeDaemonConfig).
 * Nothing is started or contacted.
 * Returns { code, output, unsupported }: unsupported is the feature the
 * daemon names in "<feature> is not supported by this version" (e.g.
 * "flow = device"), else null.
 */
export async function checkDaemonConfig(opts = {}) {
  if (!fs.existsSync(DAEMON_BIN)) throw new Error(`${DAEMON_BIN} is missing: run make`);
  const dir = tempDir('zkauth-check-');
  try {
    const { confFile } = await writeDaemonConfig(dir, opts);
    const env = {
      ...process.env,
      ...writeAccounts(dir),
      ...sanitizerEnv(),
      LD_PRELOAD: preload('libnss_wrapper.so'),
    };
    const child = spawn(DAEMON_BIN, ['--check-config', '-c', confFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = track(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    const { code } = await out.closed;
    clearTimeout(timer);
    const output = out.lines.join('\n');
    const m = /(?:^|: )(\S.*?) is not supported by this version/m.exec(output);
    return { code, output, unsupported: m ? m[1] : null };
  } finally {
    removeDir(dir);
  }
}

/*
 * A secret file (mode 0600, e.g. the ZeroAuth API key for api_key_file)
 * in a fresh temporary directory. Returns { file, remove() }.
 */
export function secretFile(name, content) {
  const dir = tempDir('zkauth-secret-');
  const file = path.join(dir, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  return { file, remove: () => removeDir(dir) };
}

// ------------------------------------------- a PAM service of any name
// (tests/e2e/console.test.mjs: "login", "sudo", a screen locker)

/*
 * As runPam, but through a PAM service named opts.service (e.g. "login":
 * the name pamtester gives pam_start, so PAM_SERVICE, the prompt and the
 * daemon's log show it). Its file in pam_wrapper's service directory:
 *   auth required <build>/pam_zkauth.so socket=<socket> <args>
 *   <account>  (default: account required pam_permit.so)
 *   <session>  (default: session required pam_permit.so)
 * or opts.stack, the whole file. Other opts (daemon, socket, user, args,
 * items, ops, uid/gid, echo) and the returned object are runPam's.
 */
export function runPamService(opts = {}) {
  if (!fs.existsSync(MODULE)) throw new Error(`${MODULE} is missing: run make`);
  const service = opts.service ?? SERVICE;
  if (!/^[A-Za-z0-9_.-]+$/.test(service) || service === 'other') {
    throw new Error(`runPamService: unusable service name ${JSON.stringify(service)}`);
  }
  const dir = tempDir('zkauth-pam-');
  const socket = opts.socket ?? opts.daemon?.socket;
  const args = Array.isArray(opts.args) ? opts.args.join(' ') : (opts.args ?? '');
  fs.writeFileSync(path.join(dir, service), opts.stack
    ?? (`auth required ${MODULE} socket=${socket} ${args}\n`
      + (opts.account ?? 'account required pam_permit.so\n')
      + (opts.session ?? 'session required pam_permit.so\n')), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'other'), 'auth required pam_deny.so\naccount required pam_deny.so\n'
    + 'session required pam_deny.so\npassword required pam_deny.so\n', { mode: 0o644 });
  const accountsDir = opts.daemon?.dir ?? dir;

  const env = {
    ...process.env,
    ...writeAccounts(accountsDir),
    ...sanitizerEnv(),
    PAM_WRAPPER: '1',
    PAM_WRAPPER_SERVICE_DIR: dir,
    LD_PRELOAD: preload('libpam_wrapper.so', 'libnss_wrapper.so'),
  };
  if (SAN) env.LD_PRELOAD += `:${MODULE}`;
  let cmd = 'pamtester';
  let argv = ['-v'];
  for (const [k, v] of Object.entries(opts.items ?? {})) argv.push(`-I${k}=${v}`);
  argv.push(service, opts.user ?? 'alice', ...(opts.ops ?? ['authenticate']));
  let spawnEnv = env;
  if (opts.uid !== undefined) {
    // The wrappers are preloaded only after the switch (env(1)): loaded
    // into setpriv, pam_wrapper would copy the service directory to a
    // /tmp/pam.X as root that the process, once it is the other uid,
    // cannot remove.
    argv = [`--reuid=${opts.uid}`, `--regid=${opts.gid ?? opts.uid}`, '--clear-groups',
      'env', `LD_PRELOAD=${env.LD_PRELOAD}`, cmd, ...argv];
    cmd = 'setpriv';
    spawnEnv = { ...env };
    delete spawnEnv.LD_PRELOAD;
  }

  const started = Date.now();
  const child = spawn(cmd, argv, { env: spawnEnv, cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  const out = track(child, { echo: opts.echo });
  let done;

  return {
    child,
    lines: () => [...out.lines],
    output: () => out.lines.join('\n'),
    waitForUrl: (ms = 10000) => waitForLine(out, URL_LINE, ms, 'a URL from pam_zkauth'),
    pressEnter() {
      if (child.stdin.writable) child.stdin.write('\n');
    },
    endInput() {
      if (child.stdin.writable) child.stdin.end();
    },
    // Also removes the service directory once pamtester has gone, for
    // the tests that kill it and never ask for its result.
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      out.closed.then(() => removeDir(dir));
    },
    result(ms = 60000) {
      done ??= (async () => {
        const timer = setTimeout(() => child.kill('SIGKILL'), ms);
        const { code, signal } = await out.closed;
        clearTimeout(timer);
        const elapsed = Date.now() - started;
        removeDir(dir);
        const output = out.lines.join('\n');
        if (SAN) checkSanitizer('pamtester', output);
        return { code, signal, stdout: out.stdout, stderr: out.stderr, output, ms: elapsed };
      })();
      return done;
    },
  };
}

// ------------------------------------------- commands
// (tests/e2e/package.test.mjs, tests/e2e/rpm.test.mjs)

// Whether cmd is on PATH.
export function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// Runs a command; throws with its output when it fails (unless
// opts.mayFail). Returns { code, output, stdout }.
export function runCommand(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.mayFail) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${output.slice(-6000)}`);
  }
  return { code: r.status, output, stdout: r.stdout ?? '' };
}
