// What keeps a hang in the e2e suite from being silent or endless:
//   - the watchdog (watchdog.mjs) reports a test file whose main thread
//     is stuck for good: a file that imports the harness and then blocks
//     its only thread forever is run by node --test with a 4 s limit and
//     the watchdog at 1 s; its output must name the file, show the main
//     thread waiting, and list the processes;
//   - childClosed (lib.mjs) does not wait for ever on pipes that a
//     child's orphan holds open, and names the orphan.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { childClosed, removeTempDir, tempDir } from './lib.mjs';

const LIB = fileURLToPath(new URL('./lib.mjs', import.meta.url));

test('a file stuck in a deadlock is reported with its threads and the processes', (t) => {
  const dir = tempDir('zkauth-watchdog-');
  t.after(() => removeTempDir(dir));
  const file = path.join(dir, 'stuck.test.mjs');
  fs.writeFileSync(file, `import ${JSON.stringify(LIB)};\n`
    + "import { test } from 'node:test';\n"
    + "test('stuck', () => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); });\n");
  // A runner of its own (NODE_TEST_CONTEXT would make it a nested one).
  const env = { ...process.env, ZK_WATCHDOG_S: '1' };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--test', '--test-timeout=4000', '--test-reporter=tap', file], {
    encoding: 'utf8',
    env,
    timeout: 60000,
  });
  const out = `${r.stdout}${r.stderr}`;
  assert.notEqual(r.status, 0, out);
  assert.match(out, /e2e watchdog: stuck\.test\.mjs \(pid \d+\) has run for 1 s/, out);
  assert.match(out, /e2e watchdog: its threads:\n(?:.*\n)*?.*e2e: {3}\d+ state=S wchan=\S*futex\S* node/, out);
  assert.match(out, /e2e watchdog: the processes:\n(?:.*\n)*?.*e2e: {3}1 ppid=0 /, out);
});

test('a child whose orphan keeps its pipes open counts as closed 3 s after its exit', async (t) => {
  // sh exits at once; the sleep it leaves behind holds stdout and stderr.
  // A process group of its own, so that the orphan goes at the end.
  const child = spawn('sh', ['-c', 'sleep 60 & echo started; exit 7'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  t.after(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } });
  let said = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk) => { said += chunk; return true; };
  let result;
  try {
    result = await childClosed(child, 'the sh');
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(result, { code: 7, signal: null });
  assert.match(said, /^e2e: the sh \(pid \d+\) ended \(7\) but its output pipes were still open 3000 ms later/, said);
  const m = /^e2e: {3}(\d+) ppid=\d+ state=\S+ wchan=\S+ sleep 60$/m.exec(said);
  assert.ok(m, `the sleep is named as the holder:\n${said}`);
  assert.ok(child.stdout.destroyed && child.stderr.destroyed, 'the pipes were closed from this end');
});
