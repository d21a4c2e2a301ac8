/* A JSON Web Key Set, parsed into OpenSSL keys. */
#ifndef ZK_JWKS_H
#define ZK_JWKS_H

#include <stddef.h>
#include <openssl/evp.h>

/* Cap on a JWKS document and on the number of keys kept. */
#define ZK_JWKS_MAX_BYTES (256u * 1024u)
#define ZK_JWKS_MAX_KEYS  64u

struct zk_jwk {
	char *kid;          /* NULL when the JWK has none */
	unsigned alg;       /* ZK_ALG_* from the JWK's "alg", 0 when absent */
	unsigned fits;      /* ZK_ALG_* bits this key's type/curve can verify */
	EVP_PKEY *pkey;
};

struct zk_jwks {
	struct zk_jwk *keys;
	size_t n;
};

/*
 * Parses a JWKS document of len bytes (not necessarily NUL-terminated).
 * Keys that cannot be used for verification (unknown kty or curve, private
 * or symmetric material only, use other than "sig", key_ops without
 * "verify", RSA modulus outside 2048..8192 bits, malformed members) are
 * skipped. A kid used by two usable keys makes the whole set invalid.
 * Returns 0 and sets *out (possibly with zero keys), or -1 with a reason in err.
 */
int zk_jwks_parse(const char *json, size_t len, struct zk_jwks **out, char *err, size_t errlen);
void zk_jwks_free(struct zk_jwks *set);

#endif
