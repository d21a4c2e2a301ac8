/* The callback listener: the browser comes back here from the provider.
 * Only the callback path and the short links are served; the page it gets
 * says what happened and never shows a code or a token.
 *
 * A small HTTP/1.1 server of its own on bufferevents, not evhttp, because
 * evhttp cannot cap connections per address, has no fixed deadline for a
 * request (its timeout restarts on every byte, so a client sending one
 * byte every few seconds is kept forever) and has no hook per connection.
 *
 * Each connection carries one request, in this order:
 *
 *   HEAD -> BODY -> WAIT -> WRITE -> LINGER -> freed
 *
 * HEAD and BODY read the request under one deadline set at accept and
 * never restarted; WAIT is the request in flow.c's hands (no deadline: a
 * callback waits for the code exchange), watched for the peer closing;
 * WRITE sends the answer under a deadline of its own; LINGER half-closes
 * and drains what the peer still sends, so that closing with unread bytes
 * does not reset the connection before the answer is read.
 *
 * What is accepted is strict (RFC 9112): origin-form targets, GET and
 * POST, CRLF line ends only (a bare LF is refused: a front end that took
 * it as a line end and one that did not would read different requests),
 * no obs-fold, no control bytes, a body framed by Content-Length alone.
 */
#include "daemon.h"
#include "callback.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#define LISTENER_MAX_HEAD    8192  /* request line and headers together */
#define LISTENER_MAX_HEADERS 64
#define LISTENER_MAX_BODY    1024
/* Seconds from accept to the last byte of the request. */
#define LISTENER_REQUEST_DEADLINE 10
/* Seconds for the answer to leave, once it is ready. */
#define LISTENER_WRITE_DEADLINE 10
/* Seconds the half-closed connection drains what the peer still sends. */
#define LISTENER_LINGER 2
/* Descriptors the listener never takes: the module socket's connections,
 * libcurl's, the files the daemon opens. */
#define LISTENER_FD_RESERVE 64
#define ADDR_BUCKETS_MIN 64u
#define ADDR_BUCKETS_MAX 65536u

enum cstate { C_HEAD, C_BODY, C_WAIT, C_WRITE, C_LINGER };

/* Connections open from one IPv4 address or one IPv6 /64. */
struct zkl_addr {
	struct zkl_addr *next;
	uint64_t key;
	bool v6;
	unsigned n;
};

struct zkl {
	struct zkd *d;
	struct evconnlistener *lev;
	struct zkl_req *conns;      /* doubly linked list */
	unsigned n_conns;           /* with a descriptor (a request whose peer left has none) */
	unsigned cap;               /* max_connections, or less when descriptors are short */
	struct zkl_addr **buckets;
	size_t mask;
	uint64_t seed;              /* keys the bucket hash: addresses are the peer's choice */
	int spare_fd;               /* given up to accept and close when out of descriptors */
};

/* One connection and its one request. */
struct zkl_req {
	struct zkl_req *next, *prev;
	struct zkl *l;
	struct bufferevent *bev;    /* NULL once the peer left while flow.c holds the request */
	struct event *timer;        /* the request deadline, then the write deadline, the linger */
	struct zkl_addr *addr;      /* counted there while bev is set */
	struct sockaddr_storage peer;
	enum cstate st;
	bool post;
	bool http11;
	bool line_seen;             /* the request line was read */
	bool peer_eof;
	bool have_length;
	size_t head_len;
	unsigned n_headers;
	size_t length;              /* Content-Length */
	char *target;               /* as sent; holds a code on the callback: wiped */
	char *host;
	char *cookie;               /* every Cookie line, joined with "; " */
	char *content_type;
	size_t body_len;
	char body[LISTENER_MAX_BODY + 1];
	struct evbuffer *headers;   /* from listener_add_header */
	void (*close_cb)(void *arg);
	void *close_arg;
};

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* Escapes for HTML text. */
static void add_text(struct evbuffer *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': evbuffer_add(b, "&lt;", 4); break;
		case '>': evbuffer_add(b, "&gt;", 4); break;
		case '&': evbuffer_add(b, "&amp;", 5); break;
		case '"': evbuffer_add(b, "&quot;", 6); break;
		case '\'': evbuffer_add(b, "&#39;", 5); break;
		default: evbuffer_add(b, s, 1); break;
		}
	}
}

/* ------------------------------------------------------------ per address */

static void addr_key(const struct sockaddr *sa, uint64_t *key, bool *v6)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const unsigned char *b = s6->sin6_addr.s6_addr;
	uint32_t a4 = 0;
	int i;

	if (sa->sa_family == AF_INET) {
		a4 = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
	} else if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		/* The same host as its IPv4 address, whichever socket it came on. */
		a4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
	} else {
		/* One host usually holds a whole /64, and picks addresses in it at will. */
		*key = 0;
		for (i = 0; i < 8; i++)
			*key = *key << 8 | b[i];
		*v6 = true;
		return;
	}
	*key = a4;
	*v6 = false;
}

static size_t addr_bucket(const struct zkl *l, uint64_t key, bool v6)
{
	/* splitmix64's finaliser over the key and the secret seed. */
	uint64_t h = key ^ l->seed ^ (v6 ? 0x9e3779b97f4a7c15u : 0);

	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9u;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebu;
	h ^= h >> 31;
	return (size_t)h & l->mask;
}

static struct zkl_addr *addr_find(const struct zkl *l, uint64_t key, bool v6)
{
	struct zkl_addr *a;

	for (a = l->buckets[addr_bucket(l, key, v6)]; a; a = a->next)
		if (a->key == key && a->v6 == v6)
			return a;
	return NULL;
}

static struct zkl_addr *addr_add(struct zkl *l, uint64_t key, bool v6)
{
	struct zkl_addr *a = addr_find(l, key, v6);
	size_t i;

	if (a == NULL) {
		a = calloc(1, sizeof(*a));
		if (a == NULL)
			return NULL;
		i = addr_bucket(l, key, v6);
		a->key = key;
		a->v6 = v6;
		a->next = l->buckets[i];
		l->buckets[i] = a;
	}
	a->n++;
	return a;
}

static void addr_put(struct zkl *l, struct zkl_addr *a)
{
	struct zkl_addr **p;

	if (--a->n > 0)
		return;
	for (p = &l->buckets[addr_bucket(l, a->key, a->v6)]; *p; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			break;
		}
	}
	free(a);
}

static const char *addr_text(const struct sockaddr *sa, char *buf, size_t n)
{
	const void *a = sa->sa_family == AF_INET ?
		(const void *)&((const struct sockaddr_in *)sa)->sin_addr :
		(const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)n) == NULL)
		snprintf(buf, n, "?");
	return buf;
}

/* ------------------------------------------------------------ connections */

/* Gives up the descriptor and the place under the caps; the request
 * itself stays while flow.c may still answer it. */
static void conn_release(struct zkl_req *r)
{
	if (r->bev) {
		bufferevent_free(r->bev);
		r->bev = NULL;
	}
	if (r->timer) {
		event_free(r->timer);
		r->timer = NULL;
	}
	if (r->addr) {
		addr_put(r->l, r->addr);
		r->addr = NULL;
		r->l->n_conns--;
	}
}

static void conn_free(struct zkl_req *r)
{
	struct zkl *l = r->l;

	conn_release(r);
	if (r->prev)
		r->prev->next = r->next;
	else
		l->conns = r->next;
	if (r->next)
		r->next->prev = r->prev;
	zk_freezero_str(r->target);
	zk_freezero_str(r->cookie);
	free(r->host);
	free(r->content_type);
	if (r->headers) {
		/* Set-Cookie lines carry the confirmation cookie. */
		size_t n = evbuffer_get_length(r->headers);
		unsigned char *p = evbuffer_pullup(r->headers, -1);

		if (p)
			zk_wipe(p, n);
		evbuffer_free(r->headers);
	}
	zk_freezero(r, sizeof(*r));
}

static void arm(struct zkl_req *r, int seconds)
{
	struct timeval tv = { seconds, 0 };

	if (r->timer)
		evtimer_add(r->timer, &tv);
}

/* The peer went away. flow.c, told through the close-watch, forgets the
 * request; unwatched, it stays until flow.c answers it (answering frees). */
static void peer_gone(struct zkl_req *r)
{
	void (*cb)(void *) = r->close_cb;

	if (cb) {
		r->close_cb = NULL;
		cb(r->close_arg);
		conn_free(r);
		return;
	}
	conn_release(r);
}

/* The answer has left: half-close, then drain until the peer closes too. */
static void linger(struct zkl_req *r)
{
	int fd = (int)bufferevent_getfd(r->bev);

	if (r->peer_eof) {
		conn_free(r);
		return;
	}
	if (r->l->d->tls) {
		SSL *ssl = bufferevent_openssl_get_ssl(r->bev);

		if (ssl && SSL_is_init_finished(ssl))
			SSL_shutdown(ssl); /* close_notify; the peer's comes as EOF */
		ERR_clear_error();
	}
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
	r->st = C_LINGER;
	arm(r, LISTENER_LINGER);
}

/* Header values the daemon sends must not end the header or the head. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/*
 * Queues the answer: status line, fixed head (CRLF-terminated lines), the
 * headers listener_add_header collected, and body. A request that still
 * has its connection is never freed here, since the caller may be inside
 * on_request: when the answer cannot be built, the timer ends it from the
 * loop. One whose peer left (only flow.c still held it) goes at once.
 */
static void respond(struct zkl_req *r, int status, const char *head, struct evbuffer *body)
{
	struct evbuffer *out;
	char date[64] = "";
	struct tm tm;
	time_t now = time(NULL);
	int rc = 0;

	if (r->st >= C_WRITE)
		return;
	if (r->bev == NULL) {
		conn_free(r); /* the peer left before the answer */
		return;
	}
	r->st = C_WRITE;
	r->close_cb = NULL;
	out = bufferevent_get_output(r->bev);
	if (gmtime_r(&now, &tm))
		evutil_date_rfc1123(date, sizeof(date), &tm);
	if (evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Length: %zu\r\n"
				"Connection: close\r\n%s", status, reason_phrase(status), date,
				body ? evbuffer_get_length(body) : 0, head) < 0)
		rc = -1;
	if (r->headers && evbuffer_add_buffer(out, r->headers) < 0)
		rc = -1;
	if (evbuffer_add(out, "\r\n", 2) < 0 || (body && evbuffer_add_buffer(out, body) < 0))
		rc = -1;
	if (rc < 0) {
		evbuffer_drain(out, evbuffer_get_length(out));
		arm(r, 0);
		return;
	}
	arm(r, LISTENER_WRITE_DEADLINE);
}

#define PAGE_HEADERS                                                                  \
	"Content-Type: text/html; charset=utf-8\r\n"                                  \
	"Cache-Control: no-store\r\n"                                                 \
	"Referrer-Policy: no-referrer\r\n"                                            \
	"X-Frame-Options: DENY\r\n"                                                   \
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "    \
	"form-action 'self'; frame-ancestors 'none'\r\n"

void listener_reply(struct zkl_req *req, int status, const char *title, const char *text)
{
	listener_page(req, status, title, text, NULL, NULL, NULL);
}

void listener_page(struct zkl_req *req, int status, const char *title, const char *text,
		   const char *button, const char *action, const char *token)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		respond(req, 500, "", NULL);
		return;
	}
	evbuffer_add_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
			    "<meta name=\"viewport\" content=\"width=device-width\"><title>");
	add_text(b, title);
	evbuffer_add_printf(b, "</title></head>\n<body style=\"font-family:sans-serif;"
			    "max-width:32em;margin:3em auto\"><h1>");
	add_text(b, title);
	evbuffer_add_printf(b, "</h1>\n<p>");
	add_text(b, text);
	evbuffer_add_printf(b, "</p>\n");
	if (button && action) {
		evbuffer_add_printf(b, "<form method=\"post\" action=\"");
		add_text(b, action);
		evbuffer_add_printf(b, "\"><input type=\"hidden\" name=\"t\" value=\"");
		add_text(b, token ? token : "");
		evbuffer_add_printf(b, "\"><button type=\"submit\">");
		add_text(b, button);
		evbuffer_add_printf(b, "</button></form>\n");
	}
	evbuffer_add_printf(b, "</body></html>\n");
	respond(req, status, PAGE_HEADERS, b);
	evbuffer_free(b);
}

void listener_redirect(struct zkl_req *req, const char *location)
{
	char *head = NULL;

	/* 303: the browser follows a POST's answer with a GET. */
	if (!header_safe(location) ||
	    asprintf(&head, "Location: %s\r\nCache-Control: no-store\r\n"
		     "Referrer-Policy: no-referrer\r\n", location) < 0) {
		head = NULL;
		listener_reply(req, 500, "Sign-in failed", "Start again from the login prompt.");
		return;
	}
	respond(req, 303, head, NULL);
	zk_freezero_str(head); /* the provider's URL carries the state */
}

void listener_add_header(struct zkl_req *req, const char *name, const char *value)
{
	if (req->st >= C_WRITE || !header_safe(name) || !header_safe(value) ||
	    strchr(name, ':') != NULL)
		return;
	if (req->headers == NULL)
		req->headers = evbuffer_new();
	if (req->headers)
		evbuffer_add_printf(req->headers, "%s: %s\r\n", name, value);
}

void listener_watch_close(struct zkl_req *req, void (*cb)(void *arg), void *arg)
{
	req->close_cb = cb;
	req->close_arg = cb ? arg : NULL;
}

static void send_error(struct zkl_req *r, int status)
{
	if (status == 405)
		listener_add_header(r, "Allow", "GET, POST");
	listener_reply(r, status, reason_phrase(status), "The sign-in listener cannot serve this "
		       "request.");
}

/* ------------------------------------------------------------ requests */

/* Continue on the confirmation page: a form POST whose body holds t, the
 * page's one-time token. */
static void on_continue(struct zkd *d, struct zkl_req *r, const char *path)
{
	const char *type = r->content_type;
	struct zkd_form form;

	memset(&form, 0, sizeof(form));
	if (type == NULL || strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0 ||
	    (type[33] != '\0' && type[33] != ';') || memchr(r->body, '\0', r->body_len) ||
	    zkd_form_parse(r->body, &form) != 0 || zkd_form_count(&form, "t") > 1) {
		listener_reply(r, 400, "Bad request", "This is not a sign-in form.");
	} else {
		flow_short_link(d, r, path, r->cookie, true, zkd_form_nth(&form, "t", 0));
	}
	zkd_form_clear(&form);
}

static void on_request(struct zkl_req *r)
{
	struct zkd *d = r->l->d;
	char *path = r->target, *query = strchr(r->target, '?');
	struct zkd_query q;

	static struct zk_log_limit lim_host;

	if (query)
		*query++ = '\0';
	/* DNS rebinding: a page elsewhere whose name resolves to us reaches
	 * the listener with its own name in Host. Refused before anything. */
	if (!zkd_host_ok(r->host, d->cfg.redirect_uri, d->cfg.public_url)) {
		zk_log_limited(&lim_host, LOG_NOTICE, "listener: a request for another host (Host "
			       "not redirect_uri's or public_url's): refused");
		listener_reply(r, 400, "Bad request", "This address does not serve sign-ins.");
		return;
	}
	switch (zkd_route(path, d->callback_path)) {
	case ZKD_ROUTE_SHORT_LINK:
		if (r->post)
			on_continue(d, r, path + 3);
		else
			flow_short_link(d, r, path + 3, r->cookie, false, NULL);
		return;
	case ZKD_ROUTE_CALLBACK:
		/* The provider answers in the query: a GET. */
		if (!r->post)
			break;
		send_error(r, 405);
		return;
	default:
		send_error(r, 404);
		return;
	}
	if (zkd_query_parse(&q, query) < 0) {
		listener_reply(r, 400, "Bad request", "This is not a sign-in response.");
		zkd_query_clear(&q);
		return;
	}
	/* The module shows the outcome; the log never gets code or state. */
	flow_callback(d, r, r->cookie, &q);
	/* The parsed copies hold the code: wiped before they go. */
	zkd_query_clear(&q);
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return n > 0;
}

/* "GET /l/x?y HTTP/1.1": 0, or the status that refuses it. */
static int parse_request_line(struct zkl_req *r, char *line)
{
	static const char *const known[] = {
		"HEAD", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL,
	};
	char *target = strchr(line, ' '), *version;
	size_t i;

	if (target == NULL)
		return 400;
	*target++ = '\0';
	version = strchr(target, ' ');
	if (version == NULL || !is_token(line, strlen(line)))
		return 400;
	*version++ = '\0';
	if (strcmp(version, "HTTP/1.1") == 0)
		r->http11 = true;
	else if (strcmp(version, "HTTP/1.0") != 0)
		return strncmp(version, "HTTP/", 5) == 0 && strlen(version) == 8 ? 505 : 400;
	if (strcmp(line, "POST") == 0) {
		r->post = true;
	} else if (strcmp(line, "GET") != 0) {
		for (i = 0; known[i]; i++)
			if (strcmp(line, known[i]) == 0)
				return 405;
		return 501;
	}
	/* Origin-form only: the absolute form names a host we do not proxy to. */
	if (target[0] != '/')
		return 400;
	for (i = 0; target[i]; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f ||
		    target[i] == '#')
			return 400;
	r->target = strdup(target);
	return r->target ? 0 : 500;
}

static int keep(char **field, const char *value)
{
	if (*field)
		return 400; /* twice: which one counts is a guess */
	*field = strdup(value);
	return *field ? 0 : 500;
}

/* One header line (no CRLF): 0, or the status that refuses the request. */
static int parse_header(struct zkl_req *r, char *line)
{
	char *colon = strchr(line, ':'), *value, *end;

	/* A line that starts with white space continues the one before
	 * (obs-fold, RFC 9112 5.2): refused. */
	if (line[0] == ' ' || line[0] == '\t' || colon == NULL ||
	    !is_token(line, (size_t)(colon - line)))
		return 400;
	if (++r->n_headers > LISTENER_MAX_HEADERS)
		return 431;
	*colon = '\0';
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	end = value + strlen(value);
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (strcasecmp(line, "Transfer-Encoding") == 0)
		return 400; /* the body is framed by Content-Length alone */
	if (strcasecmp(line, "Content-Length") == 0) {
		size_t n = strlen(value);

		if (r->have_length || n == 0 || strspn(value, "0123456789") != n)
			return 400;
		r->have_length = true;
		r->length = n > 7 ? (size_t)-1 : strtoul(value, NULL, 10);
		return 0;
	}
	if (strcasecmp(line, "Host") == 0)
		return keep(&r->host, value);
	if (strcasecmp(line, "Content-Type") == 0)
		return keep(&r->content_type, value);
	if (strcasecmp(line, "Cookie") == 0) {
		char *joined;

		if (r->cookie == NULL)
			return keep(&r->cookie, value);
		if (asprintf(&joined, "%s; %s", r->cookie, value) < 0)
			return 500;
		zk_freezero_str(r->cookie);
		r->cookie = joined;
	}
	return 0;
}

/* The request line is complete: what the body, if any, needs. */
static int head_done(struct zkl_req *r)
{
	if (r->http11 && r->host == NULL)
		return 400;
	if (!r->post)
		return r->have_length && r->length > 0 ? 400 : 0;
	if (!r->have_length)
		return 411;
	return r->length > LISTENER_MAX_BODY ? 413 : 0;
}

/* Lines of the head as they come: 0 needs more, 1 the head is complete,
 * else the status that refuses the request. */
static int read_head(struct zkl_req *r, struct evbuffer *in)
{
	char line[LISTENER_MAX_HEAD + 1];
	int rc = 0;

	while (rc == 0) {
		size_t eol_len, n, i;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);

		if (eol.pos < 0) {
			if (r->head_len + evbuffer_get_length(in) > LISTENER_MAX_HEAD)
				rc = 431;
			break;
		}
		n = (size_t)eol.pos + 1;
		if (r->head_len + n > LISTENER_MAX_HEAD) {
			rc = 431;
			break;
		}
		r->head_len += n;
		evbuffer_remove(in, line, n);
		if (n < 2 || line[n - 2] != '\r') {
			rc = 400; /* a bare LF */
			break;
		}
		n -= 2;
		line[n] = '\0';
		for (i = 0; i < n && rc == 0; i++)
			if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
				rc = 400; /* NUL, CR, and the other controls */
		if (rc)
			break;
		if (!r->line_seen) {
			/* RFC 9112 2.2: empty lines before the request line are skipped. */
			if (n == 0)
				continue;
			r->line_seen = true;
			rc = parse_request_line(r, line);
		} else if (n == 0) {
			rc = head_done(r);
			if (rc == 0)
				rc = 1;
		} else {
			rc = parse_header(r, line);
		}
	}
	zk_wipe(line, sizeof(line)); /* the target of a callback holds its code */
	return rc;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct zkl_req *r = arg;

	/* Too slow for the request: a 408 to one that sent something, while
	 * a connection opened ahead and never used is just closed. */
	if ((r->st == C_HEAD || r->st == C_BODY) &&
	    (r->head_len > 0 || evbuffer_get_length(bufferevent_get_input(r->bev)) > 0)) {
		send_error(r, 408);
		return;
	}
	conn_free(r);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct zkl_req *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	int rc = 0;

	if (r->st == C_HEAD) {
		rc = read_head(r, in);
		if (rc == 1) {
			r->st = C_BODY;
			rc = 0;
		}
	}
	if (r->st == C_BODY && rc == 0 && evbuffer_get_length(in) >= r->length) {
		r->body_len = r->have_length ? r->length : 0;
		evbuffer_remove(in, r->body, r->body_len);
		r->body[r->body_len] = '\0';
		/* In flow.c's hands now: no deadline (a callback waits for the
		 * code exchange), but the peer leaving is noticed. */
		r->st = C_WAIT;
		evtimer_del(r->timer);
		on_request(r);
	}
	if (rc > 0)
		send_error(r, rc);
	/* One request per connection: what follows it is never read. */
	if (r->st >= C_WAIT)
		evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct zkl_req *r = arg;

	if (r->st == C_WRITE && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		linger(r);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct zkl_req *r = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	r->peer_eof = true;
	/* A peer that only stopped sending still gets the answer. */
	if (r->st == C_WRITE && !(what & BEV_EVENT_ERROR))
		return;
	if (r->st == C_WAIT)
		peer_gone(r);
	else
		conn_free(r);
}

/* ------------------------------------------------------------ accepting */

/* The connection's bufferevent, TLS from the first byte when configured.
 * *fd becomes -1 once the bufferevent owns it; on failure it may not. */
static struct bufferevent *new_bev(struct zkd *d, evutil_socket_t *fd)
{
	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct bufferevent *bev;
	SSL *ssl;

	if (d->tls == NULL) {
		bev = bufferevent_socket_new(d->base, *fd, opts);
		if (bev)
			*fd = -1;
		return bev;
	}
	ssl = SSL_new(d->tls);
	if (ssl == NULL)
		return NULL;
	/* Made without the descriptor, as evhttp did, and given it after.
	 * When this fails libevent may or may not have freed ssl: it is
	 * left, a leak when out of memory rather than a double free. */
	bev = bufferevent_openssl_socket_new(d->base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
	if (bev == NULL)
		return NULL;
	if (bufferevent_setfd(bev, *fd) < 0) {
		/* The descriptor went to ssl's BIO if one was made: freeing
		 * the bufferevent then closes it. */
		if (SSL_get_wbio(ssl))
			*fd = -1;
		bufferevent_free(bev);
		return NULL;
	}
	*fd = -1;
	return bev;
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	static struct zk_log_limit lim_all, lim_addr, lim_fail;
	struct zkl *l = arg;
	struct zkd *d = l->d;
	struct zkl_req *r = NULL;
	struct zkl_addr *a;
	char text[INET6_ADDRSTRLEN];
	uint64_t key;
	bool v6;
	int rc = -1;

	addr_key(sa, &key, &v6);
	a = addr_find(l, key, v6);
	/* Over a cap: closed at once, nothing read. */
	if (l->n_conns >= l->cap) {
		zk_log_limited(&lim_all, LOG_WARNING, "listener: %u connections open, the most "
			       "allowed: a new one from %s is closed", l->cap,
			       addr_text(sa, text, sizeof(text)));
		goto out;
	}
	if (a && a->n >= d->cfg.max_connections_per_address) {
		zk_log_limited(&lim_addr, LOG_NOTICE, "listener: %s%s has %u connections open, the "
			       "most allowed (max_connections_per_address): its new one is closed",
			       addr_text(sa, text, sizeof(text)), v6 ? " (its /64)" : "", a->n);
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto out;
	r->l = l;
	r->next = l->conns;
	if (l->conns)
		l->conns->prev = r;
	l->conns = r;
	if ((size_t)socklen <= sizeof(r->peer))
		memcpy(&r->peer, sa, (size_t)socklen);
	r->bev = new_bev(d, &fd);
	r->timer = evtimer_new(d->base, on_timer, r);
	if (r->bev == NULL || r->timer == NULL)
		goto out;
	r->addr = addr_add(l, key, v6);
	if (r->addr == NULL)
		goto out;
	l->n_conns++;
	bufferevent_setcb(r->bev, on_read, on_write, on_event, r);
	if (bufferevent_enable(r->bev, EV_READ | EV_WRITE) < 0)
		goto out;
	arm(r, LISTENER_REQUEST_DEADLINE);
	rc = 0;
out:
	if (rc < 0 && r) {
		zk_log_limited(&lim_fail, LOG_ERR, "listener: cannot set up a connection");
		conn_free(r);
	}
	if (fd >= 0)
		evutil_closesocket(fd);
}

/* Out of descriptors, accept fails and the connection stays pending, so
 * the listener would be woken for it again and again: the spare
 * descriptor is given up to accept it and close it at once. Other errors
 * pause accepting, as on the module socket. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	static struct zk_log_limit lim;
	struct zkl *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	int fd;

	if ((err == EMFILE || err == ENFILE) && l->spare_fd >= 0) {
		close(l->spare_fd);
		fd = accept(evconnlistener_get_fd(lev), NULL, NULL);
		if (fd >= 0)
			close(fd);
		l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		zk_log_limited(&lim, LOG_WARNING, "listener: out of file descriptors (%s): a new "
			       "connection is closed", strerror(err));
		if (l->spare_fd >= 0)
			return;
	}
	EVUTIL_SET_SOCKET_ERROR(err);
	zkd_accept_error(lev, arg);
}

/* ------------------------------------------------------------ set-up */

/* Splits "HOST:PORT" or "[V6]:PORT". */
static int split_listen(const char *spec, char *host, size_t hcap, unsigned short *port)
{
	const char *colon;
	const char *h = spec;
	size_t hl;
	unsigned long p;
	char *end;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = spec + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - spec);
	}
	if (hl == 0 || hl >= hcap)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	p = strtoul(colon + 1, &end, 10);
	if (*end || p == 0 || p > 65535)
		return -1;
	*port = (unsigned short)p;
	return 0;
}

#define TLS_KEY_MAX (64u * 1024u)

static void tls_error(const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	zk_log(LOG_ERR, "%s %s: %s", what, path, e ? buf : "failed");
	ERR_clear_error();
}

/* The key is a secret: read like the client secret (regular file, ours,
 * no group or other permissions), parsed from memory, then wiped. */
static EVP_PKEY *tls_key(const char *path)
{
	char err[256];
	char *pem = NULL;
	size_t len = 0;
	BIO *bio;
	EVP_PKEY *key = NULL;

	if (zk_read_secret_file(path, TLS_KEY_MAX, &pem, &len, err, sizeof(err)) < 0) {
		zk_log(LOG_ERR, "tls_private_key: %s", err);
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio)
		key = PEM_read_bio_PrivateKey(bio, NULL, zk_no_pass_phrase, NULL);
	BIO_free(bio);
	zk_freezero(pem, len);
	if (key == NULL)
		tls_error("tls_private_key is not a PEM private key:", path);
	return key;
}

static int tls_setup(struct zkd *d)
{
	const char *cert = d->cfg.tls_certificate, *key_path = d->cfg.tls_private_key;
	EVP_PKEY *key = tls_key(key_path);
	int rc = -1;

	if (key == NULL)
		return -1;
	d->tls = SSL_CTX_new(TLS_server_method());
	if (d->tls == NULL)
		goto out;
	SSL_CTX_set_min_proto_version(d->tls, TLS1_2_VERSION);
	SSL_CTX_set_options(d->tls, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(d->tls, cert) != 1) {
		tls_error("tls_certificate", cert);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(d->tls, key) != 1 || SSL_CTX_check_private_key(d->tls) != 1) {
		tls_error("tls_private_key does not match", cert);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(key);
	return rc;
}

int listener_check_tls(struct zkd *d)
{
	int rc = d->cfg.tls_certificate ? tls_setup(d) : 0;

	SSL_CTX_free(d->tls);
	d->tls = NULL;
	return rc;
}

/* 127.0.0.0/8, ::1 or localhost, as listen gives it. */
static bool is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return strcmp(host, "localhost") == 0;
}

/* max_connections, or fewer: the listener must leave the module socket
 * the descriptors it needs. The soft limit is raised to the hard one
 * first, as ipc_listen does too, but after the listener starts. */
static unsigned listener_cap(const struct zkd *d)
{
	unsigned cap = d->cfg.max_connections;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return cap;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { rl.rlim_max, rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)cap + LISTENER_FD_RESERVE)
		return cap;
	cap = rl.rlim_cur > LISTENER_FD_RESERVE ? (unsigned)(rl.rlim_cur - LISTENER_FD_RESERVE) : 1;
	zk_log(LOG_WARNING, "listener: max_connections = %u does not fit RLIMIT_NOFILE %lu with %d "
	       "descriptors kept for the module socket and the provider: at most %u connections",
	       d->cfg.max_connections, (unsigned long)rl.rlim_cur, LISTENER_FD_RESERVE, cap);
	return cap;
}

static struct zkl *zkl_new(struct zkd *d)
{
	struct zkl *l = calloc(1, sizeof(*l));
	size_t n = ADDR_BUCKETS_MIN;

	if (l == NULL)
		return NULL;
	l->d = d;
	l->cap = listener_cap(d);
	while (n < l->cap && n < ADDR_BUCKETS_MAX)
		n *= 2;
	l->mask = n - 1;
	l->buckets = calloc(n, sizeof(*l->buckets));
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (l->buckets == NULL || zk_random((unsigned char *)&l->seed, sizeof(l->seed)) < 0) {
		if (l->spare_fd >= 0)
			close(l->spare_fd);
		free(l->buckets);
		free(l);
		return NULL;
	}
	return l;
}

int listener_start(struct zkd *d)
{
	struct addrinfo hints, *ai = NULL;
	char host[256], service[8];
	unsigned short port;
	bool https = strncmp(d->cfg.redirect_uri, "https://", 8) == 0;
	int rc = -1, err;

	if (d->cfg.tls_certificate && tls_setup(d) < 0)
		goto out;
	if (split_listen(d->cfg.listen, host, sizeof(host), &port) < 0) {
		zk_log(LOG_ERR, "listen: cannot parse '%s'", d->cfg.listen);
		goto out;
	}
	/* The browser comes back to redirect_uri. Plain HTTP under an https
	 * redirect_uri is right only behind a TLS proxy on this host. */
	if (d->tls && !https) {
		zk_log(LOG_ERR, "tls_certificate is set but redirect_uri is not https");
		goto out;
	}
	/* Plain HTTP only on loopback, whatever redirect_uri says: codes and
	 * the confirmation cookie cross it. */
	if (!d->tls && !is_loopback(host)) {
		zk_log(LOG_ERR, "the listener on %s has no TLS and is not on loopback: set "
		       "tls_certificate and tls_private_key, or listen on loopback%s",
		       d->cfg.listen, https ? " behind a TLS proxy" : "");
		goto out;
	}
	d->listener = zkl_new(d);
	if (d->listener == NULL)
		goto out;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	err = getaddrinfo(host, service, &hints, &ai);
	if (err != 0) {
		zk_log(LOG_ERR, "cannot listen on %s: %s", d->cfg.listen, gai_strerror(err));
		goto out;
	}
	d->listener->lev = evconnlistener_new_bind(d->base, on_accept, d->listener,
						   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
						   LEV_OPT_REUSEABLE, -1, ai->ai_addr,
						   (int)ai->ai_addrlen);
	if (d->listener->lev == NULL) {
		zk_log(LOG_ERR, "cannot listen on %s: %s", d->cfg.listen, strerror(errno));
		goto out;
	}
	evconnlistener_set_error_cb(d->listener->lev, on_accept_error);
	d->listener_port = port;
	rc = 0;
out:
	if (ai)
		freeaddrinfo(ai);
	if (rc < 0)
		listener_stop(d);
	return rc;
}

void listener_stop(struct zkd *d)
{
	struct zkl *l = d->listener;
	struct zkl_req *r;
	size_t i;

	if (l) {
		/* flow.c first forgets every request it still waits to answer. */
		for (r = l->conns; r; r = r->next) {
			void (*cb)(void *) = r->close_cb;

			r->close_cb = NULL;
			if (cb)
				cb(r->close_arg);
		}
		while (l->conns)
			conn_free(l->conns);
		if (l->lev)
			evconnlistener_free(l->lev);
		if (l->spare_fd >= 0)
			close(l->spare_fd);
		for (i = 0; i <= l->mask; i++) {
			while (l->buckets[i]) {
				struct zkl_addr *a = l->buckets[i];

				l->buckets[i] = a->next;
				free(a);
			}
		}
		free(l->buckets);
		free(l);
		d->listener = NULL;
	}
	SSL_CTX_free(d->tls);
	d->tls = NULL;
}
