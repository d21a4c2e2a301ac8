// A test file's watchdog, in a worker thread of its own: a file still
// running well past what any file takes here (the slowest, about 70 s)
// writes the machine's processes, and the state of each of its own
// threads, straight to file descriptor 2. The test runner keeps that
// even when it then ends the file for its time limit, and it comes out
// even when the file's main thread is stuck for good (a deadlock stops
// its timers and its process.stderr, not this thread's): a hang says
// what it was waiting on.
//
// lib.mjs starts it under node --test (not in the demo).

import fs from 'node:fs';
import path from 'node:path';
import { Worker, isMainThread, workerData } from 'node:worker_threads';

// "PID ppid=PPID state=S wchan=WCHAN COMMAND LINE" of one process (or
// of one thread, with pid "PID/task/TID"), from /proc.
export function describeProcess(pid) {
  const read = (f) => { try { return fs.readFileSync(`/proc/${pid}/${f}`, 'utf8'); } catch { return ''; } };
  const stat = read('stat');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cmd = read('cmdline').split('\0').join(' ').trim() || `[${read('comm').trim()}]`;
  return `${pid} ppid=${fields[1] ?? '?'} state=${fields[0] ?? '?'} wchan=${read('wchan') || '-'} ${cmd.slice(0, 200)}`;
}

function report(seconds, file, pid) {
  const procs = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(describeProcess);
  let threads = [];
  try {
    threads = fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
      const read = (f) => { try { return fs.readFileSync(`/proc/${pid}/task/${tid}/${f}`, 'utf8').trim(); } catch { return '?'; } };
      const stat = read('stat');
      return `${tid} state=${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]} wchan=${read('wchan') || '-'} ${read('comm')}`;
    });
  } catch { /* cannot happen for our own pid */ }
  const text = `e2e watchdog: ${file} (pid ${pid}) has run for ${seconds} s.\n`
    + `e2e watchdog: its threads:\n${threads.map((l) => `e2e:   ${l}\n`).join('')}`
    + `e2e watchdog: the processes:\n${procs.map((l) => `e2e:   ${l}\n`).join('')}`;
  fs.writeSync(2, text);
}

export function startWatchdog(seconds) {
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { seconds, file: path.basename(process.argv[1] ?? '?'), pid: process.pid },
    stdout: false,
    stderr: false,
  });
  worker.unref();
}

if (!isMainThread && workerData?.seconds) {
  for (const s of workerData.seconds) {
    setTimeout(() => report(s, workerData.file, workerData.pid), s * 1000);
  }
}
