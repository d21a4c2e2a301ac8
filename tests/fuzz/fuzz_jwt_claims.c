/*
 * What zk_jwt_verify does after the signature: the payload JSON (strict
 * reader with NUL tracking) and every claim check, plus the header again.
 * The fuzzer cannot forge signatures, so this target signs whatever header
 * and payload bytes it is given with a key of the set, the way a provider
 * (or anyone holding its key) would, then verifies.
 *
 * Input: a key byte, a flags byte, the header bytes up to the first '\n',
 * the payload bytes after it.
 *   key byte % 8: the key and alg signing: 0 Ed25519/EdDSA, 1 P-256/ES256,
 *        2 RSA/RS256, 3 RSA/PS256, 4 P-384/ES384, 5 P-521/ES512,
 *        6 RSA/RS512, 7 RSA/PS512 ('0' .. '7'). The header's alg and kid
 *        decide how it is checked; a mismatch just fails the signature.
 *   flags byte:
 *     bit 0    an access-token profile (typ at+jwt allowed)
 *     bit 2    expect a nonce
 *     bit 3    require auth_time within max_age
 *     bits 4-5 the clock: 1700000000, 0, INT64_MAX, INT64_MIN
 *     bits 6-7 skew and max_age: 0/0, 60/300, INT64_MAX/INT64_MAX, -1/INT64_MIN
 *   so that '@' is the ordinary case, 'D' with a nonce, 'H' with max_age,
 *   'L' both. The extreme clocks and skews check the "no overflow whatever
 *   now is" promise of check_claims under UBSan.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwks.h"
#include "jwt.h"
#include "config.h"
#include "keys.h"

/* jwt.c clamps the caller's skew and max_age to this (SECONDS_CAP). */
#define SKEW_CAP ((int64_t)1 << 40)

static struct fz_keys keys;
static struct zk_jwks *set;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256], *doc;

	fz_keys_generate(&keys);
	doc = fz_jwks(&keys);
	if (zk_jwks_parse(doc, strlen(doc), &set, err, sizeof(err)) != 0 || set->n != FZ_NKEYS) {
		fprintf(stderr, "fuzz_jwt_claims: own key set refused: %s\n", err);
		abort();
	}
	free(doc);
	return 0;
}

/* What jwt.h promises about an accepted token's claims, the time checks
 * done again with the skew clamped as jwt.c documents. */
static void check_claims_out(const struct zk_jwt_claims *c, const struct zk_jwt_expect *x)
{
	int64_t skew = x->clock_skew < 0 ? 0 : x->clock_skew > SKEW_CAP ? SKEW_CAP : x->clock_skew;
	size_t n = strnlen(c->sub, sizeof(c->sub)), i;
	bool bad = n == 0 || n > ZK_SUB_MAX || c->exp < 0 || c->iat < 0 || c->auth_time < -1;

	for (i = 0; i < n && !bad; i++)
		bad = (unsigned char)c->sub[i] < 0x20 || c->sub[i] == 0x7f;
	if (x->now >= c->exp + skew || c->iat - skew > x->now ||
	    (c->auth_time >= 0 && c->auth_time - skew > x->now))
		bad = true;
	if (x->max_age >= 0 &&
	    (c->auth_time < 0 ||
	     x->now > c->auth_time + (x->max_age > SKEW_CAP ? SKEW_CAP : x->max_age) + skew))
		bad = true;
	if (bad) {
		fprintf(stderr, "fuzz_jwt_claims: accepted claims break the contract\n");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t clocks[4] = { 1700000000, 0, INT64_MAX, INT64_MIN };
	static const int64_t skews[4] = { 0, 60, INT64_MAX, -1 };
	static const int64_t max_ages[4] = { 0, 300, INT64_MAX, INT64_MIN };
	static const struct zk_jwt_claims untouched = { .sub = "untouched", .exp = -7 };
	struct zk_jwt_expect ex;
	struct zk_jwt_claims out = untouched;
	const uint8_t *hdr, *pay, *nl;
	size_t hlen, plen, tlen;
	EVP_PKEY *key;
	const char *alg;
	char *tok;
	unsigned flags;
	int rc;

	if (size < 3)
		return 0;
	flags = data[1];
	hdr = data + 2;
	nl = memchr(hdr, '\n', size - 2);
	if (nl == NULL)
		return 0;
	hlen = (size_t)(nl - hdr);
	pay = nl + 1;
	plen = size - 2 - hlen - 1;

	switch (data[0] % 8) {
	case 0: key = keys.ed; alg = "EdDSA"; break;
	case 1: key = keys.ec; alg = "ES256"; break;
	case 2: key = keys.rsa; alg = "RS256"; break;
	case 3: key = keys.rsa; alg = "PS256"; break;
	case 4: key = keys.ec384; alg = "ES384"; break;
	case 5: key = keys.ec521; alg = "ES512"; break;
	case 6: key = keys.rsa; alg = "RS512"; break;
	default: key = keys.rsa; alg = "PS512"; break;
	}
	memset(&ex, 0, sizeof(ex));
	ex.issuer = "https://idp.example.com";
	ex.client_id = "ssh-hosts";
	ex.nonce = (flags & 4) ? "n-0S6_WzA2Mj" : NULL;
	ex.access_token = (flags & 1) != 0;
	ex.allowed_algs = ZK_ALG_RS256 | ZK_ALG_RS512 | ZK_ALG_PS256 | ZK_ALG_PS512 |
			  ZK_ALG_ES256 | ZK_ALG_ES384 | ZK_ALG_ES512 | ZK_ALG_EDDSA;
	ex.now = clocks[(flags >> 4) & 3];
	ex.clock_skew = skews[(flags >> 6) & 3];
	ex.max_age = (flags & 8) ? max_ages[(flags >> 6) & 3] : -1;

	tok = fz_sign(key, alg, hdr, hlen, pay, plen, &tlen);
	rc = zk_jwt_verify(tok, tlen, set, &ex, &out);
	if (rc == ZK_JWT_OK)
		check_claims_out(&out, &ex);
	else if (rc < ZK_JWT_OK || rc > ZK_E_ACR || memcmp(&out, &untouched, sizeof(out)) != 0)
		abort();
	free(tok);
	return 0;
}
