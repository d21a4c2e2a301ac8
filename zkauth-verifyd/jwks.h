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
void zk_jwks_free(struct zk_jwks *set); /* accepts NULL */

struct cJSON;

/* Deepest nesting of objects and arrays zk_json_parse_object accepts. */
#define ZK_JSON_MAX_DEPTH 32u

/*
 * Strict JSON for untrusted documents (JWKS, JWT header and payload), shared
 * by jwks.c and jwt.c. text[0..len) must be exactly one RFC 8259 object:
 * none of the extensions cJSON tolerates, valid UTF-8, nesting up to
 * ZK_JSON_MAX_DEPTH, nothing but whitespace after it. text[len] must be
 * '\0'. Refused as well: a member name used twice in any object, and a NUL
 * (\u0000) in any member name, since cJSON's C strings would cut it short.
 * A NUL in a string value is refused when nul_members is NULL. Otherwise it
 * is allowed, and *nul_members (one byte per member of the top-level object,
 * in document order, which is cJSON's child order; release with free())
 * marks the members whose value holds one, so that the caller can refuse
 * exactly the members it reads.
 * Returns 0 and the tree in *out (release with cJSON_Delete), or -1.
 */
int zk_json_parse_object(const char *text, size_t len, struct cJSON **out,
			 unsigned char **nul_members);

/* Length of the well-formed UTF-8 sequence at p, before end (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF); 0 if none. */
size_t zk_utf8_seq(const unsigned char *p, const unsigned char *end);

#endif
