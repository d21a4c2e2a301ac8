/*
 * Test helpers: keys made at run time, their public JWKs, and compact JWS
 * signed with any algorithm. Independent of the code under test (own
 * base64url through OpenSSL's encoder), so a bug there cannot hide itself.
 * Every helper aborts the test (cmocka fail()) on a library failure.
 */
#ifndef ZK_TESTKEYS_H
#define ZK_TESTKEYS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

static inline EVP_PKEY *tk_rsa(unsigned bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);

	assert_non_null(k);
	return k;
}

/* curve: "P-256", "P-384" or "P-521" */
static inline EVP_PKEY *tk_ec(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

	assert_non_null(k);
	return k;
}

static inline EVP_PKEY *tk_ed25519(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	assert_non_null(k);
	return k;
}

/* base64url without padding of n bytes; malloc'd. */
static inline char *tk_b64(const void *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	int len, i;

	assert_non_null(out);
	len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	if (len < 0 || (size_t)len > 4 * ((n + 2) / 3))
		len = 0; /* cannot happen; keeps the index below provably in range */
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

static inline char *tk_b64_str(const char *s)
{
	return tk_b64(s, strlen(s));
}

static inline char *tk_b64_bn(const BIGNUM *bn, int pad)
{
	unsigned char buf[1100];
	int n = pad > 0 ? pad : BN_num_bytes(bn);

	assert_true(n <= (int)sizeof(buf));
	assert_int_equal(BN_bn2binpad(bn, buf, n), n);
	return tk_b64(buf, (size_t)n);
}

/* Bytes of one EC coordinate for a curve group name OpenSSL reports. */
static inline int tk_ec_size(const char *group, const char **crv)
{
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
		*crv = "P-256";
		return 32;
	}
	if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
		*crv = "P-384";
		return 48;
	}
	if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0) {
		*crv = "P-521";
		return 66;
	}
	fail_msg("unknown group %s", group);
	return 0;
}

/*
 * The public JWK of k as a JSON object; kid and alg are left out when NULL,
 * extra (e.g. ",\"use\":\"sig\"") is appended inside the object when not NULL.
 */
static inline char *tk_jwk(EVP_PKEY *k, const char *kid, const char *alg, const char *extra)
{
	char *out = malloc(4096), *a = NULL, *b = NULL, *c = NULL;
	char head[600] = "";
	int n;

	assert_non_null(out);
	if (kid != NULL)
		snprintf(head + strlen(head), sizeof(head) - strlen(head), "\"kid\":\"%s\",", kid);
	if (alg != NULL)
		snprintf(head + strlen(head), sizeof(head) - strlen(head), "\"alg\":\"%s\",", alg);
	if (EVP_PKEY_is_a(k, "RSA")) {
		BIGNUM *bn = NULL, *be = NULL;

		assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
		assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &be), 1);
		a = tk_b64_bn(bn, 0);
		b = tk_b64_bn(be, 0);
		n = snprintf(out, 4096, "{%s\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s}", head, a, b,
			     extra ? extra : "");
		BN_free(bn);
		BN_free(be);
	} else if (EVP_PKEY_is_a(k, "EC")) {
		BIGNUM *x = NULL, *y = NULL;
		char group[64];
		const char *crv = NULL;
		int size;

		assert_int_equal(EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
								sizeof(group), NULL), 1);
		size = tk_ec_size(group, &crv);
		assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
		assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y), 1);
		a = tk_b64_bn(x, size);
		b = tk_b64_bn(y, size);
		n = snprintf(out, 4096, "{%s\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
			     head, crv, a, b, extra ? extra : "");
		BN_free(x);
		BN_free(y);
	} else {
		unsigned char pub[32];
		size_t len = 0;

		assert_true(EVP_PKEY_is_a(k, "ED25519"));
		assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub,
								 sizeof(pub), &len), 1);
		c = tk_b64(pub, len);
		n = snprintf(out, 4096, "{%s\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"%s}", head, c,
			     extra ? extra : "");
	}
	assert_true(n > 0 && n < 4096);
	free(a);
	free(b);
	free(c);
	return out;
}

/* Digest of a JWS alg name ("RS256" -> SHA-256), NULL for EdDSA. */
static inline const char *tk_md(const char *alg)
{
	if (strcmp(alg, "EdDSA") == 0)
		return NULL;
	if (strcmp(alg + 2, "256") == 0)
		return "SHA256";
	if (strcmp(alg + 2, "384") == 0)
		return "SHA384";
	return "SHA512";
}

/*
 * JWS signature over data with alg's mechanics (RS*: PKCS#1 v1.5, PS*: PSS
 * with the given salt length, ES*: raw r || s). malloc'd, *siglen set.
 */
static inline unsigned char *tk_sign_salt(EVP_PKEY *k, const char *alg, const void *data,
					  size_t n, size_t *siglen, int saltlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig;
	size_t len = 0;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit_ex(ctx, &pctx, tk_md(alg), NULL, NULL, k, NULL), 1);
	if (alg[0] == 'P') {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen), 1);
	}
	assert_int_equal(EVP_DigestSign(ctx, NULL, &len, data, n), 1);
	sig = malloc(len);
	assert_non_null(sig);
	assert_int_equal(EVP_DigestSign(ctx, sig, &len, data, n), 1);
	EVP_MD_CTX_free(ctx);
	if (alg[0] == 'E' && alg[1] == 'S') {
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
		int size = strcmp(alg, "ES256") == 0 ? 32 : strcmp(alg, "ES384") == 0 ? 48 : 66;
		unsigned char *raw = malloc(2 * (size_t)size);

		assert_non_null(es);
		assert_non_null(raw);
		assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, size), size);
		assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + size, size), size);
		ECDSA_SIG_free(es);
		free(sig);
		sig = raw;
		len = 2 * (size_t)size;
	}
	*siglen = len;
	return sig;
}

static inline unsigned char *tk_sign(EVP_PKEY *k, const char *alg, const void *data, size_t n,
				     size_t *siglen)
{
	return tk_sign_salt(k, alg, data, n, siglen, RSA_PSS_SALTLEN_DIGEST);
}

/* "seg1.seg2.sig" from the two first segments as given and raw signature bytes. */
static inline char *tk_join(const char *seg1, const char *seg2, const unsigned char *sig,
			    size_t siglen)
{
	char *s = tk_b64(sig, siglen);
	size_t n = strlen(seg1) + strlen(seg2) + strlen(s) + 3;
	char *t = malloc(n);

	assert_non_null(t);
	snprintf(t, n, "%s.%s.%s", seg1, seg2, s);
	free(s);
	return t;
}

/* Signs the segments exactly as given (they need not be valid base64url). */
static inline char *tk_jws_segments(EVP_PKEY *k, const char *alg, const char *seg1,
				    const char *seg2)
{
	size_t n = strlen(seg1) + strlen(seg2) + 2, siglen;
	char *input = malloc(n), *t;
	unsigned char *sig;

	assert_non_null(input);
	snprintf(input, n, "%s.%s", seg1, seg2);
	sig = tk_sign(k, alg, input, strlen(input), &siglen);
	t = tk_join(seg1, seg2, sig, siglen);
	free(sig);
	free(input);
	return t;
}

/* A compact JWS of header (JSON text) and payload (plen bytes) signed with k. */
static inline char *tk_jws_n(EVP_PKEY *k, const char *alg, const char *header,
			     const void *payload, size_t plen)
{
	char *h = tk_b64_str(header), *p = tk_b64(payload, plen);
	char *t = tk_jws_segments(k, alg, h, p);

	free(h);
	free(p);
	return t;
}

static inline char *tk_jws(EVP_PKEY *k, const char *alg, const char *header, const char *payload)
{
	return tk_jws_n(k, alg, header, payload, strlen(payload));
}

#endif
