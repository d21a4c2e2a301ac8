/*
 * make bench: full token verification through the daemon's own code
 * (parse, signature, claims) against raw OpenSSL EVP verification of the
 * same signature with the same key, in the same run, on one core.
 * Prints: verify ALG: zkauth N/s, openssl M/s, ratio R
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "config.h"
#include "jwks.h"
#include "jwt.h"

/* Many short rounds, zkauth and OpenSSL alternating, compared by their
 * medians: a busy neighbour on a shared machine moves single rounds, not
 * the median. */
#define ROUND_SECONDS 0.1
#define ROUNDS 31

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static char *b64(const unsigned char *p, size_t n)
{
	char *s = malloc(zk_b64url_encoded_len(n) + 1);

	if (s)
		zk_b64url_encode(p, n, s);
	return s;
}

static char *bn_b64(const EVP_PKEY *k, const char *name, size_t pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;
	char *s;

	if (!EVP_PKEY_get_bn_param(k, name, &bn))
		return NULL;
	n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
	BN_free(bn);
	s = n > 0 ? b64(buf, (size_t)n) : NULL;
	return s;
}

/* The public half of k as a one-key JWKS document. */
static char *jwks_json(EVP_PKEY *k, const char *alg)
{
	char *doc = malloc(8192), *a = NULL, *b = NULL;

	if (!doc)
		return NULL;
	if (strcmp(alg, "RS256") == 0) {
		a = bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0);
		snprintf(doc, 8192, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"use\":\"sig\","
			 "\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\"}]}", a, b);
	} else if (strcmp(alg, "ES256") == 0) {
		a = bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		b = bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		snprintf(doc, 8192, "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k1\",\"use\":\"sig\","
			 "\"alg\":\"ES256\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", a, b);
	} else {
		unsigned char pub[32];
		size_t plen = sizeof(pub);

		EVP_PKEY_get_raw_public_key(k, pub, &plen);
		a = b64(pub, plen);
		snprintf(doc, 8192, "{\"keys\":[{\"kty\":\"OKP\",\"kid\":\"k1\",\"use\":\"sig\","
			 "\"alg\":\"EdDSA\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]}", a);
	}
	free(a);
	free(b);
	return doc;
}

static const EVP_MD *md_for(const char *alg)
{
	return strcmp(alg, "EdDSA") == 0 ? NULL : EVP_sha256();
}

/* Raw signature bytes as a JWS carries them (r||s for ECDSA). */
static int sign(EVP_PKEY *k, const char *alg, const char *in, unsigned char *sig, size_t *slen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[256];
	size_t dlen = sizeof(der);
	int ok;

	ok = EVP_DigestSignInit(ctx, NULL, md_for(alg), NULL, k) == 1;
	if (strcmp(alg, "ES256") != 0) {
		ok = ok && EVP_DigestSign(ctx, sig, slen, (const unsigned char *)in, strlen(in)) == 1;
	} else {
		const unsigned char *p = der;
		ECDSA_SIG *es;

		ok = ok && EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)in, strlen(in)) == 1;
		es = ok ? d2i_ECDSA_SIG(NULL, &p, (long)dlen) : NULL;
		ok = es && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
		     BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32;
		*slen = 64;
		ECDSA_SIG_free(es);
		/* the baseline verifies the DER form OpenSSL takes */
	}
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int bench(const char *alg)
{
	EVP_PKEY *k;
	struct zk_jwks *set = NULL;
	char err[256], *doc, header[128], payload[512], *h64, *p64, *s64, *token, *input;
	unsigned char sig[1024], der[256];
	size_t slen = sizeof(sig), dlen = 0;
	struct zk_jwt_expect ex;
	struct zk_jwt_claims cl;
	double rate_zk[ROUNDS], rate_raw[ROUNDS], med_zk, med_raw;
	time_t t = time(NULL);
	int r;

	if (strcmp(alg, "RS256") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(alg, "ES256") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	doc = k ? jwks_json(k, alg) : NULL;
	if (!doc || zk_jwks_parse(doc, strlen(doc), &set, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: %s: cannot make keys\n", alg);
		return -1;
	}
	snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"k1\"}", alg);
	snprintf(payload, sizeof(payload),
		 "{\"iss\":\"https://idp.example.com\",\"sub\":\"248289761001\",\"aud\":\"ssh-hosts\","
		 "\"exp\":%ld,\"iat\":%ld,\"auth_time\":%ld,\"nonce\":\"n-0S6_WzA2Mj\"}",
		 (long)t + 600, (long)t, (long)t);
	h64 = b64((unsigned char *)header, strlen(header));
	p64 = b64((unsigned char *)payload, strlen(payload));
	input = malloc(strlen(h64) + strlen(p64) + 2);
	sprintf(input, "%s.%s", h64, p64);
	if (sign(k, alg, input, sig, &slen) < 0)
		return -1;
	s64 = b64(sig, slen);
	token = malloc(strlen(input) + strlen(s64) + 2);
	sprintf(token, "%s.%s", input, s64);

	/* The baseline verifies what OpenSSL takes: DER for ECDSA. */
	if (strcmp(alg, "ES256") == 0) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		unsigned char *p = der;

		ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
		dlen = (size_t)i2d_ECDSA_SIG(es, &p);
		ECDSA_SIG_free(es);
	} else {
		memcpy(der, sig, slen < sizeof(der) ? slen : sizeof(der));
		dlen = slen;
	}

	memset(&ex, 0, sizeof(ex));
	ex.issuer = "https://idp.example.com";
	ex.client_id = "ssh-hosts";
	ex.nonce = "n-0S6_WzA2Mj";
	ex.allowed_algs = ZK_ALGS_DEFAULT;
	ex.now = t;
	ex.clock_skew = 60;
	ex.max_age = -1;
	r = zk_jwt_verify(token, strlen(token), set, &ex, &cl);
	if (r != ZK_JWT_OK) {
		fprintf(stderr, "bench: %s: token does not verify: %s\n", alg, zk_jwt_strerror(r));
		return -1;
	}

	for (int round = 0; round < ROUNDS; round++) {
		double t0, el;
		long i;

		t0 = now_s();
		for (i = 0; (el = now_s() - t0) < ROUND_SECONDS; i++)
			if (zk_jwt_verify(token, strlen(token), set, &ex, &cl) != ZK_JWT_OK)
				return -1;
		rate_zk[round] = (double)i / el;

		t0 = now_s();
		for (i = 0; (el = now_s() - t0) < ROUND_SECONDS; i++) {
			EVP_MD_CTX *ctx = EVP_MD_CTX_new();
			const unsigned char *rsig = strcmp(alg, "ES256") == 0 ? der : sig;

			if (EVP_DigestVerifyInit(ctx, NULL, md_for(alg), NULL, set->keys[0].pkey) != 1 ||
			    EVP_DigestVerify(ctx, rsig, dlen, (unsigned char *)input, strlen(input)) != 1)
				return -1;
			EVP_MD_CTX_free(ctx);
		}
		rate_raw[round] = (double)i / el;
	}
	med_zk = median(rate_zk, ROUNDS);
	med_raw = median(rate_raw, ROUNDS);
	printf("verify %s: zkauth %.0f/s, openssl %.0f/s, ratio %.2f\n", alg, med_zk, med_raw,
	       med_zk / med_raw);
	free(h64);
	free(p64);
	free(s64);
	free(input);
	free(token);
	free(doc);
	zk_jwks_free(set);
	EVP_PKEY_free(k);
	return 0;
}

int main(void)
{
	int rc = 0;

	rc |= bench("RS256");
	rc |= bench("ES256");
	rc |= bench("EdDSA");
	return rc ? 1 : 0;
}
