/*
 * Unit tests for zkauth-verifyd/assertion.c: the private_key_jwt client
 * assertion (RFC 7523). Keys are made at run time; every assertion is
 * taken apart and its signature checked here with plain OpenSSL calls and
 * a base64url decoder of our own, so a bug in the daemon's codec cannot
 * hide itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "assertion.h"
#include "util.h"
#include "testfiles.h"
#include "testkeys.h"

#define CLIENT_ID "zkauth-client"
#define TOKEN_ENDPOINT "https://idp.example.com/oauth2/token"
#define NOW ((int64_t)1700000000)
/* assertion.h promises exp = iat + 60; RFC 7523 wants it short in any case. */
#define LIFETIME 60
#define LIFETIME_CAP 300

static EVP_PKEY *rsa_key, *ec_key;

static int setup(void **state)
{
	if (tf_mkdir("zk-assertion") < 0)
		return -1;
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return rsa_key && ec_key ? 0 : -1;
}

static int teardown(void **state)
{
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec_key);
	return tf_rmdir();
}

/* The key as PEM (PKCS#8, or encrypted with pass when not NULL) in tf_dir/name. */
static const char *write_key(const char *name, EVP_PKEY *k, const char *pass, mode_t mode)
{
	BIO *bio = BIO_new(BIO_s_mem());
	const char *path;
	char *pem;
	long n;

	assert_non_null(bio);
	if (pass != NULL)
		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_256_cbc(), pass,
							       (int)strlen(pass), NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &pem);
	assert_true(n > 0);
	path = tf_write(name, pem, (size_t)n, mode);
	BIO_free(bio);
	return path;
}

/* Only the public half of k, so that verification cannot lean on the private key. */
static EVP_PKEY *public_of(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub;
	int n = i2d_PUBKEY(k, &der);

	assert_true(n > 0);
	p = der;
	pub = d2i_PUBKEY(NULL, &p, n);
	assert_non_null(pub);
	OPENSSL_free(der);
	return pub;
}

/* Strict-enough base64url decoder of our own (OpenSSL's block decoder
 * after mapping the alphabet back and restoring the padding). */
static unsigned char *unb64(const char *s, size_t n, size_t *outlen)
{
	size_t padded = (n + 3) / 4 * 4, i;
	char *tmp = malloc(padded + 1);
	unsigned char *out = malloc(padded / 4 * 3 + 1);
	int len;

	assert_non_null(tmp);
	assert_non_null(out);
	assert_true(n % 4 != 1);
	for (i = 0; i < n; i++) {
		char c = s[i];

		assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_');
		tmp[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	for (; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	len = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)padded);
	assert_true(len >= 0);
	*outlen = (size_t)len - (padded - n); /* EVP_DecodeBlock counts the padding as zero bytes */
	out[*outlen] = '\0';
	free(tmp);
	return out;
}

struct jws {
	cJSON *header, *claims;
	unsigned char *sig;
	size_t siglen;
	char *signing_input; /* "header.claims" as sent */
};

static void jws_split(const char *token, struct jws *j)
{
	const char *d1 = strchr(token, '.'), *d2;
	unsigned char *h, *c;
	size_t hl, cl;

	assert_non_null(d1);
	d2 = strchr(d1 + 1, '.');
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	h = unb64(token, (size_t)(d1 - token), &hl);
	c = unb64(d1 + 1, (size_t)(d2 - d1 - 1), &cl);
	j->sig = unb64(d2 + 1, strlen(d2 + 1), &j->siglen);
	assert_int_equal(strlen((char *)h), hl);
	assert_int_equal(strlen((char *)c), cl);
	j->header = cJSON_Parse((char *)h);
	j->claims = cJSON_Parse((char *)c);
	assert_non_null(j->header);
	assert_non_null(j->claims);
	assert_true(cJSON_IsObject(j->header));
	assert_true(cJSON_IsObject(j->claims));
	j->signing_input = strndup(token, (size_t)(d2 - token));
	assert_non_null(j->signing_input);
	free(h);
	free(c);
}

static void jws_free(struct jws *j)
{
	cJSON_Delete(j->header);
	cJSON_Delete(j->claims);
	free(j->sig);
	free(j->signing_input);
}

static const char *str_member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(v))
		fail_msg("\"%s\" is missing or not a string", name);
	return v->valuestring;
}

static int64_t num_member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v))
		fail_msg("\"%s\" is missing or not a number", name);
	assert_true(v->valuedouble == (double)(int64_t)v->valuedouble); /* whole seconds */
	return (int64_t)v->valuedouble;
}

/* 1 when sig (as the JWS carries it) verifies over data with pub, else 0. */
static int verify(EVP_PKEY *pub, const char *data, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	const unsigned char *s = sig;
	size_t slen = siglen;
	int ok;

	assert_non_null(ctx);
	if (EVP_PKEY_is_a(pub, "EC")) {
		/* JWS carries r || s (RFC 7518 3.4); OpenSSL verifies DER. */
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r, *sv;
		int n;

		assert_int_equal(siglen, 64);
		r = BN_bin2bn(sig, 32, NULL);
		sv = BN_bin2bn(sig + 32, 32, NULL);
		assert_non_null(es);
		assert_non_null(r);
		assert_non_null(sv);
		assert_int_equal(ECDSA_SIG_set0(es, r, sv), 1);
		n = i2d_ECDSA_SIG(es, &der);
		assert_true(n > 0);
		ECDSA_SIG_free(es);
		s = der;
		slen = (size_t)n;
	}
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
	ok = EVP_DigestVerify(ctx, s, slen, (const unsigned char *)data, strlen(data)) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

/* Everything one assertion must hold, for a key of either kind. */
static void check_assertion(EVP_PKEY *key, const char *alg, const char *client_id, const char *aud)
{
	char *token = zk_client_assertion(key, NULL, client_id, aud, NOW);
	EVP_PKEY *pub = public_of(key);
	struct jws j;
	const cJSON *typ;
	char *tampered;
	int64_t iat, exp;

	assert_non_null(token);
	jws_split(token, &j);

	assert_string_equal(str_member(j.header, "alg"), alg);
	typ = cJSON_GetObjectItemCaseSensitive(j.header, "typ");
	if (typ != NULL)
		assert_string_equal(str_member(j.header, "typ"), "JWT");

	assert_string_equal(str_member(j.claims, "iss"), client_id);
	assert_string_equal(str_member(j.claims, "sub"), client_id);
	assert_string_equal(str_member(j.claims, "aud"), aud);
	/* 16 random bytes in base64url are 22 characters */
	assert_true(strlen(str_member(j.claims, "jti")) >= 22);
	iat = num_member(j.claims, "iat");
	exp = num_member(j.claims, "exp");
	assert_int_equal(iat, NOW);
	assert_int_equal(exp, NOW + LIFETIME);
	assert_true(exp > iat && exp - iat <= LIFETIME_CAP);

	if (strcmp(alg, "RS256") == 0)
		assert_int_equal(j.siglen, (size_t)EVP_PKEY_get_size(key));
	assert_true(verify(pub, j.signing_input, j.sig, j.siglen));
	/* the check above can fail: one changed byte of the input does not verify */
	tampered = strdup(j.signing_input);
	assert_non_null(tampered);
	tampered[strlen(tampered) - 1] ^= 1;
	assert_false(verify(pub, tampered, j.sig, j.siglen));

	free(tampered);
	jws_free(&j);
	EVP_PKEY_free(pub);
	zk_freezero_str(token);
}

static void test_rs256(void **state)
{
	check_assertion(rsa_key, "RS256", CLIENT_ID, TOKEN_ENDPOINT);
}

static void test_es256(void **state)
{
	check_assertion(ec_key, "ES256", CLIENT_ID, TOKEN_ENDPOINT);
}

/* client_key_id: the header names the key; without it, no kid. */
static void test_kid(void **state)
{
	EVP_PKEY *keys[2] = { rsa_key, ec_key };
	const char *algs[2] = { "RS256", "ES256" };
	struct jws j;
	char *t;
	int i;

	for (i = 0; i < 2; i++) {
		t = zk_client_assertion(keys[i], "zk-client-1", CLIENT_ID, TOKEN_ENDPOINT, NOW);
		assert_non_null(t);
		jws_split(t, &j);
		assert_string_equal(str_member(j.header, "kid"), "zk-client-1");
		assert_string_equal(str_member(j.header, "alg"), algs[i]);
		{
			EVP_PKEY *pub = public_of(keys[i]);

			assert_true(verify(pub, j.signing_input, j.sig, j.siglen));
			EVP_PKEY_free(pub);
		}
		jws_free(&j);
		zk_freezero_str(t);
		t = zk_client_assertion(keys[i], NULL, CLIENT_ID, TOKEN_ENDPOINT, NOW);
		jws_split(t, &j);
		assert_null(cJSON_GetObjectItemCaseSensitive(j.header, "kid"));
		jws_free(&j);
		zk_freezero_str(t);
	}
}

/* A client_id with JSON's special characters comes back unchanged. */
static void test_claims_escaped(void **state)
{
	check_assertion(ec_key, "ES256", "a\"b\\c/d\te", TOKEN_ENDPOINT "?x=\"1\"");
}

/* A key loaded from its file signs assertions its public half verifies. */
static void test_key_from_file(void **state)
{
	char err[512] = "";
	EVP_PKEY *k;

	k = zk_client_key_load(write_key("rsa.pem", rsa_key, NULL, 0600), err, sizeof(err));
	if (k == NULL)
		fail_msg("RSA key refused: %s", err);
	assert_int_equal(EVP_PKEY_eq(k, rsa_key), 1);
	check_assertion(k, "RS256", CLIENT_ID, TOKEN_ENDPOINT);
	EVP_PKEY_free(k);

	k = zk_client_key_load(write_key("ec.pem", ec_key, NULL, 0400), err, sizeof(err));
	if (k == NULL)
		fail_msg("EC key refused: %s", err);
	assert_int_equal(EVP_PKEY_eq(k, ec_key), 1);
	check_assertion(k, "ES256", CLIENT_ID, TOKEN_ENDPOINT);
	EVP_PKEY_free(k);
}

/* Two assertions never share a jti (the provider rejects a replayed one). */
static void test_jti_fresh(void **state)
{
	char *a = zk_client_assertion(rsa_key, NULL, CLIENT_ID, TOKEN_ENDPOINT, NOW);
	char *b = zk_client_assertion(rsa_key, NULL, CLIENT_ID, TOKEN_ENDPOINT, NOW);
	struct jws ja, jb;

	assert_non_null(a);
	assert_non_null(b);
	jws_split(a, &ja);
	jws_split(b, &jb);
	assert_string_not_equal(str_member(ja.claims, "jti"), str_member(jb.claims, "jti"));
	jws_free(&ja);
	jws_free(&jb);
	zk_freezero_str(a);
	zk_freezero_str(b);
}

/*
 * r and s are 32 bytes each even when one has leading zero bytes (about
 * one signature in 128): many signatures, each must be 64 bytes and verify.
 */
static void test_es256_fixed_width(void **state)
{
	EVP_PKEY *pub = public_of(ec_key);
	int i;

	for (i = 0; i < 600; i++) {
		char *t = zk_client_assertion(ec_key, NULL, CLIENT_ID, TOKEN_ENDPOINT, NOW + i);
		struct jws j;

		assert_non_null(t);
		jws_split(t, &j);
		assert_int_equal(j.siglen, 64);
		if (!verify(pub, j.signing_input, j.sig, j.siglen))
			fail_msg("signature %d does not verify", i);
		jws_free(&j);
		zk_freezero_str(t);
	}
	EVP_PKEY_free(pub);
}

/* NULL with a reason, which names the file and never shows its content. */
static void expect_refused(const char *path, const char *why)
{
	char err[512] = "";
	EVP_PKEY *k = zk_client_key_load(path, err, sizeof(err));

	if (k != NULL) {
		EVP_PKEY_free(k);
		fail_msg("%s: accepted (%s)", path, why);
	}
	assert_non_null(strstr(err, path));
	assert_null(strstr(err, "BEGIN"));
	assert_null(strstr(err, "garbage-content"));
}

static void test_load_refused(void **state)
{
	static const char garbage[] = "garbage-content, not a key\n";
	static const char cut_pem[] = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
				      "-----END PRIVATE KEY-----\n";
	EVP_PKEY *small = tk_rsa(1024), *p384 = tk_ec("P-384"), *ed = tk_ed25519();
	char missing[PATH_MAX + 32];
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long n;

	snprintf(missing, sizeof(missing), "%s/no-such-key.pem", tf_dir);
	expect_refused(missing, "missing file");
	expect_refused(tf_dir, "a directory");
	expect_refused(tf_write("garbage.pem", garbage, sizeof(garbage) - 1, 0600), "garbage");
	expect_refused(tf_write("empty.pem", "", 0, 0600), "empty");
	expect_refused(tf_write("cut.pem", cut_pem, sizeof(cut_pem) - 1, 0600), "truncated PEM");
	/* a good key, but readable by others: a secret file must be 0600 */
	expect_refused(write_key("open.pem", rsa_key, NULL, 0644), "mode 0644");
	expect_refused(write_key("group.pem", ec_key, NULL, 0640), "mode 0640");
	/* key types and sizes the assertion cannot use */
	expect_refused(write_key("rsa1024.pem", small, NULL, 0600), "RSA 1024");
	expect_refused(write_key("p384.pem", p384, NULL, 0600), "EC P-384");
	expect_refused(write_key("ed25519.pem", ed, NULL, 0600), "Ed25519");
	/* only the public half */
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, rsa_key), 1);
	n = BIO_get_mem_data(bio, &pem);
	expect_refused(tf_write("public.pem", pem, (size_t)n, 0600), "public key");
	BIO_free(bio);

	EVP_PKEY_free(small);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(ed);
}

/*
 * An encrypted key is refused, and loading it never waits for a
 * passphrase: run in a child with no controlling terminal and stdin from
 * /dev/null (where OpenSSL's default prompt would read one), with an
 * alarm and a 15 s limit in case it waits anyway.
 */
static void test_load_encrypted(void **state)
{
	const char *path = write_key("encrypted.pem", rsa_key, "passphrase", 0600);
	int status = 0, waited = 0;
	pid_t pid, r;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[512] = "";
		EVP_PKEY *k;

		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* no terminal and an empty stdin: nothing to read a passphrase
		 * from (stderr too: OpenSSL's prompt would only be noise) */
		setsid();
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
			_exit(2);
		alarm(10);
		k = zk_client_key_load(path, err, sizeof(err));
		_exit(k == NULL && strstr(err, path) != NULL ? 0 : 1);
	}
	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && waited < 150) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		waited++;
	}
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("loading an encrypted key did not return");
	}
	assert_int_equal(r, pid);
	if (WIFSIGNALED(status))
		fail_msg("loading an encrypted key: killed by signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rs256),
		cmocka_unit_test(test_es256),
		cmocka_unit_test(test_kid),
		cmocka_unit_test(test_claims_escaped),
		cmocka_unit_test(test_key_from_file),
		cmocka_unit_test(test_jti_fresh),
		cmocka_unit_test(test_es256_fixed_width),
		cmocka_unit_test(test_load_refused),
		cmocka_unit_test(test_load_encrypted),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
