/*
 * Keys, JWKs and compact JWS for the JWT targets and the seed generator.
 * Built on OpenSSL alone (own base64url through EVP_EncodeBlock), so the
 * tokens do not depend on the code under test. Every function aborts on a
 * library failure: a fuzzer without its keys is useless.
 */
#ifndef ZK_FUZZ_KEYS_H
#define ZK_FUZZ_KEYS_H

#include <stddef.h>
#include <openssl/evp.h>

/* The kids of the key set the JWT targets verify against. */
#define FZ_KID_RSA   "rsa-1"
#define FZ_KID_EC    "ec-1"
#define FZ_KID_EC384 "ec384-1"
#define FZ_KID_EC521 "ec521-1"
#define FZ_KID_ED    "ed-1"

struct fz_keys {
	EVP_PKEY *rsa;   /* RSA-2048 */
	EVP_PKEY *ec;    /* P-256 */
	EVP_PKEY *ec384; /* P-384 */
	EVP_PKEY *ec521; /* P-521: its r || s takes DER's long length form */
	EVP_PKEY *ed;    /* Ed25519 */
};
#define FZ_NKEYS 5

/* Fresh keys from EVP_PKEY_Q_keygen. */
void fz_keys_generate(struct fz_keys *k);
void fz_keys_free(struct fz_keys *k);

/* curve: "P-256", "P-384" or "P-521". */
EVP_PKEY *fz_ec_key(const char *curve);

/* base64url without padding; malloc'd. */
char *fz_b64(const void *in, size_t n);

/*
 * The public JWK of key as a JSON object. "kid" is left out when kid is
 * NULL; extra (e.g. ",\"use\":\"sig\"") is appended inside the object when
 * not NULL. malloc'd.
 */
char *fz_jwk(EVP_PKEY *key, const char *kid, const char *extra);

/* {"keys":[...]} with every key of k under its FZ_KID_*; the P-256 JWK
 * carries "alg":"ES256" and "use":"sig", the others neither. malloc'd. */
char *fz_jwks(const struct fz_keys *k);

/*
 * Compact JWS over the given header and payload bytes (base64url-encoded
 * here, so they may be anything), signed with key the way alg says:
 * RS* PKCS#1 v1.5, PS* PSS with salt = hash length, ES* raw r || s,
 * EdDSA. malloc'd and NUL-terminated; *len excludes the NUL.
 */
char *fz_sign(EVP_PKEY *key, const char *alg, const void *hdr, size_t hlen,
	      const void *pay, size_t plen, size_t *len);

#endif
