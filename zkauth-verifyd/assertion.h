/* private_key_jwt (RFC 7523, OIDC Core 9): the client proves itself with
 * a short-lived JWT signed by its own key. */
#ifndef ZK_ASSERTION_H
#define ZK_ASSERTION_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

/* Loads a PEM private key (RSA >= 2048 bits, or EC P-256) from a file that
 * zk_read_secret_file accepts. NULL with a reason in err. */
EVP_PKEY *zk_client_key_load(const char *path, char *err, size_t errlen);

/*
 * A compact JWS with iss = sub = client_id, aud, a fresh random jti, iat =
 * now and exp = now + 60, signed RS256 or ES256 by the key's type, with
 * kid in the header when not NULL (printable, no quote or backslash). Returns
 * a NUL-terminated string to be released with zk_freezero_str, or NULL.
 */
char *zk_client_assertion(EVP_PKEY *key, const char *kid, const char *client_id, const char *aud,
			  int64_t now);

#endif
