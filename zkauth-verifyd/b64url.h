/* base64url (RFC 4648 section 5) without padding, strict. */
#ifndef ZK_B64URL_H
#define ZK_B64URL_H

#include <stddef.h>

/* Length of the encoding of n bytes, without terminator. */
size_t zk_b64url_encoded_len(size_t n);

/* Encodes n bytes into out (needs zk_b64url_encoded_len(n) + 1 bytes) and
 * NUL-terminates. Returns the length written. */
size_t zk_b64url_encode(const unsigned char *in, size_t n, char *out);

/*
 * Strict decode: alphabet A-Z a-z 0-9 - _ only, no padding, no whitespace,
 * length % 4 != 1, unused trailing bits zero (canonical). Allocates *out
 * (NUL-terminated for convenience; *outlen excludes it). 0 or -1.
 */
int zk_b64url_decode(const char *in, size_t n, unsigned char **out, size_t *outlen);

#endif
