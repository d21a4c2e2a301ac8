#!/usr/bin/env node
// `make demo`: a whole passwordless login on this machine, on loopback.
// The test identity provider and zkauth-verifyd start, pamtester asks
// pam_zkauth.so to sign in alice and shows the QR code and the link.
//
//   INTERACTIVE=1  you open the link in a browser on this machine, sign in
//                  as id-alice and press Enter here;
//   otherwise      the browser stand-in signs in as id-alice after 2 s and
//                  the demo presses Enter.
//
// Exits 0 when alice is signed in, 1 when not.

import { approve } from './browser.mjs';
import { runPam, sleep, startDaemon, startProvider } from './lib.mjs';

const INTERACTIVE = process.env.INTERACTIVE === '1';

function say(text) {
  process.stdout.write(`== zkauth demo: ${text}\n`);
}

async function demo(stack) {
  say('starting the identity provider (oidc-provider) on 127.0.0.1');
  const provider = await startProvider();
  stack.push(provider);
  say(`provider ready at ${provider.issuer}; its account id-alice is mapped to the local user alice`);

  const daemon = await startDaemon({ issuer: provider.issuer });
  stack.push(daemon);
  say(`zkauth-verifyd is up, callback listener on 127.0.0.1:${daemon.listenerPort}`);

  say('pamtester asks pam_zkauth.so to sign in alice:');
  process.stdout.write('\n');
  const pam = runPam({ daemon, user: 'alice', args: 'qr=utf8', echo: process.stdout });
  stack.push({ stop: async () => pam.kill() });
  const url = await pam.waitForUrl();

  if (INTERACTIVE) {
    process.stdout.write('\n');
    say('open the link above in a browser on this machine, sign in as id-alice, then press Enter here');
    process.stdin.pipe(pam.child.stdin);
  } else {
    await sleep(2000);
    process.stdout.write('\n');
    say('the browser stand-in opens the link and signs in as id-alice');
    const page = await approve(url, { login: 'id-alice' });
    say(`the browser landed on the callback page (HTTP ${page.status}); pressing Enter`);
    pam.pressEnter();
    pam.endInput();
  }

  const result = await pam.result(INTERACTIVE ? 30 * 60 * 1000 : 60000);
  if (INTERACTIVE) process.stdin.unpipe(pam.child.stdin);
  process.stdout.write('\n');
  if (result.code === 0) {
    process.stdout.write('== Login succeeded: alice is signed in\n');
    return 0;
  }
  process.stdout.write(`== Login failed: pamtester exited with ${result.code ?? result.signal}\n`);
  const outcome = daemon.logs().split('\n').filter((l) => /\bresult=/.test(l)).pop();
  if (outcome) process.stdout.write(`== daemon: ${outcome}\n`);
  return 1;
}

async function main() {
  const stack = [];
  const cleanup = async () => {
    while (stack.length) {
      try {
        await stack.pop().stop();
      } catch (err) {
        process.stderr.write(`== zkauth demo: ${err.message}\n`);
        process.exitCode = 1;
      }
    }
  };
  process.once('SIGINT', () => { cleanup().finally(() => process.exit(130)); });
  process.once('SIGTERM', () => { cleanup().finally(() => process.exit(143)); });

  let code = 1;
  try {
    code = await demo(stack);
  } catch (err) {
    process.stdout.write(`== Login failed: ${err.message}\n`);
  }
  await cleanup();
  process.exitCode ||= code;
  process.exit(process.exitCode);
}

main();
