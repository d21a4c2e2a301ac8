/* base64url (RFC 4648 section 5) without padding, strict. */
#include "b64url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char enc_tab[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Decoding value of each byte, for each of the four positions in a group:
 * the 6 bits already shifted into place, or BAD for anything outside the
 * url alphabet (this includes '=', '+', '/', whitespace and NUL). BAD is a
 * bit no valid group sets, so one test of the OR of a whole segment tells.
 */
#define BAD 0x80000000u
#define DEC_TABLE(V, X) \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, V(62), X, X, \
	V(52), V(53), V(54), V(55), V(56), V(57), V(58), V(59), V(60), V(61), X, X, X, X, X, X, \
	X, V(0), V(1), V(2), V(3), V(4), V(5), V(6), V(7), V(8), V(9), V(10), V(11), V(12), V(13), V(14), \
	V(15), V(16), V(17), V(18), V(19), V(20), V(21), V(22), V(23), V(24), V(25), X, X, X, X, V(63), \
	X, V(26), V(27), V(28), V(29), V(30), V(31), V(32), V(33), V(34), V(35), V(36), V(37), V(38), V(39), V(40), \
	V(41), V(42), V(43), V(44), V(45), V(46), V(47), V(48), V(49), V(50), V(51), X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, \
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X

#define X BAD
#define V(v) ((uint32_t)(v) << 18)
static const uint32_t dec0[256] = { DEC_TABLE(V, X) };
#undef V
#define V(v) ((uint32_t)(v) << 12)
static const uint32_t dec1[256] = { DEC_TABLE(V, X) };
#undef V
#define V(v) ((uint32_t)(v) << 6)
static const uint32_t dec2[256] = { DEC_TABLE(V, X) };
#undef V
#define V(v) (uint32_t)(v)
static const uint32_t dec3[256] = { DEC_TABLE(V, X) };
#undef V
#undef X

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
	uint32_t v, bad = 0;

	/* A lone trailing character carries only 6 bits: never a whole byte. */
	if (rem == 1)
		return -1;
	buf = malloc(full / 4 * 3 + (rem ? rem - 1 : 0) + 1);
	if (buf == NULL)
		return -1;
	/* Invalid characters are noted, not branched on: the bytes decoded
	 * meanwhile are wiped below. */
	for (i = 0; i < full; i += 4) {
		v = dec0[s[i]] | dec1[s[i + 1]] | dec2[s[i + 2]] | dec3[s[i + 3]];
		bad |= v;
		buf[o] = (unsigned char)(v >> 16);
		buf[o + 1] = (unsigned char)(v >> 8);
		buf[o + 2] = (unsigned char)v;
		o += 3;
	}
	/*
	 * The unused low bits of the last character must be zero: otherwise
	 * several encodings map to the same bytes, and a signed token could be
	 * altered without touching its signature check.
	 */
	if (rem == 2) {
		v = dec0[s[i]] | dec1[s[i + 1]];
		bad |= v | (v & (0x0fu << 12) ? BAD : 0);
		buf[o++] = (unsigned char)(v >> 16);
	} else if (rem == 3) {
		v = dec0[s[i]] | dec1[s[i + 1]] | dec2[s[i + 2]];
		bad |= v | (v & (0x03u << 6) ? BAD : 0);
		buf[o++] = (unsigned char)(v >> 16);
		buf[o++] = (unsigned char)(v >> 8);
	}
	if (bad & BAD)
		goto fail;
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
fail:
	explicit_bzero(buf, o);
	free(buf);
	return -1;
}
