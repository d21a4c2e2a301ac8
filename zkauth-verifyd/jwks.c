/* JSON Web Key Sets (RFC 7517, RFC 7518 section 6, RFC 8037) into OpenSSL
 * public keys, and the strict JSON reader the JWT code shares. */
#include "jwks.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "b64url.h"
#include "config.h"

/* A kid longer than this is not something a provider sends: the key is skipped. */
#define ZK_JWK_KID_MAX 256u

#define ALGS_RSA (ZK_ALG_RS256 | ZK_ALG_RS384 | ZK_ALG_RS512 | \
		  ZK_ALG_PS256 | ZK_ALG_PS384 | ZK_ALG_PS512)

/* ---- strict JSON ------------------------------------------------------ */

/*
 * cJSON accepts more than RFC 8259 (raw control characters in strings,
 * "+1", "01", ...) and cannot say that a string held \u0000. This scanner
 * runs over the text first, so that cJSON only ever sees documents both
 * read the same way.
 */
struct jscan {
	const unsigned char *p, *end;
	unsigned char *nul;  /* per top-level member; NULL: refuse NUL in values */
	size_t nmemb, cap;
	bool saw_nul;
};

static int scan_value(struct jscan *s, unsigned depth);

static void skip_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hex4(const unsigned char *p, unsigned *v)
{
	unsigned i, r = 0;

	for (i = 0; i < 4; i++) {
		unsigned c = p[i];

		if (c >= '0' && c <= '9')
			r = r << 4 | (c - '0');
		else if (c >= 'a' && c <= 'f')
			r = r << 4 | (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			r = r << 4 | (c - 'A' + 10);
		else
			return -1;
	}
	*v = r;
	return 0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if there is none. */
size_t zk_utf8_seq(const unsigned char *p, const unsigned char *end)
{
	size_t avail = (size_t)(end - p), n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static int scan_string(struct jscan *s, bool name)
{
	s->p++; /* the opening quote */
	while (s->p < s->end) {
		unsigned c = *s->p, u, lo;
		size_t n;

		if (c == '"') {
			s->p++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c >= 0x80) {
			if ((n = zk_utf8_seq(s->p, s->end)) == 0)
				return -1;
			s->p += n;
			continue;
		}
		if (c != '\\') {
			s->p++;
			continue;
		}
		if (s->end - s->p < 2)
			return -1;
		if (s->p[1] != '\0' && strchr("\"\\/bfnrt", s->p[1]) != NULL) {
			s->p += 2;
			continue;
		}
		if (s->p[1] != 'u' || s->end - s->p < 6 || hex4(s->p + 2, &u) != 0)
			return -1;
		s->p += 6;
		if (u >= 0xdc00 && u <= 0xdfff)
			return -1;
		if (u >= 0xd800 && u <= 0xdbff) {
			if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
			    hex4(s->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
				return -1;
			s->p += 6;
		} else if (u == 0) {
			if (name || s->nul == NULL)
				return -1;
			s->saw_nul = true;
		}
	}
	return -1;
}

static int scan_number(struct jscan *s)
{
	const unsigned char *p = s->p, *e = s->end;

	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++;
	else if (p < e && *p >= '1' && *p <= '9')
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	else
		return -1;
	if (p < e && *p == '.') {
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	s->p = p;
	return 0;
}

static int scan_literal(struct jscan *s, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

static int scan_array(struct jscan *s, unsigned depth)
{
	if (depth > ZK_JSON_MAX_DEPTH)
		return -1;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (;;) {
		if (scan_value(s, depth) != 0)
			return -1;
		skip_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ']') {
			s->p++;
			return 0;
		}
		if (*s->p++ != ',')
			return -1;
	}
}

/* depth 1 is the top-level object, whose members get a NUL flag each. */
static int scan_object(struct jscan *s, unsigned depth)
{
	if (depth > ZK_JSON_MAX_DEPTH)
		return -1;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		skip_ws(s);
		if (s->p >= s->end || *s->p != '"' || scan_string(s, true) != 0)
			return -1;
		skip_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return -1;
		if (depth == 1)
			s->saw_nul = false;
		if (scan_value(s, depth) != 0)
			return -1;
		if (depth == 1) {
			if (s->nul != NULL) {
				if (s->nmemb >= s->cap)
					return -1;
				s->nul[s->nmemb] = s->saw_nul;
			}
			s->nmemb++;
		}
		skip_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == '}') {
			s->p++;
			return 0;
		}
		if (*s->p++ != ',')
			return -1;
	}
}

static int scan_value(struct jscan *s, unsigned depth)
{
	skip_ws(s);
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{':
		return scan_object(s, depth + 1);
	case '[':
		return scan_array(s, depth + 1);
	case '"':
		return scan_string(s, false);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	default:
		return scan_number(s);
	}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* True when some object in the tree repeats a member name (cJSON would
 * silently answer with the first one), or when memory runs out. */
static bool has_duplicate(const cJSON *item)
{
	const cJSON *c, *d;
	size_t n = 0, i;

	if (cJSON_IsObject(item)) {
		for (c = item->child; c != NULL; c = c->next)
			n++;
		if (n <= 16) {
			for (c = item->child; c != NULL; c = c->next)
				for (d = c->next; d != NULL; d = d->next)
					if (strcmp(c->string, d->string) == 0)
						return true;
		} else {
			const char **names = malloc(n * sizeof(*names));
			bool dup = false;

			if (names == NULL)
				return true;
			for (i = 0, c = item->child; c != NULL; c = c->next)
				names[i++] = c->string;
			qsort(names, n, sizeof(*names), cmp_names);
			for (i = 1; i < n && !dup; i++)
				dup = strcmp(names[i - 1], names[i]) == 0;
			free(names);
			if (dup)
				return true;
		}
	}
	for (c = item->child; c != NULL; c = c->next)
		if (has_duplicate(c))
			return true;
	return false;
}

int zk_json_parse_object(const char *text, size_t len, struct cJSON **out,
			 unsigned char **nul_members)
{
	struct jscan s = { 0 };
	cJSON *root = NULL;
	const cJSON *c;
	const char *end = NULL;
	unsigned char *flags = NULL;
	size_t n = 0;
	int rc = -1;

	if (text == NULL || out == NULL || text[len] != '\0')
		return -1;
	s.p = (const unsigned char *)text;
	s.end = s.p + len;
	if (nul_members != NULL) {
		/* A member takes at least 4 bytes ("":0) plus a separator. */
		s.cap = len / 4 + 1;
		if ((flags = calloc(s.cap, 1)) == NULL)
			return -1;
		s.nul = flags;
	}
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{' || scan_object(&s, 1) != 0)
		goto out;
	skip_ws(&s);
	if (s.p != s.end)
		goto out;
	/* The length includes the terminator: cJSON wants to see it. */
	root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	if (root == NULL || end != text + len || !cJSON_IsObject(root))
		goto out;
	for (c = root->child; c != NULL; c = c->next)
		n++;
	if (n != s.nmemb || has_duplicate(root))
		goto out;
	*out = root;
	root = NULL;
	if (nul_members != NULL) {
		*nul_members = flags;
		flags = NULL;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	free(flags);
	return rc;
}

/* ---- keys ------------------------------------------------------------- */

static const struct {
	const char *crv;
	const char *group;  /* OpenSSL's name */
	size_t size;        /* bytes of a coordinate */
	unsigned fits;
} curves[] = {
	{ "P-256", "prime256v1", 32, ZK_ALG_ES256 },
	{ "P-384", "secp384r1", 48, ZK_ALG_ES384 },
	{ "P-521", "secp521r1", 66, ZK_ALG_ES512 },
};

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

/* Member name as a base64url string of 1..maxchars characters, decoded. */
static int b64_member(const cJSON *jwk, const char *name, size_t maxchars,
		      unsigned char **out, size_t *outlen)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(jwk, name);
	size_t n;

	if (!cJSON_IsString(m) || m->valuestring == NULL)
		return -1;
	n = strlen(m->valuestring);
	if (n == 0 || n > maxchars)
		return -1;
	return zk_b64url_decode(m->valuestring, n, out, outlen);
}

/* A public key of type from the parameters in bld; for EC also a full
 * public key check (point on the curve, not at infinity, right order). */
static EVP_PKEY *key_from_params(const char *type, OSSL_PARAM_BLD *bld, bool check)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	EVP_PKEY *pkey = NULL;

	if (params == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		goto out;
	}
	if (check) {
		chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		if (chk == NULL || EVP_PKEY_public_check(chk) != 1) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
	}
out:
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *rsa_key(const cJSON *jwk, unsigned *fits)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	int bits;

	/* 8192 bits are 1366 characters; leave room for leading zero bytes. */
	if (b64_member(jwk, "n", 2048, &n, &nlen) != 0 || b64_member(jwk, "e", 16, &e, &elen) != 0)
		goto out;
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn == NULL || be == NULL)
		goto out;
	bits = BN_num_bits(bn);
	if (bits < 2048 || bits > 8192 || !BN_is_odd(bn))
		goto out;
	/* An odd exponent above 1 and at most 64 bits (what OpenSSL accepts
	 * for large moduli). */
	if (!BN_is_odd(be) || BN_is_one(be) || BN_num_bits(be) > 64)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	if ((pkey = key_from_params("RSA", bld, false)) != NULL)
		*fits = ALGS_RSA;
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

static EVP_PKEY *ec_key(const cJSON *jwk, unsigned *fits)
{
	const cJSON *crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
	unsigned char *x = NULL, *y = NULL, pt[1 + 2 * 66];
	size_t xlen = 0, ylen = 0, i, cs;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (!cJSON_IsString(crv))
		return NULL;
	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(crv->valuestring, curves[i].crv) == 0)
			break;
	if (i == sizeof(curves) / sizeof(curves[0]))
		return NULL;
	cs = curves[i].size;
	/* RFC 7518 6.2.1.2: coordinates are exactly the field size. */
	if (b64_member(jwk, "x", 128, &x, &xlen) != 0 || b64_member(jwk, "y", 128, &y, &ylen) != 0 ||
	    xlen != cs || ylen != cs)
		goto out;
	pt[0] = 0x04; /* uncompressed point */
	memcpy(pt + 1, x, cs);
	memcpy(pt + 1 + cs, y, cs);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[i].group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * cs))
		goto out;
	if ((pkey = key_from_params("EC", bld, true)) != NULL)
		*fits = curves[i].fits;
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return pkey;
}

static EVP_PKEY *okp_key(const cJSON *jwk, unsigned *fits)
{
	const cJSON *crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
	unsigned char *x = NULL;
	size_t xlen = 0;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	/* "EdDSA" in our allowlist means Ed25519 only. */
	if (!cJSON_IsString(crv) || strcmp(crv->valuestring, "Ed25519") != 0)
		return NULL;
	if (b64_member(jwk, "x", 64, &x, &xlen) != 0 || xlen != 32)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, x, xlen))
		goto out;
	if ((pkey = key_from_params("ED25519", bld, false)) != NULL)
		*fits = ZK_ALG_EDDSA;
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	return pkey;
}

/* key_ops, when present, must be an array of strings naming "verify". */
static bool ops_allow_verify(const cJSON *ops)
{
	const cJSON *o;
	bool verify = false;

	if (!cJSON_IsArray(ops))
		return false;
	cJSON_ArrayForEach(o, ops) {
		if (!cJSON_IsString(o))
			return false;
		if (strcmp(o->valuestring, "verify") == 0)
			verify = true;
	}
	return verify;
}

/*
 * Fills k from one JWK. Returns 0 for a usable key, 1 for a key to skip,
 * -1 when memory ran out.
 */
static int parse_key(const cJSON *jwk, struct zk_jwk *k)
{
	/* Members only private or symmetric keys carry. A set publishing them
	 * has leaked the key, so it cannot vouch for anything. */
	static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };
	const cJSON *kty, *kid, *m;
	unsigned alg = 0, fits = 0;
	EVP_PKEY *pkey;
	size_t i;

	memset(k, 0, sizeof(*k));
	if (!cJSON_IsObject(jwk))
		return 1;
	kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
	if (!cJSON_IsString(kty))
		return 1;
	m = cJSON_GetObjectItemCaseSensitive(jwk, "use");
	if (m != NULL && (!cJSON_IsString(m) || strcmp(m->valuestring, "sig") != 0))
		return 1;
	m = cJSON_GetObjectItemCaseSensitive(jwk, "key_ops");
	if (m != NULL && !ops_allow_verify(m))
		return 1;
	m = cJSON_GetObjectItemCaseSensitive(jwk, "alg");
	if (m != NULL && (!cJSON_IsString(m) || (alg = zk_alg_from_name(m->valuestring)) == 0))
		return 1;
	kid = cJSON_GetObjectItemCaseSensitive(jwk, "kid");
	if (kid != NULL && (!cJSON_IsString(kid) || strlen(kid->valuestring) > ZK_JWK_KID_MAX))
		return 1;
	for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
		if (cJSON_GetObjectItemCaseSensitive(jwk, private_members[i]) != NULL)
			return 1;

	if (strcmp(kty->valuestring, "RSA") == 0)
		pkey = rsa_key(jwk, &fits);
	else if (strcmp(kty->valuestring, "EC") == 0)
		pkey = ec_key(jwk, &fits);
	else if (strcmp(kty->valuestring, "OKP") == 0)
		pkey = okp_key(jwk, &fits);
	else
		return 1;
	/* Whatever OpenSSL refused is not ours to report further. */
	ERR_clear_error();
	if (pkey == NULL)
		return 1;
	if (alg != 0 && (alg & fits) == 0) {
		EVP_PKEY_free(pkey);
		return 1;
	}
	if (kid != NULL && (k->kid = strdup(kid->valuestring)) == NULL) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	k->alg = alg;
	k->fits = fits;
	k->pkey = pkey;
	return 0;
}

int zk_jwks_parse(const char *json, size_t len, struct zk_jwks **out, char *err, size_t errlen)
{
	struct zk_jwks *set = NULL;
	cJSON *root = NULL;
	const cJSON *keys, *jwk;
	char *text = NULL;
	size_t count, i;
	int rc = -1;

	if (json == NULL || out == NULL) {
		set_err(err, errlen, "no JWKS document");
		return -1;
	}
	if (len > ZK_JWKS_MAX_BYTES) {
		set_err(err, errlen, "JWKS document too large");
		return -1;
	}
	/* The strict reader wants a terminator after the text. */
	if ((text = malloc(len + 1)) == NULL) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	memcpy(text, json, len);
	text[len] = '\0';
	if (zk_json_parse_object(text, len, &root, NULL) != 0) {
		set_err(err, errlen, "JWKS is not a strict JSON object");
		goto out;
	}
	keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	if (!cJSON_IsArray(keys)) {
		set_err(err, errlen, "JWKS has no \"keys\" array");
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(keys);
	if (count > ZK_JWKS_MAX_KEYS) {
		set_err(err, errlen, "JWKS has too many keys");
		goto out;
	}
	if ((set = calloc(1, sizeof(*set))) == NULL ||
	    (set->keys = calloc(count ? count : 1, sizeof(*set->keys))) == NULL) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(jwk, keys) {
		struct zk_jwk *k = &set->keys[set->n];
		int r = parse_key(jwk, k);

		if (r < 0) {
			set_err(err, errlen, "out of memory");
			goto out;
		}
		if (r > 0)
			continue;
		/* Two usable keys under one kid: we could not tell which one
		 * a token means, so the set is refused as a whole. */
		for (i = 0; k->kid != NULL && i < set->n; i++) {
			if (set->keys[i].kid != NULL && strcmp(set->keys[i].kid, k->kid) == 0) {
				set->n++; /* so that zk_jwks_free releases k as well */
				set_err(err, errlen, "JWKS uses a kid for two keys");
				goto out;
			}
		}
		set->n++;
	}
	*out = set;
	set = NULL;
	rc = 0;
out:
	zk_jwks_free(set);
	cJSON_Delete(root);
	free(text);
	return rc;
}

void zk_jwks_free(struct zk_jwks *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++) {
		free(set->keys[i].kid);
		EVP_PKEY_free(set->keys[i].pkey);
	}
	free(set->keys);
	free(set);
}
