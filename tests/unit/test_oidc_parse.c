/* Unit tests: reading the provider's JSON answers (oidc_parse.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <malloc.h>
#include <cjson/cJSON.h>

#include "oidc_parse.h"
#include "util.h"

#define ISSUER "https://idp.example.com"

static char issuer[] = ISSUER;

static void config_for(struct zk_config *cfg, enum zk_flow flow)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->issuer = issuer;
	cfg->flow = flow;
}

/* A discovery document for iss with the usual endpoints, plus extra
 * members (a JSON fragment starting with ',' or ""). */
static const char *disc_doc(const char *iss, const char *extra)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf), "{\"issuer\":\"%s\","
		 "\"authorization_endpoint\":\"" ISSUER "/authorize\","
		 "\"token_endpoint\":\"" ISSUER "/token\","
		 "\"jwks_uri\":\"" ISSUER "/jwks\"%s}", iss, extra);
	return buf;
}

static int parse_disc(const char *body, const struct zk_config *cfg, struct zkd_discovery *out)
{
	return zkd_parse_discovery(body, strlen(body), cfg, out);
}

static void test_discovery_ok(void **state)
{
	struct zk_config cfg;
	struct zkd_discovery d;

	config_for(&cfg, ZK_FLOW_CODE);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"device_authorization_endpoint\":\""
					     ISSUER "/device\""), &cfg, &d), 0);
	assert_string_equal(d.authorization_endpoint, ISSUER "/authorize");
	assert_string_equal(d.token_endpoint, ISSUER "/token");
	assert_string_equal(d.jwks_uri, ISSUER "/jwks");
	assert_null(d.device_endpoint); /* code flow: not taken */
	assert_false(d.iss_in_response);
	zkd_discovery_free(&d);
	assert_null(d.token_endpoint);

	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"authorization_response_iss_parameter_"
					     "supported\":true"), &cfg, &d), 0);
	assert_true(d.iss_in_response);
	zkd_discovery_free(&d);
	zkd_discovery_free(NULL);
}

/* PKCE: S256 listed, or no list at all; a list without it is refused for
 * the code flow (the device flow sends no challenge). */
static void test_discovery_s256(void **state)
{
	struct zk_config cfg;
	struct zkd_discovery d;

	config_for(&cfg, ZK_FLOW_CODE);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"code_challenge_methods_supported\":"
					     "[\"plain\",\"S256\"]"), &cfg, &d), 0);
	zkd_discovery_free(&d);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ""), &cfg, &d), 0);
	zkd_discovery_free(&d);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"code_challenge_methods_supported\":"
					     "[\"plain\"]"), &cfg, &d), -1);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"code_challenge_methods_supported\":[]"),
				    &cfg, &d), -1);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"code_challenge_methods_supported\":"
					     "\"S256\""), &cfg, &d), -1);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"code_challenge_methods_supported\":"
					     "[\"s256\"]"), &cfg, &d), -1);
	config_for(&cfg, ZK_FLOW_DEVICE);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"code_challenge_methods_supported\":"
					     "[\"plain\"],\"device_authorization_endpoint\":\""
					     ISSUER "/device\""), &cfg, &d), 0);
	zkd_discovery_free(&d);
}

static void test_discovery_issuer_mismatch(void **state)
{
	struct zk_config cfg;
	struct zkd_discovery d;

	config_for(&cfg, ZK_FLOW_CODE);
	memset(&d, 0x5a, sizeof(d));
	assert_int_equal(parse_disc(disc_doc("https://evil.example.com", ""), &cfg, &d), -1);
	/* Untouched on failure. */
	assert_int_equal(((unsigned char *)&d)[0], 0x5a);
	assert_int_equal(parse_disc(disc_doc(ISSUER "/", ""), &cfg, &d), -1);
	assert_int_equal(parse_disc(disc_doc("https://IDP.example.com", ""), &cfg, &d), -1);
	assert_int_equal(parse_disc("{\"issuer\":1}", &cfg, &d), -1);
	assert_int_equal(parse_disc("[\"" ISSUER "\"]", &cfg, &d), -1);
	assert_int_equal(parse_disc("not json", &cfg, &d), -1);
	assert_int_equal(parse_disc("", &cfg, &d), -1);
}

static void test_discovery_endpoints(void **state)
{
	static const char *const no_token =
		"{\"issuer\":\"" ISSUER "\",\"authorization_endpoint\":\"" ISSUER "/a\","
		"\"jwks_uri\":\"" ISSUER "/j\"}";
	static const char *const plain_http =
		"{\"issuer\":\"" ISSUER "\",\"authorization_endpoint\":\"" ISSUER "/a\","
		"\"token_endpoint\":\"http://idp.example.com/t\",\"jwks_uri\":\"" ISSUER "/j\"}";
	char preset[] = "https://other.example.com/token";
	struct zk_config cfg;
	struct zkd_discovery d;

	config_for(&cfg, ZK_FLOW_CODE);
	assert_int_equal(parse_disc(no_token, &cfg, &d), -1);
	assert_int_equal(parse_disc(plain_http, &cfg, &d), -1);
	/* The configuration's endpoint wins over (and stands in for) the document's. */
	cfg.token_endpoint = preset;
	assert_int_equal(parse_disc(no_token, &cfg, &d), 0);
	assert_string_equal(d.token_endpoint, preset);
	zkd_discovery_free(&d);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ""), &cfg, &d), 0);
	assert_string_equal(d.token_endpoint, preset);
	zkd_discovery_free(&d);
}

static void test_discovery_device(void **state)
{
	char preset[] = "https://idp.example.com/my-device";
	struct zk_config cfg;
	struct zkd_discovery d;

	config_for(&cfg, ZK_FLOW_DEVICE);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ""), &cfg, &d), -1);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"device_authorization_endpoint\":"
					     "\"http://idp.example.com/device\""), &cfg, &d), -1);
	assert_int_equal(parse_disc(disc_doc(ISSUER, ",\"device_authorization_endpoint\":\""
					     ISSUER "/device\""), &cfg, &d), 0);
	assert_string_equal(d.device_endpoint, ISSUER "/device");
	zkd_discovery_free(&d);
	cfg.device_authorization_endpoint = preset;
	assert_int_equal(parse_disc(disc_doc(ISSUER, ""), &cfg, &d), 0);
	assert_string_equal(d.device_endpoint, preset);
	zkd_discovery_free(&d);
}

static void token(const char *body, long status, enum zk_profile profile,
		  struct zkd_token_answer *a)
{
	zkd_parse_token_response(body, strlen(body), status, profile, a);
}

static void assert_end(const struct zkd_token_answer *a, uint32_t result, const char *reason)
{
	assert_int_equal(a->next, ZKD_NEXT_END);
	assert_int_equal(a->result, result);
	assert_string_equal(a->reason, reason);
	assert_null(a->token);
}

static void test_token_response(void **state)
{
	static const char *const both =
		"{\"id_token\":\"eyJ.id.sig\",\"access_token\":\"at\",\"accessToken\":\"AT\"}";
	struct zkd_token_answer a;

	token(both, 200, ZK_PROFILE_OIDC, &a);
	assert_int_equal(a.next, ZKD_NEXT_VERIFY);
	assert_string_equal(a.token, "eyJ.id.sig");
	zkd_token_answer_clear(&a);
	assert_null(a.doc);
	token(both, 200, ZK_PROFILE_ZKAUTH, &a);
	assert_int_equal(a.next, ZKD_NEXT_VERIFY);
	assert_string_equal(a.token, "at");
	zkd_token_answer_clear(&a);
	token(both, 200, ZK_PROFILE_ZEROAUTH, &a);
	assert_int_equal(a.next, ZKD_NEXT_VERIFY);
	assert_string_equal(a.token, "AT");
	zkd_token_answer_clear(&a);
}

static void test_token_response_without_id_token(void **state)
{
	struct zkd_token_answer a;

	token("{\"access_token\":\"at\",\"token_type\":\"Bearer\"}", 200, ZK_PROFILE_OIDC, &a);
	assert_end(&a, ZK_R_PROVIDER, "no_token");
	zkd_token_answer_clear(&a);
	token("{\"id_token\":42}", 200, ZK_PROFILE_OIDC, &a);
	assert_end(&a, ZK_R_PROVIDER, "no_token");
	zkd_token_answer_clear(&a);
	token("\"eyJ.id.sig\"", 200, ZK_PROFILE_OIDC, &a);
	assert_end(&a, ZK_R_PROVIDER, "no_token");
	zkd_token_answer_clear(&a);
	token("garbage", 200, ZK_PROFILE_OIDC, &a);
	assert_end(&a, ZK_R_PROVIDER, "no_token");
	zkd_token_answer_clear(&a);
}

static void test_token_response_errors(void **state)
{
	struct zkd_token_answer a;

	token("{\"error\":\"invalid_grant\"}", 400, ZK_PROFILE_OIDC, &a);
	assert_end(&a, ZK_R_DENIED, "invalid_grant");
	zkd_token_answer_clear(&a);
	token("{\"error\":\"invalid_client\"}", 401, ZK_PROFILE_OIDC, &a);
	assert_end(&a, ZK_R_PROVIDER, "token_endpoint_error");
	zkd_token_answer_clear(&a);
	/* A token in an error answer is never used. */
	token("{\"id_token\":\"eyJ.id.sig\"}", 500, ZK_PROFILE_OIDC, &a);
	assert_end(&a, ZK_R_PROVIDER, "token_endpoint_error");
	zkd_token_answer_clear(&a);
	token("", 502, ZK_PROFILE_OIDC, &a);
	assert_end(&a, ZK_R_PROVIDER, "token_endpoint_error");
	zkd_token_answer_clear(&a);
}

static void poll_answer(const char *body, long status, struct zkd_token_answer *a)
{
	zkd_parse_device_token(body, strlen(body), status, a);
}

static void test_device_token(void **state)
{
	struct zkd_token_answer a;

	poll_answer("{\"id_token\":\"eyJ.id.sig\",\"access_token\":\"at\"}", 200, &a);
	assert_int_equal(a.next, ZKD_NEXT_VERIFY);
	assert_string_equal(a.token, "eyJ.id.sig");
	zkd_token_answer_clear(&a);
	poll_answer("{\"access_token\":\"at\"}", 200, &a);
	assert_end(&a, ZK_R_PROVIDER, "no_token");
	zkd_token_answer_clear(&a);
	poll_answer("{\"error\":\"authorization_pending\"}", 400, &a);
	assert_int_equal(a.next, ZKD_NEXT_POLL);
	zkd_token_answer_clear(&a);
	poll_answer("{\"error\":\"slow_down\"}", 400, &a);
	assert_int_equal(a.next, ZKD_NEXT_SLOW_DOWN);
	zkd_token_answer_clear(&a);
	poll_answer("{\"error\":\"access_denied\"}", 400, &a);
	assert_end(&a, ZK_R_DENIED, "denied_at_provider");
	zkd_token_answer_clear(&a);
	poll_answer("{\"error\":\"expired_token\"}", 400, &a);
	assert_end(&a, ZK_R_EXPIRED, "device_code_expired");
	zkd_token_answer_clear(&a);
	poll_answer("{\"error\":\"invalid_client\"}", 401, &a);
	assert_end(&a, ZK_R_PROVIDER, "token_endpoint_error");
	zkd_token_answer_clear(&a);
	poll_answer("{\"error\":7}", 400, &a);
	assert_end(&a, ZK_R_PROVIDER, "token_endpoint_error");
	zkd_token_answer_clear(&a);
	poll_answer("<html>", 503, &a);
	assert_end(&a, ZK_R_PROVIDER, "token_endpoint_error");
	zkd_token_answer_clear(&a);
}

/* A device authorization response with the given interval member (a JSON
 * fragment such as ",\"interval\":10", or ""). */
static int device_auth(const char *interval, struct zkd_device_auth *out)
{
	char body[1024];

	snprintf(body, sizeof(body), "{\"device_code\":\"dc-secret\",\"user_code\":\"WDJB-MJHT\","
		 "\"verification_uri\":\"" ISSUER "/device\",\"expires_in\":600%s}", interval);
	return zkd_parse_device_auth(body, strlen(body), out);
}

static int64_t interval_of(const char *interval)
{
	struct zkd_device_auth got;
	int64_t v;

	assert_int_equal(device_auth(interval, &got), 0);
	v = got.interval;
	zk_freezero_str(got.device_code);
	return v;
}

static void test_device_auth(void **state)
{
	struct zkd_device_auth got;

	assert_int_equal(device_auth(",\"interval\":10", &got), 0);
	assert_string_equal(got.device_code, "dc-secret");
	assert_string_equal(got.user_code, "WDJB-MJHT");
	assert_string_equal(got.url, ISSUER "/device");
	assert_int_equal(got.expires_in, 600);
	assert_int_equal(got.interval, 10);
	zk_freezero_str(got.device_code);

	/* verification_uri_complete is shown when the provider gives one. */
	assert_int_equal(device_auth(",\"verification_uri_complete\":\"" ISSUER
				     "/device?user_code=WDJB-MJHT\"", &got), 0);
	assert_string_equal(got.url, ISSUER "/device?user_code=WDJB-MJHT");
	zk_freezero_str(got.device_code);
}

static void test_device_auth_interval(void **state)
{
	assert_int_equal(interval_of(""), ZKD_DEVICE_INTERVAL_DEFAULT);
	assert_int_equal(ZKD_DEVICE_INTERVAL_DEFAULT, 5);
	assert_int_equal(interval_of(",\"interval\":1"), 1);
	assert_int_equal(interval_of(",\"interval\":5"), 5);
	/* Above the old 60 s cap: honoured, not replaced by 5. */
	assert_int_equal(interval_of(",\"interval\":61"), 61);
	assert_int_equal(interval_of(",\"interval\":120"), 120);
	assert_int_equal(interval_of(",\"interval\":3600"), 3600);
	/* Never faster than asked: fractions round up, beyond an hour is an hour. */
	assert_int_equal(interval_of(",\"interval\":2.5"), 3);
	assert_int_equal(interval_of(",\"interval\":7200"), 3600);
	assert_int_equal(interval_of(",\"interval\":1e300"), 3600);
	assert_int_equal(interval_of(",\"interval\":1e999"), 3600);
	/* Not a usable interval: the RFC's default. */
	assert_int_equal(interval_of(",\"interval\":0"), 5);
	assert_int_equal(interval_of(",\"interval\":0.5"), 5);
	assert_int_equal(interval_of(",\"interval\":-1"), 5);
	assert_int_equal(interval_of(",\"interval\":-1e999"), 5);
	assert_int_equal(interval_of(",\"interval\":\"30\""), 5);
	assert_int_equal(interval_of(",\"interval\":null"), 5);
	assert_int_equal(interval_of(",\"interval\":true"), 5);
}

static void test_device_auth_rejected(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"user_code\":\"U\",\"verification_uri\":\"" ISSUER "/d\",\"expires_in\":600}",
		"{\"device_code\":\"\",\"user_code\":\"U\",\"verification_uri\":\"" ISSUER "/d\","
		"\"expires_in\":600}",
		"{\"device_code\":\"d\",\"verification_uri\":\"" ISSUER "/d\",\"expires_in\":600}",
		"{\"device_code\":\"d\",\"user_code\":\"U\",\"expires_in\":600}",
		"{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":"
		"\"http://idp.example.com/d\",\"expires_in\":600}",
		"{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":\"" ISSUER "/d\","
		"\"verification_uri_complete\":\"javascript:alert(1)\",\"expires_in\":600}",
		"{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":\"" ISSUER "/d\"}",
		"{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":\"" ISSUER "/d\","
		"\"expires_in\":0}",
		"{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":\"" ISSUER "/d\","
		"\"expires_in\":3601}",
		"{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":\"" ISSUER "/d\","
		"\"expires_in\":\"600\"}",
	};
	struct zkd_device_auth got;
	char body[ZKD_DEVICE_CODE_MAX + 256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&got, 0x5a, sizeof(got));
		if (zkd_parse_device_auth(bad[i], strlen(bad[i]), &got) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(((unsigned char *)&got)[0], 0x5a);
	}
	/* A device code longer than we keep. */
	snprintf(body, sizeof(body), "{\"device_code\":\"%0*d\",\"user_code\":\"U\","
		 "\"verification_uri\":\"" ISSUER "/d\",\"expires_in\":600}",
		 ZKD_DEVICE_CODE_MAX + 1, 0);
	assert_int_equal(zkd_parse_device_auth(body, strlen(body), &got), -1);
}

static void test_slow_down(void **state)
{
	assert_int_equal(zkd_device_slow_down(5), 10);
	/* The old code stopped adding at 60. */
	assert_int_equal(zkd_device_slow_down(60), 65);
	assert_int_equal(zkd_device_slow_down(120), 125);
	assert_int_equal(zkd_device_slow_down(3595), 3600);
	assert_int_equal(zkd_device_slow_down(3598), 3600);
	assert_int_equal(zkd_device_slow_down(3600), 3600);
}

static void test_broker_auth(void **state)
{
	static const char *const good =
		"{\"authorizeUrl\":\"https://broker.example.com/go?x=1\","
		"\"state\":\"123e4567-e89b-12d3-a456-426614174000\"}";
	static const char *const bad[] = {
		"{\"authorizeUrl\":\"https://broker.example.com/go\",\"state\":\"short\"}",
		"{\"authorizeUrl\":\"http://broker.example.com/go\","
		"\"state\":\"123e4567-e89b-12d3-a456-426614174000\"}",
		"{\"state\":\"123e4567-e89b-12d3-a456-426614174000\"}",
		"{\"authorizeUrl\":\"https://broker.example.com/go\"}",
		"{\"authorizeUrl\":\"https://broker.example.com/go\",\"state\":16}",
		"nope",
	};
	struct zkd_broker_auth got;
	size_t i;

	assert_int_equal(zkd_parse_broker_auth(good, strlen(good), &got), 0);
	assert_string_equal(got.url, "https://broker.example.com/go?x=1");
	assert_string_equal(got.state, "123e4567-e89b-12d3-a456-426614174000");
	zk_freezero_str(got.url);
	zk_freezero_str(got.state);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		got.url = got.state = NULL;
		if (zkd_parse_broker_auth(bad[i], strlen(bad[i]), &got) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_null(got.url);
		assert_null(got.state);
	}
}

/* cJSON frees through this hook: count the blocks that still hold the
 * marker when they go. zk_freezero_str frees wiped strings with free()
 * itself, so only what cJSON_Delete frees is looked at. */
#define MARK "SECRET-7Qm2"
static int unwiped;

static void free_looking(void *p)
{
	size_t n;

	if (p == NULL)
		return;
	n = malloc_usable_size(p);
	if (memmem(p, n, MARK, strlen(MARK)) != NULL)
		unwiped++;
	free(p);
}

static void test_json_free_wiped_nested(void **state)
{
	cJSON_Hooks hooks = { malloc, free_looking };
	const char *text = "{\"a\":\"" MARK "\",\"b\":{\"c\":[\"" MARK "\",{\"d\":\"" MARK "\"}]},"
			   "\"e\":[[\"" MARK "\"]]}";
	cJSON *doc;

	(void)state;
	cJSON_InitHooks(&hooks);
	/* The hook sees what is not wiped: a plain cJSON_Delete shows it. */
	unwiped = 0;
	doc = cJSON_Parse(text);
	assert_non_null(doc);
	cJSON_Delete(doc);
	assert_int_equal(unwiped, 4);
	/* Every string, however deep, is wiped before it is freed. */
	unwiped = 0;
	doc = cJSON_Parse(text);
	assert_non_null(doc);
	zkd_json_free_wiped(doc);
	assert_int_equal(unwiped, 0);
	cJSON_InitHooks(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discovery_ok),
		cmocka_unit_test(test_discovery_issuer_mismatch),
		cmocka_unit_test(test_discovery_s256),
		cmocka_unit_test(test_discovery_endpoints),
		cmocka_unit_test(test_discovery_device),
		cmocka_unit_test(test_token_response),
		cmocka_unit_test(test_token_response_without_id_token),
		cmocka_unit_test(test_token_response_errors),
		cmocka_unit_test(test_device_token),
		cmocka_unit_test(test_device_auth),
		cmocka_unit_test(test_device_auth_interval),
		cmocka_unit_test(test_device_auth_rejected),
		cmocka_unit_test(test_slow_down),
		cmocka_unit_test(test_broker_auth),
		cmocka_unit_test(test_json_free_wiped_nested),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
