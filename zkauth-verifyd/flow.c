/* One login's life, as a small state machine:
 *
 *   WAIT_PROVIDER -> WAIT_BROWSER -> EXCHANGING -> DONE
 *
 * A request that does not fit the current state is refused. The state
 * value is single use: it stops matching the moment a callback carries it.
 * A login belongs to the module connection that started it and is freed
 * when that connection closes.
 *
 * The approval is bound to one browser: the short link's confirmation
 * page sets a cookie of this login's, Continue is a POST with a one-time
 * token from that page (and the cookie, which SameSite=Lax keeps off
 * cross-site POSTs), and the callback counts only with the cookie. Someone
 * who starts a login as alice and sends her the /go link or the provider's
 * URL gets her browser to the callback without it: denied. */
#include "daemon.h"
#include "accounts.h"
#include "b64url.h"
#include "callback.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
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
/* The part of a provider's error= the log and the page repeat. */
#define PROVIDER_ERROR_MAX 64
/* "__Host-zkauth-" and the link. */
#define COOKIE_NAME_MAX 48
/* The log's reason, and the page, for a callback from a browser that did
 * not pass the confirmation page of this login. */
#define REASON_NOT_BOUND "browser_not_bound"

/* The device flow goes WAIT_PROVIDER -> POLLING -> DONE. With
 * terminal_code, a callback that comes before the person typed the page's
 * code at the prompt waits in WAIT_TERMINAL (WAIT_BROWSER -> WAIT_TERMINAL
 * -> EXCHANGING). */
enum lstate { L_WAIT_PROVIDER, L_WAIT_BROWSER, L_WAIT_TERMINAL, L_EXCHANGING, L_POLLING, L_DONE };

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
	char tty[ZK_MAX_TTY + 1];
	char sub[256];
	uid_t caller;
	int64_t max_age;            /* < 0: none */
	int64_t deadline;           /* monotonic seconds */
	char state[STATE_MAX + 1];     /* ours, or the broker's (zeroauth) */
	char nonce[SECRET_CHARS + 1];
	char verifier[SECRET_CHARS + 1];
	char link[LINK_CHARS + 1];
	char match[MATCH_CHARS + 1]; /* shown in the prompt and on the page */
	char bind[SECRET_CHARS + 1];   /* the confirmation cookie's value */
	char form[SECRET_CHARS + 1];   /* Continue's one-time token, "" when spent */
	char cookie[COOKIE_NAME_MAX];  /* the cookie's name: per login */
	bool continued;             /* a browser holding the cookie pressed Continue */
	char tcode[MATCH_CHARS + 1];   /* terminal_code: the page shows it, the person types it */
	bool typed;                 /* ... and did, at the prompt */
	char *parked_code;          /* a callback's code waiting for it (wiped) */
	char *parked_iss;
	char provider_error[PROVIDER_ERROR_MAX + 1]; /* a callback's error=, for the page */
	char *auth_url;             /* where the short link leads */
	struct event *expiry;
	struct exchange *x;
	struct zkl_req *browser; /* waiting for the result page */
	bool shown;                 /* a challenge went out */
	bool opened;                /* its link was opened, or something pasted */
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

/* lim: NULL for a login's outcome (always written), else the limiter of a
 * kind of refusal that any local user can repeat at will. */
static void log_outcome(const char *user, const char *sub, const char *service,
			const char *rhost, uint32_t result, const char *reason, uid_t caller,
			struct zk_log_limit *lim)
{
	/* Each field gets room for its longest plain value, no more: escaped
	 * ones are cut (visibly), so result= and reason= always fit the line. */
	char u[ZK_MAX_USER + 1], s[256], sv[ZK_MAX_SERVICE + 1], r[ZK_MAX_RHOST + 1];

#define OUTCOME_FMT "login user=\"%s\" sub=\"%s\" service=\"%s\" rhost=\"%s\" uid=%u result=%s reason=%s"
#define OUTCOME_ARGS zk_log_quote(user, u, sizeof(u)), zk_log_quote(sub, s, sizeof(s)), \
	zk_log_quote(service, sv, sizeof(sv)), zk_log_quote(rhost, r, sizeof(r)), \
	(unsigned)caller, result_word(result), reason
	if (lim)
		zk_log_limited(lim, LOG_NOTICE, OUTCOME_FMT, OUTCOME_ARGS);
	else
		zk_log(result == ZK_R_OK ? LOG_INFO : LOG_NOTICE, OUTCOME_FMT, OUTCOME_ARGS);
#undef OUTCOME_FMT
#undef OUTCOME_ARGS
}

static void browser_closed(void *arg)
{
	struct login *l = arg;

	l->browser = NULL;
}

/* "alice on web-1 (sshd from 203.0.113.9)": who signs in where, on every
 * page of a login (the listener escapes it for HTML). */
static const char *who(const struct login *l, char *buf, size_t n)
{
	snprintf(buf, n, "%s on %s (%s%s%s)", l->user, l->d->hostname,
		 l->service[0] ? l->service : "unknown service", l->rhost[0] ? " from " : "",
		 l->rhost);
	return buf;
}

/* The cookie's Path: the part of the listener's URL space both the short
 * link (under public_url's path) and the callback are in; "/" with the
 * __Host- prefix, which demands it. */
static void cookie_path(const struct zkd *d, char *buf, size_t n)
{
	char link_path[ZK_MAX_URL + 4];
	const char *p = strstr(d->public_base, "://");
	const char *b = d->callback_path; /* begins with '/' */
	size_t i, cut = 1;

	p = p ? strchr(p + 3, '/') : NULL;
	snprintf(link_path, sizeof(link_path), "%s/l/", p ? p : "");
	if (strncmp(d->public_base, "https://", 8) != 0)
		for (i = 0; link_path[i] && link_path[i] == b[i]; i++)
			if (b[i] == '/')
				cut = i + 1;
	snprintf(buf, n, "%.*s", (int)cut, b);
}

/* Sets (max_age > 0) or clears (0) this login's confirmation cookie. */
static void set_cookie(const struct login *l, struct zkl_req *req, int64_t max_age)
{
	bool https = strncmp(l->d->public_base, "https://", 8) == 0;
	char line[ZK_MAX_URL + 256], path[ZK_MAX_URL + 1];

	cookie_path(l->d, path, sizeof(path));
	snprintf(line, sizeof(line), "%s=%s; Path=%s; Max-Age=%lld; HttpOnly; SameSite=Lax%s",
		 l->cookie, max_age > 0 ? l->bind : "", path, (long long)max_age,
		 https ? "; Secure" : "");
	listener_add_header(req, "Set-Cookie", line);
	zk_wipe(line, sizeof(line));
}

static void browser_page(struct login *l)
{
	struct zkl_req *req = l->browser;
	char text[2048], w[ZK_MAX_USER + ZK_MAX_HOST + ZK_MAX_SERVICE + ZK_MAX_RHOST + 64];
	const char *title;
	int status = 200;

	if (req == NULL)
		return;
	l->browser = NULL;
	listener_watch_close(req, NULL, NULL);
	who(l, w, sizeof(w));
	switch (l->result) {
	case ZK_R_OK:
		title = "Signed in";
		snprintf(text, sizeof(text), "You are signed in as %s. "
			 "You can close this page and return to your terminal.", w);
		break;
	case ZK_R_WRONG_USER:
		title = "Not allowed";
		status = 403;
		snprintf(text, sizeof(text), "This identity may not sign in as %s.", w);
		break;
	case ZK_R_DENIED:
		if (strcmp(l->reason, REASON_NOT_BOUND) == 0) {
			title = "Not started from this browser";
			status = 403;
			snprintf(text, sizeof(text), "The sign-in as %s was not started from this "
				 "browser, so nothing was approved. If you are signing in yourself, "
				 "start again at the login prompt and open its link in this browser. "
				 "If you did not start it, someone else tried to sign in as you.", w);
			break;
		}
		title = "Sign-in denied";
		status = 403;
		if (l->provider_error[0] != '\0')
			snprintf(text, sizeof(text), "The provider did not approve the sign-in as %s "
				 "(it answered: %s). Nothing was signed in.", w, l->provider_error);
		else
			snprintf(text, sizeof(text), "The sign-in as %s was denied.", w);
		break;
	default:
		title = "Sign-in failed";
		status = 403;
		snprintf(text, sizeof(text), "The sign-in as %s did not succeed. "
			 "Start again from the login prompt.", w);
		break;
	}
	set_cookie(l, req, 0);
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
	zk_wipe(l->bind, sizeof(l->bind));
	zk_wipe(l->form, sizeof(l->form));
	zk_wipe(l->tcode, sizeof(l->tcode));
	zk_freezero_str(l->parked_code);
	zk_freezero_str(l->parked_iss);
	l->parked_code = l->parked_iss = NULL;
	zk_freezero_str(l->auth_url);
	l->auth_url = NULL;
	log_outcome(l->user, l->sub, l->service, l->rhost, result, reason, l->caller, NULL);
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

/* Whether word is one of the space-separated words of list (NULL: none). */
static bool in_list(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while (p && *p) {
		size_t len;

		p += strspn(p, " ");
		len = strcspn(p, " ");
		if (len == n && n > 0 && memcmp(p, word, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* Where a login comes from, for the pending limits: its remote host, or
 * for a local login the caller and the terminal. Someone else's idle
 * logins for alice then count against them, not against alice. */
static bool same_source(const struct login *l, const struct zk_start *m, uid_t caller)
{
	if (l->rhost[0] != '\0' || m->rhost[0] != '\0')
		return strcmp(l->rhost, m->rhost) == 0;
	return l->caller == caller && strcmp(l->tty, m->tty) == 0;
}

/*
 * Room for a new login of m->user from this source. Each source may have
 * max_pending_per_user pending logins of an account. When the account has
 * max_pending_per_account, the oldest one whose link nobody opened gives
 * way (its module hears "cancelled"); when every one was opened, the new
 * login is refused. True when there is room.
 */
static bool make_room(struct zkd *d, const struct zk_start *m, uid_t caller)
{
	struct login *l, *oldest = NULL;
	unsigned n_account = 0, n_source = 0;

	for (l = d->logins; l; l = l->next) {
		if (l->st == L_DONE || strcmp(l->user, m->user) != 0)
			continue;
		n_account++;
		if (same_source(l, m, caller))
			n_source++;
		if (!l->opened)
			oldest = l; /* the list is newest first */
	}
	if (n_source >= d->cfg.max_pending_per_user)
		return false;
	if (n_account < d->cfg.max_pending_per_account)
		return true;
	if (oldest == NULL)
		return false;
	finish(oldest, ZK_R_CANCELLED, "displaced");
	return true;
}

/* The account's passwd entry: 1 found (*uid set), 0 no such account, -1
 * the lookup failed (out of descriptors, an NSS error): never "unknown". */
static int lookup_account(const char *name, uid_t *uid, int *err)
{
	struct passwd pw, *pwp = NULL;
	size_t cap = 4096;
	char *buf = NULL;
	int rc = -1, e;

	for (;;) {
		char *nb = realloc(buf, cap);

		if (nb == NULL) {
			e = ENOMEM;
			break;
		}
		buf = nb;
		e = getpwnam_r(name, &pw, buf, cap, &pwp);
		if (e != ERANGE || cap >= 1024 * 1024)
			break;
		cap *= 4;
	}
	if (e == 0 && pwp) {
		*uid = pw.pw_uid;
		rc = 1;
	} else if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM) {
		/* glibc: 0 and no entry; these errnos mean "not found" too (getpwnam(3)) */
		rc = 0;
	}
	*err = e;
	free(buf);
	return rc;
}

void flow_start(struct zkd *d, struct ipc_conn *c, const struct zk_start *m, uid_t caller)
{
	struct login *l = NULL;
	uid_t uid = 0;
	int found, err = 0;
	struct timeval tv = { d->cfg.flow_timeout, 0 };
	uint32_t refusal = ZK_R_INTERNAL;
	const char *why = "internal";
	/* What any local user can repeat at will is logged at a bounded rate. */
	static struct zk_log_limit lim_not_allowed = { .burst = 5 }, lim_bad_request = { .burst = 5 };

	if (m->user[0] == '\0' || !zk_plain_text(m->user) || !zk_plain_text(m->service) ||
	    !zk_plain_text(m->rhost) || !zk_plain_text(m->tty) ||
	    (m->max_age != ZK_NO_MAX_AGE && m->max_age > MAX_AGE_LIMIT)) {
		refusal = ZK_R_BAD_REQUEST;
		why = "bad_request";
		goto refuse;
	}
	found = lookup_account(m->user, &uid, &err);
	if (found < 0) {
		/* EMFILE must never read as "no such account". */
		zk_log(LOG_ERR, "account lookup failed: %s", strerror(err));
		refusal = (err == EMFILE || err == ENFILE || err == ENOMEM || err == EAGAIN) ?
			  ZK_R_BUSY : ZK_R_INTERNAL;
		why = "account_lookup_failed";
		goto refuse;
	}
	if (found == 0) {
		refusal = ZK_R_UNKNOWN_USER;
		why = "unknown_user";
		goto refuse;
	}
	/* Root (sshd, login, sudo) may ask for anyone; anyone else, such as
	 * a screen locker, only for itself. */
	if (caller != 0 && caller != uid) {
		refusal = ZK_R_NOT_ALLOWED;
		why = "caller_not_allowed";
		goto refuse;
	}
	/* RFC 8628 5.4: a device code can be phished remotely (someone starts
	 * "ssh alice@host" and sends alice the code); an admin may refuse it. */
	if (d->cfg.flow == ZK_FLOW_DEVICE && !d->cfg.device_flow_remote && m->rhost[0] != '\0') {
		refusal = ZK_R_NOT_ALLOWED;
		why = "device_flow_remote";
		goto refuse;
	}
	if (d->n_pending >= d->cfg.max_pending || !make_room(d, m, caller)) {
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
	/* A service that raises privileges asks for a fresh sign-in, unless
	 * the PAM line set its own max_age. */
	if (l->max_age < 0 && in_list(d->cfg.step_up_services, m->service))
		l->max_age = 0;
	snprintf(l->user, sizeof(l->user), "%s", m->user);
	snprintf(l->service, sizeof(l->service), "%s", m->service);
	snprintf(l->rhost, sizeof(l->rhost), "%s", m->rhost);
	snprintf(l->tty, sizeof(l->tty), "%s", m->tty);
	l->deadline = zkd_now_mono() + d->cfg.flow_timeout;
	if (make_secret(l->state) < 0 || make_secret(l->nonce) < 0 ||
	    make_secret(l->verifier) < 0 || make_random(l->link, LINK_BYTES) < 0 ||
	    make_secret(l->bind) < 0 || make_match(l->match) < 0 ||
	    (d->cfg.terminal_code && make_match(l->tcode) < 0)) {
		zk_log(LOG_ERR, "random generator failed");
		goto refuse;
	}
	snprintf(l->cookie, sizeof(l->cookie), "%szkauth-%s",
		 d->public_base && strncmp(d->public_base, "https://", 8) == 0 ? "__Host-" : "",
		 l->link);
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
	log_outcome(m->user, "", m->service, m->rhost, refusal, why, caller,
		    refusal == ZK_R_NOT_ALLOWED && caller != 0 ? &lim_not_allowed :
		    refusal == ZK_R_BAD_REQUEST ? &lim_bad_request : NULL);
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
		char qe[1024];

		zk_log(LOG_ERR, "account map: %s", zk_log_text(err, qe, sizeof(qe)));
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
	char qe[ZK_LOG_QUOTED(PROVIDER_ERROR_MAX)];

	if (denied) {
		/* The provider's own word, for the admin and for the page; it is
		 * the provider's text, so quoted and cut. */
		if (error && strcmp(denied, "iss_mismatch") != 0) {
			snprintf(l->provider_error, sizeof(l->provider_error), "%s", error);
			zk_log(LOG_NOTICE, "callback: the provider answered error=\"%s\"",
			       zk_log_quote(l->provider_error, qe, sizeof(qe)));
		}
		finish(l, ZK_R_DENIED, denied);
		return;
	}
	l->x = provider_exchange(d, code, l->state, l->verifier, l->nonce, l->max_age, token_done, l);
}

/* terminal_code: the callback came before the person typed the page's
 * code at the prompt. Its code waits (single use still: the state is
 * spent) and the browser is told what to do; flow_paste goes on. */
static void park(struct login *l, const char *code, const char *error, const char *iss)
{
	struct zkl_req *req = l->browser;
	const char *denied = zkd_callback_check(&l->d->cfg, code, error, iss,
						 l->d->prov.iss_in_response);
	char text[2048], w[ZK_MAX_USER + ZK_MAX_HOST + ZK_MAX_SERVICE + ZK_MAX_RHOST + 64];

	if (denied) {
		finish(l, ZK_R_DENIED, denied);
		return;
	}
	l->parked_code = strdup(code);
	l->parked_iss = iss ? strdup(iss) : NULL;
	if (l->parked_code == NULL || (iss && l->parked_iss == NULL)) {
		finish(l, ZK_R_INTERNAL, "nomem");
		return;
	}
	l->st = L_WAIT_TERMINAL;
	l->browser = NULL;
	listener_watch_close(req, NULL, NULL);
	snprintf(text, sizeof(text), "One more step for the sign-in as %s: type the code %s at "
		 "the login prompt on your terminal and press Enter.", who(l, w, sizeof(w)), l->tcode);
	listener_reply(req, 200, "Type the code at your terminal", text);
}

/* "k7f2qx", "K7F-2QX " and "K7F-2QX" are the same typed code: letters in
 * either case, the dash and spaces optional. True when text is shaped like
 * one (so it is not a pasted authorization code). */
static bool typed_code(const char *text, char out[MATCH_CHARS])
{
	size_t n = 0;

	for (; *text; text++) {
		char c = *text;

		if (c == '-' || c == ' ')
			continue;
		if (n == MATCH_CHARS - 1 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					      (c >= '0' && c <= '9')))
			return false;
		out[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
	}
	out[n] = '\0';
	return n == MATCH_CHARS - 1;
}

/* Whether the Cookie header holds this login's confirmation cookie. */
static bool holds_cookie(const struct login *l, const char *cookies)
{
	char val[SECRET_CHARS + 2];
	bool ok = zkd_cookie_get(cookies, l->cookie, val, sizeof(val)) == 0 &&
		  zk_streq_ct(val, l->bind);

	zk_wipe(val, sizeof(val));
	return ok;
}

/* RFC 6749 3.1: a repeated state, code, iss or error denies the login of
 * every state in the request, whatever their order. */
static void repeated_parameters(struct zkd *d, struct zkl_req *req, const struct zkd_query *q)
{
	static struct zk_log_limit lim;
	struct login *l;
	const char *st;
	size_t i;

	for (i = 0; (st = zkd_form_nth(&q->form, "state", i)) != NULL; i++)
		for (l = d->logins; l; l = l->next)
			if (l->st == L_WAIT_BROWSER && zk_streq_ct(l->state, st))
				finish(l, ZK_R_DENIED, "repeated_parameter");
	zk_log_limited(&lim, LOG_NOTICE, "callback: a parameter given twice (RFC 6749 3.1): refused");
	listener_reply(req, 400, "Sign-in response not valid",
		       "This sign-in response repeats a parameter, so nothing was approved. "
		       "Start again from the login prompt.");
}

void flow_callback(struct zkd *d, struct zkl_req *req, const char *cookies,
		   const struct zkd_query *q)
{
	const char *state = q->state, *code = q->code, *error = q->error, *iss = q->iss;
	struct login *l;

	if (q->repeated) {
		repeated_parameters(d, req, q);
		return;
	}

	for (l = d->logins; l; l = l->next)
		if (l->st == L_WAIT_BROWSER && state && zk_streq_ct(l->state, state))
			break;
	if (l == NULL) {
		static struct zk_log_limit lim;

		/* Anyone can send these, at any rate. */
		zk_log_limited(&lim, LOG_NOTICE,
			       "callback: no pending login has this state (forged, replayed or expired)");
		listener_reply(req, 400, "Sign-in link not valid",
			       "This sign-in is unknown, already used or expired. "
			       "Start again from the login prompt.");
		return;
	}
	/* Single use: from here on this state matches nothing. */
	l->st = L_EXCHANGING;
	l->browser = req;
	listener_watch_close(req, browser_closed, l);
	/* The person at the terminal opened the link in this browser and
	 * pressed Continue there; anyone else's browser lacks the cookie. */
	if (!l->continued || !holds_cookie(l, cookies)) {
		zk_log(LOG_NOTICE, "callback: from a browser without this login's confirmation "
		       "cookie (a forwarded link or provider URL)");
		finish(l, ZK_R_DENIED, REASON_NOT_BOUND);
		return;
	}
	if (d->cfg.terminal_code && !l->typed)
		park(l, code, error, iss);
	else
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
	char *t = text, *end, *query, typed[MATCH_CHARS], want[MATCH_CHARS];

	if ((l->st != L_WAIT_BROWSER && l->st != L_WAIT_TERMINAL) || d->cfg.flow != ZK_FLOW_CODE)
		return;
	while (*t == ' ' || *t == '\t')
		t++;
	end = t + strlen(t);
	while (end > t && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	if (*t == '\0')
		return;
	l->opened = true;
	/* terminal_code: the code the confirmation page showed, typed here.
	 * One try: a wrong one ends the login. */
	if (d->cfg.terminal_code && typed_code(t, typed)) {
		bool ok = typed_code(l->tcode, want) && zk_streq_ct(typed, want);

		zk_wipe(typed, sizeof(typed));
		zk_wipe(want, sizeof(want));
		if (!ok) {
			zk_log(LOG_NOTICE, "paste: not the code of this login's confirmation page");
			finish(l, ZK_R_DENIED, "terminal_code_mismatch");
			return;
		}
		l->typed = true;
		if (l->st == L_WAIT_TERMINAL) {
			l->st = L_EXCHANGING;
			redeem(l, l->parked_code, NULL, l->parked_iss, d->prov.iss_in_response);
		}
		return;
	}
	if (l->st != L_WAIT_BROWSER)
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
	if (params.repeated) {
		finish(l, ZK_R_DENIED, "repeated_parameter");
	} else if (params.state && !zk_streq_ct(params.state, l->state)) {
		zk_log(LOG_NOTICE, "paste: the state is not this login's");
		finish(l, ZK_R_DENIED, "state_mismatch");
	} else {
		redeem(l, params.code, params.error, params.iss, false);
	}
	/* The parsed copies hold the code: wiped before they go. */
	zkd_query_clear(&params);
}

/* The confirmation page: who signs in where, the code the prompt shows,
 * and Continue, a POST with a fresh one-time token. The page sets the
 * login's cookie, which Continue and the callback must carry. action is
 * relative to the page's own address, so that a proxy's prefix stays. */
static void confirm_page(struct login *l, struct zkl_req *req, const char *action)
{
	char text[2048], w[ZK_MAX_USER + ZK_MAX_HOST + ZK_MAX_SERVICE + ZK_MAX_RHOST + 64];
	int64_t left = l->deadline - zkd_now_mono();

	l->opened = true;
	if (make_secret(l->form) < 0) {
		listener_reply(req, 500, "Sign-in failed", "Start again from the login prompt.");
		return;
	}
	snprintf(text, sizeof(text), "Sign in as %s? Check that this code matches the one on "
		 "your screen: %s. Continue only if you started this sign-in yourself.%s%s%s",
		 who(l, w, sizeof(w)), l->match,
		 l->d->cfg.terminal_code ? " Then type this code at the login prompt on your "
					   "terminal and press Enter: " : "",
		 l->tcode, l->d->cfg.terminal_code ? "." : "");
	set_cookie(l, req, left > 0 ? left : 1);
	listener_page(req, 200, "Sign in?", text, "Continue", action, l->form);
}

void flow_short_link(struct zkd *d, struct zkl_req *req, const char *path,
		     const char *cookies, bool post, const char *token)
{
	struct login *l;
	char id[LINK_CHARS + 1], action[64];
	bool go;

	static struct zk_log_limit lim_unknown, lim_continue;

	if (zkd_short_link(path, id, LINK_CHARS, &go) < 0 || (post && !go)) {
		zk_log_limited(&lim_unknown, LOG_NOTICE, "short link: not one of ours");
		listener_reply(req, 404, "Sign-in link not valid", "This sign-in link is unknown.");
		return;
	}
	for (l = d->logins; l; l = l->next)
		if (l->st == L_WAIT_BROWSER && l->auth_url && zk_streq_ct(l->link, id))
			break;
	if (l == NULL) {
		zk_log_limited(&lim_unknown, LOG_NOTICE,
			       "short link: no pending login has this link (forged, used or expired)");
		listener_reply(req, 404, "Sign-in link not valid",
			       "This sign-in link is unknown, already used or expired. "
			       "Start again from the login prompt.");
		return;
	}
	if (!post) {
		/* A forwarded .../go is a GET too: it shows the page, approves nothing. */
		snprintf(action, sizeof(action), go ? "go" : "%s/go", l->link);
		confirm_page(l, req, action);
		return;
	}
	/* Continue: this page's token, once, from the browser that has the
	 * cookie (a cross-site POST comes without it). */
	if (token == NULL || l->form[0] == '\0' || !zk_streq_ct(token, l->form) ||
	    !holds_cookie(l, cookies)) {
		zk_log_limited(&lim_continue, LOG_NOTICE,
			       "short link: Continue without this page's token or cookie");
		listener_reply(req, 403, "Sign-in page expired",
			       "This page is out of date or was not opened in this browser, or the "
			       "browser keeps no cookies. Open the link shown at the login prompt "
			       "again.");
		return;
	}
	zk_wipe(l->form, sizeof(l->form));
	l->continued = true;
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
