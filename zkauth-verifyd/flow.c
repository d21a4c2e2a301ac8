/* One login's life, as a small state machine:
 *
 *   WAIT_PROVIDER -> WAIT_BROWSER -> EXCHANGING -> DONE
 *
 * A request that does not fit the current state is refused. The state
 * value is single use: it stops matching the moment a callback carries it.
 * A login belongs to the module connection that started it and is freed
 * when that connection closes. */
#include "daemon.h"
#include "accounts.h"
#include "b64url.h"
#include "callback.h"
#include "log.h"
#include "util.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/evp.h>

/* 32 random bytes each: 256 bits, 43 base64url characters. */
#define SECRET_BYTES 32
#define SECRET_CHARS 43
/* The short link's id: 128 bits, 22 characters, so the QR stays small. */
#define LINK_BYTES 16
#define LINK_CHARS 22
/* The matching code, "K7F-2QX": easy to compare and to read aloud. */
#define MATCH_CHARS 7
/* A broker's state (zeroauth: a UUID) is taken up to this length. */
#define STATE_MAX 128
#define MAX_AGE_LIMIT (366L * 86400L)

/* The device flow goes WAIT_PROVIDER -> POLLING -> DONE. */
enum lstate { L_WAIT_PROVIDER, L_WAIT_BROWSER, L_EXCHANGING, L_POLLING, L_DONE };

struct login {
	struct login *next, *prev;
	struct zkd *d;
	struct ipc_conn *conn;
	enum lstate st;
	uint32_t result;
	const char *reason;
	char user[ZK_MAX_USER + 1];
	char service[ZK_MAX_SERVICE + 1];
	char rhost[ZK_MAX_RHOST + 1];
	char sub[256];
	uid_t caller;
	int64_t max_age;            /* < 0: none */
	int64_t deadline;           /* monotonic seconds */
	char state[STATE_MAX + 1];     /* ours, or the broker's (zeroauth) */
	char nonce[SECRET_CHARS + 1];
	char verifier[SECRET_CHARS + 1];
	char link[LINK_CHARS + 1];
	char match[MATCH_CHARS + 1]; /* shown in the prompt and on the page */
	char *auth_url;             /* where the short link leads */
	struct event *expiry;
	struct exchange *x;
	struct evhttp_request *browser; /* waiting for the result page */
	bool shown;                 /* a challenge went out */
};

static const char *result_word(uint32_t r)
{
	switch (r) {
	case ZK_R_OK: return "granted";
	case ZK_R_DENIED:
	case ZK_R_WRONG_USER:
	case ZK_R_BAD_TOKEN: return "denied";
	case ZK_R_EXPIRED: return "expired";
	case ZK_R_CANCELLED: return "cancelled";
	case ZK_R_NOT_ALLOWED:
	case ZK_R_UNKNOWN_USER:
	case ZK_R_BUSY:
	case ZK_R_BAD_REQUEST: return "refused";
	default: return "error";
	}
}

/* Copies s for a quoted log field: no quotes or backslashes inside
 * (control characters are replaced by log.c). */
static const char *q(const char *s, char *buf, size_t n)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < n; i++)
		buf[i] = (s[i] == '"' || s[i] == '\\') ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

static void log_outcome(const char *user, const char *sub, const char *service,
			const char *rhost, uint32_t result, const char *reason, uid_t caller)
{
	char u[ZK_MAX_USER + 1], s[256], sv[ZK_MAX_SERVICE + 1], r[ZK_MAX_RHOST + 1];

	zk_log(result == ZK_R_OK ? LOG_INFO : LOG_NOTICE,
	       "login user=\"%s\" sub=\"%s\" service=\"%s\" rhost=\"%s\" uid=%u result=%s reason=%s",
	       q(user, u, sizeof(u)), q(sub, s, sizeof(s)), q(service, sv, sizeof(sv)),
	       q(rhost, r, sizeof(r)), (unsigned)caller, result_word(result), reason);
}

static void browser_closed(struct evhttp_connection *evcon, void *arg)
{
	struct login *l = arg;

	l->browser = NULL;
}

static void browser_page(struct login *l)
{
	struct evhttp_request *req = l->browser;
	char text[1024];
	const char *title;
	int status = 200;

	if (req == NULL)
		return;
	l->browser = NULL;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
	switch (l->result) {
	case ZK_R_OK:
		title = "Signed in";
		snprintf(text, sizeof(text), "You are signed in as %s on %s (%s). "
			 "You can close this page and return to your terminal.",
			 l->user, l->d->hostname, l->service);
		break;
	case ZK_R_WRONG_USER:
		title = "Not allowed";
		status = 403;
		snprintf(text, sizeof(text), "This identity may not sign in as %s on %s.",
			 l->user, l->d->hostname);
		break;
	case ZK_R_DENIED:
		title = "Sign-in denied";
		status = 403;
		snprintf(text, sizeof(text), "The sign-in as %s on %s was denied.",
			 l->user, l->d->hostname);
		break;
	default:
		title = "Sign-in failed";
		status = 403;
		snprintf(text, sizeof(text), "The sign-in as %s on %s did not succeed. "
			 "Start again from the login prompt.", l->user, l->d->hostname);
		break;
	}
	listener_reply(req, status, title, text);
}

/* The one way a login reaches its verdict. */
static void finish(struct login *l, uint32_t result, const char *reason)
{
	/* Until the person has been shown where to go, START is unanswered. */
	bool answered = l->st != L_WAIT_PROVIDER && !(l->st == L_POLLING && !l->shown);

	if (l->st == L_DONE)
		return;
	l->st = L_DONE;
	l->result = result;
	l->reason = reason;
	l->d->n_pending--;
	if (l->x) {
		provider_exchange_cancel(l->x);
		l->x = NULL;
	}
	if (l->expiry)
		event_del(l->expiry);
	zk_wipe(l->state, sizeof(l->state));
	zk_wipe(l->nonce, sizeof(l->nonce));
	zk_wipe(l->verifier, sizeof(l->verifier));
	zk_wipe(l->link, sizeof(l->link));
	zk_freezero_str(l->auth_url);
	l->auth_url = NULL;
	log_outcome(l->user, l->sub, l->service, l->rhost, result, reason, l->caller);
	browser_page(l);
	if (l->conn == NULL)
		return;
	if (!answered)
		ipc_refuse(l->conn, result); /* no challenge went out: answer START */
	else
		ipc_login_done(l->conn);
}

uint32_t flow_result(const struct login *l, const char **user)
{
	if (l->st != L_DONE)
		return ZK_R_PENDING;
	if (user)
		*user = l->result == ZK_R_OK ? l->user : NULL;
	return l->result;
}

static void expired(evutil_socket_t fd, short what, void *arg)
{
	finish(arg, ZK_R_EXPIRED, "flow_timeout");
}

/* n random bytes, base64url-encoded into out (room for the encoding + 1). */
static int make_random(char *out, size_t n)
{
	unsigned char raw[SECRET_BYTES];

	if (n > sizeof(raw) || zk_random(raw, n) < 0)
		return -1;
	zk_b64url_encode(raw, n, out);
	zk_wipe(raw, sizeof(raw));
	return 0;
}

/* Six characters without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B). */
static int make_match(char out[MATCH_CHARS + 1])
{
	static const char alphabet[] = "ACDEFGHJKMNPQRTUVWXY34679";
	unsigned char raw[6];
	size_t i, j = 0;

	if (zk_random(raw, sizeof(raw)) < 0)
		return -1;
	for (i = 0; i < sizeof(raw); i++) {
		if (i == 3)
			out[j++] = '-';
		/* 256 % 25 != 0: the bias is 6/256 on a non-secret code */
		out[j++] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
	}
	out[j] = '\0';
	return 0;
}

static int make_secret(char out[SECRET_CHARS + 1])
{
	return make_random(out, SECRET_BYTES);
}

/* Appends &key=value (or ?key=value) with value percent-encoded. */
static int url_param(char *buf, size_t cap, size_t *len, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = *len;
	int w;

	w = snprintf(buf + n, cap - n, "%c%s=", strchr(buf, '?') ? '&' : '?', key);
	if (w < 0 || (size_t)w >= cap - n)
		return -1;
	n += (size_t)w;
	for (; *val; val++) {
		unsigned char ch = (unsigned char)*val;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			if (cap - n < 2)
				return -1;
			buf[n++] = (char)ch;
		} else {
			if (cap - n < 4)
				return -1;
			buf[n++] = '%';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 15];
		}
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

static int build_url(const struct login *l, char *buf, size_t cap)
{
	const struct zkd *d = l->d;
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	char challenge[SECRET_CHARS + 1];
	char num[24];
	size_t len;
	int rc = -1;

	if (EVP_Digest(l->verifier, strlen(l->verifier), hash, &hlen, EVP_sha256(), NULL) != 1 ||
	    hlen != 32)
		return -1;
	zk_b64url_encode(hash, hlen, challenge);
	len = (size_t)snprintf(buf, cap, "%s", d->prov.authorization_endpoint);
	if (len >= cap)
		return -1;
	if (url_param(buf, cap, &len, "response_type", "code") < 0 ||
	    url_param(buf, cap, &len, "client_id", d->cfg.client_id) < 0 ||
	    url_param(buf, cap, &len, "redirect_uri", d->cfg.redirect_uri) < 0 ||
	    url_param(buf, cap, &len, "scope", d->cfg.scopes) < 0 ||
	    url_param(buf, cap, &len, "state", l->state) < 0 ||
	    url_param(buf, cap, &len, "nonce", l->nonce) < 0 ||
	    url_param(buf, cap, &len, "code_challenge", challenge) < 0 ||
	    url_param(buf, cap, &len, "code_challenge_method", "S256") < 0)
		goto out;
	if (d->cfg.acr_values && url_param(buf, cap, &len, "acr_values", d->cfg.acr_values) < 0)
		goto out;
	if (l->max_age >= 0) {
		snprintf(num, sizeof(num), "%lld", (long long)l->max_age);
		if (url_param(buf, cap, &len, "max_age", num) < 0)
			goto out;
		if (l->max_age == 0 && url_param(buf, cap, &len, "prompt", "login") < 0)
			goto out;
	}
	rc = 0;
out:
	return rc;
}

static void send_challenge(struct login *l)
{
	struct zk_challenge ch;
	char url[ZK_MAX_URL + 1];
	int64_t left = l->deadline - zkd_now_mono();
	int n;

	memset(&ch, 0, sizeof(ch));
	if (l->auth_url == NULL) { /* a broker may have given us one */
		if (build_url(l, url, sizeof(url)) < 0) {
			zk_log(LOG_ERR, "authorization URL longer than %u bytes", ZK_MAX_URL);
			finish(l, ZK_R_INTERNAL, "url_too_long");
			return;
		}
		l->auth_url = strdup(url);
		zk_wipe(url, sizeof(url));
	}
	/* The person sees (and the QR carries) the short link on our
	 * listener, which redirects to the long authorization URL. */
	n = snprintf(ch.url, sizeof(ch.url), "%s/l/%s", l->d->public_base, l->link);
	if (l->auth_url == NULL || n < 0 || (size_t)n >= sizeof(ch.url)) {
		finish(l, ZK_R_INTERNAL, "short_link");
		return;
	}
	ch.expires_in = left > 0 ? (uint32_t)left : 0;
	snprintf(ch.host, sizeof(ch.host), "%s", l->d->hostname);
	snprintf(ch.code, sizeof(ch.code), "%s", l->match);
	l->st = L_WAIT_BROWSER;
	l->shown = true;
	ipc_send_challenge(l->conn, &ch);
	zk_wipe(ch.url, sizeof(ch.url));
}

static void token_done(void *arg, const struct token_result *r);

static void device_started(void *arg, const struct device_info *info)
{
	struct login *l = arg;
	struct zk_challenge ch;
	int64_t left = l->deadline - zkd_now_mono();

	memset(&ch, 0, sizeof(ch));
	if (info->expires_in < left)
		left = info->expires_in;
	ch.expires_in = left > 0 ? (uint32_t)left : 0;
	snprintf(ch.url, sizeof(ch.url), "%s", info->url);
	snprintf(ch.code, sizeof(ch.code), "%s", info->user_code);
	snprintf(ch.host, sizeof(ch.host), "%s", l->d->hostname);
	l->shown = true;
	ipc_send_challenge(l->conn, &ch);
}

static void broker_started(void *arg, const char *url, const char *state)
{
	struct login *l = arg;

	l->x = NULL; /* the broker call is over */
	snprintf(l->state, sizeof(l->state), "%s", state);
	l->auth_url = strdup(url);
	if (l->auth_url == NULL) {
		finish(l, ZK_R_INTERNAL, "nomem");
		return;
	}
	send_challenge(l);
}

/* The provider is known: show the person where to go. */
static void begin(struct login *l)
{
	if (l->d->cfg.profile == ZK_PROFILE_ZEROAUTH) {
		l->x = provider_broker_start(l->d, broker_started, token_done, l);
		return;
	}
	if (l->d->cfg.flow == ZK_FLOW_DEVICE) {
		l->st = L_POLLING;
		l->x = provider_device(l->d, l->max_age, device_started, token_done, l);
		return;
	}
	send_challenge(l);
}

unsigned flow_pending_for(const struct zkd *d, const char *user)
{
	const struct login *l;
	unsigned n = 0;

	for (l = d->logins; l; l = l->next)
		if (l->st != L_DONE && strcmp(l->user, user) == 0)
			n++;
	return n;
}

void flow_start(struct zkd *d, struct ipc_conn *c, const struct zk_start *m, uid_t caller)
{
	struct passwd pw, *pwp = NULL;
	char pwbuf[4096];
	struct login *l = NULL;
	struct timeval tv = { d->cfg.flow_timeout, 0 };
	uint32_t refusal = ZK_R_INTERNAL;
	const char *why = "internal";

	if (m->user[0] == '\0' || !zk_plain_text(m->user) || !zk_plain_text(m->service) ||
	    !zk_plain_text(m->rhost) || !zk_plain_text(m->tty) ||
	    (m->max_age != ZK_NO_MAX_AGE && m->max_age > MAX_AGE_LIMIT)) {
		refusal = ZK_R_BAD_REQUEST;
		why = "bad_request";
		goto refuse;
	}
	if (getpwnam_r(m->user, &pw, pwbuf, sizeof(pwbuf), &pwp) != 0 || pwp == NULL) {
		refusal = ZK_R_UNKNOWN_USER;
		why = "unknown_user";
		goto refuse;
	}
	/* Root (sshd, login, sudo) may ask for anyone; anyone else, such as
	 * a screen locker, only for itself. */
	if (caller != 0 && caller != pw.pw_uid) {
		refusal = ZK_R_NOT_ALLOWED;
		why = "caller_not_allowed";
		goto refuse;
	}
	if (d->n_pending >= d->cfg.max_pending ||
	    flow_pending_for(d, m->user) >= d->cfg.max_pending_per_user) {
		refusal = ZK_R_BUSY;
		why = "too_many_pending";
		goto refuse;
	}

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		goto refuse;
	l->d = d;
	l->conn = c;
	l->st = L_WAIT_PROVIDER;
	l->caller = caller;
	l->max_age = m->max_age == ZK_NO_MAX_AGE ? -1 : (int64_t)m->max_age;
	snprintf(l->user, sizeof(l->user), "%s", m->user);
	snprintf(l->service, sizeof(l->service), "%s", m->service);
	snprintf(l->rhost, sizeof(l->rhost), "%s", m->rhost);
	l->deadline = zkd_now_mono() + d->cfg.flow_timeout;
	if (make_secret(l->state) < 0 || make_secret(l->nonce) < 0 ||
	    make_secret(l->verifier) < 0 || make_random(l->link, LINK_BYTES) < 0 ||
	    make_match(l->match) < 0) {
		zk_log(LOG_ERR, "random generator failed");
		goto refuse;
	}
	l->expiry = evtimer_new(d->base, expired, l);
	if (l->expiry == NULL || evtimer_add(l->expiry, &tv) < 0)
		goto refuse;

	l->next = d->logins;
	if (d->logins)
		d->logins->prev = l;
	d->logins = l;
	d->n_pending++;
	ipc_bind_login(c, l);
	if (d->prov.ready)
		begin(l);
	else
		provider_ensure(d); /* calls flow_provider_ready() later */
	return;

refuse:
	if (l) {
		if (l->expiry)
			event_free(l->expiry);
		zk_freezero(l, sizeof(*l));
	}
	log_outcome(m->user, "", m->service, m->rhost, refusal, why, caller);
	ipc_refuse(c, refusal);
}

void flow_provider_ready(struct zkd *d, bool ok)
{
	struct login *l, *next;

	for (l = d->logins; l; l = next) {
		next = l->next;
		if (l->st != L_WAIT_PROVIDER)
			continue;
		if (ok)
			begin(l);
		else
			finish(l, ZK_R_PROVIDER, "provider_unavailable");
	}
}

static void token_done(void *arg, const struct token_result *r)
{
	struct login *l = arg;
	struct zk_accounts *map = NULL;
	char err[512];

	l->x = NULL;
	if (r->result != ZK_R_OK) {
		finish(l, r->result, r->reason);
		return;
	}
	snprintf(l->sub, sizeof(l->sub), "%s", r->sub);
	/* Read the map for every decision, so an edit applies at once. */
	if (zk_accounts_load(l->d->cfg.map_file, &map, err, sizeof(err)) < 0) {
		zk_log(LOG_ERR, "account map: %s", err);
		finish(l, ZK_R_INTERNAL, "map_unreadable");
		return;
	}
	if (zk_accounts_allows(map, l->sub, l->user))
		finish(l, ZK_R_OK, "mapped");
	else
		finish(l, ZK_R_WRONG_USER, "wrong_user");
	zk_accounts_free(map);
}

/* The provider's answer reached us (browser or paste): check it and
 * exchange the code. The login has left WAIT_BROWSER already. */
static void redeem(struct login *l, const char *code, const char *error, const char *iss,
		   bool iss_expected)
{
	struct zkd *d = l->d;
	const char *denied = zkd_callback_check(&d->cfg, code, error, iss, iss_expected);

	if (denied) {
		finish(l, ZK_R_DENIED, denied);
		return;
	}
	l->x = provider_exchange(d, code, l->state, l->verifier, l->nonce, l->max_age, token_done, l);
}

void flow_callback(struct zkd *d, struct evhttp_request *req, const char *state,
		   const char *code, const char *error, const char *iss)
{
	struct login *l;

	for (l = d->logins; l; l = l->next)
		if (l->st == L_WAIT_BROWSER && state && zk_streq_ct(l->state, state))
			break;
	if (l == NULL) {
		zk_log(LOG_NOTICE, "callback: no pending login has this state (forged, replayed or expired)");
		listener_reply(req, 400, "Sign-in link not valid",
			       "This sign-in is unknown, already used or expired. "
			       "Start again from the login prompt.");
		return;
	}
	/* Single use: from here on this state matches nothing. */
	l->st = L_EXCHANGING;
	l->browser = req;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), browser_closed, l);
	redeem(l, code, error, iss, d->prov.iss_in_response);
}

/*
 * The person pasted what the browser showed when it could not reach us:
 * the whole redirect address, its query, or the bare code. A pasted state
 * must be this login's; a bare code is bound to this login by PKCE alone
 * (only our verifier redeems it). A paste in any other state is ignored.
 */
void flow_paste(struct zkd *d, struct login *l, char *text)
{
	struct zkd_query params;
	char *t = text, *end, *query;

	if (l->st != L_WAIT_BROWSER || d->cfg.flow != ZK_FLOW_CODE)
		return;
	while (*t == ' ' || *t == '\t')
		t++;
	end = t + strlen(t);
	while (end > t && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	if (*t == '\0')
		return;
	l->st = L_EXCHANGING; /* one paste, like one callback */
	query = strchr(t, '?');
	if (query == NULL && strchr(t, '=') == NULL) {
		redeem(l, t, NULL, NULL, false);
		return;
	}
	query = query ? query + 1 : t;
	*(query + strcspn(query, "#")) = '\0';
	if (zkd_query_parse(&params, query) < 0) {
		zkd_query_clear(&params);
		finish(l, ZK_R_DENIED, "paste_unreadable");
		return;
	}
	if (params.state && !zk_streq_ct(params.state, l->state)) {
		zk_log(LOG_NOTICE, "paste: the state is not this login's");
		finish(l, ZK_R_DENIED, "state_mismatch");
	} else {
		redeem(l, params.code, params.error, params.iss, false);
	}
	/* The parsed copies hold the code: wiped before they go. */
	zkd_query_clear(&params);
}

void flow_short_link(struct zkd *d, struct evhttp_request *req, const char *path)
{
	struct login *l;
	char id[LINK_CHARS + 1], text[1024], action[64];
	bool go;

	if (zkd_short_link(path, id, LINK_CHARS, &go) < 0) {
		listener_reply(req, 404, "Sign-in link not valid", "This sign-in link is unknown.");
		return;
	}
	for (l = d->logins; l; l = l->next)
		if (l->st == L_WAIT_BROWSER && l->auth_url && zk_streq_ct(l->link, id))
			break;
	if (l == NULL) {
		listener_reply(req, 404, "Sign-in link not valid",
			       "This sign-in link is unknown, already used or expired. "
			       "Start again from the login prompt.");
		return;
	}
	if (!go) {
		/* Anti-phishing: say who signs in where before anything else, with
		 * the code the prompt shows, and go on only when the person asks. */
		snprintf(text, sizeof(text), "Sign in as %s on %s (%s%s%s)? Check that this code "
			 "matches the one on your screen: %s. Continue only if you started this "
			 "sign-in yourself.", l->user, d->hostname, l->service,
			 l->rhost[0] ? " from " : "", l->rhost, l->match);
		/* Relative, so that it also works under a proxy's path prefix. */
		snprintf(action, sizeof(action), "%s/go", l->link);
		listener_page(req, 200, "Sign in?", text, "Continue", action);
		return;
	}
	listener_redirect(req, l->auth_url);
}

static void login_free(struct zkd *d, struct login *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		d->logins = l->next;
	if (l->next)
		l->next->prev = l->prev;
	if (l->expiry)
		event_free(l->expiry);
	zk_freezero_str(l->auth_url);
	zk_freezero(l, sizeof(*l));
}

void flow_conn_closed(struct zkd *d, struct login *l)
{
	l->conn = NULL;
	finish(l, ZK_R_CANCELLED, "connection_closed");
	login_free(d, l);
}

void flow_free_all(struct zkd *d)
{
	while (d->logins) {
		struct login *l = d->logins;

		l->conn = NULL;
		finish(l, ZK_R_CANCELLED, "shutdown");
		login_free(d, l);
	}
}
