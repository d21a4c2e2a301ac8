/*
 * Asynchronous HTTP client: one libcurl multi handle driven by the daemon's
 * libevent loop through CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION and
 * curl_multi_socket_action (the shape of curl's multi-event example).
 *
 * Completion is handled in two steps so that callbacks may start or cancel
 * calls (the token callback starts a JWKS fetch, a flow that ends cancels
 * its other calls): first every finished transfer is taken out of the multi
 * handle and queued on h->done, then the queue is drained one call at a
 * time, always from its head. A call cancelled while queued is simply
 * unlinked and freed, so no finished call is ever touched after its free.
 *
 * libcurl does not wipe what it is given: the POST body, the header list
 * (Authorization) and the response body are ours and are wiped before
 * free. What libcurl copies internally (the request it builds) is not.
 */
#include "http.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "log.h"
#include "util.h"

#ifndef ZK_VERSION
#define ZK_VERSION "dev"
#endif

/* A connection that takes longer than this to set up will not be helped
 * by waiting for the rest of the total timeout. */
#define CONNECT_TIMEOUT_MAX_MS 5000L
#define BODY_INITIAL_CAP       1024u

enum call_state {
	CALL_ACTIVE,      /* in the multi handle, on h->active */
	CALL_DONE,        /* finished, out of the multi handle, on h->done */
	CALL_DISPATCHING, /* its callback is running; on no list */
};

struct zk_http_call {
	struct zk_http *h;
	struct zk_http_call *prev, *next;
	enum call_state state;
	CURL *easy;
	struct curl_slist *headers;
	char *post;
	size_t post_len;
	char *buf;        /* response body, NUL-terminated */
	size_t len, cap, max;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail: host, port, TLS reason */
	CURLcode result;
	long status;
	zk_http_cb cb;
	void *arg;
};

struct call_list {
	struct zk_http_call *head, *tail;
};

/* A socket libcurl asked us to watch, attached to it with curl_multi_assign. */
struct watch {
	struct watch *prev, *next;
	curl_socket_t fd;
	struct event *ev;
};

struct zk_http {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	char *ca_file;
	struct call_list active, done;
	struct watch *watches;
	int depth;         /* > 0 while callbacks are dispatched */
	bool free_pending; /* zk_http_free was called from a callback */
	bool global_init;  /* curl_global_init succeeded for this client */
};

static void list_append(struct call_list *l, struct zk_http_call *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

static void list_remove(struct call_list *l, struct zk_http_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

/* Frees a call that is on no list and not in the multi handle. */
static void call_free(struct zk_http_call *c)
{
	struct curl_slist *s;

	if (!c)
		return;
	/* The easy handle points at the header list and the body: first. */
	if (c->easy)
		curl_easy_cleanup(c->easy);
	for (s = c->headers; s; s = s->next)
		zk_wipe(s->data, strlen(s->data));
	curl_slist_free_all(c->headers);
	zk_freezero(c->post, c->post_len);
	zk_freezero(c->buf, c->cap);
	free(c);
}

/* Takes c off its list (and out of the multi handle) and frees it. */
static void call_drop(struct zk_http_call *c)
{
	struct zk_http *h = c->h;

	switch (c->state) {
	case CALL_ACTIVE:
		list_remove(&h->active, c);
		curl_multi_remove_handle(h->multi, c->easy);
		break;
	case CALL_DONE:
		list_remove(&h->done, c);
		break;
	case CALL_DISPATCHING:
		/* Freed by dispatch() when the callback returns. */
		return;
	}
	call_free(c);
}

static void cancel_all(struct zk_http *h)
{
	while (h->active.head)
		call_drop(h->active.head);
	while (h->done.head)
		call_drop(h->done.head);
}

static void watch_free(struct zk_http *h, struct watch *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		h->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	if (w->ev)
		event_free(w->ev);
	free(w);
}

static void http_destroy(struct zk_http *h)
{
	cancel_all(h);
	/* curl_multi_cleanup may still call the socket and timer callbacks. */
	if (h->multi)
		curl_multi_cleanup(h->multi);
	while (h->watches)
		watch_free(h, h->watches);
	if (h->timer)
		event_free(h->timer);
	free(h->ca_file);
	if (h->global_init)
		curl_global_cleanup();
	free(h);
}

/* Moves every finished transfer from the multi handle to h->done. */
static void collect(struct zk_http *h)
{
	struct zk_http_call *c;
	CURLMsg *m;
	CURLcode res;
	CURL *e;
	char *priv;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		/* m is invalid once its handle is removed: copy first. */
		e = m->easy_handle;
		res = m->data.result;
		priv = NULL;
		if (curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv)
			continue;
		c = (struct zk_http_call *)(void *)priv;
		if (c->state != CALL_ACTIVE)
			continue;
		c->result = res;
		if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status) != CURLE_OK)
			c->result = CURLE_BAD_FUNCTION_ARGUMENT;
		list_remove(&h->active, c);
		curl_multi_remove_handle(h->multi, e);
		c->state = CALL_DONE;
		list_append(&h->done, c);
	}
}

/* The callers log what failed; this says why. Never the URL: its query
 * may carry state. */
static void log_failure(const struct zk_http_call *c)
{
	/* libcurl's detail can carry what the peer sent, such as the name in
	 * its certificate. */
	char detail[ZK_LOG_QUOTED(CURL_ERROR_SIZE)];

	if (c->too_big || c->result == CURLE_FILESIZE_EXCEEDED)
		zk_log(LOG_WARNING, "http: response body over %zu bytes", c->max);
	else if (c->result == CURLE_OK)
		zk_log(LOG_WARNING, "http: no HTTP status in the response");
	else
		zk_log(LOG_WARNING, "http: %s",
		       zk_log_text(c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->result), detail,
				   sizeof(detail)));
}

/* Runs the callbacks of the finished calls, one at a time, always taking
 * the head: a callback may cancel any other queued call. */
static void dispatch(struct zk_http *h)
{
	struct zk_http_call *c;

	h->depth++;
	while (!h->free_pending && (c = h->done.head)) {
		list_remove(&h->done, c);
		c->state = CALL_DISPATCHING;
		if (c->result == CURLE_OK && !c->too_big && c->status > 0) {
			c->cb(c->arg, 0, c->status, c->buf ? c->buf : "", c->len);
		} else {
			log_failure(c);
			c->cb(c->arg, -1, 0, NULL, 0);
		}
		call_free(c);
	}
	h->depth--;
}

/* Called last by the event callbacks: h may be gone afterwards. */
static void process(struct zk_http *h)
{
	collect(h);
	dispatch(h);
	if (h->depth == 0 && h->free_pending)
		http_destroy(h);
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct zk_http *h = arg;
	int action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, action, &running);
	process(h);
}

static void on_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct zk_http *h = arg;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	process(h);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl asks, or stop. */
static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct zk_http *h = userp;
	struct watch *w = socketp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (w) {
			curl_multi_assign(h->multi, fd, NULL);
			watch_free(h, w);
		}
		return 0;
	}
	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return -1;
		w->fd = fd;
		w->next = h->watches;
		if (h->watches)
			h->watches->prev = w;
		h->watches = w;
		curl_multi_assign(h->multi, fd, w);
	}
	if (w->ev) {
		event_free(w->ev);
		w->ev = NULL;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (!(kind & (EV_READ | EV_WRITE)))
		return 0;
	w->ev = event_new(h->base, fd, kind, on_socket_event, h);
	if (!w->ev || event_add(w->ev, NULL) != 0)
		return -1;
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer, re-armed or removed as asked. */
static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct zk_http *h = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(h->timer, &tv) == 0 ? 0 : -1;
}

/* Enforces the body cap: returning less than given aborts the transfer
 * (CURLE_WRITE_ERROR). Growing wipes the old buffer, it may hold a token. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct zk_http_call *c = userdata;
	size_t n = size * nmemb, ncap;
	char *nbuf;

	if (n > c->max - c->len) {
		c->too_big = true;
		return 0;
	}
	if (c->len + n + 1 > c->cap) {
		ncap = c->cap ? c->cap : BODY_INITIAL_CAP;
		while (ncap < c->len + n + 1)
			ncap *= 2;
		if (ncap > c->max + 1)
			ncap = c->max + 1;
		nbuf = malloc(ncap);
		if (!nbuf)
			return 0;
		if (c->buf)
			memcpy(nbuf, c->buf, c->len);
		zk_freezero(c->buf, c->cap);
		c->buf = nbuf;
		c->cap = ncap;
	}
	memcpy(c->buf + c->len, ptr, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return n;
}

static bool header_value_ok(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

/* Builds "name: value", appends it (libcurl copies) and wipes our copy. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
	struct curl_slist *nl;
	size_t n = strlen(name) + 2 + strlen(value) + 1;
	char *s = malloc(n);

	if (!s)
		return -1;
	memcpy(s, name, strlen(name));
	memcpy(s + strlen(name), ": ", 2);
	memcpy(s + strlen(name) + 2, value, strlen(value) + 1);
	nl = curl_slist_append(*list, s);
	zk_freezero(s, n);
	if (!nl)
		return -1;
	*list = nl;
	return 0;
}

/* application/x-www-form-urlencoded for RFC 6749 2.3.1: every byte outside
 * the unreserved set as %XX. A space becomes %20 rather than '+': form
 * decoders read both, plain percent-decoders only %20. */
static size_t form_encode(const char *in, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	unsigned char ch;

	for (; *in; in++) {
		ch = (unsigned char)*in;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	return n;
}

/* Authorization: Basic base64(urlenc(user) ":" urlenc(pass)), built here
 * rather than by CURLOPT_USERNAME so the encoding is RFC 6749's and every
 * copy is wiped. */
static int add_basic_auth(struct curl_slist **list, const char *user, const char *pass)
{
	static const char prefix[] = "Basic ";
	size_t ul = strlen(user), pl = strlen(pass), rawcap = 0, rawlen, valcap = 0;
	char *raw = NULL, *val = NULL;
	int rc = -1;

	/* Keeps every size below far from overflow and within EVP's int. */
	if (ul > 4096 || pl > 4096)
		goto out;
	rawcap = 3 * ul + 1 + 3 * pl + 1;
	raw = malloc(rawcap);
	if (!raw)
		goto out;
	rawlen = form_encode(user, raw);
	raw[rawlen++] = ':';
	rawlen += form_encode(pass, raw + rawlen);
	valcap = sizeof(prefix) - 1 + 4 * ((rawlen + 2) / 3) + 1;
	val = malloc(valcap);
	if (!val)
		goto out;
	memcpy(val, prefix, sizeof(prefix) - 1);
	EVP_EncodeBlock((unsigned char *)val + sizeof(prefix) - 1, (const unsigned char *)raw,
			(int)rawlen);
	rc = add_header(list, "Authorization", val);
out:
	zk_freezero(raw, rawcap);
	zk_freezero(val, valcap);
	return rc;
}

#define SETOPT(opt, val)                                              \
	do {                                                          \
		if (curl_easy_setopt(c->easy, opt, val) != CURLE_OK) \
			goto fail;                                    \
	} while (0)

struct zk_http_call *zk_http_start(struct zk_http *h, const struct zk_http_req *req,
				   zk_http_cb cb, void *arg)
{
	struct zk_http_call *c = NULL;
	long timeout;
	bool post;

	if (!h || h->free_pending || !req || !req->method || !req->url || !cb)
		return NULL;
	if (!zk_url_allowed(req->url))
		return NULL;
	if (strcmp(req->method, "GET") == 0)
		post = false;
	else if (strcmp(req->method, "POST") == 0)
		post = true;
	else
		return NULL;
	if ((!post && (req->body || req->body_len)) || (post && !req->body && req->body_len))
		return NULL;
	if (!req->basic_user != !req->basic_pass || (req->basic_user && req->bearer))
		return NULL;
	/* Values go into header lines as they are: no CR/LF smuggling. */
	if ((req->content_type && !header_value_ok(req->content_type)) ||
	    (req->accept && !header_value_ok(req->accept)) ||
	    (req->bearer && !header_value_ok(req->bearer)))
		return NULL;
	timeout = req->timeout_ms > 0 ? req->timeout_ms : ZK_HTTP_TIMEOUT_MS;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->h = h;
	c->cb = cb;
	c->arg = arg;
	c->max = req->max_body ? req->max_body : ZK_HTTP_MAX_BODY;
	if (c->max >= SIZE_MAX / 2)
		goto fail;
	c->easy = curl_easy_init();
	if (!c->easy)
		goto fail;

	if (post) {
		/* Our own copy (not CURLOPT_COPYPOSTFIELDS) so it can be wiped. */
		c->post = malloc(req->body_len ? req->body_len : 1);
		if (!c->post)
			goto fail;
		if (req->body_len)
			memcpy(c->post, req->body, req->body_len);
		c->post_len = req->body_len;
		if (req->content_type &&
		    add_header(&c->headers, "Content-Type", req->content_type) != 0)
			goto fail;
		/* No 100-continue round trip for our small bodies. */
		if (add_header(&c->headers, "Expect", "") != 0)
			goto fail;
	}
	if (req->accept && add_header(&c->headers, "Accept", req->accept) != 0)
		goto fail;
	if (req->basic_user && add_basic_auth(&c->headers, req->basic_user, req->basic_pass) != 0)
		goto fail;
	if (req->bearer) {
		static const char prefix[] = "Bearer ";
		size_t n = sizeof(prefix) + strlen(req->bearer);
		char *v = malloc(n);
		int r;

		if (!v)
			goto fail;
		memcpy(v, prefix, sizeof(prefix) - 1);
		memcpy(v + sizeof(prefix) - 1, req->bearer, strlen(req->bearer) + 1);
		r = add_header(&c->headers, "Authorization", v);
		zk_freezero(v, n);
		if (r != 0)
			goto fail;
	}

	SETOPT(CURLOPT_PRIVATE, (char *)(void *)c);
	SETOPT(CURLOPT_URL, req->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (h->ca_file)
		SETOPT(CURLOPT_CAINFO, h->ca_file);
	/* An http_proxy/https_proxy in the daemon's environment must not
	 * silently route provider traffic (and the client secret) elsewhere. */
	SETOPT(CURLOPT_PROXY, "");
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
	       timeout < CONNECT_TIMEOUT_MAX_MS ? timeout : CONNECT_TIMEOUT_MAX_MS);
	SETOPT(CURLOPT_TIMEOUT_MS, timeout);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max);
	SETOPT(CURLOPT_USERAGENT, "zkauth-verifyd/" ZK_VERSION);
	SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, c);
	if (c->headers)
		SETOPT(CURLOPT_HTTPHEADER, c->headers);
	if (post) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->post_len);
		SETOPT(CURLOPT_POSTFIELDS, c->post);
	} else {
		SETOPT(CURLOPT_HTTPGET, 1L);
	}

	if (curl_multi_add_handle(h->multi, c->easy) != CURLM_OK)
		goto fail;
	c->state = CALL_ACTIVE;
	list_append(&h->active, c);
	return c;
fail:
	call_free(c);
	return NULL;
}

#undef SETOPT

void zk_http_cancel(struct zk_http_call *call)
{
	if (call)
		call_drop(call);
}

/*
 * curl_global_init is called by every zk_http_new and undone by its
 * zk_http_free: libcurl counts these calls itself, and the daemon creates
 * its client once, before any other thread could exist.
 *
 * ca_file is given to libcurl as CURLOPT_CAINFO, which replaces the
 * build's default CA bundle. The build's default CAPATH stays in effect:
 * with Debian's libcurl that is the system certificate directory, so the
 * system CAs remain trusted and ca_file adds to them. With a libcurl built
 * without a CAPATH, ca_file is the only trust anchor file and must hold
 * every CA the provider's hosts need.
 */
struct zk_http *zk_http_new(struct event_base *base, const char *ca_file)
{
	struct zk_http *h;

	if (!base)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->base = base;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto fail;
	h->global_init = true;
	if (ca_file && *ca_file) {
		char why[512];

		/* Refuse now rather than fail every call later. libcurl reopens
		 * the name for each connection: the file and its directories
		 * must be ones only root or we can change (StrictModes). */
		if (zk_check_trusted_file(ca_file, why, sizeof(why)) < 0) {
			zk_log(LOG_ERR, "ca_file: %s", why);
			goto fail;
		}
		h->ca_file = strdup(ca_file);
		if (!h->ca_file)
			goto fail;
	}
	h->timer = evtimer_new(base, on_timer_event, h);
	h->multi = curl_multi_init();
	if (!h->timer || !h->multi)
		goto fail;
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK)
		goto fail;
	return h;
fail:
	http_destroy(h);
	return NULL;
}

void zk_http_free(struct zk_http *h)
{
	if (!h)
		return;
	cancel_all(h);
	if (h->depth > 0) {
		/* From a callback: dispatch() stops, process() frees. */
		h->free_pending = true;
		return;
	}
	http_destroy(h);
}
