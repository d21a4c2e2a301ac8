/*
 * zk_b64url_decode, which every JWT segment and JWK member goes through.
 * The decoder is strict and canonical (no padding, no whitespace, unused
 * bits zero), so each accepted input is the one encoding of its bytes:
 * encode(decode(x)) == x exactly. And encode's output always decodes back
 * to the bytes it came from.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"

static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_b64url: %s (input of %zu bytes)\n", what, size);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *dec = NULL, *back = NULL;
	size_t dlen = 0, blen = 0, elen;
	char *enc;

	/* The input as text. */
	if (zk_b64url_decode((const char *)data, size, &dec, &dlen) == 0) {
		elen = zk_b64url_encoded_len(dlen);
		if (elen != size || dec[dlen] != '\0')
			fail("decoded length does not match", size);
		enc = malloc(elen + 1);
		if (enc == NULL)
			fail("malloc", size);
		if (zk_b64url_encode(dec, dlen, enc) != elen || memcmp(enc, data, size) != 0)
			fail("accepted input is not canonical: encode(decode(x)) != x", size);
		free(enc);
		free(dec);
	}

	/* The input as bytes. */
	elen = zk_b64url_encoded_len(size);
	enc = malloc(elen + 1);
	if (enc == NULL)
		fail("malloc", size);
	if (zk_b64url_encode(data, size, enc) != elen || enc[elen] != '\0')
		fail("encode wrote another length than encoded_len", size);
	if (zk_b64url_decode(enc, elen, &back, &blen) != 0)
		fail("decode refused what encode wrote", size);
	if (blen != size || memcmp(back, data, size) != 0)
		fail("decode(encode(x)) != x", size);
	free(back);
	free(enc);
	return 0;
}
