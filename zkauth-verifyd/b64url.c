/* base64url (RFC 4648 section 5) without padding, strict. */
#include "b64url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char enc_tab[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Decoding value of a byte, or -1 for anything outside the url alphabet
 * (this includes '=', '+', '/', whitespace and NUL). */
static int dec_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t zk_b64url_encoded_len(size_t n)
{
	size_t rem = n % 3;

	return n / 3 * 4 + (rem ? rem + 1 : 0);
}

size_t zk_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = enc_tab[v >> 18 & 63];
		out[o++] = enc_tab[v >> 12 & 63];
		out[o++] = enc_tab[v >> 6 & 63];
		out[o++] = enc_tab[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = enc_tab[v >> 18 & 63];
		out[o++] = enc_tab[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = enc_tab[v >> 18 & 63];
		out[o++] = enc_tab[v >> 12 & 63];
		out[o++] = enc_tab[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

int zk_b64url_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned char *buf;
	size_t rem = n % 4, full = n - rem, i, o = 0;
	uint32_t v = 0;

	/* A lone trailing character carries only 6 bits: never a whole byte. */
	if (rem == 1)
		return -1;
	buf = malloc(full / 4 * 3 + (rem ? rem - 1 : 0) + 1);
	if (buf == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		int d = dec_val(s[i]);

		if (d < 0)
			goto fail;
		v = v << 6 | (uint32_t)d;
		if (i % 4 == 3) {
			buf[o++] = (unsigned char)(v >> 16);
			buf[o++] = (unsigned char)(v >> 8);
			buf[o++] = (unsigned char)v;
			v = 0;
		}
	}
	/*
	 * The unused low bits of the last character must be zero: otherwise
	 * several encodings map to the same bytes, and a signed token could be
	 * altered without touching its signature check.
	 */
	if (rem == 2) {
		if (v & 0x0f)
			goto fail;
		buf[o++] = (unsigned char)(v >> 4);
	} else if (rem == 3) {
		if (v & 0x03)
			goto fail;
		buf[o++] = (unsigned char)(v >> 10);
		buf[o++] = (unsigned char)(v >> 2);
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
fail:
	explicit_bzero(buf, o);
	free(buf);
	return -1;
}
