/*
 * The provider's JSON answers the daemon reads with cJSON. They are read
 * inside static callbacks of zkauth-verifyd/oidc.c, which cannot be called
 * from here; this file mirrors what each does with the body, step for step
 * (names as in oidc.c). Keep the two in step when oidc.c changes:
 *
 *   discovered          discovery document (issuer, endpoints, device
 *                       endpoint, RFC 9207 flag), disc_url
 *   token_response      token endpoint answer: id_token / access_token /
 *                       accessToken by profile, error on non-200
 *   device_token        token endpoint while polling (RFC 8628 errors)
 *   device_authorized   device authorization response, json_str
 *   broker_authorized   zeroauth authorize response (authorizeUrl, state)
 *   json_free_wiped     after every one of them
 *
 * Input: a response body. Like zk_http (http.c) it reaches the callbacks
 * NUL-terminated, at most 64 KiB (DISCOVERY_MAX, TOKEN_RESPONSE_MAX). Every
 * input goes through every reader, and through the token readers as an
 * HTTP 200 and as an error answer.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "zkauth_proto.h"
#include "util.h"

#define BODY_MAX                (64u * 1024u)
#define ISSUER                  "https://idp.example.com"
#define DEVICE_INTERVAL_DEFAULT 5
#define DEVICE_INTERVAL_MAX     60

/* What a reader decided, kept where the compiler cannot drop the work. */
static volatile size_t sink;

static void keep(const char *s)
{
	sink += s ? strlen(s) : 0;
}

static void json_free_wiped(cJSON *doc)
{
	cJSON *it;

	if (doc == NULL)
		return;
	cJSON_ArrayForEach(it, doc)
		if (cJSON_IsString(it))
			zk_freezero_str(it->valuestring), it->valuestring = NULL;
	cJSON_Delete(doc);
}

static const char *disc_url(const cJSON *doc, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);

	if (!cJSON_IsString(v) || !zk_url_allowed(v->valuestring))
		return NULL;
	return v->valuestring;
}

/* flow = device, no endpoint set in the configuration: every member read. */
static void discovered(const char *body, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *iss;
	const char *a, *t, *j, *dev;
	char *copy;

	if (!cJSON_IsObject(doc))
		goto out;
	iss = cJSON_GetObjectItemCaseSensitive(doc, "issuer");
	if (!cJSON_IsString(iss) || strcmp(iss->valuestring, ISSUER) != 0)
		goto out;
	a = disc_url(doc, "authorization_endpoint");
	t = disc_url(doc, "token_endpoint");
	j = disc_url(doc, "jwks_uri");
	if (!a || !t || !j)
		goto out;
	dev = disc_url(doc, "device_authorization_endpoint");
	if (dev == NULL)
		goto out;
	/* set_str: the daemon keeps copies. */
	copy = strdup(dev);
	keep(copy);
	free(copy);
	sink += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		doc, "authorization_response_iss_parameter_supported"));
out:
	cJSON_Delete(doc);
}

/* Up to verify_now's input: the token and its strlen. */
static void token_response(const char *body, size_t len, long status, const char *field)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *tok, *e;

	if (status != 200) {
		e = cJSON_GetObjectItemCaseSensitive(doc, "error");
		sink += cJSON_IsString(e) && strcmp(e->valuestring, "invalid_grant") == 0;
		goto out;
	}
	tok = cJSON_GetObjectItemCaseSensitive(doc, field);
	if (!cJSON_IsObject(doc) || !cJSON_IsString(tok))
		goto out;
	keep(tok->valuestring);
out:
	json_free_wiped(doc);
}

static void device_token(const char *body, size_t len, long status)
{
	static const char *const errors[] = {
		"authorization_pending", "slow_down", "access_denied", "expired_token",
	};
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *tok, *e;
	size_t i;

	if (status == 200) {
		tok = cJSON_GetObjectItemCaseSensitive(doc, "id_token");
		if (cJSON_IsString(tok))
			keep(tok->valuestring);
		json_free_wiped(doc);
		return;
	}
	e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	if (cJSON_IsString(e))
		for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
			sink += strcmp(e->valuestring, errors[i]) == 0;
	json_free_wiped(doc);
}

static const char *json_str(const cJSON *doc, const char *name, size_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);

	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) > max)
		return NULL;
	return v->valuestring;
}

static void device_authorized(const char *body, size_t len)
{
	char url[ZK_MAX_URL + 1], user_code[ZK_MAX_CODE + 1], *device_code;
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const char *dc, *uc, *uri, *full;
	const cJSON *n;
	int64_t expires_in, interval;

	dc = json_str(doc, "device_code", 1024);
	uc = json_str(doc, "user_code", ZK_MAX_CODE);
	uri = json_str(doc, "verification_uri", ZK_MAX_URL);
	full = json_str(doc, "verification_uri_complete", ZK_MAX_URL);
	n = cJSON_GetObjectItemCaseSensitive(doc, "expires_in");
	if (!dc || !uc || !uri || !zk_url_allowed(uri) || (full && !zk_url_allowed(full)) ||
	    !cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > 3600)
		goto out;
	/* UBSan (float-cast-overflow) checks these conversions. */
	expires_in = (int64_t)n->valuedouble;
	n = cJSON_GetObjectItemCaseSensitive(doc, "interval");
	interval = DEVICE_INTERVAL_DEFAULT;
	if (cJSON_IsNumber(n) && n->valuedouble >= 1 && n->valuedouble <= DEVICE_INTERVAL_MAX)
		interval = (int64_t)n->valuedouble;
	device_code = strdup(dc);
	if (device_code == NULL)
		goto out;
	snprintf(url, sizeof(url), "%s", full ? full : uri);
	snprintf(user_code, sizeof(user_code), "%s", uc);
	keep(url);
	keep(user_code);
	sink += (size_t)(expires_in + interval);
	zk_freezero_str(device_code);
out:
	json_free_wiped(doc);
}

static void broker_authorized(const char *body, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *u, *st;
	char *url, *state;

	u = cJSON_GetObjectItemCaseSensitive(doc, "authorizeUrl");
	st = cJSON_GetObjectItemCaseSensitive(doc, "state");
	if (!cJSON_IsString(u) || !zk_url_allowed(u->valuestring) ||
	    strlen(u->valuestring) > ZK_MAX_URL || !cJSON_IsString(st) ||
	    strlen(st->valuestring) < 16 || strlen(st->valuestring) > 128)
		goto out;
	url = strdup(u->valuestring);
	state = strdup(st->valuestring);
	keep(url);
	keep(state);
	zk_freezero_str(url);
	zk_freezero_str(state);
out:
	json_free_wiped(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body;

	if (size > BODY_MAX)
		return 0;
	body = malloc(size + 1);
	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	discovered(body, size);
	token_response(body, size, 200, "id_token");     /* profile oidc */
	token_response(body, size, 200, "access_token"); /* profile zkauth */
	token_response(body, size, 200, "accessToken");  /* profile zeroauth */
	token_response(body, size, 400, "id_token");
	device_token(body, size, 200);
	device_token(body, size, 400);
	device_authorized(body, size);
	broker_authorized(body, size);

	free(body);
	return 0;
}
