// Signing keys: rotation, the JWKS refetch cooldown, the algorithms, and a
// JWKS that is garbage or poisoned. Whole logins (pamtester with
// pam_zkauth.so under pam_wrapper, zkauth-verifyd, the test provider, the
// browser stand-in); the evil proxy (evil-proxy.mjs) sits between the
// daemon and the provider where a test needs to count JWKS fetches or to
// serve a JWKS of its own.
//
// The daemon refetches the JWKS on an unknown kid at most once per 60 s
// (JWKS_COOLDOWN in zkauth-verifyd/oidc.c), counted from the last fetch,
// the first one included. The tests that must see a refetch after a
// cooldown wait those 60 s, all at the same time: the file takes about a
// minute whatever else it runs meanwhile.
//
//   ZK_BUILD=build node --test --test-concurrency=1 tests/e2e/keys.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  generateSigningKey, resignIdToken, rewriteIdToken, startEvilProxy,
} from './evil-proxy.mjs';
import {
  loginOnce, loginOutcomeRe, sleep, startDaemon, startProvider,
} from './lib.mjs';
import { generateKeyPair } from '../provider/keygen.mjs';

const SUCCESS = /successfully authenticated/;
const GRANTED = loginOutcomeRe('alice', 'granted', 'mapped');
const REJECTED = (e) => new RegExp(`identity token rejected: ${e}$`, 'm');
// JWKS_COOLDOWN and a little: the daemon marks a fetch before the proxy
// sees it, and whole seconds apart are at least 60 once 60 s have passed.
const COOLDOWN_MS = 60500;
const JWKS_MAX = 256 * 1024; // ZK_JWKS_MAX_BYTES

// A provider (RS256, keys generated at start) for the tests that do not rotate.
let shared;
before(async () => { shared = await startProvider(); });
after(async () => { await shared?.stop(); });

async function providerFor(t, opts) {
  const p = await startProvider(opts);
  t.after(() => p.stop());
  return p;
}

async function proxyFor(t, provider) {
  const proxy = await startEvilProxy({ upstream: provider.issuer });
  t.after(() => proxy.stop());
  return proxy;
}

// A daemon for provider; through proxy when given.
async function daemonFor(t, provider, proxy, config = {}) {
  const daemon = await startDaemon({
    issuer: provider.issuer,
    config: { ...config, provider: { ...(proxy ? proxy.endpoints : {}), ...config.provider } },
  });
  t.after(() => daemon.stop());
  return daemon;
}

// Passes the provider's token responses on, keeping each id_token's header.
function watchTokens(proxy) {
  const headers = [];
  proxy.set({ token: rewriteIdToken(({ raw, header }) => { headers.push(header); return raw; }) });
  return headers;
}

function explain(daemon, result) {
  return `\n--- pamtester:\n${result.output}\n--- daemon:\n${daemon.logs()}`;
}

async function granted(daemon) {
  const { result } = await loginOnce(daemon);
  assert.equal(result.code, 0, `login not granted${explain(daemon, result)}`);
  assert.match(result.output, SUCCESS);
  return result;
}

// A denial; what the person reads: a token that failed verification, or
// (no usable keys from the provider) the provider not being available.
async function denied(daemon, said = /could not be verified/) {
  const { result } = await loginOnce(daemon);
  assert.notEqual(result.code, 0, `login granted${explain(daemon, result)}`);
  assert.doesNotMatch(result.output, SUCCESS);
  assert.match(result.output, said, explain(daemon, result));
  return result;
}

const grants = (daemon) => daemon.logs().split('\n').filter((l) => GRANTED.test(l)).length;
const count = (daemon, re) => daemon.logs().split('\n').filter((l) => re.test(l)).length;
const lastJwksFetch = (proxy) => proxy.requests.filter((r) => r.kind === 'jwks').at(-1).at;

// Waits until the daemon's cooldown since the proxy's last JWKS fetch is over.
async function cooldown(proxy) {
  await sleep(Math.max(0, lastJwksFetch(proxy) + COOLDOWN_MS - Date.now()));
}

// While the daemon holds no usable keys it asks again after a short
// backoff (JWKS_RETRY in oidc.c), not after the full cooldown.
const RETRY_MS = 5000 + 500;
async function retryBackoff(proxy) {
  await sleep(Math.max(0, lastJwksFetch(proxy) + RETRY_MS - Date.now()));
}

/*
 * JWKS answers that must not let a login through. jwks(ctx, attacker)
 * is the proxy's handler (ctx as in evil-proxy.mjs); with sign, the
 * token endpoint's id_token is re-signed by the attacker's key under the
 * provider's kid. log: what the daemon says about the JWKS.
 */
const BAD_JWKS = {
  'garbage, not JSON': {
    jwks: () => ({ status: 200, body: '{"keys":[ garbage', headers: { 'content-type': 'application/json' } }),
    log: /JWKS from \S+ rejected: /,
  },
  'an empty key set': {
    jwks: () => ({ status: 200, body: { keys: [] } }),
    log: /JWKS loaded: 0 usable keys/,
  },
  'HTTP 500': {
    jwks: () => ({ status: 500, body: { error: 'server_error' } }),
    log: /JWKS fetch from \S+ failed \(HTTP 500\)/,
  },
  'over 256 KiB': {
    jwks: async (ctx) => {
      const doc = (await ctx.forward()).json();
      return { status: 200, body: { ...doc, pad: 'x'.repeat(JWKS_MAX) } };
    },
    log: /JWKS fetch from \S+ failed \(transport error/,
  },
  'the attacker\'s key added under the provider\'s kid (a duplicate kid), token signed by the attacker': {
    jwks: async (ctx, attacker) => {
      const doc = (await ctx.forward()).json();
      const { kid } = doc.keys[0];
      return { status: 200, body: { keys: [...doc.keys, { ...attacker.publicJwk, kid }] } };
    },
    sign: true,
    log: /JWKS from \S+ rejected: /,
  },
  'only the attacker\'s RSA-1024 key under the provider\'s kid, token signed by it': {
    jwks: async (ctx, attacker) => {
      const doc = (await ctx.forward()).json();
      return { status: 200, body: { keys: [{ ...attacker.weakJwk, kid: doc.keys[0].kid }] } };
    },
    sign: 'weak',
    log: /JWKS loaded: 0 usable keys/,
  },
};

describe('signing keys', { concurrency: true }, () => {
  // ------------------------------------------ the ones that wait 60 s
  test('rotation mid-session: the new key is fetched at once; a storm of unknown kids within the cooldown costs no fetch; after it the next key is fetched', async (t) => {
    const provider = await providerFor(t);
    const proxy = await proxyFor(t, provider);
    const daemon = await daemonFor(t, provider, proxy);
    const kids = watchTokens(proxy);

    // K1: the daemon fetches the JWKS once and verifies.
    await granted(daemon);
    assert.equal(proxy.count('jwks'), 1);

    // K2 replaces K1 at the provider, right away (no overlap).
    const k2 = (await provider.rotate({ generate: ['RS256'] })).keys[0].kid;
    const second = await loginOnce(daemon);
    assert.equal(kids.at(-1).kid, k2, 'the provider signed with K2');
    // The first unknown kid refetches at once: no restart, no lock-out.
    assert.equal(second.result.code, 0, `K2 right after rotation${explain(daemon, second.result)}`);
    assert.equal(proxy.count('jwks'), 2, 'one refetch for the unknown kid');
    const fetches = proxy.count('jwks');

    // K3, and a storm of logins with unknown kids: no fetch at all now.
    const k3 = (await provider.rotate({ generate: ['RS256'] })).keys[0].kid;
    const before = count(daemon, REJECTED('E_KID'));
    for (let i = 0; i < 3; i++) await denied(daemon);
    assert.equal(kids.at(-1).kid, k3);
    assert.equal(count(daemon, REJECTED('E_KID')), before + 3, daemon.logs());
    assert.equal(proxy.count('jwks'), fetches, 'no JWKS fetch within the cooldown');

    // After the cooldown: one refetch, and the same daemon serves K3.
    await cooldown(proxy);
    const n = grants(daemon);
    await granted(daemon);
    assert.equal(proxy.count('jwks'), fetches + 1, 'exactly one refetch');
    assert.equal(grants(daemon), n + 1);
    await daemon.stop();
  });

  for (const [name, c] of Object.entries(BAD_JWKS)) {
    test(`JWKS ${name}: denied as provider unavailable; after a short backoff an honest JWKS serves again`, async (t) => {
      const proxy = await proxyFor(t, shared);
      const daemon = await daemonFor(t, shared, proxy);
      const attacker = generateSigningKey('RS256');
      if (c.sign === 'weak') {
        const weak = generateKeyPair('rsa', { modulusLength: 1024 });
        attacker.privateKey = weak.privateKey;
        attacker.weakJwk = { ...weak.publicKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' };
      }
      proxy.set({
        jwks: (ctx) => c.jwks(ctx, attacker),
        ...(c.sign && { token: resignIdToken(attacker.privateKey) }),
      });

      await denied(daemon, /identity provider is not available/);
      await daemon.waitForLog(c.log);
      await daemon.waitForLog(/no usable JWKS from \S+: cannot verify/);
      await daemon.waitForLog(loginOutcomeRe('alice', 'error', 'no_jwks'));
      assert.equal(proxy.count('jwks'), 1);
      assert.deepEqual(proxy.errors, []);

      proxy.reset();
      await retryBackoff(proxy);
      await granted(daemon);
      assert.equal(proxy.count('jwks'), 2);
      assert.equal(grants(daemon), 1);
      await daemon.stop();
    });
  }

  // ------------------------------------------------ the quick ones
  describe('rotation before the first login, and the algorithms', { concurrency: 1 }, () => {
    test('the first token the daemon sees is signed by a key that appeared after it started', async (t) => {
      const provider = await providerFor(t);
      const proxy = await proxyFor(t, provider);
      const daemon = await daemonFor(t, provider, proxy);
      const kids = watchTokens(proxy);
      const old = await (await fetch(`${provider.issuer}/jwks`)).json();

      const rotated = await provider.rotate({ generate: ['RS256'] });
      assert.notEqual(rotated.keys[0].kid, old.keys[0].kid);
      await granted(daemon);
      assert.equal(kids[0].kid, rotated.keys[0].kid);
      assert.equal(proxy.count('jwks'), 1);
      await daemon.waitForLog(GRANTED);
      await daemon.stop();
    });

    for (const alg of ['ES256', 'EdDSA', 'PS256']) {
      test(`${alg} provider, default allowed_algs: granted`, async (t) => {
        const provider = await providerFor(t, { algs: [alg] });
        const proxy = await proxyFor(t, provider);
        const daemon = await daemonFor(t, provider, proxy);
        const seen = watchTokens(proxy);

        await granted(daemon);
        assert.equal(seen[0].alg, alg, 'the provider signed with that algorithm');
        await daemon.waitForLog(GRANTED);
        await daemon.stop();
      });
    }

    test('ES256 provider, allowed_algs = RS256: denied with E_ALG', async (t) => {
      const provider = await providerFor(t, { algs: ['ES256'] });
      const daemon = await daemonFor(t, provider, null, { provider: { allowed_algs: 'RS256' } });

      await denied(daemon);
      await daemon.waitForLog(REJECTED('E_ALG'));
      await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'E_ALG'));
      assert.equal(grants(daemon), 0);
      await daemon.stop();
    });

    test('RS384 provider, default allowed_algs (no RS384): denied with E_ALG', async (t) => {
      const provider = await providerFor(t, { algs: ['RS384'] });
      const daemon = await daemonFor(t, provider);

      await denied(daemon);
      await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'E_ALG'));
      assert.equal(grants(daemon), 0);
      await daemon.stop();
    });

    test('a token re-signed with ES256 under the provider\'s EC kid by another EC key: E_SIG', async (t) => {
      const provider = await providerFor(t, { algs: ['ES256'] });
      const proxy = await proxyFor(t, provider);
      const daemon = await daemonFor(t, provider, proxy);
      proxy.set({ token: resignIdToken(generateSigningKey('ES256').privateKey) });

      await denied(daemon);
      await daemon.waitForLog(loginOutcomeRe('alice', 'denied', 'E_SIG'));
      proxy.reset();
      await granted(daemon);
      await daemon.stop();
    });

    test('ES256 signature with r or s out of range (0, n): E_SIG', async (t) => {
      const provider = await providerFor(t, { algs: ['ES256'] });
      const proxy = await proxyFor(t, provider);
      const daemon = await daemonFor(t, provider, proxy);
      // The order of P-256.
      const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
      const hex = (v) => v.toString(16).padStart(64, '0');
      const tamper = (f) => rewriteIdToken(({ raw }) => {
        const [h, p, s] = raw.split('.');
        const sig = Buffer.from(s, 'base64url');
        const [r2, s2] = f(BigInt(`0x${sig.subarray(0, 32).toString('hex')}`),
          BigInt(`0x${sig.subarray(32).toString('hex')}`));
        return `${h}.${p}.${Buffer.from(hex(r2) + hex(s2), 'hex').toString('base64url')}`;
      });

      const cases = [(r, s) => [N, s], (r) => [r, N], (r, s) => [0n, s], (r) => [r, 0n]];
      for (const f of cases) {
        proxy.set({ token: tamper(f) });
        await denied(daemon);
      }
      assert.equal(count(daemon, REJECTED('E_SIG')), cases.length, daemon.logs());
      proxy.reset();
      await granted(daemon);
      await daemon.stop();
    });
  });
});
