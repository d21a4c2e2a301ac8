/* Reading the provider's JSON answers (see oidc_parse.h). */
#include "oidc_parse.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every string value in node and below it (cJSON limits nesting to
 * CJSON_NESTING_LIMIT, so the recursion is bounded). */
static void wipe_strings(cJSON *node)
{
	cJSON *it;

	if (cJSON_IsString(node) && node->valuestring != NULL) {
		zk_freezero_str(node->valuestring);
		node->valuestring = NULL;
	}
	for (it = node->child; it != NULL; it = it->next)
		wipe_strings(it);
}

void zkd_json_free_wiped(cJSON *doc)
{
	if (doc == NULL)
		return;
	wipe_strings(doc);
	cJSON_Delete(doc);
}

/* A URL member of the discovery document; NULL when absent or not
 * acceptable (wrong type, plain http to a remote host). */
static const char *disc_url(const cJSON *doc, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);

	if (!cJSON_IsString(v) || !zk_url_allowed(v->valuestring))
		return NULL;
	return v->valuestring;
}

void zkd_discovery_free(struct zkd_discovery *d)
{
	if (d == NULL)
		return;
	free(d->authorization_endpoint);
	free(d->token_endpoint);
	free(d->jwks_uri);
	free(d->device_endpoint);
	memset(d, 0, sizeof(*d));
}

/* Absent: true (the provider did not say); present: it must be an array
 * holding the string "S256". */
static bool s256_offered(const cJSON *doc)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "code_challenge_methods_supported");
	const cJSON *e;

	if (m == NULL)
		return true;
	if (!cJSON_IsArray(m))
		return false;
	cJSON_ArrayForEach(e, m)
		if (cJSON_IsString(e) && strcmp(e->valuestring, "S256") == 0)
			return true;
	return false;
}

int zkd_parse_discovery(const char *body, size_t len, const struct zk_config *cfg,
			struct zkd_discovery *out)
{
	struct zkd_discovery got = { 0 };
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *iss;
	const char *a, *t, *j, *dev = NULL;
	int rc = -1;
	char q[512];

	if (!cJSON_IsObject(doc)) {
		zk_log(LOG_ERR, "discovery document is not a JSON object");
		goto out;
	}
	/* The document speaks for our issuer only if it names it exactly. */
	iss = cJSON_GetObjectItemCaseSensitive(doc, "issuer");
	if (!cJSON_IsString(iss) || strcmp(iss->valuestring, cfg->issuer) != 0) {
		zk_log(LOG_ERR, "discovery document names another issuer than %s",
		       zk_log_quote(cfg->issuer, q, sizeof(q)));
		goto out;
	}
	a = cfg->authorization_endpoint ? cfg->authorization_endpoint
					: disc_url(doc, "authorization_endpoint");
	t = cfg->token_endpoint ? cfg->token_endpoint : disc_url(doc, "token_endpoint");
	j = cfg->jwks_uri ? cfg->jwks_uri : disc_url(doc, "jwks_uri");
	if (!a || !t || !j) {
		zk_log(LOG_ERR, "discovery document lacks a usable authorization_endpoint, "
		       "token_endpoint or jwks_uri");
		goto out;
	}
	/* Every login sends code_challenge_method=S256. A provider that lists
	 * its methods without S256 would ignore or refuse the challenge, and
	 * the code would not be bound to our verifier (RFC 9700 2.1.1); one
	 * that lists none may still do it (many omit the member). The device
	 * flow sends no challenge. */
	if (cfg->flow == ZK_FLOW_CODE && !s256_offered(doc)) {
		zk_log(LOG_ERR, "the provider's code_challenge_methods_supported does not list S256: "
		       "refusing to sign in through it without PKCE");
		goto out;
	}
	if (cfg->flow == ZK_FLOW_DEVICE) {
		dev = cfg->device_authorization_endpoint ? cfg->device_authorization_endpoint
							 : disc_url(doc, "device_authorization_endpoint");
		if (dev == NULL) {
			zk_log(LOG_ERR, "flow = device, but the provider offers no usable "
			       "device_authorization_endpoint");
			goto out;
		}
	}
	got.authorization_endpoint = strdup(a);
	got.token_endpoint = strdup(t);
	got.jwks_uri = strdup(j);
	got.device_endpoint = dev ? strdup(dev) : NULL;
	if (!got.authorization_endpoint || !got.token_endpoint || !got.jwks_uri ||
	    (dev && !got.device_endpoint))
		goto out;
	/* RFC 9207: a provider that sends iss in its authorization response
	 * gets it checked on every callback (mix-up defence). */
	got.iss_in_response = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		doc, "authorization_response_iss_parameter_supported"));
	*out = got;
	memset(&got, 0, sizeof(got));
	rc = 0;
out:
	zkd_discovery_free(&got);
	cJSON_Delete(doc);
	return rc;
}

static void answer_end(struct zkd_token_answer *a, uint32_t result, const char *reason)
{
	a->next = ZKD_NEXT_END;
	a->result = result;
	a->reason = reason;
}

static void answer_verify(struct zkd_token_answer *a, const char *token)
{
	a->next = ZKD_NEXT_VERIFY;
	a->token = token;
	a->result = ZK_R_OK;
	a->reason = NULL;
}

void zkd_parse_token_response(const char *body, size_t len, long status,
			      enum zk_profile profile, struct zkd_token_answer *a)
{
	const cJSON *tok;
	const char *field = profile == ZK_PROFILE_ZKAUTH ? "access_token"
			  : profile == ZK_PROFILE_ZEROAUTH ? "accessToken" : "id_token";

	memset(a, 0, sizeof(*a));
	a->doc = cJSON_ParseWithLength(body, len);
	if (status != 200) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(a->doc, "error");

		if (cJSON_IsString(e) && strcmp(e->valuestring, "invalid_grant") == 0) {
			zk_log(LOG_NOTICE, "token endpoint refused the code (invalid_grant)");
			answer_end(a, ZK_R_DENIED, "invalid_grant");
		} else {
			zk_log(LOG_ERR, "token endpoint answered HTTP %ld", status);
			answer_end(a, ZK_R_PROVIDER, "token_endpoint_error");
		}
		return;
	}
	tok = cJSON_GetObjectItemCaseSensitive(a->doc, field);
	if (!cJSON_IsObject(a->doc) || !cJSON_IsString(tok)) {
		zk_log(LOG_ERR, "token response has no %s", field);
		answer_end(a, ZK_R_PROVIDER, "no_token");
		return;
	}
	answer_verify(a, tok->valuestring);
}

void zkd_parse_device_token(const char *body, size_t len, long status,
			    struct zkd_token_answer *a)
{
	const cJSON *e;
	char q[128];

	memset(a, 0, sizeof(*a));
	a->doc = cJSON_ParseWithLength(body, len);
	if (status == 200) {
		const cJSON *tok = cJSON_GetObjectItemCaseSensitive(a->doc, "id_token");

		if (!cJSON_IsString(tok)) {
			zk_log(LOG_ERR, "token response has no id_token");
			answer_end(a, ZK_R_PROVIDER, "no_token");
		} else {
			answer_verify(a, tok->valuestring);
		}
		return;
	}
	e = cJSON_GetObjectItemCaseSensitive(a->doc, "error");
	if (!cJSON_IsString(e)) {
		zk_log(LOG_ERR, "token endpoint answered HTTP %ld without an error code", status);
		answer_end(a, ZK_R_PROVIDER, "token_endpoint_error");
	} else if (strcmp(e->valuestring, "authorization_pending") == 0) {
		a->next = ZKD_NEXT_POLL;
	} else if (strcmp(e->valuestring, "slow_down") == 0) {
		a->next = ZKD_NEXT_SLOW_DOWN;
	} else if (strcmp(e->valuestring, "access_denied") == 0) {
		answer_end(a, ZK_R_DENIED, "denied_at_provider");
	} else if (strcmp(e->valuestring, "expired_token") == 0) {
		answer_end(a, ZK_R_EXPIRED, "device_code_expired");
	} else {
		zk_log(LOG_ERR, "token endpoint: error %s while polling",
		       zk_log_quote(e->valuestring, q, sizeof(q)));
		answer_end(a, ZK_R_PROVIDER, "token_endpoint_error");
	}
}

void zkd_token_answer_clear(struct zkd_token_answer *a)
{
	if (a == NULL)
		return;
	zkd_json_free_wiped(a->doc);
	memset(a, 0, sizeof(*a));
}

/* A non-empty string member no longer than max, else NULL. */
static const char *json_str(const cJSON *doc, const char *name, size_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);

	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) > max)
		return NULL;
	return v->valuestring;
}

/*
 * The provider's interval, honoured as given: polling faster than asked
 * earns slow_down answers or a ban. A fraction rounds up for the same
 * reason; beyond an hour it is an hour, which device polling turns into
 * one last poll just before the code expires. Absent, not a number or
 * below 1 s: the RFC's default.
 */
static int64_t device_interval(const cJSON *n)
{
	double v;
	int64_t s;

	if (!cJSON_IsNumber(n) || !(n->valuedouble >= 1))
		return ZKD_DEVICE_INTERVAL_DEFAULT;
	v = n->valuedouble;
	if (v >= ZKD_DEVICE_INTERVAL_MAX)
		return ZKD_DEVICE_INTERVAL_MAX;
	s = (int64_t)v;
	return (double)s < v ? s + 1 : s;
}

int zkd_parse_device_auth(const char *body, size_t len, struct zkd_device_auth *out)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const char *dc, *uc, *uri, *full;
	const cJSON *n;
	char *code;
	int rc = -1;

	dc = json_str(doc, "device_code", ZKD_DEVICE_CODE_MAX);
	uc = json_str(doc, "user_code", ZK_MAX_CODE);
	uri = json_str(doc, "verification_uri", ZK_MAX_URL);
	full = json_str(doc, "verification_uri_complete", ZK_MAX_URL);
	n = cJSON_GetObjectItemCaseSensitive(doc, "expires_in");
	if (!dc || !uc || !uri || !zk_url_allowed(uri) || (full && !zk_url_allowed(full)) ||
	    !cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > ZKD_DEVICE_EXPIRES_MAX) {
		zk_log(LOG_ERR, "device authorization response is incomplete or malformed");
		goto out;
	}
	code = strdup(dc);
	if (code == NULL)
		goto out;
	memset(out, 0, sizeof(*out));
	out->device_code = code;
	out->expires_in = (int64_t)n->valuedouble;
	out->interval = device_interval(cJSON_GetObjectItemCaseSensitive(doc, "interval"));
	snprintf(out->url, sizeof(out->url), "%s", full ? full : uri);
	snprintf(out->user_code, sizeof(out->user_code), "%s", uc);
	rc = 0;
out:
	zkd_json_free_wiped(doc);
	return rc;
}

int64_t zkd_device_slow_down(int64_t interval)
{
	if (interval > ZKD_DEVICE_INTERVAL_MAX - 5)
		return ZKD_DEVICE_INTERVAL_MAX;
	return interval + 5;
}

int zkd_parse_broker_auth(const char *body, size_t len, struct zkd_broker_auth *out)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *u, *st;
	char *url = NULL, *state = NULL;
	int rc = -1;

	u = cJSON_GetObjectItemCaseSensitive(doc, "authorizeUrl");
	st = cJSON_GetObjectItemCaseSensitive(doc, "state");
	if (!cJSON_IsString(u) || !zk_url_allowed(u->valuestring) ||
	    strlen(u->valuestring) > ZK_MAX_URL || !cJSON_IsString(st) ||
	    strlen(st->valuestring) < ZKD_BROKER_STATE_MIN ||
	    strlen(st->valuestring) > ZKD_BROKER_STATE_MAX) {
		zk_log(LOG_ERR, "zeroauth authorize response lacks a usable authorizeUrl or state");
		goto out;
	}
	rc = -2;
	url = strdup(u->valuestring);
	state = strdup(st->valuestring);
	if (url == NULL || state == NULL)
		goto out;
	out->url = url;
	out->state = state;
	url = state = NULL;
	rc = 0;
out:
	zk_freezero_str(url);
	zk_freezero_str(state);
	zkd_json_free_wiped(doc);
	return rc;
}
