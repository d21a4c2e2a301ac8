/*
 * Compact JWS verification (RFC 7515, RFC 7519, RFC 8725 best practices).
 *
 * Order of work: the size cap, the form (three strict base64url segments),
 * the header, the key, the signature; only then is the payload read as
 * JSON, so unauthenticated bytes meet as little code as possible.
 *
 * Cost per call: keys come parsed from the JWKS (EVP_PKEY built once per
 * fetch), digests are fetched from the provider once per process, the
 * ECDSA range check is a memcmp against constant group orders and its DER
 * form is written here, and PKCS#1 v1.5, an RSA key's default padding, is
 * not set again. Header and payload go through a quick reader that builds
 * no tree (plain flat objects, what providers send) and only otherwise
 * through the strict reader and cJSON. The only allocations are the three
 * decoded segments and one EVP_MD_CTX. What is left is the public key
 * operation itself.
 */
#include "jwt.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "config.h"

/* NumericDate bound: 9999-12-31T23:59:59Z. Anything later is not a date
 * a provider means (and stays far below 2^53, where doubles stop being
 * exact integers). */
#define NUMERIC_DATE_MAX 253402300799.0
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

/* One DER INTEGER for the big-endian, non-zero v of size bytes: no
 * leading zero bytes, one 0x00 in front when the high bit is set. */
static size_t der_integer(unsigned char *p, const unsigned char *v, size_t size)
{
	size_t skip = 0, n, pad;

	while (skip + 1 < size && v[skip] == 0)
		skip++;
	n = size - skip;
	pad = v[skip] >> 7;
	p[0] = 0x02;
	p[1] = (unsigned char)(n + pad);
	if (pad)
		p[2] = 0x00;
	memcpy(p + 2 + pad, v + skip, n);
	return 2 + pad + n;
}

/* Longest ECDSA-Sig-Value: P-521, both integers 66 bytes and a 0x00. */
#define ECDSA_DER_MAX (3 + 2 * (2 + 1 + 66))

/*
 * JWS ECDSA signatures are r || s (RFC 7518 3.4); OpenSSL wants the DER
 * ECDSA-Sig-Value, and checks that it is the canonical encoding, which is
 * the one written here. r and s are in range, so neither is zero.
 */
static size_t ecdsa_to_der(const unsigned char *sig, size_t size, unsigned char *der)
{
	unsigned char body[ECDSA_DER_MAX];
	size_t len;

	len = der_integer(body, sig, size);
	len += der_integer(body + len, sig + size, size);
	der[0] = 0x30;
	if (len < 0x80) {
		der[1] = (unsigned char)len;
		memcpy(der + 2, body, len);
		return 2 + len;
	}
	der[1] = 0x81;
	der[2] = (unsigned char)len;
	memcpy(der + 3, body, len);
	return 3 + len;
}

/* RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash. One
 * call to the provider instead of three through the ctrl translation. */
static int set_pss(EVP_PKEY_CTX *pctx, const EVP_MD *md)
{
	char pad[] = OSSL_PKEY_RSA_PAD_MODE_PSS, salt[] = OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST;
	char mdname[32];
	const char *name = EVP_MD_get0_name(md);
	OSSL_PARAM params[4];

	if (name == NULL || strlen(name) >= sizeof(mdname))
		return 0;
	strcpy(mdname, name);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, pad, 0);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, salt, 0);
	params[2] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, mdname, 0);
	params[3] = OSSL_PARAM_construct_end();
	return EVP_PKEY_CTX_set_params(pctx, params);
}

static int verify_sig(const struct alg_info *ai, EVP_PKEY *pkey, const unsigned char *msg,
		      size_t msglen, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = NULL;
	unsigned char der[ECDSA_DER_MAX];
	int rc = ZK_E_SIG;

	switch (ai->kind) {
	case SIG_ECDSA:
		if (siglen != 2 * ai->ec_size ||
		    !scalar_in_range(sig, ai->order, ai->ec_size) ||
		    !scalar_in_range(sig + ai->ec_size, ai->order, ai->ec_size))
			return ZK_E_SIG;
		siglen = ecdsa_to_der(sig, ai->ec_size, der);
		sig = der;
		break;
	case SIG_PKCS1:
	case SIG_PSS:
		if (siglen != (size_t)EVP_PKEY_get_size(pkey))
			return ZK_E_SIG;
		break;
	case SIG_EDDSA:
		if (siglen != 64)
			return ZK_E_SIG;
		break;
	}
	rc = ZK_E_INTERNAL;
	if (ai->md != MD_NONE && (md = get_md(ai->md)) == NULL)
		goto out;
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pkey) != 1)
		goto out;
	/* PKCS#1 v1.5 is what an RSA key (not an RSA-PSS one) starts with;
	 * setting it again costs a ctrl-to-params translation per call. */
	if (ai->kind == SIG_PKCS1 && EVP_PKEY_get_id(pkey) != EVP_PKEY_RSA &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if (ai->kind == SIG_PSS && set_pss(pctx, md) != 1)
		goto out;
	rc = EVP_DigestVerify(mctx, sig, siglen, msg, msglen) == 1 ? ZK_JWT_OK : ZK_E_SIG;
out:
	EVP_MD_CTX_free(mctx);
	/* Failed verifications leave errors behind; the next call must not
	 * see them. A success leaves none, which one look confirms. */
	if (rc != ZK_JWT_OK || ERR_peek_error() != 0)
		ERR_clear_error();
	return rc;
}

/* ---- reading JSON ------------------------------------------------------ */

/* Bytes inside a decoded segment, not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

enum jkind { JK_NONE, JK_STRING, JK_NUMBER, JK_ARRAY, JK_OTHER };

/*
 * A member's value as the checks see it, from either reader. JK_ARRAY:
 * from the quick reader, elems (strings, all of them); from cJSON, arr.
 */
struct jval {
	enum jkind kind;
	bool has_nul;           /* a \u0000 somewhere in the value */
	struct span str;        /* JK_STRING */
	double num;             /* JK_NUMBER */
	const struct span *elems;
	size_t nelems;
	const cJSON *arr;
};

struct name {
	const char *s;
	size_t n;
};

#define NAME(s) { s, sizeof(s) - 1 }

/* The members the checks read, by slot. */
enum { H_ALG, H_KID, H_TYP, H_CRIT, H_ENC, H_CTY, H_COUNT };
static const struct name header_names[H_COUNT] = {
	NAME("alg"), NAME("kid"), NAME("typ"), NAME("crit"), NAME("enc"), NAME("cty"),
};

enum {
	C_ISS, C_AUD, C_EXP, C_NBF, C_IAT, C_SUB, C_NONCE, C_AZP, C_AUTH_TIME, C_GROUPS, C_ACR,
	C_COUNT
};
static const struct name claim_names[C_COUNT] = {
	NAME("iss"), NAME("aud"), NAME("exp"), NAME("nbf"), NAME("iat"), NAME("sub"),
	NAME("nonce"), NAME("azp"), NAME("auth_time"), NAME("groups"), NAME("acr"),
};

static int slot_of(const char *s, size_t n, const struct name *names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (names[i].n == n && names[i].s[0] == s[0] && memcmp(names[i].s, s, n) == 0)
			return (int)i;
	return -1;
}

static void vals_clear(struct jval *vals, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		vals[i] = (struct jval){ .kind = JK_NONE };
}

/*
 * The quick reader. It takes a flat object whose values are strings
 * without escapes (printable ASCII and well-formed UTF-8), integers of up
 * to QUICK_DIGITS digits, true, false, null, or arrays of such strings,
 * with no member name twice: documents in which every string's bytes as
 * sent are its value and every number converts exactly, so that what it
 * reads is what the strict reader and cJSON would read. It refuses
 * nothing: anything else (escapes, control characters, fractions,
 * nesting, duplicates, errors, too many members) goes to the strict
 * reader, which decides. It builds no tree and copies no string.
 */
#define QUICK_MEMBERS 64u  /* members of the object */
#define QUICK_ELEMS   32u  /* strings in the arrays of the members read */
#define QUICK_HASH    128u /* slots of the duplicate check: a power of two, >= 2 * QUICK_MEMBERS */
#define QUICK_DIGITS  15   /* below 10^15 < 2^53: exact as a double, as strtod gives it */

struct quick {
	const unsigned char *p, *end; /* *end is '\0', which every loop stops at */
	size_t nelems;
	struct span elems[QUICK_ELEMS];
};

/* Bytes a quick string holds as they are: printable ASCII but '"' and
 * '\\'. Well-formed UTF-8 is taken too (q_utf8). */
static const unsigned char q_plain[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static void q_ws(struct quick *q)
{
	const unsigned char *p = q->p;

	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		p++;
	q->p = p;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if there is none: the
 * rule of the strict reader. The bytes after a lead are looked at one by
 * one, so the terminator stops a sequence cut short. */
static size_t q_utf8(const unsigned char *p)
{
	/* Continuation bytes are never 0: the terminator ends what is there. */
	return zk_utf8_seq(p, p + strnlen((const char *)p, 4));
}

static bool q_string(struct quick *q, struct span *out)
{
	const unsigned char *s = q->p + 1, *p = s;
	size_t n;

	if (q->p[0] != '"')
		return false;
	for (;;) {
		while (q_plain[*p])
			p++;
		if (*p < 0x80 || (n = q_utf8(p)) == 0)
			break;
		p += n;
	}
	if (*p != '"')
		return false;
	out->p = (const char *)s;
	out->n = (size_t)(p - s);
	q->p = p + 1;
	return true;
}

/* 0, or a digit 1-9 and at most QUICK_DIGITS - 1 more. What follows is
 * the caller's business: ".5", "e3" or "01" are not a delimiter there. */
static bool q_number(struct quick *q, double *out)
{
	const unsigned char *s = q->p, *p = s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return false;
	if (*p == '0') {
		p++;
	} else {
		while (*p >= '0' && *p <= '9') {
			if (p - s >= QUICK_DIGITS)
				return false;
			v = v * 10 + (uint64_t)(*p - '0');
			p++;
		}
	}
	q->p = p;
	*out = (double)v;
	return true;
}

static bool q_literal(struct quick *q)
{
	static const struct name lits[] = { NAME("true"), NAME("false"), NAME("null") };
	size_t i, left = (size_t)(q->end - q->p);

	for (i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		if (left >= lits[i].n && memcmp(q->p, lits[i].s, lits[i].n) == 0) {
			q->p += lits[i].n;
			return true;
		}
	}
	return false;
}

/* An array of strings; they are kept in q->elems when v is read. */
static bool q_array(struct quick *q, struct jval *v, bool keep)
{
	struct span e;

	v->kind = JK_ARRAY;
	v->arr = NULL;
	v->elems = q->elems + q->nelems;
	v->nelems = 0;
	q->p++;
	q_ws(q);
	if (*q->p == ']') {
		q->p++;
		return true;
	}
	for (;;) {
		if (!q_string(q, &e))
			return false;
		if (keep) {
			if (q->nelems >= QUICK_ELEMS)
				return false;
			q->elems[q->nelems++] = e;
			v->nelems++;
		}
		q_ws(q);
		if (*q->p == ']') {
			q->p++;
			return true;
		}
		if (*q->p++ != ',')
			return false;
		q_ws(q);
	}
}

/* One value, into *v when the member is one the checks read. */
static bool q_value(struct quick *q, struct jval *v)
{
	struct jval skip;
	bool keep = v != NULL;

	if (v == NULL)
		v = &skip;
	switch (*q->p) {
	case '"':
		v->kind = JK_STRING;
		return q_string(q, &v->str);
	case '[':
		return q_array(q, v, keep);
	case 't':
	case 'f':
	case 'n':
		v->kind = JK_OTHER;
		return q_literal(q);
	default:
		v->kind = JK_NUMBER;
		return q_number(q, &v->num);
	}
}

/* FNV-1a */
static uint32_t name_hash(const struct span *s)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < s->n; i++)
		h = (h ^ (unsigned char)s->p[i]) * 16777619u;
	return h;
}

/* true: text[0..len) was read, vals[slot] holds the members in names.
 * false: the strict reader decides (vals are to be cleared again).
 * text[len] must be '\0', as zk_b64url_decode leaves it. */
static bool quick_read(const unsigned char *text, size_t len, const struct name *names,
		       size_t count, struct jval *vals, struct quick *q)
{
	struct span member[QUICK_MEMBERS];
	unsigned char seen[QUICK_HASH]; /* member index + 1, 0: free */
	size_t n = 0;

	vals_clear(vals, count);
	if (text[len] != '\0')
		return false;
	memset(seen, 0, sizeof(seen));
	q->p = text;
	q->end = text + len;
	q->nelems = 0;
	q_ws(q);
	if (*q->p != '{')
		return false;
	q->p++;
	q_ws(q);
	if (*q->p == '}') {
		q->p++;
	} else {
		for (;;) {
			struct span *m = &member[n];
			uint32_t h;
			int slot;

			if (n >= QUICK_MEMBERS || !q_string(q, m))
				return false;
			/* Linear duplicate check: open addressing, at most half full. */
			for (h = name_hash(m) & (QUICK_HASH - 1); seen[h] != 0; h = (h + 1) & (QUICK_HASH - 1)) {
				const struct span *o = &member[seen[h] - 1];

				if (o->n == m->n && memcmp(o->p, m->p, m->n) == 0)
					return false;
			}
			seen[h] = (unsigned char)(++n);
			q_ws(q);
			if (*q->p++ != ':')
				return false;
			q_ws(q);
			slot = slot_of(m->p, m->n, names, count);
			if (!q_value(q, slot >= 0 ? &vals[slot] : NULL))
				return false;
			q_ws(q);
			if (*q->p == '}') {
				q->p++;
				break;
			}
			if (*q->p++ != ',')
				return false;
			q_ws(q);
		}
	}
	q_ws(q);
	return q->p == q->end;
}

/* The same slots from a cJSON tree the strict reader made. nul: one flag
 * per top-level member (zk_json_parse_object), or NULL. */
static void tree_read(const cJSON *root, const unsigned char *nul, const struct name *names,
		      size_t count, struct jval *vals)
{
	const cJSON *c;
	size_t i = 0;

	vals_clear(vals, count);
	for (c = root->child; c != NULL; c = c->next, i++) {
		int slot = slot_of(c->string, strlen(c->string), names, count);
		struct jval *v;

		if (slot < 0)
			continue;
		v = &vals[slot];
		v->has_nul = nul != NULL && nul[i] != 0;
		if (cJSON_IsString(c)) {
			v->kind = JK_STRING;
			v->str.p = c->valuestring;
			v->str.n = strlen(c->valuestring);
		} else if (cJSON_IsNumber(c)) {
			v->kind = JK_NUMBER;
			v->num = c->valuedouble;
		} else if (cJSON_IsArray(c)) {
			v->kind = JK_ARRAY;
			v->arr = c;
		} else {
			v->kind = JK_OTHER;
		}
	}
}

/* Either reader, into vals. 0, or -1: not a strict JSON object. *tree and
 * *nul are for the caller to release (and wipe). */
static int read_object(const unsigned char *text, size_t len, bool nul_ok,
		       const struct name *names, size_t count, struct jval *vals,
		       struct quick *q, cJSON **tree, unsigned char **nul)
{
	if (quick_read(text, len, names, count, vals, q))
		return 0;
	if (zk_json_parse_object((const char *)text, len, tree, nul_ok ? nul : NULL) != 0)
		return -1;
	tree_read(*tree, nul_ok ? *nul : NULL, names, count, vals);
	return 0;
}

static bool span_is(const struct span *s, const char *c)
{
	return s->n == strlen(c) && memcmp(s->p, c, s->n) == 0;
}

/* ---- header ----------------------------------------------------------- */

static bool ascii_caseeq(const struct span *a, const char *b)
{
	size_t i;

	if (a->n != strlen(b))
		return false;
	for (i = 0; i < a->n; i++) {
		unsigned char x = (unsigned char)a->p[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* RFC 7515 4.1.9: "application/" may be left out, case does not matter.
 * An ID token is a JWT of no other explicit type: an access token
 * (at+jwt, RFC 9068 4) or a logout token must never pass as one (RFC 8725
 * 3.11). An access-token profile takes both. */
static bool typ_ok(const struct span *typ, bool access_token)
{
	if (ascii_caseeq(typ, "JWT") || ascii_caseeq(typ, "application/jwt"))
		return true;
	return access_token &&
	       (ascii_caseeq(typ, "at+jwt") || ascii_caseeq(typ, "application/at+jwt"));
}

/*
 * The header decides nothing about keys: jwk, jku, x5u, x5c are never read
 * (RFC 8725 3.10). *kid points into h. The header reader refuses NUL in
 * strings, so every string here is whole.
 */
static int check_header(const struct jval *h, unsigned allowed, bool access_token, unsigned *alg,
			const struct span **kid)
{
	char name[8];
	unsigned a = 0;

	/* JWE, nested JWT, and extensions the sender says we must understand:
	 * we understand none. */
	if (h[H_ENC].kind != JK_NONE || h[H_CTY].kind != JK_NONE || h[H_CRIT].kind != JK_NONE)
		return ZK_E_CRIT;
	if (h[H_TYP].kind != JK_NONE && (h[H_TYP].kind != JK_STRING || !typ_ok(&h[H_TYP].str, access_token)))
		return ZK_E_FORMAT;
	if (h[H_KID].kind != JK_NONE && h[H_KID].kind != JK_STRING)
		return ZK_E_FORMAT;
	*kid = h[H_KID].kind == JK_STRING ? &h[H_KID].str : NULL;
	if (h[H_ALG].kind != JK_STRING)
		return ZK_E_ALG;
	/* Every name zk_alg_from_name knows is shorter than name[]. */
	if (h[H_ALG].str.n < sizeof(name)) {
		memcpy(name, h[H_ALG].str.p, h[H_ALG].str.n);
		name[h[H_ALG].str.n] = '\0';
		a = zk_alg_from_name(name);
	}
	if (a == 0 || (a & allowed) == 0)
		return ZK_E_ALG;
	*alg = a;
	return ZK_JWT_OK;
}

static bool key_fits(const struct zk_jwk *k, unsigned alg)
{
	return k->pkey != NULL && (k->fits & alg) != 0 && (k->alg == 0 || k->alg == alg);
}

static int select_key(const struct zk_jwks *set, const struct span *kid, unsigned alg,
		      const struct zk_jwk **out)
{
	const struct zk_jwk *k = NULL;
	size_t i, nfit = 0;

	if (set == NULL)
		return ZK_E_KID;
	if (kid != NULL) {
		/* Key sets never hold one kid twice (zk_jwks_parse). */
		for (i = 0; i < set->n && k == NULL; i++)
			if (set->keys[i].kid != NULL && span_is(kid, set->keys[i].kid))
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

/* A string claim without NUL, or NULL. */
static const struct span *claim_str(const struct jval *v)
{
	if (v->kind != JK_STRING || v->has_nul)
		return NULL;
	return &v->str;
}

/* Which way a fractional NumericDate rounds: to the side where the check
 * is stricter (an expiry earlier, a start or issue time later). */
enum round_to { ROUND_DOWN, ROUND_UP };

/* NumericDate (RFC 7519 2): a JSON number in [0, NUMERIC_DATE_MAX],
 * fractions allowed ("1700003600.5"), rounded as told. */
static bool numeric_date(const struct jval *v, enum round_to dir, int64_t *out)
{
	double d;
	int64_t whole;

	if (v->kind != JK_NUMBER)
		return false;
	d = v->num;
	/* Also false for NaN and infinities, which fail every comparison but !=. */
	if (!(d >= 0.0 && d <= NUMERIC_DATE_MAX))
		return false;
	whole = (int64_t)d; /* toward zero: down, as d >= 0 */
	if (dir == ROUND_UP && (double)whole != d)
		whole++;
	*out = whole;
	return true;
}

/* -1: absent; 0: present and valid in *out; 1: present and invalid. */
static int date_claim(const struct jval *v, enum round_to dir, int64_t *out)
{
	if (v->kind == JK_NONE)
		return -1;
	return numeric_date(v, dir, out) ? 0 : 1;
}

static int check_aud(const struct jval *v, const char *client_id)
{
	const struct jval *aud = &v[C_AUD];
	const struct span *azp;
	const cJSON *e;
	bool found = false, others = false;
	size_t i;

	if (aud->kind == JK_NONE || aud->has_nul || client_id == NULL)
		return ZK_E_AUD;
	if (aud->kind == JK_STRING) {
		found = span_is(&aud->str, client_id);
	} else if (aud->kind == JK_ARRAY && aud->arr != NULL) {
		cJSON_ArrayForEach(e, aud->arr) {
			if (!cJSON_IsString(e))
				return ZK_E_AUD;
			if (strcmp(e->valuestring, client_id) == 0)
				found = true;
			else
				others = true;
		}
	} else if (aud->kind == JK_ARRAY) {
		for (i = 0; i < aud->nelems; i++) {
			if (span_is(&aud->elems[i], client_id))
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
	azp = claim_str(&v[C_AZP]);
	if (v[C_AZP].kind != JK_NONE && (azp == NULL || !span_is(azp, client_id)))
		return ZK_E_AUD;
	if (v[C_AZP].kind == JK_NONE && others)
		return ZK_E_AUD;
	return ZK_JWT_OK;
}

/* Is the group name p[0..n) one of the space-separated names of want? */
static bool wanted(const char *want, const char *p, size_t n)
{
	while (*want) {
		size_t w;

		while (*want == ' ')
			want++;
		w = strcspn(want, " ");
		if (w > 0 && w == n && memcmp(want, p, n) == 0)
			return true;
		want += w;
	}
	return false;
}

static int check_groups(const struct jval *v, const char *want)
{
	const struct jval *g = &v[C_GROUPS];
	const cJSON *e;
	size_t i;

	if (want == NULL)
		return ZK_JWT_OK;
	if (g->has_nul)
		return ZK_E_GROUPS;
	if (g->kind == JK_STRING)
		return wanted(want, g->str.p, g->str.n) ? ZK_JWT_OK : ZK_E_GROUPS;
	if (g->kind == JK_ARRAY && g->arr != NULL) {
		cJSON_ArrayForEach(e, g->arr)
			if (cJSON_IsString(e) && wanted(want, e->valuestring, strlen(e->valuestring)))
				return ZK_JWT_OK;
	} else if (g->kind == JK_ARRAY) {
		for (i = 0; i < g->nelems; i++)
			if (wanted(want, g->elems[i].p, g->elems[i].n))
				return ZK_JWT_OK;
	}
	return ZK_E_GROUPS;
}

static int check_claims(const struct jval *v, const struct zk_jwt_expect *x,
			struct zk_jwt_claims *c)
{
	int64_t skew = x->clock_skew, t;
	const struct span *s;
	size_t i;
	int r;

	if (skew < 0)
		skew = 0;
	if (skew > SECONDS_CAP)
		skew = SECONDS_CAP;

	s = claim_str(&v[C_ISS]);
	if (s == NULL || x->issuer == NULL || !span_is(s, x->issuer))
		return ZK_E_ISS;

	if ((r = check_aud(v, x->client_id)) != ZK_JWT_OK)
		return r;

	/* Each comparison keeps the sums on the bounded side: no overflow
	 * whatever now is. */
	if (date_claim(&v[C_EXP], ROUND_DOWN, &c->exp) != 0 || x->now >= c->exp + skew)
		return ZK_E_EXP;
	r = date_claim(&v[C_NBF], ROUND_UP, &t);
	if (r > 0 || (r == 0 && t - skew > x->now))
		return ZK_E_NBF;
	/* iat is required of ID tokens (OIDC Core 2) and of access-token
	 * JWTs (RFC 9068 2.2). */
	r = date_claim(&v[C_IAT], ROUND_UP, &c->iat);
	if (r != 0 || c->iat - skew > x->now)
		return ZK_E_IAT;

	s = claim_str(&v[C_SUB]);
	if (s == NULL || s->n == 0 || s->n > ZK_SUB_MAX)
		return ZK_E_SUB;
	for (i = 0; i < s->n; i++)
		if ((unsigned char)s->p[i] < 0x20 || (unsigned char)s->p[i] == 0x7f)
			return ZK_E_SUB;
	memcpy(c->sub, s->p, s->n);
	c->sub[s->n] = '\0';

	if (x->nonce != NULL) {
		s = claim_str(&v[C_NONCE]);
		if (s == NULL || s->n != strlen(x->nonce) || CRYPTO_memcmp(s->p, x->nonce, s->n) != 0)
			return ZK_E_NONCE;
	}

	r = date_claim(&v[C_AUTH_TIME], ROUND_UP, &c->auth_time);
	if (r > 0 || (r == 0 && c->auth_time - skew > x->now))
		return ZK_E_AUTH_TIME;
	if (r < 0)
		c->auth_time = -1;
	if (x->max_age >= 0) {
		int64_t max_age = x->max_age > SECONDS_CAP ? SECONDS_CAP : x->max_age;

		if (r < 0 || x->now > c->auth_time + max_age + skew)
			return ZK_E_AUTH_TIME;
	}
	if (x->acr_values != NULL) {
		s = claim_str(&v[C_ACR]);
		if (s == NULL || s->n == 0 || !wanted(x->acr_values, s->p, s->n))
			return ZK_E_ACR;
	}
	return check_groups(v, x->require_groups);
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
	struct quick q;
	struct jval hv[H_COUNT], pv[C_COUNT];
	const struct zk_jwk *key = NULL;
	const struct alg_info *ai;
	const struct span *kid = NULL;
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
	/* No NUL anywhere in the header: kid and alg are whole strings. */
	if (read_object(hdr, hlen, false, header_names, H_COUNT, hv, &q, &hj, NULL) != 0)
		goto out;
	if ((rc = check_header(hv, expect->allowed_algs, expect->access_token, &alg, &kid)) != ZK_JWT_OK)
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
	/* Claims may hold NUL; the members holding one are flagged, and the
	 * checks refuse exactly those they read. */
	rc = ZK_E_FORMAT;
	if (read_object(pay, plen, true, claim_names, C_COUNT, pv, &q, &pj, &pnul) != 0)
		goto out;
	if ((rc = check_claims(pv, expect, &c)) != ZK_JWT_OK)
		goto out;
	*out = c;
out:
	OPENSSL_cleanse(&c, sizeof(c));
	cJSON_Delete(hj);
	json_wipe(pj);
	cJSON_Delete(pj);
	free(pnul);
	/* The header and the signature are no secret; the payload came with
	 * a bearer token, and the quick reader's views point into it. */
	free(hdr);
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
		[ZK_E_GROUPS] = "E_GROUPS",
		[ZK_E_ACR] = "E_ACR",
	};

	if (err < 0 || (size_t)err >= sizeof(names) / sizeof(names[0]) || names[err] == NULL)
		return "E_UNKNOWN";
	return names[err];
}
