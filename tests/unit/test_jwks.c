/* Unit tests: JWKS parsing (jwks.c) and the strict JSON reader it holds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "config.h"
#include "jwks.h"
#include "testkeys.h"

#define ALGS_RSA (ZK_ALG_RS256 | ZK_ALG_RS384 | ZK_ALG_RS512 | \
		  ZK_ALG_PS256 | ZK_ALG_PS384 | ZK_ALG_PS512)

struct fx {
	EVP_PKEY *rsa, *rsa1024, *ec256, *ec384, *ec521, *ed;
};

static struct fx *F;

static int setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof(*F));
	if (F == NULL)
		return -1;
	F->rsa = tk_rsa(2048);
	F->rsa1024 = tk_rsa(1024);
	F->ec256 = tk_ec("P-256");
	F->ec384 = tk_ec("P-384");
	F->ec521 = tk_ec("P-521");
	F->ed = tk_ed25519();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(F->rsa);
	EVP_PKEY_free(F->rsa1024);
	EVP_PKEY_free(F->ec256);
	EVP_PKEY_free(F->ec384);
	EVP_PKEY_free(F->ec521);
	EVP_PKEY_free(F->ed);
	free(F);
	return 0;
}

/* {"keys":[a, b, ...]} from JWK texts, which are freed. NULL ends the list. */
static char *set_of(char *first, ...)
{
	size_t cap = 64 * 1024, len;
	char *s = malloc(cap), *k;
	va_list ap;

	assert_non_null(s);
	strcpy(s, "{\"keys\":[");
	va_start(ap, first);
	for (k = first; k != NULL; k = va_arg(ap, char *)) {
		len = strlen(s);
		assert_true(len + strlen(k) + 4 < cap);
		snprintf(s + len, cap - len, "%s%s", k == first ? "" : ",", k);
		free(k);
	}
	va_end(ap);
	strcat(s, "]}");
	return s;
}

/* Parses text; returns the set (caller frees) or NULL, checking the error
 * text is set exactly when parsing fails. */
static struct zk_jwks *parse(const char *text)
{
	struct zk_jwks *set = NULL;
	char err[128] = "";
	int rc = zk_jwks_parse(text, strlen(text), &set, err, sizeof(err));

	if (rc == 0) {
		assert_non_null(set);
		return set;
	}
	assert_int_equal(rc, -1);
	assert_null(set);
	assert_true(err[0] != '\0');
	return NULL;
}

/* Number of usable keys in text, -1 when the whole set is refused. */
static int count_keys(char *text)
{
	struct zk_jwks *set = parse(text);
	int n = set != NULL ? (int)set->n : -1;

	zk_jwks_free(set);
	free(text);
	return n;
}

static void test_parse_all_types(void **state)
{
	char *text = set_of(tk_jwk(F->rsa, "r", NULL, NULL), tk_jwk(F->ec256, "e1", "ES256", NULL),
			    tk_jwk(F->ec384, "e2", NULL, NULL), tk_jwk(F->ec521, "e3", NULL, NULL),
			    tk_jwk(F->ed, "o", "EdDSA", NULL), NULL);
	struct zk_jwks *set = parse(text);

	(void)state;
	assert_non_null(set);
	assert_int_equal(set->n, 5);
	assert_string_equal(set->keys[0].kid, "r");
	assert_int_equal(set->keys[0].alg, 0);
	assert_int_equal(set->keys[0].fits, ALGS_RSA);
	assert_int_equal(EVP_PKEY_eq(set->keys[0].pkey, F->rsa), 1);
	assert_int_equal(set->keys[1].alg, ZK_ALG_ES256);
	assert_int_equal(set->keys[1].fits, ZK_ALG_ES256);
	assert_int_equal(EVP_PKEY_eq(set->keys[1].pkey, F->ec256), 1);
	assert_int_equal(set->keys[2].fits, ZK_ALG_ES384);
	assert_int_equal(EVP_PKEY_eq(set->keys[2].pkey, F->ec384), 1);
	assert_int_equal(set->keys[3].fits, ZK_ALG_ES512);
	assert_int_equal(EVP_PKEY_eq(set->keys[3].pkey, F->ec521), 1);
	assert_int_equal(set->keys[4].alg, ZK_ALG_EDDSA);
	assert_int_equal(set->keys[4].fits, ZK_ALG_EDDSA);
	assert_int_equal(EVP_PKEY_eq(set->keys[4].pkey, F->ed), 1);
	/* A key from another pair is not the same key. */
	assert_int_not_equal(EVP_PKEY_eq(set->keys[1].pkey, F->ec384), 1);
	zk_jwks_free(set);
	free(text);
}

static void test_kid_optional(void **state)
{
	char *text = set_of(tk_jwk(F->rsa, NULL, NULL, NULL), tk_jwk(F->ec256, NULL, NULL, NULL), NULL);
	struct zk_jwks *set = parse(text);

	(void)state;
	assert_non_null(set);
	assert_int_equal(set->n, 2);
	assert_null(set->keys[0].kid);
	assert_null(set->keys[1].kid);
	zk_jwks_free(set);
	free(text);
}

static void test_empty_set(void **state)
{
	(void)state;
	assert_int_equal(count_keys(strdup("{\"keys\":[]}")), 0);
}

static void test_rsa_1024_skipped(void **state)
{
	(void)state;
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa1024, "small", NULL, NULL), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa1024, "small", NULL, NULL),
					   tk_jwk(F->rsa, "big", NULL, NULL), NULL)), 1);
}

/* An RSA JWK with a made-up odd modulus of the given bit length. */
static char *rsa_jwk_bits(int bits)
{
	unsigned char n[1100];
	int bytes = (bits + 7) / 8;
	char *b, *out = malloc(2048);

	assert_non_null(out);
	assert_int_equal(RAND_bytes(n, bytes), 1);
	/* Exactly `bits` bits: clear above, set the top one. */
	n[0] &= (unsigned char)(0xff >> (8 * bytes - bits));
	n[0] |= (unsigned char)(0x80 >> (8 * bytes - bits));
	n[bytes - 1] |= 1;
	b = tk_b64(n, (size_t)bytes);
	snprintf(out, 2048, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", b);
	free(b);
	return out;
}

static void test_rsa_modulus_bounds(void **state)
{
	(void)state;
	assert_int_equal(count_keys(set_of(rsa_jwk_bits(2047), NULL)), 0);
	assert_int_equal(count_keys(set_of(rsa_jwk_bits(2048), NULL)), 1);
	assert_int_equal(count_keys(set_of(rsa_jwk_bits(8192), NULL)), 1);
	assert_int_equal(count_keys(set_of(rsa_jwk_bits(8193), NULL)), 0);
}

static void test_rsa_exponent(void **state)
{
	char *jwk = tk_jwk(F->rsa, NULL, NULL, NULL), *p, *q;
	char buf[1024];

	(void)state;
	/* Pull the modulus out of the generated JWK to pair it with other exponents. */
	p = strstr(jwk, "\"n\":\"") + 5;
	q = strchr(p, '"');
	*q = '\0';
	snprintf(buf, sizeof(buf), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", p);
	assert_int_equal(count_keys(set_of(strdup(buf), NULL)), 1);
	snprintf(buf, sizeof(buf), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQ\"}", p); /* 1 */
	assert_int_equal(count_keys(set_of(strdup(buf), NULL)), 0);
	snprintf(buf, sizeof(buf), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAA\"}", p); /* even */
	assert_int_equal(count_keys(set_of(strdup(buf), NULL)), 0);
	snprintf(buf, sizeof(buf), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"\"}", p);
	assert_int_equal(count_keys(set_of(strdup(buf), NULL)), 0);
	snprintf(buf, sizeof(buf), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":65537}", p);
	assert_int_equal(count_keys(set_of(strdup(buf), NULL)), 0);
	snprintf(buf, sizeof(buf), "{\"kty\":\"RSA\",\"n\":\"%s=\",\"e\":\"AQAB\"}", p);
	assert_int_equal(count_keys(set_of(strdup(buf), NULL)), 0);
	snprintf(buf, sizeof(buf), "{\"kty\":\"RSA\",\"e\":\"AQAB\"}");
	assert_int_equal(count_keys(set_of(strdup(buf), NULL)), 0);
	free(jwk);
}

static void test_duplicate_kid(void **state)
{
	(void)state;
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa, "same", NULL, NULL),
					   tk_jwk(F->ec256, "same", NULL, NULL), NULL)), -1);
	/* Only usable keys count: a skipped key does not make the kid ambiguous. */
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa1024, "same", NULL, NULL),
					   tk_jwk(F->ec256, "same", NULL, NULL), NULL)), 1);
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa, "a", NULL, NULL),
					   tk_jwk(F->ec256, "b", NULL, NULL),
					   tk_jwk(F->ed, "a", NULL, NULL), NULL)), -1);
}

static void test_use_and_key_ops(void **state)
{
	(void)state;
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL, ",\"use\":\"sig\""), NULL)), 1);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL, ",\"use\":\"enc\""), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL, ",\"use\":1"), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL,
						  ",\"key_ops\":[\"verify\"]"), NULL)), 1);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL,
						  ",\"key_ops\":[\"sign\",\"verify\"]"), NULL)), 1);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL,
						  ",\"key_ops\":[\"encrypt\"]"), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL,
						  ",\"key_ops\":\"verify\""), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL,
						  ",\"key_ops\":[\"verify\",1]"), NULL)), 0);
}

static void test_alg_member(void **state)
{
	(void)state;
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa, "k", "RS256", NULL), NULL)), 1);
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa, "k", "PS512", NULL), NULL)), 1);
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa, "k", "RSA-OAEP", NULL), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa, "k", "ES256", NULL), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa, "k", "none", NULL), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa, "k", "HS256", NULL), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", "ES384", NULL), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec384, "k", "ES384", NULL), NULL)), 1);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ed, "k", "ES256", NULL), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL, ",\"alg\":256"), NULL)), 0);
}

static void test_kid_member(void **state)
{
	char big[300], extra[320];

	(void)state;
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, NULL, NULL, ",\"kid\":7"), NULL)), 0);
	memset(big, 'k', 257);
	big[257] = '\0';
	snprintf(extra, sizeof(extra), ",\"kid\":\"%s\"", big);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, NULL, NULL, extra), NULL)), 0);
	big[256] = '\0';
	snprintf(extra, sizeof(extra), ",\"kid\":\"%s\"", big);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, NULL, NULL, extra), NULL)), 1);
}

/* A published private key cannot vouch for anything. */
static void test_private_and_symmetric_skipped(void **state)
{
	(void)state;
	assert_int_equal(count_keys(set_of(tk_jwk(F->ec256, "k", NULL, ",\"d\":\"AAAA\""), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->rsa, "k", NULL, ",\"p\":\"AAAA\""), NULL)), 0);
	assert_int_equal(count_keys(set_of(tk_jwk(F->ed, "k", NULL, ",\"d\":\"AAAA\""), NULL)), 0);
	assert_int_equal(count_keys(set_of(strdup("{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}"),
					   NULL)), 0);
}

static void test_unknown_types_and_curves(void **state)
{
	(void)state;
	assert_int_equal(count_keys(set_of(strdup("{\"kty\":\"XYZ\",\"x\":\"AA\"}"), NULL)), 0);
	assert_int_equal(count_keys(set_of(strdup("{\"x\":\"AA\"}"), NULL)), 0);
	assert_int_equal(count_keys(set_of(strdup("{\"kty\":1}"), NULL)), 0);
	assert_int_equal(count_keys(set_of(strdup("42"), strdup("\"k\""), strdup("null"),
					   strdup("[]"), NULL)), 0);
	/* Same x/y, other curve names. */
	{
		char *j = tk_jwk(F->ec256, "k", NULL, NULL), *p = strstr(j, "P-256");

		memcpy(p, "P-192", 5);
		assert_int_equal(count_keys(set_of(j, NULL)), 0);
	}
	assert_int_equal(count_keys(set_of(strdup("{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":"
						  "\"X9dEm1m0Yf0s54fsYWrUah2hNCSFpw4fig6nXYDpZ3jt8SR2m0bHBhvWeD3x5Q9s0foavq_oJWGA\"}"),
					   NULL)), 0);
	assert_int_equal(count_keys(set_of(strdup("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":"
						  "\"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo\"}"),
					   NULL)), 0);
}

/* Replaces the value of member name ("x" or "y") in jwk by the base64url
 * of its decoded bytes after f changed them. */
static char *mangle_coord(const char *jwk, const char *name, int drop_last, int flip)
{
	char key[8], *out = malloc(4096), *val, *p, *q, *enc;
	unsigned char bin[200];
	size_t blen;
	unsigned char *dec;

	assert_non_null(out);
	snprintf(key, sizeof(key), "\"%s\":\"", name);
	p = strstr(jwk, key);
	assert_non_null(p);
	p += strlen(key);
	q = strchr(p, '"');
	val = strndup(p, (size_t)(q - p));
	/* Decode with OpenSSL through standard base64 plus padding. */
	{
		char std[300];
		size_t i, n = strlen(val);
		int len;

		for (i = 0; i < n; i++)
			std[i] = val[i] == '-' ? '+' : val[i] == '_' ? '/' : val[i];
		while (i % 4)
			std[i++] = '=';
		std[i] = '\0';
		len = EVP_DecodeBlock(bin, (unsigned char *)std, (int)i);
		assert_true(len > 0);
		blen = (size_t)len - (n % 4 == 2 ? 2 : n % 4 == 3 ? 1 : 0);
	}
	dec = bin;
	if (flip)
		dec[blen - 1] ^= 1;
	if (drop_last)
		blen--;
	enc = tk_b64(dec, blen);
	snprintf(out, 4096, "%.*s%s%s", (int)(p - jwk), jwk, enc, q);
	free(enc);
	free(val);
	return out;
}

static void test_ec_point_checks(void **state)
{
	char *j = tk_jwk(F->ec256, "k", NULL, NULL);
	char *j5 = tk_jwk(F->ec521, "k", NULL, NULL);

	(void)state;
	assert_int_equal(count_keys(set_of(strdup(j), NULL)), 1);
	/* A point off the curve (y changed) must be refused. */
	assert_int_equal(count_keys(set_of(mangle_coord(j, "y", 0, 1), NULL)), 0);
	assert_int_equal(count_keys(set_of(mangle_coord(j, "x", 0, 1), NULL)), 0);
	assert_int_equal(count_keys(set_of(mangle_coord(j5, "y", 0, 1), NULL)), 0);
	/* Coordinates are exactly the field size. */
	assert_int_equal(count_keys(set_of(mangle_coord(j, "x", 1, 0), NULL)), 0);
	assert_int_equal(count_keys(set_of(mangle_coord(j5, "y", 1, 0), NULL)), 0);
	/* Far too short: nothing may be read past the decoded bytes. */
	assert_int_equal(count_keys(set_of(strdup("{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AAAA\","
						  "\"y\":\"AAAA\"}"), NULL)), 0);
	free(j);
	free(j5);
}

static void test_ed25519_length(void **state)
{
	char *j = tk_jwk(F->ed, "k", NULL, NULL);

	(void)state;
	assert_int_equal(count_keys(set_of(mangle_coord(j, "x", 1, 0), NULL)), 0);
	free(j);
}

static void test_set_level_errors(void **state)
{
	(void)state;
	assert_int_equal(count_keys(strdup("{}")), -1);
	assert_int_equal(count_keys(strdup("{\"keys\":{}}")), -1);
	assert_int_equal(count_keys(strdup("{\"keys\":null}")), -1);
	assert_int_equal(count_keys(strdup("{\"Keys\":[]}")), -1);
	assert_int_equal(count_keys(strdup("[]")), -1);
	assert_int_equal(count_keys(strdup("")), -1);
	assert_int_equal(count_keys(strdup("{\"keys\":[]")), -1);
	assert_int_equal(count_keys(strdup("{\"keys\":[]} x")), -1);
	assert_int_equal(count_keys(strdup("{\"keys\":[],\"keys\":[]}")), -1);
	assert_int_equal(count_keys(strdup("{\"keys\":[],}")), -1);
}

static void test_duplicate_member_in_key(void **state)
{
	char *a = tk_jwk(F->ec256, "k", NULL, NULL);
	char *dup = malloc(strlen(a) + 20);

	(void)state;
	/* {"kid":"k","kid":"k",...}: duplicates are refused anywhere in the
	 * document, so the whole set goes. */
	snprintf(dup, strlen(a) + 20, "{\"kid\":\"k\",%s", a + 1);
	assert_int_equal(count_keys(set_of(dup, NULL)), -1);
	free(a);
}

static void test_key_cap(void **state)
{
	char *text = malloc(65 * 16 + 32);
	size_t i;

	(void)state;
	strcpy(text, "{\"keys\":[");
	for (i = 0; i < ZK_JWKS_MAX_KEYS; i++)
		strcat(text, i ? ",{}" : "{}");
	strcat(text, "]}");
	assert_int_equal(count_keys(strdup(text)), 0);
	text[strlen(text) - 2] = '\0';
	strcat(text, ",{}]}");
	assert_int_equal(count_keys(text), -1);
}

static void test_size_cap(void **state)
{
	size_t n = ZK_JWKS_MAX_BYTES + 1;
	char *text = malloc(n + 1);
	struct zk_jwks *set = NULL;

	(void)state;
	/* A valid document, one byte too long (trailing spaces are legal JSON). */
	memset(text, ' ', n);
	memcpy(text, "{\"keys\":[]}", 11);
	text[n] = '\0';
	assert_int_equal(zk_jwks_parse(text, n, &set, NULL, 0), -1);
	assert_null(set);
	assert_int_equal(zk_jwks_parse(text, n - 1, &set, NULL, 0), 0);
	assert_non_null(set);
	zk_jwks_free(set);
	free(text);
}

static void test_not_terminated_input(void **state)
{
	struct zk_jwks *set = NULL;
	static const char doc[] = "{\"keys\":[]}GARBAGE";

	(void)state;
	assert_int_equal(zk_jwks_parse(doc, 11, &set, NULL, 0), 0);
	assert_non_null(set);
	assert_int_equal(set->n, 0);
	zk_jwks_free(set);
	zk_jwks_free(NULL);
}

/* ---- strict JSON ------------------------------------------------------ */

static int json_ok(const char *text)
{
	cJSON *j = NULL;
	int rc = zk_json_parse_object(text, strlen(text), &j, NULL);

	if (rc == 0)
		assert_non_null(j);
	cJSON_Delete(j);
	return rc;
}

static void test_json_strict_grammar(void **state)
{
	(void)state;
	assert_int_equal(json_ok("{}"), 0);
	assert_int_equal(json_ok(" \t\r\n{ \"a\" : [ 1 , -0.5e+3 , true , false , null , {} ] } \n"), 0);
	assert_int_equal(json_ok("{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}"), 0);
	assert_int_equal(json_ok("{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"), 0);
	assert_int_equal(json_ok("{\"a\":\"\\ud83d\\ude00\"}"), 0);
	/* What cJSON alone would let through, or RFC 8259 forbids. */
	assert_int_equal(json_ok("{\"a\":+1}"), -1);
	assert_int_equal(json_ok("{\"a\":01}"), -1);
	assert_int_equal(json_ok("{\"a\":1.}"), -1);
	assert_int_equal(json_ok("{\"a\":.5}"), -1);
	assert_int_equal(json_ok("{\"a\":1e}"), -1);
	assert_int_equal(json_ok("{\"a\":-}"), -1);
	assert_int_equal(json_ok("{\"a\":NaN}"), -1);
	assert_int_equal(json_ok("{\"a\":Infinity}"), -1);
	assert_int_equal(json_ok("{\"a\":tru}"), -1);
	assert_int_equal(json_ok("{\"a\":\"x\ny\"}"), -1);
	assert_int_equal(json_ok("{\"a\":\"\x7f\"}"), 0);
	assert_int_equal(json_ok("{\"a\":\"\\x\"}"), -1);
	assert_int_equal(json_ok("{\"a\":\"\\u12\"}"), -1);
	assert_int_equal(json_ok("{\"a\":\"\\ud800\"}"), -1);
	assert_int_equal(json_ok("{\"a\":\"\\udc00\"}"), -1);
	assert_int_equal(json_ok("{\"a\":\"\\ud800\\u0041\"}"), -1);
	assert_int_equal(json_ok("{\"a\":\"\xc0\x80\"}"), -1);          /* overlong */
	assert_int_equal(json_ok("{\"a\":\"\xed\xa0\x80\"}"), -1);      /* surrogate */
	assert_int_equal(json_ok("{\"a\":\"\xf4\x90\x80\x80\"}"), -1);  /* > U+10FFFF */
	assert_int_equal(json_ok("{\"a\":\"\x80\"}"), -1);
	assert_int_equal(json_ok("{\"a\":\"\xc3\"}"), -1);
	assert_int_equal(json_ok("{'a':1}"), -1);
	assert_int_equal(json_ok("{\"a\":1,}"), -1);
	assert_int_equal(json_ok("{\"a\":[1,]}"), -1);
	assert_int_equal(json_ok("{\"a\" 1}"), -1);
	assert_int_equal(json_ok("{\"a\":1}/**/"), -1);
	assert_int_equal(json_ok("{\"a\":1}{}"), -1);
	assert_int_equal(json_ok("\xef\xbb\xbf{}"), -1);
	assert_int_equal(json_ok("[]"), -1);
	assert_int_equal(json_ok("\"a\""), -1);
	assert_int_equal(json_ok(""), -1);
	assert_int_equal(json_ok("{"), -1);
	assert_int_equal(json_ok("{\"a\":\"unterminated}"), -1);
}

static void test_json_depth(void **state)
{
	char buf[200];
	unsigned i, d;

	(void)state;
	for (d = ZK_JSON_MAX_DEPTH; d <= ZK_JSON_MAX_DEPTH + 1; d++) {
		/* {"a":[[...]]} with d levels in all */
		size_t n = 0;

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"a\":");
		for (i = 1; i < d; i++)
			buf[n++] = '[';
		for (i = 1; i < d; i++)
			buf[n++] = ']';
		buf[n++] = '}';
		buf[n] = '\0';
		assert_int_equal(json_ok(buf), d <= ZK_JSON_MAX_DEPTH ? 0 : -1);
	}
}

static void test_json_duplicates(void **state)
{
	char big[1024];
	size_t n, i;

	(void)state;
	assert_int_equal(json_ok("{\"a\":1,\"a\":1}"), -1);
	assert_int_equal(json_ok("{\"a\":1,\"b\":{\"c\":1,\"c\":2}}"), -1);
	assert_int_equal(json_ok("{\"a\":[{\"c\":1,\"c\":2}]}"), -1);
	/* The same name spelled with an escape is the same name. */
	assert_int_equal(json_ok("{\"sub\":\"x\",\"s\\u0075b\":\"y\"}"), -1);
	/* Same names in different objects are fine. */
	assert_int_equal(json_ok("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}"), 0);
	/* Large objects take the sorted path. */
	n = (size_t)snprintf(big, sizeof(big), "{");
	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"m%zu\":%zu", i ? "," : "", i, i);
	snprintf(big + n, sizeof(big) - n, "}");
	assert_int_equal(json_ok(big), 0);
	big[strlen(big) - 1] = '\0';
	strcat(big, ",\"m17\":0}");
	assert_int_equal(json_ok(big), -1);
}

static void test_json_nul(void **state)
{
	static const char doc[] = "{\"a\":\"x\",\"b\":\"y\\u0000z\",\"c\":[\"\\u0000\"],\"d\":{\"e\":\"f\"}}";
	unsigned char *nul = NULL;
	cJSON *j = NULL;

	(void)state;
	assert_int_equal(zk_json_parse_object(doc, strlen(doc), &j, NULL), -1);
	assert_null(j);
	assert_int_equal(zk_json_parse_object(doc, strlen(doc), &j, &nul), 0);
	assert_non_null(j);
	assert_non_null(nul);
	assert_int_equal(nul[0], 0);
	assert_int_equal(nul[1], 1);
	assert_int_equal(nul[2], 1);
	assert_int_equal(nul[3], 0);
	cJSON_Delete(j);
	free(nul);
	/* Never in a member name: "a\u0000x" would read as "a". */
	nul = NULL;
	assert_int_equal(zk_json_parse_object("{\"a\\u0000x\":1}", strlen("{\"a\\u0000x\":1}"), &j, &nul), -1);
	assert_null(nul);
	/* A raw NUL byte is not JSON. */
	assert_int_equal(zk_json_parse_object("{\"a\":\"x\0\"}", sizeof("{\"a\":\"x\0\"}") - 1, &j, &nul), -1);
	assert_int_equal(zk_json_parse_object("{}\0", 3, &j, &nul), -1);
	/* The byte after the text must be the terminator. */
	assert_int_equal(zk_json_parse_object("{}x", 2, &j, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_all_types),
		cmocka_unit_test(test_kid_optional),
		cmocka_unit_test(test_empty_set),
		cmocka_unit_test(test_rsa_1024_skipped),
		cmocka_unit_test(test_rsa_modulus_bounds),
		cmocka_unit_test(test_rsa_exponent),
		cmocka_unit_test(test_duplicate_kid),
		cmocka_unit_test(test_use_and_key_ops),
		cmocka_unit_test(test_alg_member),
		cmocka_unit_test(test_kid_member),
		cmocka_unit_test(test_private_and_symmetric_skipped),
		cmocka_unit_test(test_unknown_types_and_curves),
		cmocka_unit_test(test_ec_point_checks),
		cmocka_unit_test(test_ed25519_length),
		cmocka_unit_test(test_set_level_errors),
		cmocka_unit_test(test_duplicate_member_in_key),
		cmocka_unit_test(test_key_cap),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_not_terminated_input),
		cmocka_unit_test(test_json_strict_grammar),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_json_duplicates),
		cmocka_unit_test(test_json_nul),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
