/* Asynchronous HTTP client: libcurl's multi interface driven by the daemon's
 * libevent loop. No thread, no blocking call. */
#ifndef ZK_HTTP_H
#define ZK_HTTP_H

#include <stddef.h>

struct event_base;
struct zk_http;
struct zk_http_call;

/* Default cap on a response body, and default total timeout. */
#define ZK_HTTP_MAX_BODY   (256u * 1024u)
#define ZK_HTTP_TIMEOUT_MS 10000L

struct zk_http_req {
	const char *method;        /* "GET" or "POST" */
	const char *url;           /* must pass zk_url_allowed() */
	const char *content_type;  /* for POST: e.g. application/x-www-form-urlencoded */
	const char *body;          /* POST body (copied; wiped after the call) */
	size_t body_len;
	const char *basic_user;    /* with basic_pass: Authorization: Basic, each part */
	const char *basic_pass;    /*   form-urlencoded first (RFC 6749 2.3.1) */
	const char *bearer;        /* Authorization: Bearer <bearer> */
	const char *accept;        /* Accept header, or NULL */
	size_t max_body;           /* 0: ZK_HTTP_MAX_BODY */
	long timeout_ms;           /* 0: ZK_HTTP_TIMEOUT_MS */
};

/*
 * Called once per call, from the loop. err is 0 when an HTTP response came
 * back (any status), or -1 for a transport failure, timeout, a disallowed
 * URL or a body over the cap (then status is 0 and body NULL). body is
 * NUL-terminated, owned by the call, and wiped after the callback returns.
 */
typedef void (*zk_http_cb)(void *arg, int err, long status, const char *body, size_t len);

/* ca_file: extra trust anchors file (may be NULL), used as CURLOPT_CAINFO
 * (see zk_http_new in http.c for how it combines with the system CAs).
 * NULL when ca_file is set but unreadable. */
struct zk_http *zk_http_new(struct event_base *base, const char *ca_file);
/* Cancels pending calls without callbacks. May be called from a callback. */
void zk_http_free(struct zk_http *h);

/*
 * Starts a request. Returns a handle, or NULL on failure (including a URL
 * that zk_url_allowed refuses); the callback is then never called.
 * Redirects are not followed; peer and host verification are always on.
 */
struct zk_http_call *zk_http_start(struct zk_http *h, const struct zk_http_req *req,
				   zk_http_cb cb, void *arg);

/* Cancels a call in flight; its callback is not called. Accepts NULL.
 * Callbacks may start and cancel calls. A handle is invalid once its
 * callback has returned (or it was cancelled): forget it in the callback. */
void zk_http_cancel(struct zk_http_call *call);

#endif
