/*
 * The provider's JSON answers, through the daemon's own readers in
 * zkauth-verifyd/oidc_parse.c, the functions oidc.c calls from its HTTP
 * callbacks:
 *
 *   zkd_parse_discovery        discovery document, for a code-flow and a
 *                              device-flow configuration, endpoints unset
 *   zkd_parse_token_response   code exchange answer, per profile, as an
 *                              HTTP 200 and as an error
 *   zkd_parse_device_token     the same endpoint while polling
 *   zkd_parse_device_auth      device authorization response
 *   zkd_parse_broker_auth      zeroauth authorize response
 *
 * Input: a response body. Like zk_http (http.c) hands it over, it is
 * NUL-terminated and at most 64 KiB (DISCOVERY_MAX, TOKEN_RESPONSE_MAX).
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "oidc_parse.h"
#include "util.h"

#define BODY_MAX (64u * 1024u)

/* What a reader decided, kept where the compiler cannot drop the work. */
static volatile size_t sink;

static void keep(const char *s)
{
	sink += s ? strlen(s) : 0;
}

static void discovery(const char *body, size_t len, enum zk_flow flow)
{
	struct zk_config cfg;
	struct zkd_discovery disc;
	char issuer[] = "https://idp.example.com";

	memset(&cfg, 0, sizeof(cfg));
	cfg.issuer = issuer;
	cfg.flow = flow;
	if (zkd_parse_discovery(body, len, &cfg, &disc) < 0)
		return;
	/* Set only on success, and then complete. */
	if (!disc.authorization_endpoint || !disc.token_endpoint || !disc.jwks_uri ||
	    (flow == ZK_FLOW_DEVICE) != (disc.device_endpoint != NULL))
		abort();
	keep(disc.authorization_endpoint);
	keep(disc.token_endpoint);
	keep(disc.jwks_uri);
	keep(disc.device_endpoint);
	sink += disc.iss_in_response;
	zkd_discovery_free(&disc);
}

static void token_answer(struct zkd_token_answer *a)
{
	if (a->next == ZKD_NEXT_VERIFY) {
		if (a->token == NULL)
			abort();
		keep(a->token);
	} else if (a->next == ZKD_NEXT_END) {
		if (a->reason == NULL || a->result == ZK_R_OK)
			abort();
		keep(a->reason);
	}
	zkd_token_answer_clear(a);
}

static void device_auth(const char *body, size_t len)
{
	struct zkd_device_auth got;

	if (zkd_parse_device_auth(body, len, &got) < 0)
		return;
	if (got.interval < 1 || got.interval > ZKD_DEVICE_INTERVAL_MAX || got.expires_in < 1 ||
	    got.expires_in > ZKD_DEVICE_EXPIRES_MAX || got.device_code == NULL)
		abort();
	keep(got.url);
	keep(got.user_code);
	sink += (size_t)zkd_device_slow_down(got.interval);
	zk_freezero_str(got.device_code);
}

static void broker_auth(const char *body, size_t len)
{
	struct zkd_broker_auth got;

	if (zkd_parse_broker_auth(body, len, &got) != 0)
		return;
	keep(got.url);
	keep(got.state);
	zk_freezero_str(got.url);
	zk_freezero_str(got.state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum zk_profile profiles[] = {
		ZK_PROFILE_OIDC, ZK_PROFILE_ZKAUTH, ZK_PROFILE_ZEROAUTH,
	};
	struct zkd_token_answer a;
	char *body;
	size_t i;

	if (size > BODY_MAX)
		return 0;
	body = malloc(size + 1);
	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	discovery(body, size, ZK_FLOW_CODE);
	discovery(body, size, ZK_FLOW_DEVICE);
	for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
		zkd_parse_token_response(body, size, 200, profiles[i], &a);
		token_answer(&a);
	}
	zkd_parse_token_response(body, size, 400, ZK_PROFILE_OIDC, &a);
	token_answer(&a);
	zkd_parse_device_token(body, size, 200, &a);
	token_answer(&a);
	zkd_parse_device_token(body, size, 400, &a);
	token_answer(&a);
	device_auth(body, size);
	broker_auth(body, size);

	free(body);
	return 0;
}
