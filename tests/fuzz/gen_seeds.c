/*
 * Writes the generated seeds under CORPUS (tests/fuzz/corpus), each file
 * named gen-*, so that they can be made again at any time (make fuzz-seeds):
 *
 *   fuzz_jwks/        key sets from fresh keys: RSA, EC on each curve, OKP,
 *                     mixed with use/key_ops/alg, a duplicate kid, a set
 *                     leaking a private member
 *   fuzz_jwt/         compact JWS for each kind of key, with the kids the
 *                     target's key set uses. Signed with keys of this run,
 *                     not the target's, so they reach the signature check
 *                     and stop there
 *   fuzz_jwt_claims/  key byte, flags byte, header, payload in the target's format
 *   fuzz_ipc/         one frame of each type from the project's encoder
 *
 * Keys are made fresh: a new run changes the RSA/EC/OKP material but not
 * the shape of any seed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keys.h"
#include "zkauth_proto.h"

#define HDR_ED  "{\"alg\":\"EdDSA\",\"kid\":\"" FZ_KID_ED "\",\"typ\":\"JWT\"}"
#define HDR_EC  "{\"alg\":\"ES256\",\"kid\":\"" FZ_KID_EC "\"}"
#define HDR_RS  "{\"alg\":\"RS256\",\"kid\":\"" FZ_KID_RSA "\"}"
#define HDR_PS  "{\"alg\":\"PS256\",\"kid\":\"" FZ_KID_RSA "\",\"typ\":\"at+jwt\"}"
#define HDR_384 "{\"alg\":\"ES384\",\"kid\":\"" FZ_KID_EC384 "\"}"
#define HDR_521 "{\"alg\":\"ES512\",\"kid\":\"" FZ_KID_EC521 "\",\"typ\":\"application/jwt\"}"

/* Claims the targets accept at their clock (1700000000), issuer,
 * client_id and nonce. */
#define CLAIMS \
	"{\"iss\":\"https://idp.example.com\",\"aud\":\"ssh-hosts\",\"sub\":\"248289761001\"," \
	"\"exp\":1700003600,\"iat\":1699999990,\"nonce\":\"n-0S6_WzA2Mj\"}"
#define CLAIMS_FULL \
	"{\"iss\":\"https://idp.example.com\",\"aud\":[\"ssh-hosts\",\"other\"]," \
	"\"azp\":\"ssh-hosts\",\"sub\":\"alice@example.com\",\"exp\":1700003600," \
	"\"nbf\":1699999990,\"iat\":1699999990,\"auth_time\":1699999900," \
	"\"nonce\":\"n-0S6_WzA2Mj\",\"groups\":[\"admins\"],\"email\":\"a\\u0000b\"}"

static const char *root;

static void put(const char *target, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/gen-%s", root, target, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void put_str(const char *target, const char *name, char *s)
{
	put(target, name, s, strlen(s));
	free(s);
}

/* {"keys":[a,b,c]} from up to three JWKs (NULL ends the list); frees them. */
static char *set_of(char *a, char *b, char *c)
{
	size_t n = strlen(a) + (b ? strlen(b) : 0) + (c ? strlen(c) : 0) + 32;
	char *out = malloc(n);

	if (out == NULL)
		exit(1);
	snprintf(out, n, "{\"keys\":[%s%s%s%s%s]}", a, b ? "," : "", b ? b : "", c ? "," : "",
		 c ? c : "");
	free(a);
	free(b);
	free(c);
	return out;
}

static void jwks_seeds(const struct fz_keys *k)
{
	EVP_PKEY *p384 = fz_ec_key("P-384"), *p521 = fz_ec_key("P-521");

	put_str("fuzz_jwks", "rsa", set_of(fz_jwk(k->rsa, "rsa-1", ",\"alg\":\"RS256\",\"use\":\"sig\""),
					   NULL, NULL));
	put_str("fuzz_jwks", "ec", set_of(fz_jwk(k->ec, "p256", ",\"alg\":\"ES256\""),
					  fz_jwk(p384, "p384", NULL),
					  fz_jwk(p521, "p521", ",\"key_ops\":[\"verify\"]")));
	put_str("fuzz_jwks", "okp", set_of(fz_jwk(k->ed, "ed-1", ",\"alg\":\"EdDSA\""), NULL, NULL));
	put_str("fuzz_jwks", "mixed", fz_jwks(k));
	put_str("fuzz_jwks", "dup-kid", set_of(fz_jwk(k->ec, "same", NULL), fz_jwk(k->ed, "same", NULL),
					       NULL));
	/* Skipped keys: wrong use, no verify op, alg not fitting, private member, no kid. */
	put_str("fuzz_jwks", "skipped",
		set_of(fz_jwk(k->ed, "enc", ",\"use\":\"enc\",\"key_ops\":[\"sign\"]"),
		       fz_jwk(k->ec, "mismatch", ",\"alg\":\"RS256\",\"d\":\"AAAA\""),
		       fz_jwk(k->rsa, NULL, ",\"x5c\":[\"MIIB\"],\"ext\":true")));
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
}

static void jwt_seed(const char *name, EVP_PKEY *key, const char *alg, const char *hdr,
		     const char *claims)
{
	size_t len;
	char *tok = fz_sign(key, alg, hdr, strlen(hdr), claims, strlen(claims), &len);

	put("fuzz_jwt", name, tok, len);
	free(tok);
}

static void jwt_seeds(const struct fz_keys *k)
{
	jwt_seed("eddsa", k->ed, "EdDSA", HDR_ED, CLAIMS);
	jwt_seed("es256", k->ec, "ES256", HDR_EC, CLAIMS);
	jwt_seed("rs256", k->rsa, "RS256", HDR_RS, CLAIMS);
	jwt_seed("ps256", k->rsa, "PS256", HDR_PS, CLAIMS_FULL);
	jwt_seed("es384", k->ec384, "ES384", HDR_384, CLAIMS);
	jwt_seed("es512", k->ec521, "ES512", HDR_521, CLAIMS);
	jwt_seed("rs512-nokid", k->rsa, "RS512", "{\"alg\":\"RS512\"}", CLAIMS);
	jwt_seed("none", k->ed, "EdDSA", "{\"alg\":\"none\",\"crit\":[\"b64\"]}", CLAIMS);
}

/* key byte, flags byte, header, '\n', payload: the format of fuzz_jwt_claims. */
static void claims_seed(const char *name, const char *sel, const char *hdr, const char *claims)
{
	size_t hl = strlen(hdr), cl = strlen(claims);
	char *buf = malloc(2 + hl + 1 + cl);

	if (buf == NULL)
		exit(1);
	memcpy(buf, sel, 2);
	memcpy(buf + 2, hdr, hl);
	buf[2 + hl] = '\n';
	memcpy(buf + 3 + hl, claims, cl);
	put("fuzz_jwt_claims", name, buf, 2 + hl + 1 + cl);
	free(buf);
}

static void claims_seeds(void)
{
	claims_seed("eddsa-nonce", "0D", HDR_ED, CLAIMS);
	claims_seed("es256", "1@", HDR_EC, CLAIMS);
	claims_seed("rs256-maxage", "2L", HDR_RS, CLAIMS_FULL);
	claims_seed("ps256", "3@", HDR_PS, CLAIMS_FULL);
	claims_seed("es384", "4D", HDR_384, CLAIMS);
	claims_seed("es512", "5D", HDR_521, CLAIMS);
	claims_seed("eddsa-extreme-clock", "0\xbc", HDR_ED, CLAIMS_FULL);
}

static void ipc_seeds(void)
{
	uint8_t buf[ZK_MAX_FRAME];
	struct zk_start st = { .user = "alice", .service = "sshd", .rhost = "203.0.113.9",
			       .tty = "ssh", .max_age = ZK_NO_MAX_AGE, .flags = 0 };
	struct zk_challenge ch = { .expires_in = 300,
				   .url = "https://host.example.com:8443/l/3q2b7xk",
				   .code = "WDJB-MJHT", .host = "host.example.com" };
	struct zk_wait wt = { .wait_ms = 30000 };
	struct zk_verdict ok = { .result = ZK_R_OK, .user = "alice" };
	struct zk_verdict pending = { .result = ZK_R_PENDING, .user = "" };
	ssize_t n;

	if ((n = zk_proto_encode_start(&st, buf, sizeof(buf))) < 0)
		exit(1);
	put("fuzz_ipc", "start", buf, (size_t)n);
	if ((n = zk_proto_encode_challenge(&ch, buf, sizeof(buf))) < 0)
		exit(1);
	put("fuzz_ipc", "challenge", buf, (size_t)n);
	if ((n = zk_proto_encode_wait(&wt, buf, sizeof(buf))) < 0)
		exit(1);
	put("fuzz_ipc", "wait", buf, (size_t)n);
	if ((n = zk_proto_encode_verdict(&ok, buf, sizeof(buf))) < 0)
		exit(1);
	put("fuzz_ipc", "verdict-ok", buf, (size_t)n);
	if ((n = zk_proto_encode_verdict(&pending, buf, sizeof(buf))) < 0)
		exit(1);
	put("fuzz_ipc", "verdict-pending", buf, (size_t)n);
}

int main(int argc, char **argv)
{
	struct fz_keys k;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	root = argv[1];
	fz_keys_generate(&k);
	jwks_seeds(&k);
	jwt_seeds(&k);
	claims_seeds();
	ipc_seeds();
	fz_keys_free(&k);
	return 0;
}
