/*
 * zk_config_load on a hostile zkauth.conf. The file is root's, but the
 * parser is the first thing the daemon runs and an admin may paste into it
 * anything a provider's documentation shows. The input goes into a memfd
 * (support/memfile.c) and is loaded by path, as the daemon does.
 *
 * An accepted configuration must hold what config.h and DESIGN.md section 5
 * promise; a refused one must leave *out zeroed and say why.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

#define ALGS_ALL (ZK_ALG_RS256 | ZK_ALG_RS384 | ZK_ALG_RS512 | ZK_ALG_PS256 | ZK_ALG_PS384 | \
		  ZK_ALG_PS512 | ZK_ALG_ES256 | ZK_ALG_ES384 | ZK_ALG_ES512 | ZK_ALG_EDDSA)

/* "openid" as a whole space-separated token of s. */
static bool has_openid(const char *s)
{
	const char *p = s;

	while ((p = strstr(p, "openid")) != NULL) {
		if ((p == s || p[-1] == ' ') && (p[6] == '\0' || p[6] == ' '))
			return true;
		p++;
	}
	return false;
}

static bool url_ok(const char *u)
{
	return u == NULL || zk_url_allowed(u);
}

static bool path_ok(const char *p)
{
	return p == NULL || p[0] == '/';
}

static void check_config(const struct zk_config *c)
{
	bool ok = c->client_id != NULL &&
		  (c->profile != ZK_PROFILE_OIDC || c->issuer != NULL) &&
		  (c->flow != ZK_FLOW_CODE || c->redirect_uri != NULL) &&
		  c->scopes != NULL && has_openid(c->scopes) &&
		  c->allowed_algs != 0 && (c->allowed_algs & ~ALGS_ALL) == 0 &&
		  c->clock_skew <= 600 &&
		  c->flow_timeout >= 5 && c->flow_timeout <= 600 &&
		  c->max_pending >= 1 && c->max_pending <= 100000 &&
		  c->max_pending_per_user >= 1 && c->max_pending_per_user <= 1000 &&
		  (c->tls_certificate == NULL) == (c->tls_private_key == NULL) &&
		  c->listen != NULL && c->map_file != NULL && c->socket_path != NULL &&
		  url_ok(c->issuer) && url_ok(c->redirect_uri) && url_ok(c->public_url) &&
		  url_ok(c->authorization_endpoint) && url_ok(c->token_endpoint) &&
		  url_ok(c->jwks_uri) && url_ok(c->device_authorization_endpoint) &&
		  path_ok(c->client_secret_file) && path_ok(c->client_key_file) &&
		  path_ok(c->api_key_file) && path_ok(c->ca_file) && path_ok(c->map_file) &&
		  path_ok(c->tls_certificate) && path_ok(c->tls_private_key) &&
		  path_ok(c->socket_path);

	switch (c->token_auth_method) {
	case ZK_AUTH_NONE:
		break;
	case ZK_AUTH_PRIVATE_KEY_JWT:
		ok = ok && c->client_key_file != NULL;
		break;
	case ZK_AUTH_JSON:
		ok = ok && c->profile == ZK_PROFILE_ZKAUTH && c->client_secret_file != NULL;
		break;
	default:
		ok = ok && c->client_secret_file != NULL;
		break;
	}
	if (!ok) {
		fprintf(stderr, "fuzz_config: accepted configuration breaks the contract\n");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct zk_config zero;
	struct zk_config c;
	char err[512];
	const char *path = fz_memfile(data, size);

	err[0] = '\0';
	if (zk_config_load(path, &c, err, sizeof(err)) == 0) {
		check_config(&c);
		zk_config_free(&c);
	} else if (memcmp(&c, &zero, sizeof(c)) != 0 || err[0] == '\0') {
		fprintf(stderr, "fuzz_config: refused without a reason or with *out written\n");
		abort();
	}
	return 0;
}
