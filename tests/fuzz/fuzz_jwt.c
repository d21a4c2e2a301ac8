/*
 * zk_jwt_verify on hostile token bytes, against a key set made once per
 * process (support/keys.c: RSA-2048, P-256 with alg ES256, P-384, P-521,
 * Ed25519, each under its FZ_KID_*), exported as a JWKS and read by
 * zk_jwks_parse.
 *
 * Input: the token, as the token endpoint's JSON string would give it.
 * The keys are fresh per process, so no input carries a valid signature:
 * this target covers the form, base64url, the header JSON, key selection
 * and the signature check itself. fuzz_jwt_claims covers what lies past
 * a valid signature.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwks.h"
#include "jwt.h"
#include "config.h"
#include "keys.h"

static struct zk_jwks *set;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct fz_keys k;
	char err[256], *doc;

	fz_keys_generate(&k);
	doc = fz_jwks(&k);
	if (zk_jwks_parse(doc, strlen(doc), &set, err, sizeof(err)) != 0 || set->n != FZ_NKEYS) {
		fprintf(stderr, "fuzz_jwt: own key set refused: %s\n", err);
		abort();
	}
	free(doc);
	fz_keys_free(&k);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct zk_jwt_claims untouched = { .sub = "untouched", .exp = -7 };
	struct zk_jwt_expect ex = {
		.issuer = "https://idp.example.com",
		.client_id = "ssh-hosts",
		.nonce = "n-0S6_WzA2Mj",
		.allowed_algs = ZK_ALG_RS256 | ZK_ALG_RS384 | ZK_ALG_RS512 | ZK_ALG_PS256 |
				ZK_ALG_PS384 | ZK_ALG_PS512 | ZK_ALG_ES256 | ZK_ALG_ES384 |
				ZK_ALG_ES512 | ZK_ALG_EDDSA,
		.now = 1700000000,
		.clock_skew = 60,
		.max_age = -1,
	};
	struct zk_jwt_claims out = untouched;
	int rc;

	rc = zk_jwt_verify((const char *)data, size, set, &ex, &out);
	/* Nobody can sign for keys made in this process: success is a forgery. */
	if (rc == ZK_JWT_OK) {
		fprintf(stderr, "fuzz_jwt: a token verified without the private key\n");
		abort();
	}
	if (rc < ZK_JWT_OK || rc > ZK_E_ACR || memcmp(&out, &untouched, sizeof(out)) != 0) {
		fprintf(stderr, "fuzz_jwt: rc %d, or *out written on failure\n", rc);
		abort();
	}
	return 0;
}
