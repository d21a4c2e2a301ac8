/*
 * zk_jwks_parse on a hostile JWKS document, as fetched from jwks_uri (the
 * body is not NUL-terminated here: the parser takes a length). Every key
 * it keeps must be usable the way jwks.h promises.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwks.h"
#include "config.h"

#define ALGS_ALL (ZK_ALG_RS256 | ZK_ALG_RS384 | ZK_ALG_RS512 | ZK_ALG_PS256 | ZK_ALG_PS384 | \
		  ZK_ALG_PS512 | ZK_ALG_ES256 | ZK_ALG_ES384 | ZK_ALG_ES512 | ZK_ALG_EDDSA)

static void check_set(const struct zk_jwks *set)
{
	size_t i, j;

	if (set->n > ZK_JWKS_MAX_KEYS)
		goto bad;
	for (i = 0; i < set->n; i++) {
		const struct zk_jwk *k = &set->keys[i];

		/* A key with no fitting alg, or a JWK alg that does not fit, is skipped. */
		if (k->pkey == NULL || k->fits == 0 || (k->fits & ~ALGS_ALL) != 0 ||
		    (k->alg != 0 && (k->alg & k->fits) == 0))
			goto bad;
		if ((k->fits & (ZK_ALG_RS256 | ZK_ALG_PS256)) != 0 &&
		    (EVP_PKEY_get_bits(k->pkey) < 2048 || EVP_PKEY_get_bits(k->pkey) > 8192))
			goto bad;
		for (j = 0; j < i; j++)
			if (k->kid != NULL && set->keys[j].kid != NULL &&
			    strcmp(k->kid, set->keys[j].kid) == 0)
				goto bad;
	}
	return;
bad:
	fprintf(stderr, "fuzz_jwks: accepted set breaks the contract of jwks.h\n");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zk_jwks *set = NULL;
	char err[256];

	err[0] = '\0';
	if (zk_jwks_parse((const char *)data, size, &set, err, sizeof(err)) == 0)
		check_set(set);
	else if (set != NULL || err[0] == '\0')
		abort();
	zk_jwks_free(set);
	return 0;
}
