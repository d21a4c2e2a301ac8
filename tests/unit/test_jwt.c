/* Unit tests: compact JWS verification and claims (jwt.c), algorithm names (alg.c). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "config.h"
#include "jwks.h"
#include "jwt.h"
#include "testkeys.h"

#define NOW      1700000000LL
#define ISSUER   "https://idp.example.com"
#define CLIENT   "ssh-hosts"
#define NONCE    "n-0S6_WzA2Mj"
#define SUB      "248289761001"
#define ALL_ALGS 0x3ffu

/* Compares verification results by name, so a failure reads "E_SIG != E_AUD". */
#define assert_rc(expr, want) assert_string_equal(zk_jwt_strerror(expr), zk_jwt_strerror(want))

struct fx {
	EVP_PKEY *rsa;      /* kid rsa1, no alg in its JWK */
	EVP_PKEY *rsa2;     /* kid rsa2, JWK alg RS256 */
	EVP_PKEY *ec256, *ec384, *ec521, *ed;
	EVP_PKEY *evil_rsa, *evil_ec; /* never in the set */
	struct zk_jwks *set;
	struct zk_jwks *one_rsa; /* only rsa, without kid */
	struct zk_jwt_expect x;
};

static struct fx *F;

static struct zk_jwks *parse_set(char *text)
{
	struct zk_jwks *set = NULL;
	char err[128];

	if (zk_jwks_parse(text, strlen(text), &set, err, sizeof(err)) != 0)
		fail_msg("jwks: %s", err);
	free(text);
	return set;
}

static char *set_text(char *a, char *b, char *c, char *d, char *e, char *f)
{
	char *parts[] = { a, b, c, d, e, f };
	char *s = malloc(32 * 1024);
	size_t i;

	assert_non_null(s);
	strcpy(s, "{\"keys\":[");
	for (i = 0; i < 6; i++) {
		if (parts[i] == NULL)
			continue;
		if (s[strlen(s) - 1] != '[')
			strcat(s, ",");
		strcat(s, parts[i]);
		free(parts[i]);
	}
	strcat(s, "]}");
	return s;
}

static int setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof(*F));
	if (F == NULL)
		return -1;
	F->rsa = tk_rsa(2048);
	F->rsa2 = tk_rsa(2048);
	F->ec256 = tk_ec("P-256");
	F->ec384 = tk_ec("P-384");
	F->ec521 = tk_ec("P-521");
	F->ed = tk_ed25519();
	F->evil_rsa = tk_rsa(2048);
	F->evil_ec = tk_ec("P-256");
	F->set = parse_set(set_text(tk_jwk(F->rsa, "rsa1", NULL, NULL),
				    tk_jwk(F->rsa2, "rsa2", "RS256", NULL),
				    tk_jwk(F->ec256, "ec256", "ES256", NULL),
				    tk_jwk(F->ec384, "ec384", NULL, NULL),
				    tk_jwk(F->ec521, "ec521", NULL, NULL),
				    tk_jwk(F->ed, "ed1", NULL, NULL)));
	F->one_rsa = parse_set(set_text(tk_jwk(F->rsa, NULL, NULL, NULL), NULL, NULL, NULL, NULL, NULL));
	return F->set != NULL && F->set->n == 6 && F->one_rsa != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	zk_jwks_free(F->set);
	zk_jwks_free(F->one_rsa);
	EVP_PKEY_free(F->rsa);
	EVP_PKEY_free(F->rsa2);
	EVP_PKEY_free(F->ec256);
	EVP_PKEY_free(F->ec384);
	EVP_PKEY_free(F->ec521);
	EVP_PKEY_free(F->ed);
	EVP_PKEY_free(F->evil_rsa);
	EVP_PKEY_free(F->evil_ec);
	free(F);
	return 0;
}

/* Each test starts from the default expectations. */
static int reset(void **state)
{
	(void)state;
	F->x.issuer = ISSUER;
	F->x.client_id = CLIENT;
	F->x.nonce = NONCE;
	F->x.allowed_algs = ALL_ALGS;
	F->x.now = NOW;
	F->x.clock_skew = 60;
	F->x.max_age = -1;
	return 0;
}

/*
 * The standard claims, leaving out those named in omit (space separated,
 * e.g. "exp nonce"), followed by the raw members in extra (or NULL).
 */
static char *claims(const char *omit, const char *extra)
{
	static const char *const names[] = { "iss", "aud", "sub", "exp", "iat", "nonce" };
	char vals[6][128];
	size_t cap = 1024 + (extra != NULL ? strlen(extra) : 0);
	char *s = malloc(cap);
	size_t i;
	char pad[64];

	assert_non_null(s);
	snprintf(vals[0], sizeof(vals[0]), "\"%s\"", ISSUER);
	snprintf(vals[1], sizeof(vals[1]), "\"%s\"", CLIENT);
	snprintf(vals[2], sizeof(vals[2]), "\"%s\"", SUB);
	snprintf(vals[3], sizeof(vals[3]), "%lld", NOW + 300);
	snprintf(vals[4], sizeof(vals[4]), "%lld", NOW - 10);
	snprintf(vals[5], sizeof(vals[5]), "\"%s\"", NONCE);
	strcpy(s, "{");
	for (i = 0; i < 6; i++) {
		snprintf(pad, sizeof(pad), " %s ", names[i]);
		if (omit != NULL) {
			char o[256];

			snprintf(o, sizeof(o), " %s ", omit);
			if (strstr(o, pad) != NULL)
				continue;
		}
		if (s[1] != '\0')
			strcat(s, ",");
		snprintf(s + strlen(s), cap - strlen(s), "\"%s\":%s", names[i], vals[i]);
	}
	if (extra != NULL) {
		if (s[1] != '\0' && extra[0] != '\0')
			strcat(s, ",");
		strcat(s, extra);
	}
	strcat(s, "}");
	return s;
}

static char *header(const char *alg, const char *kid)
{
	char *h = malloc(256);

	assert_non_null(h);
	if (kid != NULL)
		snprintf(h, 256, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
	else
		snprintf(h, 256, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
	return h;
}

static int verify(const char *tok, struct zk_jwt_claims *out)
{
	struct zk_jwt_claims c;

	return zk_jwt_verify(tok, strlen(tok), F->set, &F->x, out != NULL ? out : &c);
}

/* Signs payload with k under a header (JSON text) and verifies the result. */
static int sv_hdr(EVP_PKEY *k, const char *alg, const char *hdr, const char *payload)
{
	char *t = tk_jws(k, alg, hdr, payload);
	int rc = verify(t, NULL);

	free(t);
	return rc;
}

/* The usual header for alg and kid, signed with k. payload is freed. */
static int sv(EVP_PKEY *k, const char *alg, const char *kid, char *payload)
{
	char *h = header(alg, kid);
	int rc = sv_hdr(k, alg, h, payload);

	free(h);
	free(payload);
	return rc;
}

/* Standard RSA token with the given claims (freed). */
static int sv_claims(char *payload)
{
	return sv(F->rsa, "RS256", "rsa1", payload);
}

/* ---- good tokens ------------------------------------------------------ */

static void check_good(EVP_PKEY *k, const char *alg, const char *kid)
{
	char *h = header(alg, kid), *p = claims(NULL, NULL), *t = tk_jws(k, alg, h, p);
	struct zk_jwt_claims c;

	memset(&c, 0xa5, sizeof(c));
	assert_rc(verify(t, &c), ZK_JWT_OK);
	assert_string_equal(c.sub, SUB);
	assert_int_equal(c.exp, NOW + 300);
	assert_int_equal(c.iat, NOW - 10);
	assert_int_equal(c.auth_time, -1);
	free(h);
	free(p);
	free(t);
}

static void test_good_rsa(void **state)
{
	(void)state;
	check_good(F->rsa, "RS256", "rsa1");
	check_good(F->rsa, "RS384", "rsa1");
	check_good(F->rsa, "RS512", "rsa1");
	check_good(F->rsa2, "RS256", "rsa2");
}

static void test_good_pss(void **state)
{
	(void)state;
	check_good(F->rsa, "PS256", "rsa1");
	check_good(F->rsa, "PS384", "rsa1");
	check_good(F->rsa, "PS512", "rsa1");
}

static void test_good_ecdsa(void **state)
{
	int i;

	(void)state;
	/* Fresh random signatures: high and low s alike must pass. */
	for (i = 0; i < 8; i++) {
		check_good(F->ec256, "ES256", "ec256");
		check_good(F->ec384, "ES384", "ec384");
		check_good(F->ec521, "ES512", "ec521");
	}
}

static void test_good_eddsa(void **state)
{
	(void)state;
	check_good(F->ed, "EdDSA", "ed1");
}

static void test_typ_values(void **state)
{
	static const char *const id_ok[] = { "JWT", "jwt", "application/jwt", "Application/JWT" };
	static const char *const at_ok[] = { "at+jwt", "AT+JWT", "application/at+jwt",
					     "Application/At+JWT" };
	static const char *const bad[] = { "dpop+jwt", "JWS", "", "JWT ", "logout+jwt",
					   "secevent+jwt" };
	char h[128], *p = claims(NULL, NULL);
	size_t i;

	(void)state;
	/* An ID token: JWT only; an access token never passes as one
	 * (RFC 8725 3.11, RFC 9068 4). */
	for (i = 0; i < sizeof(id_ok) / sizeof(id_ok[0]); i++) {
		snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"%s\"}", id_ok[i]);
		assert_rc(sv_hdr(F->rsa, "RS256", h, p), ZK_JWT_OK);
	}
	for (i = 0; i < sizeof(at_ok) / sizeof(at_ok[0]); i++) {
		snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"%s\"}", at_ok[i]);
		assert_rc(sv_hdr(F->rsa, "RS256", h, p), ZK_E_FORMAT);
	}
	/* An access-token profile (zkauth, zeroauth) takes both. */
	F->x.access_token = true;
	for (i = 0; i < sizeof(at_ok) / sizeof(at_ok[0]); i++) {
		snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"%s\"}", at_ok[i]);
		assert_rc(sv_hdr(F->rsa, "RS256", h, p), ZK_JWT_OK);
	}
	for (i = 0; i < sizeof(id_ok) / sizeof(id_ok[0]); i++) {
		snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"%s\"}", id_ok[i]);
		assert_rc(sv_hdr(F->rsa, "RS256", h, p), ZK_JWT_OK);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"%s\"}", bad[i]);
		assert_rc(sv_hdr(F->rsa, "RS256", h, p), ZK_E_FORMAT);
	}
	F->x.access_token = false;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"%s\"}", bad[i]);
		assert_rc(sv_hdr(F->rsa, "RS256", h, p), ZK_E_FORMAT);
	}
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":1}", p),
		  ZK_E_FORMAT);
	/* typ is optional */
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", p), ZK_JWT_OK);
	free(p);
}

/* ---- signature -------------------------------------------------------- */

static void test_wrong_key(void **state)
{
	(void)state;
	/* Signed by another key under a kid of ours. */
	assert_rc(sv(F->evil_rsa, "RS256", "rsa1", claims(NULL, NULL)), ZK_E_SIG);
	assert_rc(sv(F->rsa2, "RS256", "rsa1", claims(NULL, NULL)), ZK_E_SIG);
	assert_rc(sv(F->evil_ec, "ES256", "ec256", claims(NULL, NULL)), ZK_E_SIG);
	assert_rc(sv(F->ec256, "ES256", "ec256", claims(NULL, NULL)), ZK_JWT_OK);
}

static void test_tampered(void **state)
{
	char *h = header("RS256", "rsa1"), *p = claims(NULL, NULL), *t = tk_jws(F->rsa, "RS256", h, p);
	char *q = claims(NULL, "\"admin\":true"), *pb = tk_b64_str(q), *t2;
	char *dot1 = strchr(t, '.'), *dot2 = strchr(dot1 + 1, '.');
	size_t n = strlen(t) + strlen(pb) + 1;

	(void)state;
	assert_rc(verify(t, NULL), ZK_JWT_OK);
	/* Same header and signature, other payload. */
	t2 = malloc(n);
	snprintf(t2, n, "%.*s%s%s", (int)(dot1 + 1 - t), t, pb, dot2);
	assert_rc(verify(t2, NULL), ZK_E_SIG);
	/* A flipped bit in the signature. */
	t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(h);
	free(p);
	free(q);
	free(pb);
	free(t);
	free(t2);
}

static void test_rsa_signature_length(void **state)
{
	char *h = tk_b64_str("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}");
	char *p = claims(NULL, NULL), *pb = tk_b64_str(p), *input, *t;
	unsigned char *sig, *longer;
	size_t slen, n = strlen(h) + strlen(pb) + 2;

	(void)state;
	input = malloc(n);
	snprintf(input, n, "%s.%s", h, pb);
	sig = tk_sign(F->rsa, "RS256", input, strlen(input), &slen);
	t = tk_join(h, pb, sig, slen);
	assert_rc(verify(t, NULL), ZK_JWT_OK);
	free(t);
	t = tk_join(h, pb, sig, slen - 1);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	/* A leading zero byte does not change the number, but the length is fixed. */
	longer = malloc(slen + 1);
	longer[0] = 0;
	memcpy(longer + 1, sig, slen);
	t = tk_join(h, pb, longer, slen + 1);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	t = tk_join(h, pb, sig, 0);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	free(longer);
	free(sig);
	free(input);
	free(h);
	free(p);
	free(pb);
}

/* PSS is PSS with MGF1 and salt = hash length, and PKCS#1 v1.5 is not PSS. */
static void test_rsa_padding_modes(void **state)
{
	char *h = tk_b64_str("{\"alg\":\"PS256\",\"kid\":\"rsa1\"}");
	char *h2 = tk_b64_str("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}");
	char *p = claims(NULL, NULL), *pb = tk_b64_str(p), input[4096], *t;
	unsigned char *sig;
	size_t slen;

	(void)state;
	snprintf(input, sizeof(input), "%s.%s", h, pb);
	/* PS256 header, PKCS#1 v1.5 signature */
	sig = tk_sign(F->rsa, "RS256", input, strlen(input), &slen);
	t = tk_join(h, pb, sig, slen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	free(sig);
	/* PS256 with a salt other than 32 bytes */
	sig = tk_sign_salt(F->rsa, "PS256", input, strlen(input), &slen, 20);
	t = tk_join(h, pb, sig, slen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	free(sig);
	sig = tk_sign_salt(F->rsa, "PS256", input, strlen(input), &slen, RSA_PSS_SALTLEN_MAX);
	t = tk_join(h, pb, sig, slen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	free(sig);
	sig = tk_sign_salt(F->rsa, "PS256", input, strlen(input), &slen, 32);
	t = tk_join(h, pb, sig, slen);
	assert_rc(verify(t, NULL), ZK_JWT_OK);
	free(t);
	free(sig);
	/* RS256 header, PSS signature */
	snprintf(input, sizeof(input), "%s.%s", h2, pb);
	sig = tk_sign(F->rsa, "PS256", input, strlen(input), &slen);
	t = tk_join(h2, pb, sig, slen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	free(sig);
	free(h);
	free(h2);
	free(p);
	free(pb);
}

/* Group order n of a curve, big endian, size bytes. */
static void order_of(int nid, unsigned char *out, int size)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);

	assert_non_null(g);
	assert_int_equal(BN_bn2binpad(EC_GROUP_get0_order(g), out, size), size);
	EC_GROUP_free(g);
}

static void check_ecdsa_sig(EVP_PKEY *k, const char *alg, const char *kid, int nid, int size)
{
	char hj[128], *h, *p = claims(NULL, NULL), *pb = tk_b64_str(p), input[4096], *t;
	unsigned char *sig, bad[2 * 66 + 1], n[66];
	size_t slen;

	snprintf(hj, sizeof(hj), "{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid);
	h = tk_b64_str(hj);
	snprintf(input, sizeof(input), "%s.%s", h, pb);
	sig = tk_sign(k, alg, input, strlen(input), &slen);
	assert_int_equal(slen, 2 * (size_t)size);
	order_of(nid, n, size);

	t = tk_join(h, pb, sig, slen);
	assert_rc(verify(t, NULL), ZK_JWT_OK);
	free(t);
	/* One byte short, one byte long */
	t = tk_join(h, pb, sig, slen - 1);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	memcpy(bad, sig, slen);
	bad[slen] = 0;
	t = tk_join(h, pb, bad, slen + 1);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	/* r = 0 */
	memcpy(bad, sig, slen);
	memset(bad, 0, (size_t)size);
	t = tk_join(h, pb, bad, slen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	/* s = 0 */
	memcpy(bad, sig, slen);
	memset(bad + size, 0, (size_t)size);
	t = tk_join(h, pb, bad, slen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	/* s = n */
	memcpy(bad, sig, slen);
	memcpy(bad + size, n, (size_t)size);
	t = tk_join(h, pb, bad, slen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	/* r = n */
	memcpy(bad, sig, slen);
	memcpy(bad, n, (size_t)size);
	t = tk_join(h, pb, bad, slen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	/* s = all ones */
	memcpy(bad, sig, slen);
	memset(bad + size, 0xff, (size_t)size);
	t = tk_join(h, pb, bad, slen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	free(t);
	free(sig);
	free(h);
	free(p);
	free(pb);
}

static void test_ecdsa_signature_form(void **state)
{
	(void)state;
	check_ecdsa_sig(F->ec256, "ES256", "ec256", NID_X9_62_prime256v1, 32);
	check_ecdsa_sig(F->ec384, "ES384", "ec384", NID_secp384r1, 48);
	check_ecdsa_sig(F->ec521, "ES512", "ec521", NID_secp521r1, 66);
}

/* A DER signature, as OpenSSL makes it, is not the JWS form. */
static void test_ecdsa_der_refused(void **state)
{
	char *h = tk_b64_str("{\"alg\":\"ES256\",\"kid\":\"ec256\"}");
	char *p = claims(NULL, NULL), *pb = tk_b64_str(p), input[4096], *t;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[80];
	size_t dlen = sizeof(der);

	(void)state;
	snprintf(input, sizeof(input), "%s.%s", h, pb);
	assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, F->ec256, NULL), 1);
	assert_int_equal(EVP_DigestSign(ctx, der, &dlen, (unsigned char *)input, strlen(input)), 1);
	t = tk_join(h, pb, der, dlen);
	assert_rc(verify(t, NULL), ZK_E_SIG);
	EVP_MD_CTX_free(ctx);
	free(t);
	free(h);
	free(p);
	free(pb);
}

/*
 * jwt.c writes the DER form of r || s itself, and OpenSSL takes only the
 * canonical one: signatures whose r or s has a leading zero byte, or the
 * high bit set (a 0x00 in front then), must verify like any other.
 */
static void test_ecdsa_der_forms(void **state)
{
	char *h = tk_b64_str("{\"alg\":\"ES256\",\"kid\":\"ec256\"}");
	char *p = claims(NULL, NULL), *pb = tk_b64_str(p), input[4096], *t;
	unsigned seen = 0;
	int i;

	(void)state;
	snprintf(input, sizeof(input), "%s.%s", h, pb);
	/* bits: r[0] == 0, s[0] == 0, r high bit, s high bit, both clear */
	for (i = 0; i < 20000 && seen != 0x1f; i++) {
		size_t slen;
		unsigned char *sig = tk_sign(F->ec256, "ES256", input, strlen(input), &slen);
		unsigned bits = (sig[0] == 0) | (sig[32] == 0) << 1 | (sig[0] >> 7) << 2 |
				(sig[32] >> 7) << 3 | ((sig[0] | sig[32]) < 0x80) << 4;

		if ((bits & ~seen) != 0) {
			t = tk_join(h, pb, sig, slen);
			assert_rc(verify(t, NULL), ZK_JWT_OK);
			free(t);
			seen |= bits;
		}
		free(sig);
	}
	assert_int_equal(seen, 0x1f);
	free(h);
	free(p);
	free(pb);
	/* P-521: r and s are 66 bytes, and the DER form needs a long length. */
	for (i = 0; i < 16; i++)
		check_good(F->ec521, "ES512", "ec521");
}

/* An RSA-PSS key (not one zk_jwks_parse makes) does not default to
 * PKCS#1 v1.5: an RS256 token must not pass with a PSS signature. */
static void test_rsa_pss_key(void **state)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
	EVP_PKEY *k = NULL;
	struct zk_jwk jwk;
	struct zk_jwks set = { &jwk, 1 };
	struct zk_jwt_claims c;
	char *h = tk_b64_str("{\"alg\":\"RS256\"}"), *p = claims(NULL, NULL), *pb = tk_b64_str(p);
	char input[4096], *t;
	unsigned char *sig;
	size_t slen;

	(void)state;
	assert_non_null(kc);
	assert_int_equal(EVP_PKEY_keygen_init(kc), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048), 1);
	assert_int_equal(EVP_PKEY_generate(kc, &k), 1);
	memset(&jwk, 0, sizeof(jwk));
	jwk.fits = ZK_ALG_RS256 | ZK_ALG_PS256;
	jwk.pkey = k;
	snprintf(input, sizeof(input), "%s.%s", h, pb);
	sig = tk_sign(k, "PS256", input, strlen(input), &slen);
	t = tk_join(h, pb, sig, slen);
	assert_int_not_equal(zk_jwt_verify(t, strlen(t), &set, &F->x, &c), ZK_JWT_OK);
	free(t);
	free(sig);
	free(h);
	free(p);
	free(pb);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(kc);
}

/* ---- algorithms and keys ----------------------------------------------- */

static void test_alg_none_and_hmac(void **state)
{
	static const char *const algs[] = { "none", "None", "NONE", "nOnE", "HS256", "HS384",
					    "HS512", "RSA-OAEP", "rs256", "ES256K", "" };
	char hj[128], *h, *p = claims(NULL, NULL), *pb = tk_b64_str(p);
	unsigned char junk[32];
	size_t i;

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		char *t;

		/* With the kid of a real key and without, with an empty
		 * signature and with some bytes. */
		snprintf(hj, sizeof(hj), "{\"alg\":\"%s\",\"kid\":\"rsa1\"}", algs[i]);
		h = tk_b64_str(hj);
		t = tk_join(h, pb, junk, 0);
		assert_rc(verify(t, NULL), ZK_E_ALG);
		free(t);
		t = tk_join(h, pb, junk, sizeof(junk));
		assert_rc(verify(t, NULL), ZK_E_ALG);
		free(t);
		free(h);
		snprintf(hj, sizeof(hj), "{\"alg\":\"%s\"}", algs[i]);
		h = tk_b64_str(hj);
		t = tk_join(h, pb, junk, 0);
		assert_rc(verify(t, NULL), ZK_E_ALG);
		free(t);
		free(h);
	}
	/* alg missing or not a string */
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"kid\":\"rsa1\"}", p), ZK_E_ALG);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":256,\"kid\":\"rsa1\"}", p), ZK_E_ALG);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":[\"RS256\"],\"kid\":\"rsa1\"}", p), ZK_E_ALG);
	free(p);
	free(pb);
}

/* HS256 keyed with the RSA public key text: the classic confusion. */
static void test_hmac_key_confusion(void **state)
{
	char *jwk = tk_jwk(F->rsa, "rsa1", NULL, NULL);
	char *h = tk_b64_str("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}");
	char *p = claims(NULL, NULL), *pb = tk_b64_str(p), input[4096], *t;
	unsigned char mac[64];
	size_t maclen = sizeof(mac);

	(void)state;
	snprintf(input, sizeof(input), "%s.%s", h, pb);
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, jwk, strlen(jwk),
				  (unsigned char *)input, strlen(input), mac, sizeof(mac), &maclen));
	t = tk_join(h, pb, mac, maclen);
	assert_rc(verify(t, NULL), ZK_E_ALG);
	free(t);
	F->x.allowed_algs = 0xffffffffu;
	t = tk_join(h, pb, mac, maclen);
	assert_rc(verify(t, NULL), ZK_E_ALG);
	free(t);
	free(jwk);
	free(h);
	free(p);
	free(pb);
}

static void test_alg_not_allowed(void **state)
{
	(void)state;
	F->x.allowed_algs = ZK_ALG_RS256;
	assert_rc(sv(F->rsa, "RS256", "rsa1", claims(NULL, NULL)), ZK_JWT_OK);
	assert_rc(sv(F->rsa, "RS384", "rsa1", claims(NULL, NULL)), ZK_E_ALG);
	assert_rc(sv(F->rsa, "PS256", "rsa1", claims(NULL, NULL)), ZK_E_ALG);
	assert_rc(sv(F->ec256, "ES256", "ec256", claims(NULL, NULL)), ZK_E_ALG);
	assert_rc(sv(F->ed, "EdDSA", "ed1", claims(NULL, NULL)), ZK_E_ALG);
	F->x.allowed_algs = ZK_ALGS_DEFAULT;
	assert_rc(sv(F->ec384, "ES384", "ec384", claims(NULL, NULL)), ZK_E_ALG);
	assert_rc(sv(F->ec256, "ES256", "ec256", claims(NULL, NULL)), ZK_JWT_OK);
	F->x.allowed_algs = 0;
	assert_rc(sv(F->rsa, "RS256", "rsa1", claims(NULL, NULL)), ZK_E_ALG);
}

/* A header naming hdr_alg and kid, signed by k with key_alg's mechanics. */
static int sv_mismatch(EVP_PKEY *k, const char *key_alg, const char *hdr_alg, const char *kid)
{
	char *h = header(hdr_alg, kid), *p = claims(NULL, NULL);
	int rc = sv_hdr(k, key_alg, h, p);

	free(h);
	free(p);
	return rc;
}

static void test_alg_key_mismatch(void **state)
{
	(void)state;
	/* Key type */
	assert_rc(sv_mismatch(F->ec256, "ES256", "RS256", "ec256"), ZK_E_ALG);
	assert_rc(sv_mismatch(F->ec256, "ES256", "PS256", "ec256"), ZK_E_ALG);
	assert_rc(sv_mismatch(F->rsa, "RS256", "ES256", "rsa1"), ZK_E_ALG);
	assert_rc(sv_mismatch(F->ed, "EdDSA", "ES256", "ed1"), ZK_E_ALG);
	assert_rc(sv_mismatch(F->rsa, "RS256", "EdDSA", "rsa1"), ZK_E_ALG);
	assert_rc(sv_mismatch(F->ec256, "ES256", "EdDSA", "ec256"), ZK_E_ALG);
	/* Curve */
	assert_rc(sv_mismatch(F->ec384, "ES384", "ES256", "ec384"), ZK_E_ALG);
	assert_rc(sv_mismatch(F->ec256, "ES256", "ES384", "ec256"), ZK_E_ALG);
	assert_rc(sv_mismatch(F->ec521, "ES512", "ES384", "ec521"), ZK_E_ALG);
	/* The JWK's own alg: rsa2 says RS256 */
	assert_rc(sv_mismatch(F->rsa2, "PS256", "PS256", "rsa2"), ZK_E_ALG);
	assert_rc(sv_mismatch(F->rsa2, "RS384", "RS384", "rsa2"), ZK_E_ALG);
	assert_rc(sv_mismatch(F->rsa2, "RS256", "RS256", "rsa2"), ZK_JWT_OK);
	/* ec256's JWK says ES256 and it is ES256: fine */
	assert_rc(sv_mismatch(F->ec256, "ES256", "ES256", "ec256"), ZK_JWT_OK);
}

static void test_kid_unknown(void **state)
{
	(void)state;
	assert_rc(sv(F->rsa, "RS256", "rsa9", claims(NULL, NULL)), ZK_E_KID);
	assert_rc(sv(F->rsa, "RS256", "RSA1", claims(NULL, NULL)), ZK_E_KID);
	assert_rc(sv(F->rsa, "RS256", "rsa", claims(NULL, NULL)), ZK_E_KID);
	assert_rc(sv(F->rsa, "RS256", "", claims(NULL, NULL)), ZK_E_KID);
	/* kid must be a string */
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":1}", "{}"), ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":null}", "{}"), ZK_E_FORMAT);
}

static void test_no_kid(void **state)
{
	char *h = header("RS256", NULL), *p = claims(NULL, NULL), *t = tk_jws(F->rsa, "RS256", h, p);
	struct zk_jwt_claims c;
	struct zk_jwks empty = { NULL, 0 };

	(void)state;
	/* Two keys in the set fit RS256 (rsa1, rsa2): ambiguous. */
	assert_rc(verify(t, NULL), ZK_E_KID);
	/* The same token against a set of one fitting key. */
	assert_rc(zk_jwt_verify(t, strlen(t), F->one_rsa, &F->x, &c), ZK_JWT_OK);
	assert_rc(zk_jwt_verify(t, strlen(t), &empty, &F->x, &c), ZK_E_KID);
	assert_rc(zk_jwt_verify(t, strlen(t), NULL, &F->x, &c), ZK_E_KID);
	/* PS256: rsa2 is limited to RS256, so only rsa1 fits. */
	assert_rc(sv(F->rsa, "PS256", NULL, claims(NULL, NULL)), ZK_JWT_OK);
	/* One key per curve and one Ed25519 key. */
	assert_rc(sv(F->ec256, "ES256", NULL, claims(NULL, NULL)), ZK_JWT_OK);
	assert_rc(sv(F->ec521, "ES512", NULL, claims(NULL, NULL)), ZK_JWT_OK);
	assert_rc(sv(F->ed, "EdDSA", NULL, claims(NULL, NULL)), ZK_JWT_OK);
	free(t);
	free(h);
	/* No key fits: E_KID, so that the caller refetches. */
	h = header("ES256", NULL);
	t = tk_jws(F->ec256, "ES256", h, p);
	assert_rc(zk_jwt_verify(t, strlen(t), F->one_rsa, &F->x, &c), ZK_E_KID);
	free(t);
	free(h);
	free(p);
}

/* Keys are never taken from the token. */
static void test_header_keys_ignored(void **state)
{
	char *jwk = tk_jwk(F->evil_rsa, "rsa1", NULL, NULL), hj[4096];
	char *p = claims(NULL, NULL), *t;
	struct zk_jwt_claims c;

	(void)state;
	snprintf(hj, sizeof(hj), "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"jwk\":%s}", jwk);
	assert_rc(sv_hdr(F->evil_rsa, "RS256", hj, p), ZK_E_SIG);
	snprintf(hj, sizeof(hj), "{\"alg\":\"RS256\",\"jwk\":%s}", jwk);
	t = tk_jws(F->evil_rsa, "RS256", hj, p);
	assert_rc(zk_jwt_verify(t, strlen(t), F->one_rsa, &F->x, &c), ZK_E_SIG);
	free(t);
	snprintf(hj, sizeof(hj), "{\"alg\":\"RS256\",\"kid\":\"evil\",\"jwk\":%s}", jwk);
	assert_rc(sv_hdr(F->evil_rsa, "RS256", hj, p), ZK_E_KID);
	assert_rc(sv_hdr(F->evil_rsa, "RS256",
			 "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"jku\":\"https://evil.example/jwks\","
			 "\"x5u\":\"https://evil.example/cert\",\"x5c\":[\"MIIB\"]}", p), ZK_E_SIG);
	/* The same members next to a genuine signature change nothing. */
	snprintf(hj, sizeof(hj), "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"jwk\":%s}", jwk);
	assert_rc(sv_hdr(F->rsa, "RS256", hj, p), ZK_JWT_OK);
	free(jwk);
	free(p);
}

static void test_crit_enc_cty(void **state)
{
	char *p = claims(NULL, NULL);

	(void)state;
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"exp\"],\"exp\":1}", p),
		  ZK_E_CRIT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"b64\"],\"b64\":true}", p),
		  ZK_E_CRIT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[]}", p), ZK_E_CRIT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"enc\":\"A256GCM\"}", p),
		  ZK_E_CRIT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"cty\":\"JWT\"}", p),
		  ZK_E_CRIT);
	free(p);
}

/* ---- form -------------------------------------------------------------- */

static void test_segments(void **state)
{
	char *t = NULL, *h = header("RS256", "rsa1"), *p = claims(NULL, NULL), buf[8192];
	struct zk_jwt_claims c;

	(void)state;
	t = tk_jws(F->rsa, "RS256", h, p);
	assert_rc(verify(t, NULL), ZK_JWT_OK);
	/* four segments */
	snprintf(buf, sizeof(buf), "%s.", t);
	assert_rc(verify(buf, NULL), ZK_E_FORMAT);
	snprintf(buf, sizeof(buf), "%s.AAAA", t);
	assert_rc(verify(buf, NULL), ZK_E_FORMAT);
	/* two segments */
	*strrchr(t, '.') = '\0';
	assert_rc(verify(t, NULL), ZK_E_FORMAT);
	assert_rc(verify("", NULL), ZK_E_FORMAT);
	assert_rc(verify(".", NULL), ZK_E_FORMAT);
	assert_rc(verify("..", NULL), ZK_E_FORMAT);
	assert_rc(verify("...", NULL), ZK_E_FORMAT);
	assert_rc(verify("a.b.c", NULL), ZK_E_FORMAT);
	/* JWE compact form: five segments */
	assert_rc(verify("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.AAAA.AAAA.AAAA.AAAA", NULL),
		  ZK_E_FORMAT);
	/* A NUL inside the counted length */
	free(t);
	t = tk_jws(F->rsa, "RS256", h, p);
	memcpy(buf, t, strlen(t) + 1);
	buf[5] = '\0';
	assert_rc(zk_jwt_verify(buf, strlen(t), F->set, &F->x, &c), ZK_E_FORMAT);
	/* Only len bytes are read: a token followed by other bytes is fine. */
	memcpy(buf, t, strlen(t));
	memcpy(buf + strlen(t), ".junk", 6);
	assert_rc(zk_jwt_verify(buf, strlen(t), F->set, &F->x, &c), ZK_JWT_OK);
	free(t);
	free(h);
	free(p);
}

static void test_size_cap(void **state)
{
	char *big = malloc(ZK_JWT_MAX_BYTES + 2);
	struct zk_jwt_claims c;

	(void)state;
	/* Checked before anything else: garbage over the cap is E_SIZE, not E_FORMAT. */
	memset(big, '!', ZK_JWT_MAX_BYTES + 1);
	big[ZK_JWT_MAX_BYTES + 1] = '\0';
	assert_rc(zk_jwt_verify(big, ZK_JWT_MAX_BYTES + 1, F->set, &F->x, &c), ZK_E_SIZE);
	assert_rc(zk_jwt_verify(big, ZK_JWT_MAX_BYTES, F->set, &F->x, &c), ZK_E_FORMAT);
	free(big);
	/* A genuine token just over the cap (padding in a claim) */
	{
		size_t pad = ZK_JWT_MAX_BYTES * 3 / 4;
		char *extra = malloc(pad + 32), *p, *h = header("RS256", "rsa1"), *t;

		strcpy(extra, "\"pad\":\"");
		memset(extra + 7, 'x', pad);
		strcpy(extra + 7 + pad, "\"");
		p = claims(NULL, extra);
		t = tk_jws(F->rsa, "RS256", h, p);
		assert_true(strlen(t) > ZK_JWT_MAX_BYTES);
		assert_rc(verify(t, NULL), ZK_E_SIZE);
		free(t);
		free(p);
		/* and one that fits */
		extra[7 + pad - 600] = '"';
		extra[7 + pad - 599] = '\0';
		p = claims(NULL, extra);
		t = tk_jws(F->rsa, "RS256", h, p);
		assert_true(strlen(t) <= ZK_JWT_MAX_BYTES);
		assert_rc(verify(t, NULL), ZK_JWT_OK);
		free(t);
		free(p);
		free(h);
		free(extra);
	}
}

/*
 * Tokens whose only defect is the encoding of the first (which = 0) or
 * second segment: a lenient decoder would accept them, since the
 * signature covers the segments as sent.
 */
static int verify_mangled(int which, const char *how)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *h = header("RS256", "rsa1"), *p = claims(NULL, NULL), *hb = NULL, *pb = NULL, *t, **s;
	char seg[8192], tmp[8192];
	size_t n, want;
	int rc;

	/* pad needs a length that is not a multiple of 4; bits 2 unused bits
	 * (length 4k+3), bits2 4 unused bits (4k+2). Grow the JSON with
	 * spaces until the length fits. */
	for (n = 0;; n++) {
		free(hb);
		free(pb);
		snprintf(seg, sizeof(seg), "%s%*s", which == 0 ? h : p, (int)n, "");
		hb = tk_b64_str(which == 0 ? seg : h);
		pb = tk_b64_str(which == 0 ? p : seg);
		want = strlen(which == 0 ? hb : pb) % 4;
		if (strcmp(how, "bits") == 0 ? want == 3 :
		    strcmp(how, "bits2") == 0 ? want == 2 :
		    strcmp(how, "pad") == 0 ? want != 0 : 1)
			break;
	}
	s = which == 0 ? &hb : &pb;
	n = strlen(*s);
	if (strcmp(how, "pad") == 0) {
		snprintf(tmp, sizeof(tmp), "%s%s", *s, n % 4 == 2 ? "==" : "=");
	} else if (strcmp(how, "bits") == 0 || strcmp(how, "bits2") == 0) {
		/* flip the lowest bit of the last character: only unused bits change */
		int v = (int)(strchr(alpha, (*s)[n - 1]) - alpha);

		snprintf(tmp, sizeof(tmp), "%s", *s);
		tmp[n - 1] = alpha[v ^ 1];
	} else if (strcmp(how, "space") == 0 || strcmp(how, "newline") == 0) {
		snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(n / 2), *s,
			 strcmp(how, "space") == 0 ? " " : "\n", *s + n / 2);
	} else {
		snprintf(tmp, sizeof(tmp), "%s", *s);
	}
	free(*s);
	*s = strdup(tmp);
	t = tk_jws_segments(F->rsa, "RS256", hb, pb);
	rc = verify(t, NULL);
	free(t);
	free(h);
	free(p);
	free(hb);
	free(pb);
	return rc;
}

static void test_strict_base64url(void **state)
{
	(void)state;
	assert_rc(verify_mangled(0, "none"), ZK_JWT_OK);
	assert_rc(verify_mangled(1, "none"), ZK_JWT_OK);
	assert_rc(verify_mangled(0, "pad"), ZK_E_FORMAT);
	assert_rc(verify_mangled(1, "pad"), ZK_E_FORMAT);
	assert_rc(verify_mangled(0, "space"), ZK_E_FORMAT);
	assert_rc(verify_mangled(1, "newline"), ZK_E_FORMAT);
	assert_rc(verify_mangled(1, "space"), ZK_E_FORMAT);
	assert_rc(verify_mangled(0, "bits"), ZK_E_FORMAT);
	assert_rc(verify_mangled(1, "bits"), ZK_E_FORMAT);
	assert_rc(verify_mangled(0, "bits2"), ZK_E_FORMAT);
	assert_rc(verify_mangled(1, "bits2"), ZK_E_FORMAT);
}

static void test_signature_segment_strict(void **state)
{
	char *t = tk_jws(F->ec256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec256\"}", "{}");
	char buf[4096];
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(t);
	int v;

	(void)state;
	/* The signature is 64 bytes: 86 characters, 2 unused bits at the end. */
	assert_true(n + 2 < sizeof(buf));
	memcpy(buf, t, n);
	memcpy(buf + n, "=", 2);
	assert_rc(verify(buf, NULL), ZK_E_FORMAT);
	memcpy(buf + n, " ", 2);
	assert_rc(verify(buf, NULL), ZK_E_FORMAT);
	/* Untouched, the form and signature pass; the empty claims fail next. */
	memcpy(buf, t, n + 1);
	assert_rc(verify(buf, NULL), ZK_E_ISS);
	v = (int)(strchr(alpha, buf[n - 1]) - alpha);
	buf[n - 1] = alpha[v ^ 1];
	assert_rc(verify(buf, NULL), ZK_E_FORMAT);
	free(t);
}

static void test_header_json(void **state)
{
	char *p = claims(NULL, NULL);
	char *pb = tk_b64_str(p);

	(void)state;
	/* Duplicate members: which alg would count? */
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"rsa1\"}", p),
		  ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"kid\":\"rsa1\"}", p),
		  ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"x\":{\"a\":1,\"a\":2}}", p),
		  ZK_E_FORMAT);
	/* Not an object, not JSON, not strict JSON */
	assert_rc(sv_hdr(F->rsa, "RS256", "[\"RS256\"]", p), ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "\"RS256\"", p), ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"", p), ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",}", p), ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"} x", p), ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "", p), ZK_E_FORMAT);
	/* A NUL in kid would make "rsa1\u0000x" look like "rsa1". */
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\\u0000x\"}", p), ZK_E_FORMAT);
	/* Whitespace inside the JSON is fine. */
	assert_rc(sv_hdr(F->rsa, "RS256", " { \"alg\" : \"RS256\" ,\n\"kid\":\"rsa1\" } ", p), ZK_JWT_OK);
	free(p);
	free(pb);
}

static void test_payload_json(void **state)
{
	static const char nul_payload[] = "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"sub\":\""
		SUB "\",\"exp\":1700000300,\"iat\":1700000000,\"nonce\":\"" NONCE "\"}\0{\"sub\":\"root\"}";
	char *h = header("RS256", "rsa1"), *t;

	(void)state;
	/* Duplicate claims */
	assert_rc(sv_claims(claims(NULL, "\"sub\":\"root\"")), ZK_E_FORMAT);
	assert_rc(sv_claims(claims(NULL, "\"s\\u0075b\":\"root\"")), ZK_E_FORMAT);
	assert_rc(sv_claims(claims(NULL, "\"exp\":1")), ZK_E_FORMAT);
	assert_rc(sv_claims(claims(NULL, "\"x\":{\"y\":1,\"y\":2}")), ZK_E_FORMAT);
	/* Not an object */
	assert_rc(sv(F->rsa, "RS256", "rsa1", strdup("[1,2]")), ZK_E_FORMAT);
	assert_rc(sv(F->rsa, "RS256", "rsa1", strdup("\"sub\"")), ZK_E_FORMAT);
	assert_rc(sv(F->rsa, "RS256", "rsa1", strdup("")), ZK_E_FORMAT);
	/* Lenient JSON */
	assert_rc(sv_claims(claims(NULL, "\"x\":+1")), ZK_E_FORMAT);
	assert_rc(sv_claims(claims(NULL, "\"x\":01")), ZK_E_FORMAT);
	assert_rc(sv_claims(claims(NULL, "\"x\":\"a\tb\"")), ZK_E_FORMAT);
	assert_rc(sv_claims(claims(NULL, "\"x\":\"\xff\"")), ZK_E_FORMAT);
	/* An embedded NUL byte: cJSON alone would stop there and see a valid object. */
	t = tk_jws_n(F->rsa, "RS256", h, nul_payload, sizeof(nul_payload) - 1);
	assert_rc(verify(t, NULL), ZK_E_FORMAT);
	free(t);
	t = tk_jws_n(F->rsa, "RS256", h, nul_payload, strlen(nul_payload));
	assert_rc(verify(t, NULL), ZK_JWT_OK);
	free(t);
	/* Unrelated claims may hold anything valid, NUL included. */
	assert_rc(sv_claims(claims(NULL, "\"name\":\"a\\u0000b\",\"x\":[1,{\"y\":null}]")), ZK_JWT_OK);
	free(h);
}

/* ---- the two JSON readers ------------------------------------------------ */

/*
 * Two payloads meaning the same claims, the first in the plain form the
 * quick reader takes, the second with something only the strict reader
 * takes (escapes, UTF-8, nesting, other number spellings, more members or
 * array elements than the quick reader holds): the same verdict and, on
 * success, the same claims.
 */
static void check_same(const char *plain, const char *other, int want)
{
	struct zk_jwt_claims a, b;
	char *h = header("EdDSA", "ed1");
	char *t1 = tk_jws(F->ed, "EdDSA", h, plain), *t2 = tk_jws(F->ed, "EdDSA", h, other);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_rc(verify(t1, &a), want);
	assert_rc(verify(t2, &b), want);
	assert_memory_equal(&a, &b, sizeof(a));
	free(h);
	free(t1);
	free(t2);
}

/* check_same on claims(omit, extra1) and claims(omit, extra2). */
static void check_same_claims(const char *omit, const char *extra1, const char *extra2, int want)
{
	char *p1 = claims(omit, extra1), *p2 = claims(omit, extra2);

	check_same(p1, p2, want);
	free(p1);
	free(p2);
}

/* The standard claims and n members "mI":I in front of extra. */
static char *claims_many(size_t n, const char *extra)
{
	size_t cap = n * 16 + 64 + (extra != NULL ? strlen(extra) : 0), i;
	char *x = malloc(cap), *p;

	assert_non_null(x);
	x[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(x + strlen(x), cap - strlen(x), "%s\"m%zu\":%zu", i ? "," : "", i, i);
	if (extra != NULL)
		snprintf(x + strlen(x), cap - strlen(x), "%s%s", n ? "," : "", extra);
	p = claims(NULL, x);
	free(x);
	return p;
}

static void test_readers_agree(void **state)
{
	char *p1, *p2, aud[2048];
	bool in_string = false;
	size_t i;

	(void)state;
	/* Escapes */
	check_same_claims("iss", "\"iss\":\"" ISSUER "\"", "\"iss\":\"https:\\/\\/idp.example.com\"", ZK_JWT_OK);
	check_same_claims("sub", "\"sub\":\"" SUB "\"", "\"sub\":\"24828976100\\u0031\"", ZK_JWT_OK);
	check_same_claims("nonce", "\"nonce\":\"" NONCE "\"", "\"nonce\":\"\\u006e-0S6_WzA2Mj\"", ZK_JWT_OK);
	check_same_claims("aud", "\"aud\":[\"x\",\"ssh-hosts\"],\"azp\":\"ssh-hosts\"",
			  "\"aud\":[\"x\",\"ssh-host\\u0073\"],\"azp\":\"ssh-hosts\"", ZK_JWT_OK);
	check_same_claims("iss", "\"iss\":\"" ISSUER "x\"", "\"iss\":\"https:\\/\\/idp.example.comx\"", ZK_E_ISS);
	/* UTF-8, nesting and fractions in claims nobody reads */
	check_same_claims(NULL, "\"name\":\"Jose\"", "\"name\":\"Jos\\u00e9\"", ZK_JWT_OK);
	/* UTF-8 as sent and as escapes */
	check_same_claims("sub", "\"sub\":\"Jos\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80\"",
			  "\"sub\":\"Jos\\u00e9 \\u20ac\\ud83d\\ude00\"", ZK_JWT_OK);
	check_same_claims("sub", "\"sub\":\"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"",
			  "\"sub\":\"\\ud7ff\\ue000\\udbff\\udfff\"", ZK_JWT_OK);
	/* and what is not UTF-8: overlong, surrogate, above U+10FFFF, cut short */
	check_same_claims(NULL, "\"name\":\"\xc0\xaf\"", "\"name\":\"\xe0\x80\xaf\"", ZK_E_FORMAT);
	check_same_claims(NULL, "\"name\":\"\xed\xa0\x80\"", "\"name\":\"\xf4\x90\x80\x80\"", ZK_E_FORMAT);
	check_same_claims(NULL, "\"name\":\"\xc3\"", "\"name\":\"\xe2\x82\"", ZK_E_FORMAT);
	check_same_claims(NULL, "\"name\":\"\xf0\x9f\x98\"", "\"name\":\"\xa9\"", ZK_E_FORMAT);
	check_same_claims(NULL, "\"x\":null", "\"x\":{\"y\":[1,2.5,{\"z\":null}],\"w\":-1}", ZK_JWT_OK);
	check_same_claims(NULL, "\"x\":[\"a\",\"b\"]", "\"x\":[\"a\",1]", ZK_JWT_OK);
	check_same_claims(NULL, "\"email_verified\":true,\"x\":false,\"y\":null",
			  "\"email_verified\":true,\"x\":false,\"y\":null,\"z\":1e2", ZK_JWT_OK);
	/* Numbers: 15 digits are read quickly, 16 and other spellings are not */
	check_same_claims(NULL, "\"nbf\":100000000000000", "\"nbf\":1000000000000000", ZK_E_NBF);
	check_same_claims(NULL, "\"nbf\":999999999999999", "\"nbf\":9.99999999999999e14", ZK_E_NBF);
	check_same_claims(NULL, "\"nbf\":0", "\"nbf\":0.0", ZK_JWT_OK);
	check_same_claims("exp", "\"exp\":0", "\"exp\":-0", ZK_E_EXP);
	check_same_claims("iat", "\"iat\":0", "\"iat\":0e0", ZK_JWT_OK);
	check_same_claims("exp", "\"exp\":1700000300", "\"exp\":17000003e2", ZK_JWT_OK);
	/* Types */
	check_same_claims("aud", "\"aud\":true", "\"aud\":{\"a\":1}", ZK_E_AUD);
	check_same_claims("aud", "\"aud\":[]", "\"aud\":[[]]", ZK_E_AUD);
	check_same_claims("sub", "\"sub\":1", "\"sub\":1.5", ZK_E_SUB);
	/* Whitespace wherever JSON allows it */
	p1 = claims(NULL, NULL);
	p2 = malloc(strlen(p1) * 4 + 8);
	assert_non_null(p2);
	for (i = 0, p2[0] = '\0'; p1[i] != '\0'; i++) {
		char c[2] = { p1[i], '\0' };
		bool sep = !in_string && strchr("{}[],:", p1[i]) != NULL;

		if (p1[i] == '"')
			in_string = !in_string;

		strcat(p2, sep ? " \t" : "");
		strcat(p2, c);
		strcat(p2, sep ? "\r\n" : "");
	}
	check_same(p1, p2, ZK_JWT_OK);
	free(p1);
	free(p2);
	/* More members than the quick reader holds (64) */
	for (i = 50; i <= 60; i++) {
		p1 = claims_many(i, NULL);
		p2 = claims_many(i + 1, NULL);
		check_same(p1, p2, ZK_JWT_OK);
		free(p1);
		free(p2);
	}
	/* A duplicate is refused by either, wherever it is */
	for (i = 1; i <= 70; i += 23) {
		char dup[32];

		snprintf(dup, sizeof(dup), "\"m%zu\":1", i - 1);
		p1 = claims_many(i, dup);
		p2 = claims_many(i, "\"sub\":\"root\"");
		check_same(p1, p2, ZK_E_FORMAT);
		free(p1);
		free(p2);
	}
	/* More audiences than the quick reader keeps (32) */
	for (i = 30; i <= 34; i++) {
		size_t k;

		strcpy(aud, "\"aud\":[");
		for (k = 0; k + 1 < i; k++)
			snprintf(aud + strlen(aud), sizeof(aud) - strlen(aud), "\"api%zu\",", k);
		strcat(aud, "\"" CLIENT "\"]");
		p1 = claims("aud", aud);
		strcat(aud, ",\"azp\":\"" CLIENT "\"");
		p2 = claims("aud", aud);
		check_same(p2, p2, ZK_JWT_OK);
		check_same(p1, p1, ZK_E_AUD);
		free(p1);
		free(p2);
	}
	/* After the object: whitespace only */
	p1 = claims(NULL, NULL);
	p2 = malloc(strlen(p1) + 8);
	assert_non_null(p2);
	sprintf(p2, "%s \n", p1);
	check_same(p1, p2, ZK_JWT_OK);
	sprintf(p2, "%s x", p1);
	check_same(p2, p2, ZK_E_FORMAT);
	sprintf(p2, "%s,", p1);
	check_same(p2, p2, ZK_E_FORMAT);
	sprintf(p2, "%s}", p1);
	check_same(p2, p2, ZK_E_FORMAT);
	free(p1);
	free(p2);
	/* Broken in the middle of what the quick reader would take */
	check_same("{\"iss\":\"" ISSUER "\",}", "{\"iss\":\"" ISSUER "\" \"aud\":1}", ZK_E_FORMAT);
	check_same("{\"iss\":01}", "{\"iss\":\"a\" :1}", ZK_E_FORMAT);
	check_same("{\"iss\":tru}", "{\"iss\":nulll}", ZK_E_FORMAT);
	check_same("{\"iss\":[\"a\",]}", "{\"iss\":[\"a\"}", ZK_E_FORMAT);
	check_same("{\"iss\":\"a}", "{\"iss\":\"a\"", ZK_E_FORMAT);
	check_same("{\"iss\" \"a\"}", "{\"iss\"}", ZK_E_FORMAT);
}

static void test_header_readers_agree(void **state)
{
	char *p = claims(NULL, NULL);

	(void)state;
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa\\u0031\"}", p), ZK_JWT_OK);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS25\\u0036\",\"kid\":\"rsa1\"}", p), ZK_JWT_OK);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"\\u004aWT\"}", p),
		  ZK_JWT_OK);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"x\":1.5}", p), ZK_JWT_OK);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"x\":\"\xc3\xa9\"}", p),
		  ZK_JWT_OK);
	/* alg longer than any name we know, and a prefix of one */
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256RS256\",\"kid\":\"rsa1\"}", p), ZK_E_ALG);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\\u0000\",\"kid\":\"rsa1\"}", p), ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS25\",\"kid\":\"rsa1\"}", p), ZK_E_ALG);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"x\",\"y\"]}", p),
		  ZK_E_CRIT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"enc\":null}", p), ZK_E_CRIT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":[\"JWT\"]}", p),
		  ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":[\"rsa1\"]}", p), ZK_E_FORMAT);
	assert_rc(sv_hdr(F->rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"alg\":\"RS256\"}", p),
		  ZK_E_FORMAT);
	free(p);
}

/* ---- claims ------------------------------------------------------------ */

static void test_iss(void **state)
{
	(void)state;
	assert_rc(sv_claims(claims("iss", "\"iss\":\"https://evil.example.com\"")), ZK_E_ISS);
	assert_rc(sv_claims(claims("iss", "\"iss\":\"" ISSUER "/\"")), ZK_E_ISS);
	assert_rc(sv_claims(claims("iss", "\"iss\":\"HTTPS://IDP.EXAMPLE.COM\"")), ZK_E_ISS);
	assert_rc(sv_claims(claims("iss", "\"iss\":\"https://idp.example.co\"")), ZK_E_ISS);
	assert_rc(sv_claims(claims("iss", "\"iss\":\"" ISSUER "\\u0000x\"")), ZK_E_ISS);
	assert_rc(sv_claims(claims("iss", "\"iss\":[\"" ISSUER "\"]")), ZK_E_ISS);
	assert_rc(sv_claims(claims("iss", "\"iss\":null")), ZK_E_ISS);
	assert_rc(sv_claims(claims("iss", NULL)), ZK_E_ISS);
	F->x.issuer = NULL;
	assert_rc(sv_claims(claims(NULL, NULL)), ZK_E_ISS);
}

static void test_aud(void **state)
{
	(void)state;
	assert_rc(sv_claims(claims("aud", "\"aud\":\"other\"")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":\"ssh-host\"")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":\"ssh-hosts \"")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", NULL)), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":null")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":[]")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":{\"ssh-hosts\":1}")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":[\"ssh-hosts\"]")), ZK_JWT_OK);
	assert_rc(sv_claims(claims("aud", "\"aud\":[\"other\"]")), ZK_E_AUD);
	/* All elements must be strings */
	assert_rc(sv_claims(claims("aud", "\"aud\":[\"ssh-hosts\",1]")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":[\"ssh-hosts\",[\"x\"]]")), ZK_E_AUD);
	/* Other audiences: azp must name us */
	assert_rc(sv_claims(claims("aud", "\"aud\":[\"ssh-hosts\",\"api\"]")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":[\"api\",\"ssh-hosts\"],\"azp\":\"api\"")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":[\"api\",\"ssh-hosts\"],\"azp\":\"ssh-hosts\"")), ZK_JWT_OK);
	/* azp, when present, must be us anyway */
	assert_rc(sv_claims(claims(NULL, "\"azp\":\"api\"")), ZK_E_AUD);
	assert_rc(sv_claims(claims(NULL, "\"azp\":\"ssh-hosts\"")), ZK_JWT_OK);
	assert_rc(sv_claims(claims(NULL, "\"azp\":[\"ssh-hosts\"]")), ZK_E_AUD);
	assert_rc(sv_claims(claims(NULL, "\"azp\":\"ssh-hosts\\u0000x\"")), ZK_E_AUD);
	assert_rc(sv_claims(claims("aud", "\"aud\":\"ssh-hosts\\u0000x\"")), ZK_E_AUD);
	F->x.client_id = NULL;
	assert_rc(sv_claims(claims(NULL, NULL)), ZK_E_AUD);
}

static void test_exp(void **state)
{
	char extra[64];

	(void)state;
	assert_rc(sv_claims(claims("exp", NULL)), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":\"1700000300\"")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":true")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":null")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":[1700000300]")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":1e300")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":1e400")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":9007199254740994")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":18446744073709551616")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":-1")), ZK_E_EXP);
	/* Fractions are NumericDates too (RFC 7519 2); exp rounds down. */
	assert_rc(sv_claims(claims("exp", "\"exp\":1700000300.5")), ZK_JWT_OK);
	F->x.clock_skew = 0;
	snprintf(extra, sizeof(extra), "\"exp\":%lld.9", NOW);
	assert_rc(sv_claims(claims("exp", extra)), ZK_E_EXP);
	snprintf(extra, sizeof(extra), "\"exp\":%lld.5", NOW + 1);
	assert_rc(sv_claims(claims("exp", extra)), ZK_JWT_OK);
	F->x.clock_skew = 60;
	assert_rc(sv_claims(claims("exp", "\"exp\":-0.5")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":253402300799.5")), ZK_E_EXP);
	/* Integral values in other spellings are numbers all the same. */
	assert_rc(sv_claims(claims("exp", "\"exp\":1700000300.0")), ZK_JWT_OK);
	assert_rc(sv_claims(claims("exp", "\"exp\":1.7000003e9")), ZK_JWT_OK);
	/* The last second of the year 9999 is the latest date accepted. */
	assert_rc(sv_claims(claims("exp", "\"exp\":253402300799")), ZK_JWT_OK);
	assert_rc(sv_claims(claims("exp", "\"exp\":253402300800")), ZK_E_EXP);
	assert_rc(sv_claims(claims("exp", "\"exp\":9007199254740992")), ZK_E_EXP);
	/* Expired, and the skew boundary: valid while now < exp + skew */
	snprintf(extra, sizeof(extra), "\"exp\":%lld", NOW - 1);
	assert_rc(sv_claims(claims("exp", extra)), ZK_JWT_OK);
	snprintf(extra, sizeof(extra), "\"exp\":%lld", NOW - 59);
	assert_rc(sv_claims(claims("exp", extra)), ZK_JWT_OK);
	snprintf(extra, sizeof(extra), "\"exp\":%lld", NOW - 60);
	assert_rc(sv_claims(claims("exp", extra)), ZK_E_EXP);
	snprintf(extra, sizeof(extra), "\"exp\":%lld", NOW - 3600);
	assert_rc(sv_claims(claims("exp", extra)), ZK_E_EXP);
	F->x.clock_skew = 0;
	snprintf(extra, sizeof(extra), "\"exp\":%lld", NOW);
	assert_rc(sv_claims(claims("exp", extra)), ZK_E_EXP);
	snprintf(extra, sizeof(extra), "\"exp\":%lld", NOW + 1);
	assert_rc(sv_claims(claims("exp", extra)), ZK_JWT_OK);
	/* A negative skew is no skew; a huge clock does not overflow. */
	F->x.clock_skew = -1000;
	snprintf(extra, sizeof(extra), "\"exp\":%lld", NOW);
	assert_rc(sv_claims(claims("exp", extra)), ZK_E_EXP);
	F->x.clock_skew = INT64_MAX;
	F->x.now = INT64_MAX;
	assert_rc(sv_claims(claims(NULL, NULL)), ZK_E_EXP);
}

static void test_nbf_iat(void **state)
{
	char extra[64];

	(void)state;
	snprintf(extra, sizeof(extra), "\"nbf\":%lld", NOW + 3600);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_E_NBF);
	snprintf(extra, sizeof(extra), "\"nbf\":%lld", NOW + 61);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_E_NBF);
	snprintf(extra, sizeof(extra), "\"nbf\":%lld", NOW + 60);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_JWT_OK);
	snprintf(extra, sizeof(extra), "\"nbf\":%lld", NOW - 100);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_JWT_OK);
	assert_rc(sv_claims(claims(NULL, "\"nbf\":\"0\"")), ZK_E_NBF);
	assert_rc(sv_claims(claims(NULL, "\"nbf\":false")), ZK_E_NBF);
	assert_rc(sv_claims(claims(NULL, "\"nbf\":1e999")), ZK_E_NBF);

	snprintf(extra, sizeof(extra), "\"iat\":%lld", NOW + 3600);
	assert_rc(sv_claims(claims("iat", extra)), ZK_E_IAT);
	snprintf(extra, sizeof(extra), "\"iat\":%lld", NOW + 61);
	assert_rc(sv_claims(claims("iat", extra)), ZK_E_IAT);
	snprintf(extra, sizeof(extra), "\"iat\":%lld", NOW + 60);
	assert_rc(sv_claims(claims("iat", extra)), ZK_JWT_OK);
	assert_rc(sv_claims(claims("iat", "\"iat\":\"now\"")), ZK_E_IAT);
	assert_rc(sv_claims(claims("iat", "\"iat\":-5")), ZK_E_IAT);
	assert_rc(sv_claims(claims("iat", "\"iat\":null")), ZK_E_IAT);
	assert_rc(sv_claims(claims("iat", "\"iat\":true")), ZK_E_IAT);
	assert_rc(sv_claims(claims("iat", "\"iat\":[1]")), ZK_E_IAT);
	assert_rc(sv_claims(claims("iat", "\"iat\":1e999")), ZK_E_IAT);
	/* iat is required: OIDC Core 2 for ID tokens, RFC 9068 2.2 for access
	 * tokens. */
	assert_rc(sv_claims(claims("iat", NULL)), ZK_E_IAT);
	F->x.access_token = true;
	assert_rc(sv_claims(claims("iat", NULL)), ZK_E_IAT);
	F->x.access_token = false;
	/* Fractions: iat and nbf round up (the later, stricter time). */
	snprintf(extra, sizeof(extra), "\"iat\":%lld.5", NOW + 59);
	assert_rc(sv_claims(claims("iat", extra)), ZK_JWT_OK);
	snprintf(extra, sizeof(extra), "\"iat\":%lld.5", NOW + 60);
	assert_rc(sv_claims(claims("iat", extra)), ZK_E_IAT);
	snprintf(extra, sizeof(extra), "\"nbf\":%lld.5", NOW + 59);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_JWT_OK);
	snprintf(extra, sizeof(extra), "\"nbf\":%lld.5", NOW + 60);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_E_NBF);
	{
		struct zk_jwt_claims c;
		char *h = header("RS256", "rsa1"), *t;

		snprintf(extra, sizeof(extra), "\"iat\":%lld.25", NOW - 10);
		{
			char *p = claims("iat", extra);

			t = tk_jws(F->rsa, "RS256", h, p);
			free(p);
		}
		assert_rc(verify(t, &c), ZK_JWT_OK);
		assert_int_equal(c.iat, NOW - 9);
		free(h);
		free(t);
	}
}

static void test_sub(void **state)
{
	char extra[600], s[300];
	struct zk_jwt_claims c;
	char *h = header("RS256", "rsa1"), *p, *t;

	(void)state;
	assert_rc(sv_claims(claims("sub", NULL)), ZK_E_SUB);
	assert_rc(sv_claims(claims("sub", "\"sub\":\"\"")), ZK_E_SUB);
	assert_rc(sv_claims(claims("sub", "\"sub\":12345")), ZK_E_SUB);
	assert_rc(sv_claims(claims("sub", "\"sub\":[\"a\"]")), ZK_E_SUB);
	assert_rc(sv_claims(claims("sub", "\"sub\":\"a\\u0001b\"")), ZK_E_SUB);
	assert_rc(sv_claims(claims("sub", "\"sub\":\"a\\nb\"")), ZK_E_SUB);
	assert_rc(sv_claims(claims("sub", "\"sub\":\"a\\u001fb\"")), ZK_E_SUB);
	assert_rc(sv_claims(claims("sub", "\"sub\":\"a\x7f" "b\"")), ZK_E_SUB);
	assert_rc(sv_claims(claims("sub", "\"sub\":\"a\\u007fb\"")), ZK_E_SUB);
	/* "alice\u0000x" must not become "alice". */
	assert_rc(sv_claims(claims("sub", "\"sub\":\"alice\\u0000x\"")), ZK_E_SUB);
	assert_rc(sv_claims(claims("sub", "\"sub\":\"\\u0000\"")), ZK_E_SUB);
	/* 255 bytes fit, 256 do not. */
	memset(s, 'a', 256);
	s[256] = '\0';
	snprintf(extra, sizeof(extra), "\"sub\":\"%s\"", s);
	assert_rc(sv_claims(claims("sub", extra)), ZK_E_SUB);
	s[255] = '\0';
	snprintf(extra, sizeof(extra), "\"sub\":\"%s\"", s);
	p = claims("sub", extra);
	t = tk_jws(F->rsa, "RS256", h, p);
	assert_rc(verify(t, &c), ZK_JWT_OK);
	assert_string_equal(c.sub, s);
	free(p);
	free(t);
	/* Bytes, not characters: 128 two-byte characters are 256 bytes. */
	extra[0] = '\0';
	strcat(extra, "\"sub\":\"");
	for (int i = 0; i < 128; i++)
		strcat(extra, "\xc3\xa9");
	strcat(extra, "\"");
	assert_rc(sv_claims(claims("sub", extra)), ZK_E_SUB);
	/* Escapes count as what they decode to. */
	p = claims("sub", "\"sub\":\"\\u00e9t\\u00e9\"");
	t = tk_jws(F->rsa, "RS256", h, p);
	assert_rc(verify(t, &c), ZK_JWT_OK);
	assert_string_equal(c.sub, "\xc3\xa9t\xc3\xa9");
	free(p);
	free(t);
	free(h);
}

static void test_nonce(void **state)
{
	(void)state;
	assert_rc(sv_claims(claims("nonce", "\"nonce\":\"n-0S6_WzA2Mk\"")), ZK_E_NONCE);
	assert_rc(sv_claims(claims("nonce", "\"nonce\":\"n-0S6_WzA2M\"")), ZK_E_NONCE);
	assert_rc(sv_claims(claims("nonce", "\"nonce\":\"n-0S6_WzA2Mj \"")), ZK_E_NONCE);
	assert_rc(sv_claims(claims("nonce", "\"nonce\":\"n-0S6_WzA2Mj\\u0000x\"")), ZK_E_NONCE);
	assert_rc(sv_claims(claims("nonce", "\"nonce\":[\"" NONCE "\"]")), ZK_E_NONCE);
	assert_rc(sv_claims(claims("nonce", "\"nonce\":\"\"")), ZK_E_NONCE);
	assert_rc(sv_claims(claims("nonce", NULL)), ZK_E_NONCE);
	/* No nonce expected (access tokens): none checked. */
	F->x.nonce = NULL;
	assert_rc(sv_claims(claims("nonce", NULL)), ZK_JWT_OK);
	assert_rc(sv_claims(claims("nonce", "\"nonce\":\"anything\"")), ZK_JWT_OK);
	F->x.nonce = "";
	assert_rc(sv_claims(claims("nonce", "\"nonce\":\"\"")), ZK_JWT_OK);
	assert_rc(sv_claims(claims("nonce", NULL)), ZK_E_NONCE);
}

static void test_groups(void **state)
{
	char many[2048];
	size_t n;
	int i;

	(void)state;
	/* No requirement: a groups claim of any shape is ignored. */
	assert_rc(sv_claims(claims(NULL, "\"groups\":{\"x\":1}")), ZK_JWT_OK);
	F->x.require_groups = "admins  ops";
	assert_rc(sv_claims(claims(NULL, "\"groups\":[\"users\",\"ops\"]")), ZK_JWT_OK);
	assert_rc(sv_claims(claims(NULL, "\"groups\":\"admins\"")), ZK_JWT_OK);
	/* Escapes send the payload through the strict reader and cJSON. */
	assert_rc(sv_claims(claims(NULL, "\"groups\":[\"adm\\u0069ns\"]")), ZK_JWT_OK);
	/* Exact, full-length names only. */
	assert_rc(sv_claims(claims(NULL, "\"groups\":[\"admin\",\"opsx\",\"Ops\"]")), ZK_E_GROUPS);
	assert_rc(sv_claims(claims(NULL, "\"groups\":[\"admins ops\"]")), ZK_E_GROUPS);
	assert_rc(sv_claims(claims(NULL, "\"groups\":[\"\"]")), ZK_E_GROUPS);
	assert_rc(sv_claims(claims(NULL, "\"groups\":[\"ops\\u0000\"]")), ZK_E_GROUPS);
	assert_rc(sv_claims(claims(NULL, "\"groups\":[]")), ZK_E_GROUPS);
	assert_rc(sv_claims(claims(NULL, "\"groups\":[1,true]")), ZK_E_GROUPS);
	assert_rc(sv_claims(claims(NULL, "\"groups\":{\"ops\":true}")), ZK_E_GROUPS);
	assert_rc(sv_claims(claims(NULL, NULL)), ZK_E_GROUPS);
	/* A long list (beyond the quick reader's) still finds the group. */
	n = (size_t)snprintf(many, sizeof(many), "\"groups\":[");
	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "\"g%d\",", i);
	snprintf(many + n, sizeof(many) - n, "\"ops\"]");
	assert_rc(sv_claims(claims(NULL, many)), ZK_JWT_OK);
	many[n] = '\0';
	snprintf(many + n, sizeof(many) - n, "\"opz\"]");
	assert_rc(sv_claims(claims(NULL, many)), ZK_E_GROUPS);
	/* Other failures come first: a bad token is never "only" a group problem. */
	assert_rc(sv_claims(claims("aud", "\"aud\":\"other\",\"groups\":[\"ops\"]")), ZK_E_AUD);
	F->x.require_groups = NULL;
	assert_string_equal(zk_jwt_strerror(ZK_E_GROUPS), "E_GROUPS");
}

static void test_acr(void **state)
{
	(void)state;
	/* Not configured: acr is not looked at. */
	assert_rc(sv_claims(claims(NULL, "\"acr\":7")), ZK_JWT_OK);
	F->x.acr_values = "urn:mfa  phr";
	assert_rc(sv_claims(claims(NULL, "\"acr\":\"phr\"")), ZK_JWT_OK);
	assert_rc(sv_claims(claims(NULL, "\"acr\":\"urn:mfa\"")), ZK_JWT_OK);
	assert_rc(sv_claims(claims(NULL, "\"acr\":\"urn:mf\"")), ZK_E_ACR);
	assert_rc(sv_claims(claims(NULL, "\"acr\":\"0\"")), ZK_E_ACR);
	assert_rc(sv_claims(claims(NULL, "\"acr\":\"\"")), ZK_E_ACR);
	assert_rc(sv_claims(claims(NULL, "\"acr\":[\"phr\"]")), ZK_E_ACR);
	assert_rc(sv_claims(claims(NULL, "\"acr\":\"phr\\u0000\"")), ZK_E_ACR);
	assert_rc(sv_claims(claims(NULL, NULL)), ZK_E_ACR);
	F->x.acr_values = NULL;
	assert_string_equal(zk_jwt_strerror(ZK_E_ACR), "E_ACR");
}

static void test_auth_time(void **state)
{
	char extra[64];
	struct zk_jwt_claims c;
	char *h = header("RS256", "rsa1"), *p, *t;

	(void)state;
	F->x.max_age = 300;
	assert_rc(sv_claims(claims(NULL, NULL)), ZK_E_AUTH_TIME);
	assert_rc(sv_claims(claims(NULL, "\"auth_time\":\"1700000000\"")), ZK_E_AUTH_TIME);
	assert_rc(sv_claims(claims(NULL, "\"auth_time\":null")), ZK_E_AUTH_TIME);
	snprintf(extra, sizeof(extra), "\"auth_time\":%lld", NOW - 3600);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_E_AUTH_TIME);
	snprintf(extra, sizeof(extra), "\"auth_time\":%lld", NOW - 361);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_E_AUTH_TIME);
	snprintf(extra, sizeof(extra), "\"auth_time\":%lld", NOW - 360);
	p = claims(NULL, extra);
	t = tk_jws(F->rsa, "RS256", h, p);
	assert_rc(verify(t, &c), ZK_JWT_OK);
	assert_int_equal(c.auth_time, NOW - 360);
	free(p);
	free(t);
	/* From the future: not a real authentication time. */
	snprintf(extra, sizeof(extra), "\"auth_time\":%lld", NOW + 3600);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_E_AUTH_TIME);
	/* max_age 0: authenticated just now (within the skew) */
	F->x.max_age = 0;
	snprintf(extra, sizeof(extra), "\"auth_time\":%lld", NOW - 30);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_JWT_OK);
	snprintf(extra, sizeof(extra), "\"auth_time\":%lld", NOW - 61);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_E_AUTH_TIME);
	/* Without max_age nothing is required. */
	F->x.max_age = -1;
	assert_rc(sv_claims(claims(NULL, NULL)), ZK_JWT_OK);
	snprintf(extra, sizeof(extra), "\"auth_time\":%lld", NOW - 86400);
	assert_rc(sv_claims(claims(NULL, extra)), ZK_JWT_OK);
	free(h);
}

/* Claims are checked in the documented order: iss, aud, exp, nbf, iat, sub, nonce, auth_time. */
static void test_claim_order(void **state)
{
	(void)state;
	F->x.max_age = 10;
	assert_rc(sv(F->rsa, "RS256", "rsa1", strdup("{}")), ZK_E_ISS);
	assert_rc(sv(F->rsa, "RS256", "rsa1", strdup("{\"iss\":\"" ISSUER "\"}")), ZK_E_AUD);
	assert_rc(sv(F->rsa, "RS256", "rsa1", strdup("{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\"}")),
		  ZK_E_EXP);
	assert_rc(sv(F->rsa, "RS256", "rsa1",
		     strdup("{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1800000000,"
			    "\"nbf\":1800000000,\"iat\":1800000000}")), ZK_E_NBF);
	assert_rc(sv(F->rsa, "RS256", "rsa1",
		     strdup("{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1800000000,"
			    "\"iat\":1800000000}")), ZK_E_IAT);
	assert_rc(sv(F->rsa, "RS256", "rsa1",
		     strdup("{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1800000000}")), ZK_E_IAT);
	assert_rc(sv(F->rsa, "RS256", "rsa1",
		     strdup("{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1800000000,"
			    "\"iat\":1700000000}")), ZK_E_SUB);
	assert_rc(sv(F->rsa, "RS256", "rsa1",
		     strdup("{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1800000000,"
			    "\"iat\":1700000000,\"sub\":\"x\"}")),
		  ZK_E_NONCE);
	assert_rc(sv(F->rsa, "RS256", "rsa1",
		     strdup("{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT "\",\"exp\":1800000000,"
			    "\"iat\":1700000000,\"sub\":\"x\",\"nonce\":\"" NONCE "\"}")), ZK_E_AUTH_TIME);
	/* The signature comes before any claim. */
	assert_rc(sv(F->evil_rsa, "RS256", "rsa1", strdup("{}")), ZK_E_SIG);
}

static void test_out_untouched_on_failure(void **state)
{
	struct zk_jwt_claims c, before;
	char *h = header("RS256", "rsa1"), *p = claims("nonce", "\"nonce\":\"wrong\""), *t;

	(void)state;
	t = tk_jws(F->rsa, "RS256", h, p);
	memset(&c, 0xa5, sizeof(c));
	memcpy(&before, &c, sizeof(c));
	assert_rc(verify(t, &c), ZK_E_NONCE);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_rc(zk_jwt_verify(NULL, 0, F->set, &F->x, &c), ZK_E_INTERNAL);
	assert_rc(zk_jwt_verify(t, strlen(t), F->set, NULL, &c), ZK_E_INTERNAL);
	assert_memory_equal(&c, &before, sizeof(c));
	free(h);
	free(p);
	free(t);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(zk_jwt_strerror(ZK_JWT_OK), "OK");
	assert_string_equal(zk_jwt_strerror(ZK_E_FORMAT), "E_FORMAT");
	assert_string_equal(zk_jwt_strerror(ZK_E_SIZE), "E_SIZE");
	assert_string_equal(zk_jwt_strerror(ZK_E_ALG), "E_ALG");
	assert_string_equal(zk_jwt_strerror(ZK_E_KID), "E_KID");
	assert_string_equal(zk_jwt_strerror(ZK_E_SIG), "E_SIG");
	assert_string_equal(zk_jwt_strerror(ZK_E_CRIT), "E_CRIT");
	assert_string_equal(zk_jwt_strerror(ZK_E_ISS), "E_ISS");
	assert_string_equal(zk_jwt_strerror(ZK_E_AUD), "E_AUD");
	assert_string_equal(zk_jwt_strerror(ZK_E_EXP), "E_EXP");
	assert_string_equal(zk_jwt_strerror(ZK_E_NBF), "E_NBF");
	assert_string_equal(zk_jwt_strerror(ZK_E_IAT), "E_IAT");
	assert_string_equal(zk_jwt_strerror(ZK_E_NONCE), "E_NONCE");
	assert_string_equal(zk_jwt_strerror(ZK_E_SUB), "E_SUB");
	assert_string_equal(zk_jwt_strerror(ZK_E_AUTH_TIME), "E_AUTH_TIME");
	assert_string_equal(zk_jwt_strerror(ZK_E_INTERNAL), "E_INTERNAL");
	assert_string_equal(zk_jwt_strerror(-1), "E_UNKNOWN");
	assert_string_equal(zk_jwt_strerror(ZK_E_GROUPS), "E_GROUPS");
	assert_string_equal(zk_jwt_strerror(ZK_E_ACR + 1), "E_UNKNOWN");
}

static void test_alg_names(void **state)
{
	static const char *const names[] = { "RS256", "RS384", "RS512", "PS256", "PS384",
					     "PS512", "ES256", "ES384", "ES512", "EdDSA" };
	unsigned seen = 0, bit;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bit = zk_alg_from_name(names[i]);
		assert_int_not_equal(bit, 0);
		assert_int_equal(bit & (bit - 1), 0);
		assert_int_equal(seen & bit, 0);
		seen |= bit;
		assert_string_equal(zk_alg_name(bit), names[i]);
	}
	assert_int_equal(seen, ALL_ALGS);
	assert_int_equal(zk_alg_from_name("ES256"), ZK_ALG_ES256);
	assert_int_equal(zk_alg_from_name("EdDSA"), ZK_ALG_EDDSA);
	assert_int_equal(zk_alg_from_name("rs256"), 0);
	assert_int_equal(zk_alg_from_name("EDDSA"), 0);
	assert_int_equal(zk_alg_from_name("none"), 0);
	assert_int_equal(zk_alg_from_name("HS256"), 0);
	assert_int_equal(zk_alg_from_name("RS256 "), 0);
	assert_int_equal(zk_alg_from_name(""), 0);
	assert_int_equal(zk_alg_from_name(NULL), 0);
	assert_null(zk_alg_name(0));
	assert_null(zk_alg_name(ZK_ALG_RS256 | ZK_ALG_RS384));
	assert_null(zk_alg_name(1u << 20));
}

#define T(f) cmocka_unit_test_setup(f, reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_good_rsa),
		T(test_good_pss),
		T(test_good_ecdsa),
		T(test_good_eddsa),
		T(test_typ_values),
		T(test_wrong_key),
		T(test_tampered),
		T(test_rsa_signature_length),
		T(test_rsa_padding_modes),
		T(test_ecdsa_signature_form),
		T(test_ecdsa_der_refused),
		T(test_ecdsa_der_forms),
		T(test_rsa_pss_key),
		T(test_alg_none_and_hmac),
		T(test_hmac_key_confusion),
		T(test_alg_not_allowed),
		T(test_alg_key_mismatch),
		T(test_kid_unknown),
		T(test_no_kid),
		T(test_header_keys_ignored),
		T(test_crit_enc_cty),
		T(test_segments),
		T(test_size_cap),
		T(test_strict_base64url),
		T(test_signature_segment_strict),
		T(test_header_json),
		T(test_payload_json),
		T(test_readers_agree),
		T(test_header_readers_agree),
		T(test_iss),
		T(test_aud),
		T(test_exp),
		T(test_nbf_iat),
		T(test_sub),
		T(test_nonce),
		T(test_groups),
		T(test_acr),
		T(test_auth_time),
		T(test_claim_order),
		T(test_out_untouched_on_failure),
		T(test_strerror),
		T(test_alg_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
