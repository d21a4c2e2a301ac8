/* Unit tests: strict base64url (b64url.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/rand.h>

#include "b64url.h"

static void decode_ok(const char *in, const void *want, size_t wantlen)
{
	unsigned char *out = NULL;
	size_t len = 99;

	assert_int_equal(zk_b64url_decode(in, strlen(in), &out, &len), 0);
	assert_non_null(out);
	assert_int_equal(len, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(out[len], '\0');
	free(out);
}

static void decode_bad_n(const char *in, size_t n)
{
	static unsigned char sentinel[] = "untouched";
	unsigned char *out = sentinel;
	size_t len = 12345;

	assert_int_equal(zk_b64url_decode(in, n, &out, &len), -1);
	/* Output parameters are written only on success. */
	assert_ptr_equal(out, sentinel);
	assert_int_equal(len, 12345);
}

static void decode_bad(const char *in)
{
	decode_bad_n(in, strlen(in));
}

/* RFC 4648 section 10 vectors, without padding. */
static void test_rfc4648_vectors(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	char buf[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		assert_int_equal(zk_b64url_encoded_len(strlen(plain[i])), strlen(enc[i]));
		assert_int_equal(zk_b64url_encode((const unsigned char *)plain[i], strlen(plain[i]), buf),
				 strlen(enc[i]));
		assert_string_equal(buf, enc[i]);
		decode_ok(enc[i], plain[i], strlen(plain[i]));
	}
}

/* The two characters that differ from standard base64. */
static void test_url_alphabet(void **state)
{
	static const unsigned char bytes[] = { 0xfb, 0xff, 0xbf };
	char buf[8];

	(void)state;
	zk_b64url_encode(bytes, sizeof(bytes), buf);
	assert_string_equal(buf, "-_-_");
	decode_ok("-_-_", bytes, sizeof(bytes));
	decode_bad("+/+/");
	decode_bad("-_+_");
	decode_bad("-_/_");
}

static void test_roundtrip_random(void **state)
{
	unsigned char in[200], *out;
	char enc[300];
	size_t n, len;

	(void)state;
	for (n = 0; n <= sizeof(in); n++) {
		assert_int_equal(RAND_bytes(in, (int)sizeof(in)), 1);
		assert_int_equal(zk_b64url_encode(in, n, enc), zk_b64url_encoded_len(n));
		assert_int_equal(strlen(enc), zk_b64url_encoded_len(n));
		assert_int_equal(zk_b64url_decode(enc, strlen(enc), &out, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(out, in, n);
		free(out);
	}
}

static void test_rejects_padding(void **state)
{
	(void)state;
	decode_bad("Zg==");
	decode_bad("Zg=");
	decode_bad("Zm8=");
	decode_bad("====");
	decode_bad("Zm9v=");
}

static void test_rejects_whitespace(void **state)
{
	(void)state;
	decode_bad("Zm9v Zm9v");
	decode_bad("Zm9v\nZm9v");
	decode_bad("Zm9v\r\n");
	decode_bad(" Zm9v");
	decode_bad("Zm9v\t");
}

static void test_rejects_bad_length(void **state)
{
	(void)state;
	/* 4k+1 characters cannot encode whole bytes. */
	decode_bad("Z");
	decode_bad("Zm9vZ");
	decode_bad("Zm9vYmFyZ");
}

/* The last character's unused bits must be zero: "Zh" and "Zg" would
 * otherwise both mean "f". */
static void test_rejects_noncanonical(void **state)
{
	(void)state;
	decode_ok("Zg", "f", 1);
	decode_bad("Zh");
	decode_bad("Zv");
	decode_ok("Zm8", "fo", 2);
	decode_bad("Zm9");
	decode_bad("Zm-");
	decode_ok("AA", "\0", 1);
	decode_bad("AB");
	decode_bad("AP");
}

static void test_rejects_other_bytes(void **state)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char in[5] = "AAAA";
	unsigned c;

	(void)state;
	for (c = 0; c < 256; c++) {
		unsigned char *out;
		size_t len;
		int rc;

		in[1] = (char)c;
		rc = zk_b64url_decode(in, 4, &out, &len);
		if (c != 0 && strchr(ok, (int)c) != NULL) {
			assert_int_equal(rc, 0);
			free(out);
		} else {
			assert_int_equal(rc, -1);
		}
	}
	/* A NUL inside the counted length ends nothing: it is refused. */
	decode_bad_n("Zm\0v", 4);
}

static void test_decode_counted_not_terminated(void **state)
{
	unsigned char *out;
	size_t len;

	(void)state;
	/* Only n bytes are read: what follows does not matter. */
	assert_int_equal(zk_b64url_decode("Zm9v!!!!", 4, &out, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "foo", 3);
	free(out);
	assert_int_equal(zk_b64url_decode("", 0, &out, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(out[0], '\0');
	free(out);
}

/* The decoder as the RFC states it, one character at a time: what the
 * table-driven one must agree with. -1 or the length written to out. */
static long ref_decode(const unsigned char *in, size_t n, unsigned char *out)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned long v = 0;
	size_t i, bits = 0, o = 0;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		const char *p = in[i] != 0 ? strchr(alpha, in[i]) : NULL;

		if (p == NULL)
			return -1;
		v = (v << 6 | (unsigned long)(p - alpha)) & 0xffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	/* what is left over must be zero bits */
	if ((v & ((1ul << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

static void check_against_ref(const unsigned char *in, size_t n)
{
	unsigned char want[64], *out = NULL;
	size_t len = 0;
	long r = ref_decode(in, n, want);
	int rc = zk_b64url_decode((const char *)in, n, &out, &len);

	if (r < 0) {
		assert_int_equal(rc, -1);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(len, (size_t)r);
	assert_memory_equal(out, want, len);
	assert_int_equal(out[len], '\0');
	free(out);
}

/* Every byte value in every position of a group, of a two-character and
 * of a three-character tail. */
static void test_every_byte_every_position(void **state)
{
	unsigned char in[8];
	size_t n, pos;
	unsigned c;

	(void)state;
	for (n = 4; n <= 7; n++) {
		if (n == 5)
			continue;
		for (pos = 0; pos < n; pos++) {
			for (c = 0; c < 256; c++) {
				memcpy(in, "QUJDRA==", sizeof(in));
				in[pos] = (unsigned char)c;
				check_against_ref(in, n);
			}
		}
	}
}

/* Random strings over the alphabet and its near misses, of every length
 * up to 40, against the reference. */
static void test_random_against_ref(void **state)
{
	static const char pool[] = "AZaz09-_Qgw+/= \n\x00\x80\xff.";
	unsigned char in[40], r[40];
	size_t n, i;
	int round;

	(void)state;
	for (round = 0; round < 3000; round++) {
		assert_int_equal(RAND_bytes(r, (int)sizeof(r)), 1);
		n = r[0] % (sizeof(in) + 1);
		for (i = 0; i < n; i++)
			/* mostly valid characters, so that many strings decode */
			in[i] = r[i] < 16 ? (unsigned char)pool[r[i] % (sizeof(pool) - 1)] :
				(unsigned char)"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[r[i] % 64];
		check_against_ref(in, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_url_alphabet),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_rejects_padding),
		cmocka_unit_test(test_rejects_whitespace),
		cmocka_unit_test(test_rejects_bad_length),
		cmocka_unit_test(test_rejects_noncanonical),
		cmocka_unit_test(test_rejects_other_bytes),
		cmocka_unit_test(test_decode_counted_not_terminated),
		cmocka_unit_test(test_every_byte_every_position),
		cmocka_unit_test(test_random_against_ref),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
