/* private_key_jwt client assertions. */
#include "assertion.h"
#include "b64url.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>

#define KEY_FILE_MAX (16u * 1024u)
#define ASSERTION_LIFETIME 60

EVP_PKEY *zk_client_key_load(const char *path, char *err, size_t errlen)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	char why[256];

	if (zk_read_secret_file(path, KEY_FILE_MAX, &pem, &len, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s", why);
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio)
		key = PEM_read_bio_PrivateKey(bio, NULL, zk_no_pass_phrase, NULL);
	BIO_free(bio);
	zk_freezero(pem, len);
	if (key == NULL) {
		snprintf(err, errlen, "%s: not a PEM private key (encrypted keys are not supported)", path);
		return NULL;
	}
	if (!(EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= 2048) &&
	    !(EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) == 256)) {
		snprintf(err, errlen, "%s: an RSA key of 2048 bits or more, or an EC P-256 key, is needed",
			 path);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

static char *b64_of(const unsigned char *p, size_t n)
{
	char *s = malloc(zk_b64url_encoded_len(n) + 1);

	if (s)
		zk_b64url_encode(p, n, s);
	return s;
}

/* ECDSA's DER signature as JWS wants it: r || s, 32 bytes each. */
static int der_to_raw(const unsigned char *der, size_t dlen, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	int ok;

	if (sig == NULL)
		return -1;
	ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) == 32 &&
	     BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

char *zk_client_assertion(EVP_PKEY *key, const char *kid, const char *client_id, const char *aud,
			  int64_t now)
{
	bool ec = EVP_PKEY_is_a(key, "EC");
	char *header = NULL;
	unsigned char jti_raw[16], sig[1024], raw[64];
	char jti[32], *claims = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL, *out = NULL;
	size_t slen = sizeof(sig);
	cJSON *o = NULL;
	EVP_MD_CTX *ctx = NULL;

	if (zk_random(jti_raw, sizeof(jti_raw)) < 0)
		goto done;
	zk_b64url_encode(jti_raw, sizeof(jti_raw), jti);
	o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "iss", client_id) ||
	    !cJSON_AddStringToObject(o, "sub", client_id) || !cJSON_AddStringToObject(o, "aud", aud) ||
	    !cJSON_AddStringToObject(o, "jti", jti) || !cJSON_AddNumberToObject(o, "iat", (double)now) ||
	    !cJSON_AddNumberToObject(o, "exp", (double)(now + ASSERTION_LIFETIME)))
		goto done;
	claims = cJSON_PrintUnformatted(o);
	if (claims == NULL)
		goto done;
	/* kid: a provider that holds the client's keys as a JWKS may pick the
	 * key by it alone (RFC 7523 does not ask for it; Glewlwyd does). The
	 * config admits printable ASCII without quotes or backslashes. */
	if (asprintf(&header, "{\"alg\":\"%s\",\"typ\":\"JWT\"%s%s%s}", ec ? "ES256" : "RS256",
		     kid ? ",\"kid\":\"" : "", kid ? kid : "", kid ? "\"" : "") < 0) {
		header = NULL;
		goto done;
	}
	h64 = b64_of((const unsigned char *)header, strlen(header));
	c64 = b64_of((const unsigned char *)claims, strlen(claims));
	if (!h64 || !c64 || asprintf(&input, "%s.%s", h64, c64) < 0) {
		input = NULL;
		goto done;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, sig, &slen, (const unsigned char *)input, strlen(input)) != 1)
		goto done;
	if (ec) {
		if (der_to_raw(sig, slen, raw) < 0)
			goto done;
		s64 = b64_of(raw, sizeof(raw));
	} else {
		s64 = b64_of(sig, slen);
	}
	if (s64 == NULL || asprintf(&out, "%s.%s", input, s64) < 0)
		out = NULL;
done:
	EVP_MD_CTX_free(ctx);
	cJSON_Delete(o);
	free(claims);
	free(header);
	free(h64);
	free(c64);
	free(s64);
	free(input);
	return out;
}
