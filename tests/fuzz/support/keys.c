/* Keys, JWKs and compact JWS for the JWT fuzz targets and the seed generator. */
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#define JWK_MAX 4096

static void fail(const char *what)
{
	fprintf(stderr, "fuzz keys: %s failed\n", what);
	abort();
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		fail("malloc");
	return p;
}

static EVP_PKEY *checked(EVP_PKEY *k, const char *what)
{
	if (k == NULL)
		fail(what);
	return k;
}

void fz_keys_generate(struct fz_keys *k)
{
	k->rsa = checked(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), "RSA keygen");
	k->ec = fz_ec_key("P-256");
	k->ec384 = fz_ec_key("P-384");
	k->ec521 = fz_ec_key("P-521");
	k->ed = checked(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), "Ed25519 keygen");
}

void fz_keys_free(struct fz_keys *k)
{
	EVP_PKEY_free(k->rsa);
	EVP_PKEY_free(k->ec);
	EVP_PKEY_free(k->ec384);
	EVP_PKEY_free(k->ec521);
	EVP_PKEY_free(k->ed);
	memset(k, 0, sizeof(*k));
}

EVP_PKEY *fz_ec_key(const char *curve)
{
	return checked(EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve), "EC keygen");
}

char *fz_b64(const void *in, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	int len, i;

	/* EVP_EncodeBlock takes an int; nothing here comes near. */
	if (n > 1u << 30)
		fail("b64 size");
	len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	if (len < 0)
		fail("EVP_EncodeBlock");
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

/* A big number as exactly pad bytes (pad 0: its own length), base64url. */
static char *b64_bn(const BIGNUM *bn, int pad)
{
	unsigned char buf[1100];
	int n = pad > 0 ? pad : BN_num_bytes(bn);

	if (n > (int)sizeof(buf) || BN_bn2binpad(bn, buf, n) != n)
		fail("BN_bn2binpad");
	return fz_b64(buf, (size_t)n);
}

static int ec_size(const char *group, const char **crv)
{
	static const struct {
		const char *group, *crv;
		int size;
	} tab[] = {
		{ "prime256v1", "P-256", 32 },
		{ "secp384r1", "P-384", 48 },
		{ "secp521r1", "P-521", 66 },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strcmp(group, tab[i].group) == 0 || strcmp(group, tab[i].crv) == 0) {
			*crv = tab[i].crv;
			return tab[i].size;
		}
	}
	fail("EC group");
	return 0;
}

char *fz_jwk(EVP_PKEY *key, const char *kid, const char *extra)
{
	char *out = xmalloc(JWK_MAX), *a = NULL, *b = NULL;
	char head[300] = "";
	int n;

	if (kid != NULL)
		snprintf(head, sizeof(head), "\"kid\":\"%s\",", kid);
	if (extra == NULL)
		extra = "";
	if (EVP_PKEY_is_a(key, "RSA")) {
		BIGNUM *bn = NULL, *be = NULL;

		if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &bn) != 1 ||
		    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &be) != 1)
			fail("RSA parameters");
		a = b64_bn(bn, 0);
		b = b64_bn(be, 0);
		n = snprintf(out, JWK_MAX, "{%s\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s}", head,
			     a, b, extra);
		BN_free(bn);
		BN_free(be);
	} else if (EVP_PKEY_is_a(key, "EC")) {
		BIGNUM *x = NULL, *y = NULL;
		char group[64];
		const char *crv = NULL;
		int size;

		if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1)
			fail("EC group name");
		size = ec_size(group, &crv);
		if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
		    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1)
			fail("EC coordinates");
		a = b64_bn(x, size);
		b = b64_bn(y, size);
		n = snprintf(out, JWK_MAX, "{%s\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
			     head, crv, a, b, extra);
		BN_free(x);
		BN_free(y);
	} else if (EVP_PKEY_is_a(key, "ED25519")) {
		unsigned char pub[32];
		size_t len = sizeof(pub);

		if (EVP_PKEY_get_raw_public_key(key, pub, &len) != 1 || len != sizeof(pub))
			fail("Ed25519 public key");
		a = fz_b64(pub, len);
		n = snprintf(out, JWK_MAX, "{%s\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"%s}",
			     head, a, extra);
	} else {
		fail("key type");
		n = -1;
	}
	if (n <= 0 || n >= JWK_MAX)
		fail("JWK size");
	free(a);
	free(b);
	return out;
}

char *fz_jwks(const struct fz_keys *k)
{
	char *jwk[FZ_NKEYS], *out;
	size_t n = 32, i;

	jwk[0] = fz_jwk(k->rsa, FZ_KID_RSA, NULL);
	jwk[1] = fz_jwk(k->ec, FZ_KID_EC, ",\"alg\":\"ES256\",\"use\":\"sig\"");
	jwk[2] = fz_jwk(k->ec384, FZ_KID_EC384, NULL);
	jwk[3] = fz_jwk(k->ec521, FZ_KID_EC521, NULL);
	jwk[4] = fz_jwk(k->ed, FZ_KID_ED, NULL);
	for (i = 0; i < FZ_NKEYS; i++)
		n += strlen(jwk[i]) + 1;
	out = xmalloc(n);
	strcpy(out, "{\"keys\":[");
	for (i = 0; i < FZ_NKEYS; i++) {
		if (i > 0)
			strcat(out, ",");
		strcat(out, jwk[i]);
		free(jwk[i]);
	}
	strcat(out, "]}");
	return out;
}

/* Digest name of a JWS alg ("RS256" -> "SHA256"); NULL for EdDSA. */
static const char *md_of(const char *alg)
{
	if (strcmp(alg, "EdDSA") == 0)
		return NULL;
	if (strlen(alg) != 5)
		fail("alg name");
	if (strcmp(alg + 2, "256") == 0)
		return "SHA256";
	if (strcmp(alg + 2, "384") == 0)
		return "SHA384";
	return "SHA512";
}

/* JWS ECDSA wants r || s of the curve's size, OpenSSL gives DER. */
static unsigned char *der_to_raw(const unsigned char *der, size_t derlen, int size)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	unsigned char *raw = xmalloc(2 * (size_t)size);

	if (es == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, size) != size ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + size, size) != size)
		fail("ECDSA signature");
	ECDSA_SIG_free(es);
	return raw;
}

char *fz_sign(EVP_PKEY *key, const char *alg, const void *hdr, size_t hlen,
	      const void *pay, size_t plen, size_t *len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	char *h = fz_b64(hdr, hlen), *p = fz_b64(pay, plen), *s, *input, *tok;
	unsigned char *sig, *raw;
	size_t ilen, siglen = 0, tlen;

	if (ctx == NULL)
		fail("EVP_MD_CTX_new");
	ilen = strlen(h) + 1 + strlen(p);
	input = xmalloc(ilen + 1);
	snprintf(input, ilen + 1, "%s.%s", h, p);
	if (EVP_DigestSignInit_ex(ctx, &pctx, md_of(alg), NULL, NULL, key, NULL) != 1)
		fail("EVP_DigestSignInit_ex");
	if (alg[0] == 'P' &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		fail("PSS parameters");
	if (EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, ilen) != 1)
		fail("EVP_DigestSign size");
	sig = xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, ilen) != 1)
		fail("EVP_DigestSign");
	if (alg[0] == 'E' && alg[1] == 'S') {
		char group[64];
		const char *crv;
		int size;

		if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1)
			fail("EC group name");
		size = ec_size(group, &crv);
		raw = der_to_raw(sig, siglen, size);
		free(sig);
		sig = raw;
		siglen = 2 * (size_t)size;
	}
	s = fz_b64(sig, siglen);
	tlen = ilen + 1 + strlen(s);
	tok = xmalloc(tlen + 1);
	snprintf(tok, tlen + 1, "%s.%s", input, s);
	*len = tlen;
	EVP_MD_CTX_free(ctx);
	free(h);
	free(p);
	free(s);
	free(sig);
	free(input);
	return tok;
}
