/* The callback listener: the browser comes back here from the provider.
 * Only the callback path is served; the page it gets says what happened
 * and never shows a code or a token. */
#include "daemon.h"
#include "callback.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#define LISTENER_MAX_HEADERS 8192
#define LISTENER_MAX_BODY    1024
#define LISTENER_TIMEOUT     30

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

void listener_reply(struct evhttp_request *req, int status, const char *title, const char *text)
{
	listener_page(req, status, title, text, NULL, NULL, NULL);
}

void listener_page(struct evhttp_request *req, int status, const char *title, const char *text,
		   const char *button, const char *action, const char *token)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
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
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Content-Security-Policy",
			  "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
			  "frame-ancestors 'none'");
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

void listener_redirect(struct evhttp_request *req, const char *location)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Location", location);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	/* 303: the browser follows a POST's answer with a GET. */
	evhttp_send_reply(req, 303, "See Other", NULL);
}

void listener_add_header(struct evhttp_request *req, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), name, value);
}

/* evhttp's close callback takes (connection, arg): the one function flow
 * watches with is kept here, its argument with the connection. */
static void (*close_cb)(void *arg);

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	if (close_cb)
		close_cb(arg);
}

void listener_watch_close(struct evhttp_request *req, void (*cb)(void *arg), void *arg)
{
	if (cb)
		close_cb = cb;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), cb ? conn_closed : NULL,
				      arg);
}

/* Continue on the confirmation page: a form POST whose body holds t, the
 * page's one-time token. */
static void on_continue(struct zkd *d, struct evhttp_request *req, const char *path,
			const char *cookies)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	size_t n = evbuffer_get_length(in);
	char body[LISTENER_MAX_BODY + 1];
	struct zkd_query form;

	memset(&form, 0, sizeof(form));
	TAILQ_INIT(&form.params);
	if (type == NULL || strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0 ||
	    (type[33] != '\0' && type[33] != ';') || n > LISTENER_MAX_BODY ||
	    evbuffer_copyout(in, body, n) != (ev_ssize_t)n) {
		listener_reply(req, 400, "Bad request", "This is not a sign-in form.");
		return;
	}
	body[n] = '\0';
	if (evhttp_parse_query_str(body, &form.params) != 0) {
		listener_reply(req, 400, "Bad request", "This is not a sign-in form.");
	} else {
		flow_short_link(d, req, path, cookies, true,
				evhttp_find_header(&form.params, "t"));
	}
	zkd_query_clear(&form);
	zk_wipe(body, sizeof(body));
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct zkd *d = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	const char *cookies = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct zkd_query q;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST) {
		evhttp_send_error(req, 405, NULL);
		return;
	}
	switch (zkd_route(path, d->callback_path)) {
	case ZKD_ROUTE_SHORT_LINK:
		if (cmd == EVHTTP_REQ_POST)
			on_continue(d, req, path + 3, cookies);
		else
			flow_short_link(d, req, path + 3, cookies, false, NULL);
		return;
	case ZKD_ROUTE_CALLBACK:
		/* The provider answers in the query: a GET. */
		if (cmd == EVHTTP_REQ_GET)
			break;
		evhttp_send_error(req, 405, NULL);
		return;
	default:
		evhttp_send_error(req, 404, NULL);
		return;
	}
	if (zkd_query_parse(&q, query) < 0) {
		listener_reply(req, 400, "Bad request", "This is not a sign-in response.");
		zkd_query_clear(&q);
		return;
	}
	/* The module shows the outcome; the log never gets code or state. */
	flow_callback(d, req, cookies, q.state, q.code, q.error, q.iss);
	/* The parsed copies hold the code: wiped before libevent frees them. */
	zkd_query_clear(&q);
}

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

static int tls_setup(struct zkd *d);

/* Each accepted connection speaks TLS from its first byte. */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct zkd *d = arg;
	SSL *ssl = SSL_new(d->tls);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

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

int listener_check_tls(struct zkd *d)
{
	int rc = d->cfg.tls_certificate ? tls_setup(d) : 0;

	SSL_CTX_free(d->tls);
	d->tls = NULL;
	return rc;
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

int listener_start(struct zkd *d)
{
	struct evhttp_bound_socket *handle;
	char host[256];
	unsigned short port;
	bool https = strncmp(d->cfg.redirect_uri, "https://", 8) == 0;

	if (d->cfg.tls_certificate && tls_setup(d) < 0)
		return -1;
	if (split_listen(d->cfg.listen, host, sizeof(host), &port) < 0) {
		zk_log(LOG_ERR, "listen: cannot parse '%s'", d->cfg.listen);
		return -1;
	}
	/* The browser comes back to redirect_uri. Plain HTTP under an https
	 * redirect_uri is right only behind a TLS proxy on this host. */
	if (d->tls && !https) {
		zk_log(LOG_ERR, "tls_certificate is set but redirect_uri is not https");
		return -1;
	}
	/* Plain HTTP only on loopback, whatever redirect_uri says: codes and
	 * the confirmation cookie cross it. */
	if (!d->tls && !is_loopback(host)) {
		zk_log(LOG_ERR, "the listener on %s has no TLS and is not on loopback: set "
		       "tls_certificate and tls_private_key, or listen on loopback%s",
		       d->cfg.listen, https ? " behind a TLS proxy" : "");
		return -1;
	}
	d->listener = evhttp_new(d->base);
	if (d->listener == NULL)
		return -1;
	evhttp_set_max_headers_size(d->listener, LISTENER_MAX_HEADERS);
	evhttp_set_max_body_size(d->listener, LISTENER_MAX_BODY);
	evhttp_set_timeout(d->listener, LISTENER_TIMEOUT);
	evhttp_set_allowed_methods(d->listener, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(d->listener, on_request, d);
	if (d->tls)
		evhttp_set_bevcb(d->listener, tls_bev, d);
	handle = evhttp_bind_socket_with_handle(d->listener, host, port);
	if (handle == NULL) {
		zk_log(LOG_ERR, "cannot listen on %s", d->cfg.listen);
		evhttp_free(d->listener);
		d->listener = NULL;
		return -1;
	}
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(handle), zkd_accept_error);
	d->listener_port = port;
	return 0;
}

void listener_stop(struct zkd *d)
{
	if (d->listener) {
		evhttp_free(d->listener);
		d->listener = NULL;
	}
	SSL_CTX_free(d->tls);
	d->tls = NULL;
}
