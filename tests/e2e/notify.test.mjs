// zkauth-verifyd speaks sd_notify(3) to $NOTIFY_SOCKET (Type=notify):
// READY=1 once it serves, RELOADING=1 then READY=1 around a SIGHUP
// reload (a failed reload too), STOPPING=1 on SIGTERM. A NOTIFY_SOCKET
// nobody listens on must not keep the daemon from running.
//
// Node cannot bind an AF_UNIX datagram socket, so a 40-line receiver is
// compiled with $CC (default cc, which the build needs anyway) into a
// temporary directory; it prints each datagram in hex on a line of its own.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';

import { removeTempDir, startDaemon, tempDir } from './lib.mjs';

// Nothing listens there: the daemon only needs an issuer to start, the
// provider is contacted later.
const ISSUER = 'http://127.0.0.1:9/';
const MONOTONIC = /^MONOTONIC_USEC=\d+$/;

const RECEIVER_C = `
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Binds argv[1] (a path, or @name in the abstract namespace) as a datagram
 * socket, says "bound", then prints each datagram in hex until stdin ends. */
int main(int argc, char **argv)
{
	struct sockaddr_un sun;
	struct pollfd p[2];
	char buf[8192];
	size_t n;
	ssize_t r, i;
	int fd;

	if (argc != 2 || (n = strlen(argv[1])) == 0 || n >= sizeof(sun.sun_path))
		return 2;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, argv[1], n);
	if (argv[1][0] == '@')
		sun.sun_path[0] = '\\0';
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
		perror("bind");
		return 1;
	}
	printf("bound\\n");
	fflush(stdout);
	p[0].fd = fd;
	p[0].events = POLLIN;
	p[1].fd = 0;
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0)
			return 1;
		if (p[0].revents & POLLIN) {
			r = recv(fd, buf, sizeof(buf), 0);
			if (r < 0)
				return 1;
			for (i = 0; i < r; i++)
				printf("%02x", (unsigned char)buf[i]);
			printf("\\n");
			fflush(stdout);
		}
		if (p[1].revents)
			return 0;
	}
}
`;

let work;
let receiverBin;

before(() => {
  work = tempDir('zkauth-notify-');
  const src = path.join(work, 'receiver.c');
  receiverBin = path.join(work, 'receiver');
  fs.writeFileSync(src, RECEIVER_C);
  const cc = process.env.CC || 'cc';
  const r = spawnSync(cc, ['-std=c11', '-D_GNU_SOURCE', '-o', receiverBin, src], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cc} could not build the datagram receiver:\n${r.stderr}`);
});

after(() => { if (work) removeTempDir(work); });

// The receiver bound to address; next(ms) resolves with the next datagram
// (a string), all() is every datagram so far, stop() ends the receiver.
async function receiver(address) {
  const child = spawn(receiverBin, [address], { stdio: ['pipe', 'pipe', 'pipe'] });
  const got = [];
  const waiters = [];
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = readline.createInterface({ input: child.stdout });
  const bound = new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`receiver exited (${code}) before binding: ${stderr}`)));
    lines.on('line', (line) => {
      if (line === 'bound') { resolve(); return; }
      got.push(Buffer.from(line, 'hex').toString('utf8'));
      while (waiters.length > 0 && waiters[0].index < got.length) waiters.shift().wake();
    });
  });
  await bound;
  let read = 0;
  return {
    all: () => [...got],
    next(ms = 10000) {
      const index = read++;
      if (index < got.length) return Promise.resolve(got[index]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no datagram #${index + 1} within ${ms} ms; got ${JSON.stringify(got)}`));
        }, ms);
        waiters.push({ index, wake: () => { clearTimeout(timer); resolve(got[index]); } });
      });
    },
    async stop() {
      if (child.exitCode !== null) return;
      const done = new Promise((resolve) => { child.once('exit', resolve); });
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(timer);
    },
  };
}

// startDaemon with NOTIFY_SOCKET set for the daemon only: startDaemon
// hands the daemon a copy of process.env, taken before it resolves.
async function daemonWithNotify(address, opts = {}) {
  const saved = process.env.NOTIFY_SOCKET;
  process.env.NOTIFY_SOCKET = address;
  try {
    return await startDaemon({ issuer: ISSUER, ...opts });
  } finally {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
  }
}

// Resolves when a connection to the daemon's unix socket is accepted.
function connects(socketPath) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', reject);
  });
}

// One sd_notify datagram: its newline-separated assignments, in order.
function fields(msg) {
  assert.doesNotMatch(msg, /\0/);
  return msg.split('\n').filter((l) => l !== '');
}

function assertReload(msg) {
  const [first, ...rest] = fields(msg);
  assert.equal(first, 'RELOADING=1', `expected RELOADING=1 first, got ${JSON.stringify(msg)}`);
  // systemd's Type=notify-reload wants MONOTONIC_USEC with it; optional here
  for (const f of rest) assert.match(f, MONOTONIC, `unexpected field in ${JSON.stringify(msg)}`);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('sd_notify', () => {
  test('READY=1 when serving; RELOADING=1, READY=1 on SIGHUP; STOPPING=1 on SIGTERM', async () => {
    const address = path.join(work, 'notify.sock');
    const rx = await receiver(address);
    let daemon;
    try {
      daemon = await daemonWithNotify(address);
      assert.deepEqual(fields(await rx.next()), ['READY=1']);
      // READY=1 means the module can connect now, not soon
      assert.ok(await connects(daemon.socket));

      // a good reload
      process.kill(daemon.pid, 'SIGHUP');
      assertReload(await rx.next());
      assert.deepEqual(fields(await rx.next()), ['READY=1']);
      await daemon.waitForLog(/configuration reloaded/);

      // a reload that fails (a broken file) still ends in READY=1: the
      // old configuration keeps running, systemd must not wait forever
      const good = fs.readFileSync(daemon.confFile, 'utf8');
      fs.writeFileSync(daemon.confFile, `${good}\nno_such_key = 1\n`);
      process.kill(daemon.pid, 'SIGHUP');
      assertReload(await rx.next());
      assert.deepEqual(fields(await rx.next()), ['READY=1']);
      await daemon.waitForLog(/reload: .*keeping the running configuration/);
      assert.ok(await connects(daemon.socket));

      const before = rx.all().length;
      await daemon.stop(); // SIGTERM, exit status 0
      daemon = null;
      const stopping = await rx.next();
      assert.deepEqual(fields(stopping), ['STOPPING=1']);
      // READY=1 was said once at start and once per reload, nothing else
      assert.equal(before, 5);
      assert.deepEqual(rx.all().map((m) => fields(m)[0]),
        ['READY=1', 'RELOADING=1', 'READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
    } finally {
      if (daemon) await daemon.stop().catch(() => {});
      await rx.stop();
    }
  });

  test('an abstract NOTIFY_SOCKET (@name) is used too', async () => {
    const address = `@zkauth-notify-${crypto.randomBytes(8).toString('hex')}`;
    const rx = await receiver(address);
    let daemon;
    try {
      daemon = await daemonWithNotify(address);
      assert.deepEqual(fields(await rx.next()), ['READY=1']);
      await daemon.stop();
      daemon = null;
      assert.deepEqual(fields(await rx.next()), ['STOPPING=1']);
    } finally {
      if (daemon) await daemon.stop().catch(() => {});
      await rx.stop();
    }
  });

  test('a NOTIFY_SOCKET that does not exist does not stop the daemon', async () => {
    const missing = path.join(work, 'no-such-dir', 'notify.sock');
    const daemon = await daemonWithNotify(missing);
    try {
      assert.ok(await connects(daemon.socket));
      process.kill(daemon.pid, 'SIGHUP');
      await daemon.waitForLog(/configuration reloaded/);
      assert.ok(alive(daemon.pid));
      assert.ok(await connects(daemon.socket));
      // the admin learns why systemd heard nothing
      assert.match(daemon.logs(), /sd_notify: /);
    } finally {
      await daemon.stop(); // and it still stops cleanly (exit status 0)
    }
  });
});
