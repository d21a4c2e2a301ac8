/*
 * Compact JWS verification (RFC 7515, RFC 7519, RFC 8725 best practices).
 *
 * Order of work: the size cap, the form (three strict base64url segments),
 * the header, the key, the signature; only then is the payload read as
 * JSON, so unauthenticated bytes meet as little code as possible.
 *
 * Cost per call: keys come parsed from the JWKS (EVP_PKEY built once per
 * fetch), digests are fetched from the provider once per process, the
 * ECDSA range check is a memcmp against constant group orders, and the
 * only allocations are the three decoded segments, two cJSON trees and one
 * EVP_MD_CTX. What is left is the public key operation itself.
 */
#include "jwt.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/bn.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "config.h"

/* NumericDate bounds: JSON numbers are doubles, exact up to 2^53. */
#define NUMERIC_DATE_MAX 9007199254740992.0
/* Clamps for the caller's skew and max_age, so that no sum overflows. */
#define SECONDS_CAP ((int64_t)1 << 40)

enum md_id { MD_NONE = -1, MD_SHA256, MD_SHA384, MD_SHA512, MD_COUNT };
enum sig_kind { SIG_PKCS1, SIG_PSS, SIG_ECDSA, SIG_EDDSA };

/* Group orders n, big endian, for the ECDSA range check 1 <= r, s <= n-1. */
static const unsigned char order_p256[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};
static const unsigned char order_p384[48] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
	0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};
static const unsigned char order_p521[66] = {
	0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86,
	0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b, 0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09,
	0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f,
	0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09,
};

static const struct alg_info {
	unsigned bit;
	enum sig_kind kind;
	enum md_id md;
	size_t ec_size;               /* ECDSA: bytes of r and of s */
	const unsigned char *order;   /* ECDSA: n, ec_size bytes */
} alg_table[] = {
	{ ZK_ALG_RS256, SIG_PKCS1, MD_SHA256, 0, NULL },
	{ ZK_ALG_RS384, SIG_PKCS1, MD_SHA384, 0, NULL },
	{ ZK_ALG_RS512, SIG_PKCS1, MD_SHA512, 0, NULL },
	{ ZK_ALG_PS256, SIG_PSS, MD_SHA256, 0, NULL },
	{ ZK_ALG_PS384, SIG_PSS, MD_SHA384, 0, NULL },
	{ ZK_ALG_PS512, SIG_PSS, MD_SHA512, 0, NULL },
	{ ZK_ALG_ES256, SIG_ECDSA, MD_SHA256, 32, order_p256 },
	{ ZK_ALG_ES384, SIG_ECDSA, MD_SHA384, 48, order_p384 },
	{ ZK_ALG_ES512, SIG_ECDSA, MD_SHA512, 66, order_p521 },
	{ ZK_ALG_EDDSA, SIG_EDDSA, MD_NONE, 0, NULL },
};

static CRYPTO_ONCE md_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *md_cache[MD_COUNT];

/* Explicit fetches are cheaper than the implicit one EVP_sha256() makes
 * on every use. The daemon keeps them for its lifetime. */
static void md_fetch(void)
{
	md_cache[MD_SHA256] = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	md_cache[MD_SHA384] = EVP_MD_fetch(NULL, "SHA2-384", NULL);
	md_cache[MD_SHA512] = EVP_MD_fetch(NULL, "SHA2-512", NULL);
}

static const EVP_MD *get_md(enum md_id id)
{
	if (!CRYPTO_THREAD_run_once(&md_once, md_fetch))
		return NULL;
	return md_cache[id];
}

static const struct alg_info *alg_info(unsigned bit)
{
	size_t i;

	for (i = 0; i < sizeof(alg_table) / sizeof(alg_table[0]); i++)
		if (alg_table[i].bit == bit)
			return &alg_table[i];
	return NULL;
}

/* 1 <= v <= n-1, for big-endian v and n of the same length. */
static bool scalar_in_range(const unsigned char *v, const unsigned char *n, size_t len)
{
	unsigned char any = 0;
	size_t i;

	for (i = 0; i < len; i++)
		any |= v[i];
	return any != 0 && memcmp(v, n, len) < 0;
}

/* JWS ECDSA signatures are r || s (RFC 7518 3.4); OpenSSL wants DER. */
static int ecdsa_to_der(const unsigned char *sig, size_t size, unsigned char **der, size_t *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)size, NULL), *s = BN_bin2bn(sig + size, (int)size, NULL);
	int len, rc = -1;

	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	/* es owns r and s now. */
	*der = NULL;
	if ((len = i2d_ECDSA_SIG(es, der)) <= 0)
		goto out;
	*derlen = (size_t)len;
	rc = 0;
out:
	ECDSA_SIG_free(es);
	return rc;
}

static int verify_sig(const struct alg_info *ai, EVP_PKEY *pkey, const unsigned char *msg,
		      size_t msglen, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	int rc = ZK_E_SIG;

	switch (ai->kind) {
	case SIG_ECDSA:
		if (siglen != 2 * ai->ec_size ||
		    !scalar_in_range(sig, ai->order, ai->ec_size) ||
		    !scalar_in_range(sig + ai->ec_size, ai->order, ai->ec_size))
			goto out;
		if (ecdsa_to_der(sig, ai->ec_size, &der, &derlen) != 0) {
			rc = ZK_E_INTERNAL;
			goto out;
		}
		sig = der;
		siglen = derlen;
		break;
	case SIG_PKCS1:
	case SIG_PSS:
		if (siglen != (size_t)EVP_PKEY_get_size(pkey))
			goto out;
		break;
	case SIG_EDDSA:
		if (siglen != 64)
			goto out;
		break;
	}
	rc = ZK_E_INTERNAL;
	if (ai->md != MD_NONE && (md = get_md(ai->md)) == NULL)
		goto out;
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pkey) != 1)
		goto out;
	if (ai->kind == SIG_PKCS1 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	/* RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash. */
	if (ai->kind == SIG_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1))
		goto out;
	rc = EVP_DigestVerify(mctx, sig, siglen, msg, msglen) == 1 ? ZK_JWT_OK : ZK_E_SIG;
out:
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(der);
	/* Failed verifications leave errors behind; the next call must not see them. */
	ERR_clear_error();
	return rc;
}

/* ---- header ----------------------------------------------------------- */

static bool ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return *a == *b;
}

static bool typ_ok(const char *typ)
{
	/* RFC 7515 4.1.9: "application/" may be left out, case does not matter. */
	return ascii_caseeq(typ, "JWT") || ascii_caseeq(typ, "application/jwt") ||
	       ascii_caseeq(typ, "at+jwt") || ascii_caseeq(typ, "application/at+jwt");
}

/*
 * The header decides nothing about keys: jwk, jku, x5u, x5c are never read
 * (RFC 8725 3.10). *kid points into h.
 */
static int check_header(const cJSON *h, unsigned allowed, unsigned *alg, const char **kid)
{
	const cJSON *m;
	unsigned a;

	/* JWE, nested JWT, and extensions the sender says we must understand:
	 * we understand none. */
	if (cJSON_GetObjectItemCaseSensitive(h, "enc") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(h, "cty") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(h, "crit") != NULL)
		return ZK_E_CRIT;
	m = cJSON_GetObjectItemCaseSensitive(h, "typ");
	if (m != NULL && (!cJSON_IsString(m) || !typ_ok(m->valuestring)))
		return ZK_E_FORMAT;
	m = cJSON_GetObjectItemCaseSensitive(h, "kid");
	if (m != NULL && !cJSON_IsString(m))
		return ZK_E_FORMAT;
	*kid = m != NULL ? m->valuestring : NULL;
	m = cJSON_GetObjectItemCaseSensitive(h, "alg");
	if (!cJSON_IsString(m))
		return ZK_E_ALG;
	a = zk_alg_from_name(m->valuestring);
	if (a == 0 || (a & allowed) == 0)
		return ZK_E_ALG;
	*alg = a;
	return ZK_JWT_OK;
}

static bool key_fits(const struct zk_jwk *k, unsigned alg)
{
	return k->pkey != NULL && (k->fits & alg) != 0 && (k->alg == 0 || k->alg == alg);
}

static int select_key(const struct zk_jwks *set, const char *kid, unsigned alg,
		      const struct zk_jwk **out)
{
	const struct zk_jwk *k = NULL;
	size_t i, nfit = 0;

	if (set == NULL)
		return ZK_E_KID;
	if (kid != NULL) {
		/* Key sets never hold one kid twice (zk_jwks_parse). */
		for (i = 0; i < set->n && k == NULL; i++)
			if (set->keys[i].kid != NULL && strcmp(set->keys[i].kid, kid) == 0)
				k = &set->keys[i];
		if (k == NULL)
			return ZK_E_KID;
		if (!key_fits(k, alg))
			return ZK_E_ALG;
	} else {
		for (i = 0; i < set->n; i++) {
			if (key_fits(&set->keys[i], alg)) {
				k = &set->keys[i];
				nfit++;
			}
		}
		if (nfit != 1)
			return ZK_E_KID;
	}
	*out = k;
	return ZK_JWT_OK;
}

/* ---- claims ----------------------------------------------------------- */

/* The member called name and whether its value holds a NUL somewhere. */
static const cJSON *claim(const cJSON *root, const unsigned char *nul, const char *name,
			  bool *has_nul)
{
	const cJSON *c;
	size_t i = 0;

	for (c = root->child; c != NULL; c = c->next, i++) {
		if (strcmp(c->string, name) == 0) {
			*has_nul = nul[i] != 0;
			return c;
		}
	}
	*has_nul = false;
	return NULL;
}

/* A string claim without NUL, or NULL. */
static const char *claim_str(const cJSON *root, const unsigned char *nul, const char *name,
			     bool *present)
{
	bool has_nul;
	const cJSON *m = claim(root, nul, name, &has_nul);

	*present = m != NULL;
	if (!cJSON_IsString(m) || has_nul)
		return NULL;
	return m->valuestring;
}

/* NumericDate (RFC 7519 2): a JSON number, integral, in [0, 2^53]. */
static bool numeric_date(const cJSON *m, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(m))
		return false;
	d = m->valuedouble;
	/* Also false for NaN and infinities, which fail every comparison but !=. */
	if (!(d >= 0.0 && d <= NUMERIC_DATE_MAX))
		return false;
	if (d != (double)(int64_t)d)
		return false;
	*out = (int64_t)d;
	return true;
}

/* -1: absent; 0: present and valid in *out; 1: present and invalid. */
static int date_claim(const cJSON *root, const unsigned char *nul, const char *name, int64_t *out)
{
	bool has_nul;
	const cJSON *m = claim(root, nul, name, &has_nul);

	if (m == NULL)
		return -1;
	return numeric_date(m, out) ? 0 : 1;
}

static int check_aud(const cJSON *root, const unsigned char *nul, const char *client_id)
{
	const cJSON *aud, *e;
	const char *azp;
	bool has_nul, present, found = false, others = false;

	aud = claim(root, nul, "aud", &has_nul);
	if (aud == NULL || has_nul || client_id == NULL)
		return ZK_E_AUD;
	if (cJSON_IsString(aud)) {
		found = strcmp(aud->valuestring, client_id) == 0;
	} else if (cJSON_IsArray(aud)) {
		cJSON_ArrayForEach(e, aud) {
			if (!cJSON_IsString(e))
				return ZK_E_AUD;
			if (strcmp(e->valuestring, client_id) == 0)
				found = true;
			else
				others = true;
		}
	} else {
		return ZK_E_AUD;
	}
	if (!found)
		return ZK_E_AUD;
	/* OIDC Core 3.1.3.7: with other audiences, azp names the party the
	 * token was issued to, and that must be us. */
	azp = claim_str(root, nul, "azp", &present);
	if (present && (azp == NULL || strcmp(azp, client_id) != 0))
		return ZK_E_AUD;
	if (!present && others)
		return ZK_E_AUD;
	return ZK_JWT_OK;
}

static int check_claims(const cJSON *root, const unsigned char *nul,
			const struct zk_jwt_expect *x, struct zk_jwt_claims *c)
{
	int64_t skew = x->clock_skew, t;
	const char *s;
	bool present;
	size_t n, i;
	int r;

	if (skew < 0)
		skew = 0;
	if (skew > SECONDS_CAP)
		skew = SECONDS_CAP;

	s = claim_str(root, nul, "iss", &present);
	if (s == NULL || x->issuer == NULL || strcmp(s, x->issuer) != 0)
		return ZK_E_ISS;

	if ((r = check_aud(root, nul, x->client_id)) != ZK_JWT_OK)
		return r;

	/* Each comparison keeps the sums on the bounded side: no overflow
	 * whatever now is. */
	if (date_claim(root, nul, "exp", &c->exp) != 0 || x->now >= c->exp + skew)
		return ZK_E_EXP;
	r = date_claim(root, nul, "nbf", &t);
	if (r > 0 || (r == 0 && t - skew > x->now))
		return ZK_E_NBF;
	r = date_claim(root, nul, "iat", &c->iat);
	if (r > 0 || (r == 0 && c->iat - skew > x->now))
		return ZK_E_IAT;
	if (r < 0)
		c->iat = -1;

	s = claim_str(root, nul, "sub", &present);
	if (s == NULL || (n = strlen(s)) == 0 || n > ZK_SUB_MAX)
		return ZK_E_SUB;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return ZK_E_SUB;
	memcpy(c->sub, s, n + 1);

	if (x->nonce != NULL) {
		s = claim_str(root, nul, "nonce", &present);
		if (s == NULL || strlen(s) != strlen(x->nonce) ||
		    CRYPTO_memcmp(s, x->nonce, strlen(s)) != 0)
			return ZK_E_NONCE;
	}

	r = date_claim(root, nul, "auth_time", &c->auth_time);
	if (r > 0 || (r == 0 && c->auth_time - skew > x->now))
		return ZK_E_AUTH_TIME;
	if (r < 0)
		c->auth_time = -1;
	if (x->max_age >= 0) {
		int64_t max_age = x->max_age > SECONDS_CAP ? SECONDS_CAP : x->max_age;

		if (r < 0 || x->now > c->auth_time + max_age + skew)
			return ZK_E_AUTH_TIME;
	}
	return ZK_JWT_OK;
}

/* ---- the whole ----------------------------------------------------------- */

/* Claims are not secrets, but they came with a bearer token: wipe the
 * strings of j, its siblings after it and everything below. The depth is
 * bounded by ZK_JSON_MAX_DEPTH. */
static void json_wipe(cJSON *j)
{
	for (; j != NULL; j = j->next) {
		if (j->string != NULL)
			OPENSSL_cleanse(j->string, strlen(j->string));
		if (j->valuestring != NULL)
			OPENSSL_cleanse(j->valuestring, strlen(j->valuestring));
		json_wipe(j->child);
	}
}

int zk_jwt_verify(const char *token, size_t len, const struct zk_jwks *keys,
		  const struct zk_jwt_expect *expect, struct zk_jwt_claims *out)
{
	const char *dot1, *dot2;
	unsigned char *hdr = NULL, *pay = NULL, *sig = NULL, *pnul = NULL;
	size_t hlen = 0, plen = 0, slen = 0;
	cJSON *hj = NULL, *pj = NULL;
	const struct zk_jwk *key = NULL;
	const struct alg_info *ai;
	const char *kid = NULL;
	unsigned alg = 0;
	struct zk_jwt_claims c;
	int rc;

	memset(&c, 0, sizeof(c));
	if (token == NULL || expect == NULL || out == NULL)
		return ZK_E_INTERNAL;
	if (len > ZK_JWT_MAX_BYTES)
		return ZK_E_SIZE;

	rc = ZK_E_FORMAT;
	/* Exactly three segments: two dots, no third. */
	if ((dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		goto out;
	if (zk_b64url_decode(token, (size_t)(dot1 - token), &hdr, &hlen) != 0 ||
	    zk_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &pay, &plen) != 0 ||
	    zk_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &sig, &slen) != 0)
		goto out;
	if (zk_json_parse_object((const char *)hdr, hlen, &hj, NULL) != 0)
		goto out;
	if ((rc = check_header(hj, expect->allowed_algs, &alg, &kid)) != ZK_JWT_OK)
		goto out;
	if ((rc = select_key(keys, kid, alg, &key)) != ZK_JWT_OK)
		goto out;
	if ((ai = alg_info(alg)) == NULL) {
		rc = ZK_E_ALG;
		goto out;
	}
	/* The signing input is the first two segments as sent, dot included. */
	rc = verify_sig(ai, key->pkey, (const unsigned char *)token,
			(size_t)(dot2 - token), sig, slen);
	if (rc != ZK_JWT_OK)
		goto out;
	rc = ZK_E_FORMAT;
	if (zk_json_parse_object((const char *)pay, plen, &pj, &pnul) != 0)
		goto out;
	if ((rc = check_claims(pj, pnul, expect, &c)) != ZK_JWT_OK)
		goto out;
	*out = c;
out:
	OPENSSL_cleanse(&c, sizeof(c));
	cJSON_Delete(hj);
	json_wipe(pj);
	cJSON_Delete(pj);
	free(pnul);
	if (hdr != NULL) {
		OPENSSL_cleanse(hdr, hlen);
		free(hdr);
	}
	if (pay != NULL) {
		OPENSSL_cleanse(pay, plen);
		free(pay);
	}
	free(sig);
	return rc;
}

const char *zk_jwt_strerror(int err)
{
	static const char *const names[] = {
		[ZK_JWT_OK] = "OK",
		[ZK_E_FORMAT] = "E_FORMAT",
		[ZK_E_SIZE] = "E_SIZE",
		[ZK_E_ALG] = "E_ALG",
		[ZK_E_KID] = "E_KID",
		[ZK_E_SIG] = "E_SIG",
		[ZK_E_CRIT] = "E_CRIT",
		[ZK_E_ISS] = "E_ISS",
		[ZK_E_AUD] = "E_AUD",
		[ZK_E_EXP] = "E_EXP",
		[ZK_E_NBF] = "E_NBF",
		[ZK_E_IAT] = "E_IAT",
		[ZK_E_NONCE] = "E_NONCE",
		[ZK_E_SUB] = "E_SUB",
		[ZK_E_AUTH_TIME] = "E_AUTH_TIME",
		[ZK_E_INTERNAL] = "E_INTERNAL",
	};

	if (err < 0 || (size_t)err >= sizeof(names) / sizeof(names[0]) || names[err] == NULL)
		return "E_UNKNOWN";
	return names[err];
}
