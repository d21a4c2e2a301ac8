/* The provider side: discovery, the JWKS cache and the code exchange with
 * verification of the identity token. All calls are asynchronous. */
#include "daemon.h"
#include "assertion.h"
#include "jwks.h"
#include "jwt.h"
#include "http.h"
#include "log.h"
#include "oidc_parse.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"

/* An unknown kid refetches the JWKS at most once per this many seconds
 * (a storm of forged kids costs one fetch); while we hold no keys at all
 * (never fetched, or the provider answered garbage) we try again after
 * the shorter backoff. */
#define JWKS_COOLDOWN 60
#define JWKS_RETRY 5
#define DISCOVERY_MAX (64u * 1024u)
#define TOKEN_RESPONSE_MAX (64u * 1024u)
#define FORM_MAX 8192u
/* A URL quoted for the log; longer ones are cut, visibly. */
#define QURL_MAX 512

struct exchange {
	struct zkd *d;
	struct zk_http_call *call;
	token_cb cb;
	void *arg;
	char nonce[64];
	bool check_nonce;
	int64_t max_age;
	char *token;                /* kept only while waiting for the JWKS */
	size_t token_len;
	struct exchange *next;      /* in prov.jwks_waiters */
	broker_cb broker_started;   /* zeroauth */
	/* device flow (RFC 8628) */
	device_cb started;
	char *device_code;          /* secret: wiped */
	int64_t interval;           /* seconds between polls */
	int64_t device_deadline;    /* monotonic */
	struct event *poll_timer;
};

/* Why an HTTP call failed, for the log; the transport's own reason was
 * logged by http.c just before. */
static const char *failure(int err, long status)
{
	static char buf[32];

	if (err)
		return "transport error, see above";
	snprintf(buf, sizeof(buf), "HTTP %ld", status);
	return buf;
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

/* Takes an owned string: *dst gets src and src is emptied. */
static void move_str(char **dst, char **src)
{
	free(*dst);
	*dst = *src;
	*src = NULL;
}

static void discovered(void *arg, int err, long status, const char *body, size_t len)
{
	struct zkd *d = arg;
	struct provider *p = &d->prov;
	struct zkd_discovery disc = { 0 };
	bool ok = false;
	char qiss[QURL_MAX];

	p->disc_call = NULL;
	p->discovering = false;
	if (err || status != 200) {
		zk_log(LOG_ERR, "discovery at %s failed (%s)",
		       zk_log_quote(d->cfg.issuer, qiss, sizeof(qiss)), failure(err, status));
		goto out;
	}
	if (zkd_parse_discovery(body, len, &d->cfg, &disc) < 0)
		goto out;
	move_str(&p->authorization_endpoint, &disc.authorization_endpoint);
	move_str(&p->token_endpoint, &disc.token_endpoint);
	move_str(&p->jwks_uri, &disc.jwks_uri);
	if (d->cfg.flow == ZK_FLOW_DEVICE)
		move_str(&p->device_endpoint, &disc.device_endpoint);
	p->iss_in_response = disc.iss_in_response;
	p->ready = true;
	ok = true;
	zk_log(LOG_INFO, "provider %s discovered", zk_log_quote(d->cfg.issuer, qiss, sizeof(qiss)));
out:
	zkd_discovery_free(&disc);
	flow_provider_ready(d, ok);
}

void provider_ensure(struct zkd *d)
{
	struct provider *p = &d->prov;
	char url[2048], qurl[QURL_MAX];
	struct zk_http_req req = { 0 };
	size_t n;

	if (p->ready || p->discovering)
		return;
	n = strlen(d->cfg.issuer);
	if (n && d->cfg.issuer[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration", (int)n, d->cfg.issuer);
	req.method = "GET";
	req.url = url;
	req.accept = "application/json";
	req.max_body = DISCOVERY_MAX;
	p->discovering = true;
	p->disc_call = zk_http_start(d->http, &req, discovered, d);
	if (p->disc_call == NULL) {
		p->discovering = false;
		zk_log(LOG_ERR, "cannot start discovery at %s", zk_log_quote(url, qurl, sizeof(qurl)));
		flow_provider_ready(d, false);
	}
}

/* zeroauth's endpoints hang off its base URL (the issuer key). */
static int broker_init(struct zkd *d)
{
	struct provider *p = &d->prov;
	char url[2048];
	size_t n = strlen(d->cfg.issuer);

	if (d->cfg.jwks_uri == NULL) {
		zk_log(LOG_ERR, "profile = zeroauth needs jwks_uri: the broker's tokens are "
		       "verified against it");
		return -1;
	}
	if (n && d->cfg.issuer[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/v1/auth/oidc/authorize", (int)n, d->cfg.issuer);
	set_str(&p->authorization_endpoint, d->cfg.authorization_endpoint ? d->cfg.authorization_endpoint : url);
	snprintf(url, sizeof(url), "%.*s/v1/auth/oidc/callback", (int)n, d->cfg.issuer);
	set_str(&p->token_endpoint, d->cfg.token_endpoint ? d->cfg.token_endpoint : url);
	set_str(&p->jwks_uri, d->cfg.jwks_uri);
	if (!p->authorization_endpoint || !p->token_endpoint || !p->jwks_uri)
		return -1;
	p->ready = true;
	return 0;
}

int provider_init(struct zkd *d)
{
	struct provider *p = &d->prov;

	if (d->cfg.profile == ZK_PROFILE_ZEROAUTH)
		return d->cfg.issuer ? broker_init(d) : -1;

	/* Every endpoint given in the config: no discovery needed. */
	if (d->cfg.authorization_endpoint && d->cfg.token_endpoint && d->cfg.jwks_uri &&
	    (d->cfg.flow != ZK_FLOW_DEVICE || d->cfg.device_authorization_endpoint)) {
		set_str(&p->authorization_endpoint, d->cfg.authorization_endpoint);
		set_str(&p->token_endpoint, d->cfg.token_endpoint);
		set_str(&p->jwks_uri, d->cfg.jwks_uri);
		set_str(&p->device_endpoint, d->cfg.device_authorization_endpoint);
		if (!p->authorization_endpoint || !p->token_endpoint || !p->jwks_uri)
			return -1;
		p->ready = true;
		return 0;
	}
	if (d->cfg.issuer == NULL) {
		zk_log(LOG_ERR, "no issuer to discover the endpoints from");
		return -1;
	}
	provider_ensure(d);
	return 0;
}

static void exchange_free(struct exchange *x)
{
	if (x == NULL)
		return;
	if (x->poll_timer)
		event_free(x->poll_timer);
	zk_freezero_str(x->device_code);
	zk_freezero(x->token, x->token_len);
	zk_freezero(x, sizeof(*x));
}

/*
 * A new exchange for cb, or NULL after cb has been told at once: with
 * (result, reason) when the provider cannot serve it (!usable), or
 * ZK_R_INTERNAL when memory ran out.
 */
static struct exchange *exchange_new(struct zkd *d, bool usable, uint32_t result,
				     const char *reason, token_cb cb, void *arg)
{
	struct exchange *x = usable ? calloc(1, sizeof(*x)) : NULL;

	if (x == NULL) {
		struct token_result r = { .result = usable ? ZK_R_INTERNAL : result,
					  .reason = usable ? "nomem" : reason };

		cb(arg, &r);
		return NULL;
	}
	x->d = d;
	x->cb = cb;
	x->arg = arg;
	return x;
}

static void exchange_end(struct exchange *x, uint32_t result, const char *reason, const char *sub)
{
	struct token_result r;

	memset(&r, 0, sizeof(r));
	r.result = result;
	r.reason = reason;
	if (sub)
		snprintf(r.sub, sizeof(r.sub), "%s", sub);
	x->cb(x->arg, &r);
	exchange_free(x);
}

static void verify_now(struct exchange *x, const char *token, size_t len, bool may_refetch);

static void jwks_fetched(void *arg, int err, long status, const char *body, size_t len)
{
	struct zkd *d = arg;
	struct provider *p = &d->prov;
	struct zk_jwks *set = NULL;
	struct exchange *w;
	char msg[256], qurl[QURL_MAX];

	p->jwks_call = NULL;
	if (err || status != 200)
		zk_log(LOG_ERR, "JWKS fetch from %s failed (%s)",
		       zk_log_quote(p->jwks_uri, qurl, sizeof(qurl)), failure(err, status));
	else if (zk_jwks_parse(body, len, &set, msg, sizeof(msg)) < 0)
		zk_log(LOG_ERR, "JWKS from %s rejected: %s",
		       zk_log_quote(p->jwks_uri, qurl, sizeof(qurl)), msg);
	else {
		zk_jwks_free(p->jwks);
		p->jwks = set;
		zk_log(LOG_INFO, "JWKS loaded: %zu usable keys", set->n);
	}
	/* Everyone waiting gets one more try with whatever keys we have. */
	while ((w = p->jwks_waiters) != NULL) {
		p->jwks_waiters = w->next;
		w->next = NULL;
		verify_now(w, w->token, w->token_len, false);
	}
}

/* Queues x until a fresh JWKS arrives. false when the cooldown forbids a
 * fetch now (a storm of unknown kids costs one fetch per cooldown). */
static bool wait_for_jwks(struct exchange *x, const char *token, size_t len)
{
	struct zkd *d = x->d;
	struct provider *p = &d->prov;
	int64_t now = zkd_now_mono();

	if (p->jwks_call == NULL) {
		struct zk_http_req req = { 0 };

		if (p->jwks == NULL || p->jwks->n == 0) {
			if (p->jwks_fetched && now - p->jwks_fetched < JWKS_RETRY)
				return false;
		} else {
			/* Keys we hold do not know this kid: the provider may have
			 * rotated. Once per cooldown. */
			if (p->kid_refetched && now - p->kid_refetched < JWKS_COOLDOWN) {
				zk_log(LOG_NOTICE, "unknown kid: JWKS refetch skipped, the last one was "
				       "%lld s ago (cooldown %d s)", (long long)(now - p->kid_refetched),
				       JWKS_COOLDOWN);
				return false;
			}
			p->kid_refetched = now;
		}
		req.method = "GET";
		req.url = p->jwks_uri;
		req.accept = "application/json";
		req.max_body = ZK_JWKS_MAX_BYTES;
		p->jwks_fetched = now;
		p->jwks_call = zk_http_start(d->http, &req, jwks_fetched, d);
		if (p->jwks_call == NULL)
			return false;
	}
	if (x->token != token) {
		x->token = malloc(len + 1);
		if (x->token == NULL)
			return false;
		memcpy(x->token, token, len);
		x->token[len] = '\0';
		x->token_len = len;
	}
	x->next = p->jwks_waiters;
	p->jwks_waiters = x;
	return true;
}

static void verify_now(struct exchange *x, const char *token, size_t len, bool may_refetch)
{
	struct zkd *d = x->d;
	struct zk_jwt_expect ex;
	struct zk_jwt_claims claims;
	int rc = ZK_E_KID;
	char qurl[QURL_MAX];

	memset(&ex, 0, sizeof(ex));
	ex.issuer = d->cfg.issuer;
	ex.client_id = d->cfg.client_id;
	ex.nonce = x->check_nonce ? x->nonce : NULL;
	ex.allowed_algs = d->cfg.allowed_algs;
	ex.now = zkd_now_wall();
	ex.clock_skew = d->cfg.clock_skew;
	ex.max_age = x->max_age;
	ex.require_groups = d->cfg.require_groups;
	ex.acr_values = d->cfg.acr_values;
	/* zkauth and zeroauth carry the identity in an access token. */
	ex.access_token = d->cfg.profile != ZK_PROFILE_OIDC;
	if (d->prov.jwks)
		rc = zk_jwt_verify(token, len, d->prov.jwks, &ex, &claims);
	if (rc == ZK_E_KID && may_refetch && wait_for_jwks(x, token, len))
		return;
	if (d->prov.jwks == NULL || d->prov.jwks->n == 0) {
		/* Not the token's fault: we could not get the provider's keys. */
		zk_log(LOG_ERR, "no usable JWKS from %s: cannot verify the identity token",
		       zk_log_quote(d->prov.jwks_uri, qurl, sizeof(qurl)));
		exchange_end(x, ZK_R_PROVIDER, "no_jwks", NULL);
		return;
	}
	if (rc == ZK_E_GROUPS) {
		/* A valid token for someone outside the groups allowed here. */
		zk_log(LOG_NOTICE, "identity token valid, but its groups claim has none of "
		       "require_groups");
		exchange_end(x, ZK_R_DENIED, "E_GROUPS", NULL);
		return;
	}
	if (rc != ZK_JWT_OK) {
		zk_log(LOG_NOTICE, "identity token rejected: %s", zk_jwt_strerror(rc));
		exchange_end(x, ZK_R_BAD_TOKEN, zk_jwt_strerror(rc), NULL);
		return;
	}
	exchange_end(x, ZK_R_OK, "verified", claims.sub);
}

static void token_response(void *arg, int err, long status, const char *body, size_t len)
{
	struct exchange *x = arg;
	struct zkd_token_answer a;

	x->call = NULL;
	if (err) {
		zk_log(LOG_ERR, "token endpoint unreachable or answer too large");
		exchange_end(x, ZK_R_PROVIDER, "token_endpoint_unreachable", NULL);
		return;
	}
	zkd_parse_token_response(body, len, status, x->d->cfg.profile, &a);
	if (a.next == ZKD_NEXT_VERIFY)
		verify_now(x, a.token, strlen(a.token), true);
	else
		exchange_end(x, a.result, a.reason, NULL);
	/* cJSON does not wipe: clear the token strings before freeing. */
	zkd_token_answer_clear(&a);
}

/* form-urlencoded key=value&... */
static int form_add(char *buf, size_t cap, size_t *len, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = *len;
	int w = snprintf(buf + n, cap - n, "%s%s=", n ? "&" : "", key);

	if (w < 0 || (size_t)w >= cap - n)
		return -1;
	n += (size_t)w;
	for (; *val; val++) {
		unsigned char ch = (unsigned char)*val;

		if (cap - n < 4)
			return -1;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			buf[n++] = (char)ch;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 15];
		}
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* Adds the client's authentication to a form request. -1: cannot. */
static int client_auth(const struct zkd *d, struct zk_http_req *req, char *form, size_t cap,
		       size_t *len)
{
	int bad = 0;

	switch (d->cfg.token_auth_method) {
	case ZK_AUTH_BASIC:
		req->basic_user = d->cfg.client_id;
		req->basic_pass = d->client_secret;
		break;
	case ZK_AUTH_POST:
		bad |= form_add(form, cap, len, "client_id", d->cfg.client_id);
		bad |= form_add(form, cap, len, "client_secret", d->client_secret);
		break;
	case ZK_AUTH_NONE:
		bad |= form_add(form, cap, len, "client_id", d->cfg.client_id);
		break;
	case ZK_AUTH_PRIVATE_KEY_JWT: {
		/* A fresh assertion per request, for the endpoint it goes to. */
		char *a = d->client_key ? zk_client_assertion(d->client_key, d->cfg.client_key_id,
							      d->cfg.client_id,
							      req->url, zkd_now_wall()) : NULL;

		bad |= a == NULL;
		bad |= form_add(form, cap, len, "client_id", d->cfg.client_id);
		bad |= form_add(form, cap, len, "client_assertion_type",
				"urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
		bad |= form_add(form, cap, len, "client_assertion", a ? a : "");
		zk_freezero_str(a);
		break;
	}
	default:
		bad = -1; /* client_secret_json: not for forms */
		break;
	}
	return bad ? -1 : 0;
}

/* POSTs a form to url with the client's authentication added, then wipes
 * the form (it may hold codes and secrets). bad: the form could not be
 * built. NULL when the request did not start. */
static struct zk_http_call *post_form(struct zkd *d, const char *url, char *form, size_t cap,
				      size_t len, int bad, zk_http_cb cb, void *arg)
{
	struct zk_http_req req = { 0 };
	struct zk_http_call *call = NULL;

	req.method = "POST";
	req.url = url;
	bad |= client_auth(d, &req, form, cap, &len);
	req.accept = "application/json";
	req.content_type = "application/x-www-form-urlencoded";
	req.body = form;
	req.body_len = len;
	req.max_body = TOKEN_RESPONSE_MAX;
	if (!bad)
		call = zk_http_start(d->http, &req, cb, arg);
	zk_wipe(form, cap);
	return call;
}

/* cJSON grows a printed buffer with realloc and leaves the old copies
 * unwiped: print secrets into one buffer of ours instead. */
static char *print_wiped(cJSON *o)
{
	char *buf = calloc(1, FORM_MAX);

	if (buf && !cJSON_PrintPreallocated(o, buf, (int)FORM_MAX, 0)) {
		zk_freezero(buf, FORM_MAX);
		buf = NULL;
	}
	return buf;
}

static char *json_body(const struct zkd *d, const char *code, const char *verifier)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o && cJSON_AddStringToObject(o, "grant_type", "authorization_code") &&
	    cJSON_AddStringToObject(o, "code", code) &&
	    cJSON_AddStringToObject(o, "redirect_uri", d->cfg.redirect_uri) &&
	    cJSON_AddStringToObject(o, "client_id", d->cfg.client_id) &&
	    cJSON_AddStringToObject(o, "client_secret", d->client_secret ? d->client_secret : "") &&
	    cJSON_AddStringToObject(o, "code_verifier", verifier))
		s = print_wiped(o);
	if (o) {
		cJSON *it;

		cJSON_ArrayForEach(it, o)
			zk_freezero_str(it->valuestring), it->valuestring = NULL;
		cJSON_Delete(o);
	}
	return s;
}

static char *broker_body(const char *code, const char *state)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o && cJSON_AddStringToObject(o, "code", code) &&
	    cJSON_AddStringToObject(o, "state", state))
		s = print_wiped(o);
	zkd_json_free_wiped(o);
	return s;
}

static void broker_authorized(void *arg, int err, long status, const char *body, size_t len)
{
	struct exchange *x = arg;
	struct zkd_broker_auth got = { 0 };
	broker_cb started = x->broker_started;
	token_cb cb = x->cb;
	void *a = x->arg;
	int rc;

	x->call = NULL;
	if (err || status != 200) {
		zk_log(LOG_ERR, "zeroauth authorize request failed (%s)",
		       failure(err, status));
		exchange_end(x, ZK_R_PROVIDER, "broker_authorize_failed", NULL);
		return;
	}
	rc = zkd_parse_broker_auth(body, len, &got);
	if (rc == -1) {
		exchange_end(x, ZK_R_PROVIDER, "broker_authorize_failed", NULL);
		return;
	}
	/* This call is over; the code flow goes on through provider_exchange. */
	exchange_free(x);
	if (rc == 0) {
		started(a, got.url, got.state);
	} else {
		struct token_result r = { .result = ZK_R_INTERNAL, .reason = "nomem" };

		cb(a, &r);
	}
	zk_freezero_str(got.url);
	zk_freezero_str(got.state);
}

struct exchange *provider_broker_start(struct zkd *d, broker_cb started, token_cb cb, void *arg)
{
	struct exchange *x = exchange_new(d, d->api_key != NULL, ZK_R_INTERNAL,
					  "broker_unavailable", cb, arg);
	struct zk_http_req req = { 0 };

	if (x == NULL)
		return NULL;
	x->broker_started = started;
	req.method = "GET";
	req.url = d->prov.authorization_endpoint;
	req.accept = "application/json";
	req.bearer = d->api_key;
	req.max_body = TOKEN_RESPONSE_MAX;
	x->call = zk_http_start(d->http, &req, broker_authorized, x);
	if (x->call == NULL) {
		zk_log(LOG_ERR, "cannot start the zeroauth authorize request");
		exchange_end(x, ZK_R_INTERNAL, "broker_request_failed", NULL);
		return NULL;
	}
	return x;
}

struct exchange *provider_exchange(struct zkd *d, const char *code, const char *state,
				   const char *verifier, const char *nonce, int64_t max_age,
				   token_cb cb, void *arg)
{
	struct exchange *x = exchange_new(d, d->prov.ready, ZK_R_PROVIDER, "provider_not_ready",
					  cb, arg);
	struct zk_http_req req = { 0 };
	char form[FORM_MAX];
	char *json = NULL;
	size_t len = 0;
	int bad = 0;

	if (x == NULL)
		return NULL;
	x->max_age = max_age;
	/* ZKAuth's identity is its access token, bound by state + PKCE, and
	 * ZeroAuth checks the upstream nonce itself: no nonce for either. */
	x->check_nonce = d->cfg.profile == ZK_PROFILE_OIDC;
	snprintf(x->nonce, sizeof(x->nonce), "%s", nonce);

	req.method = "POST";
	req.url = d->prov.token_endpoint;
	req.accept = "application/json";
	req.max_body = TOKEN_RESPONSE_MAX;
	if (d->cfg.profile != ZK_PROFILE_ZEROAUTH && d->cfg.token_auth_method != ZK_AUTH_JSON) {
		bad |= form_add(form, sizeof(form), &len, "grant_type", "authorization_code");
		bad |= form_add(form, sizeof(form), &len, "code", code);
		bad |= form_add(form, sizeof(form), &len, "redirect_uri", d->cfg.redirect_uri);
		bad |= form_add(form, sizeof(form), &len, "code_verifier", verifier);
		x->call = post_form(d, d->prov.token_endpoint, form, sizeof(form), len, bad,
				    token_response, x);
	} else if (d->cfg.profile == ZK_PROFILE_ZEROAUTH) {
		json = broker_body(code, state);
		bad = json == NULL;
		req.bearer = d->api_key;
		req.content_type = "application/json";
		req.body = json;
		req.body_len = json ? strlen(json) : 0;
	} else {
		json = json_body(d, code, verifier);
		bad = json == NULL;
		req.content_type = "application/json";
		req.body = json;
		req.body_len = json ? strlen(json) : 0;
	}
	if (json && !bad)
		x->call = zk_http_start(d->http, &req, token_response, x);
	zk_freezero_str(json);
	if (x->call == NULL) {
		zk_log(LOG_ERR, "cannot start the token request");
		exchange_end(x, ZK_R_INTERNAL, "token_request_failed", NULL);
		return NULL;
	}
	return x;
}

static void device_poll(evutil_socket_t fd, short what, void *arg);

static void device_schedule(struct exchange *x)
{
	int64_t left = x->device_deadline - zkd_now_mono();
	struct timeval tv = { (time_t)x->interval, 0 };

	/* The last poll goes out just before the device code expires, so an
	 * approval in the final interval still counts. */
	if (left <= 1) {
		exchange_end(x, ZK_R_EXPIRED, "device_code_expired", NULL);
		return;
	}
	if (x->interval >= left)
		tv.tv_sec = (time_t)(left - 1);
	if (x->poll_timer == NULL)
		x->poll_timer = evtimer_new(x->d->base, device_poll, x);
	if (x->poll_timer == NULL || evtimer_add(x->poll_timer, &tv) < 0)
		exchange_end(x, ZK_R_INTERNAL, "timer", NULL);
}

static void device_token(void *arg, int err, long status, const char *body, size_t len)
{
	struct exchange *x = arg;
	struct zkd_token_answer a;

	x->call = NULL;
	if (err) {
		zk_log(LOG_ERR, "token endpoint unreachable while polling");
		exchange_end(x, ZK_R_PROVIDER, "token_endpoint_unreachable", NULL);
		return;
	}
	zkd_parse_device_token(body, len, status, &a);
	switch (a.next) {
	case ZKD_NEXT_VERIFY:
		verify_now(x, a.token, strlen(a.token), true);
		break;
	case ZKD_NEXT_SLOW_DOWN:
		x->interval = zkd_device_slow_down(x->interval);
		device_schedule(x);
		break;
	case ZKD_NEXT_POLL:
		device_schedule(x);
		break;
	default:
		exchange_end(x, a.result, a.reason, NULL);
		break;
	}
	zkd_token_answer_clear(&a);
}

static void device_poll(evutil_socket_t fd, short what, void *arg)
{
	struct exchange *x = arg;
	struct zkd *d = x->d;
	char form[FORM_MAX];
	size_t len = 0;
	int bad = 0;

	bad |= form_add(form, sizeof(form), &len, "grant_type", DEVICE_GRANT);
	bad |= form_add(form, sizeof(form), &len, "device_code", x->device_code);
	x->call = post_form(d, d->prov.token_endpoint, form, sizeof(form), len, bad, device_token, x);
	if (x->call == NULL)
		exchange_end(x, ZK_R_INTERNAL, "token_request_failed", NULL);
}

static void device_authorized(void *arg, int err, long status, const char *body, size_t len)
{
	struct exchange *x = arg;
	struct device_info info;
	struct zkd_device_auth got;

	x->call = NULL;
	memset(&info, 0, sizeof(info));
	if (err || status != 200) {
		zk_log(LOG_ERR, "device authorization request failed (%s)",
		       failure(err, status));
		goto fail;
	}
	if (zkd_parse_device_auth(body, len, &got) < 0)
		goto fail;
	x->interval = got.interval;
	x->device_deadline = zkd_now_mono() + got.expires_in;
	x->device_code = got.device_code;
	snprintf(info.url, sizeof(info.url), "%s", got.url);
	snprintf(info.user_code, sizeof(info.user_code), "%s", got.user_code);
	info.expires_in = got.expires_in;
	x->started(x->arg, &info);
	device_schedule(x);
	return;
fail:
	exchange_end(x, ZK_R_PROVIDER, "device_authorization_failed", NULL);
}

struct exchange *provider_device(struct zkd *d, int64_t max_age, device_cb started, token_cb cb,
				 void *arg)
{
	struct exchange *x = exchange_new(d, d->prov.ready && d->prov.device_endpoint != NULL,
					  ZK_R_PROVIDER, "device_flow_unavailable", cb, arg);
	char form[FORM_MAX];
	size_t len = 0;
	int bad = 0;

	if (x == NULL)
		return NULL;
	x->started = started;
	x->max_age = max_age;
	x->check_nonce = false; /* a device authorization request carries no nonce */
	bad |= form_add(form, sizeof(form), &len, "scope", d->cfg.scopes);
	x->call = post_form(d, d->prov.device_endpoint, form, sizeof(form), len, bad,
			    device_authorized, x);
	if (x->call == NULL) {
		zk_log(LOG_ERR, "cannot start the device authorization request");
		exchange_end(x, ZK_R_INTERNAL, "device_request_failed", NULL);
		return NULL;
	}
	return x;
}

void provider_exchange_cancel(struct exchange *x)
{
	struct exchange **pp;

	if (x == NULL)
		return;
	zk_http_cancel(x->call);
	x->call = NULL;
	for (pp = &x->d->prov.jwks_waiters; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	exchange_free(x);
}

/* The provider's settings changed (reload): forget what we knew and
 * discover again. Exchanges waiting for keys fail; they never see keys
 * of a provider that is no longer configured. */
void provider_reset(struct zkd *d)
{
	struct provider *p = &d->prov;
	struct exchange *w;

	zk_http_cancel(p->jwks_call);
	p->jwks_call = NULL;
	zk_jwks_free(p->jwks);
	p->jwks = NULL;
	while ((w = p->jwks_waiters) != NULL) {
		p->jwks_waiters = w->next;
		w->next = NULL;
		exchange_end(w, ZK_R_PROVIDER, "provider_reloaded", NULL);
	}
	provider_free(d);
	if (provider_init(d) < 0) {
		zk_log(LOG_ERR, "reload: the provider cannot be set up");
		flow_provider_ready(d, false);
	} else if (d->prov.ready) {
		flow_provider_ready(d, true); /* no discovery needed: go on now */
	}
}

void provider_free(struct zkd *d)
{
	struct provider *p = &d->prov;

	zk_http_cancel(p->disc_call);
	zk_http_cancel(p->jwks_call);
	zk_jwks_free(p->jwks);
	free(p->authorization_endpoint);
	free(p->token_endpoint);
	free(p->jwks_uri);
	free(p->device_endpoint);
	memset(p, 0, sizeof(*p));
}
