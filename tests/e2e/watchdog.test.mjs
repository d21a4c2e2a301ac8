// The watchdog (watchdog.mjs) reports a test file whose main thread is
// stuck for good: a file that imports the harness and then blocks its
// only thread forever is run by node --test with a 4 s limit and the
// watchdog at 1 s; its output must name the file, show the main thread
// waiting, and list the processes.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { removeTempDir, tempDir } from './lib.mjs';

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
