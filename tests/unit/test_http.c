/*
 * Unit tests for zkauth-verifyd/http.c against a real HTTP server: libevent's
 * evhttp on 127.0.0.1 (port 0), in the same event loop as the client.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http.h"

#define MAX_CALLS 8

struct result {
	int called;
	int err;
	long status;
	char body[4096];
	size_t len;
};

struct fixture {
	struct event_base *base;
	struct evhttp *srv;
	int port;
	struct zk_http *http;
	int hits;
	char auth[512];
	char content_type[128];
	char accept[128];
	bool expect_seen;
	char post_body[1024];
	struct result res[MAX_CALLS];
	struct zk_http_call *calls[MAX_CALLS];
	int ncallbacks;
	bool stop_after_first;
};

/* Each callback argument names its fixture and slot. */
struct slot {
	struct fixture *f;
	int i;
};

static struct slot slots[MAX_CALLS];

static void copy_header(struct evhttp_request *req, const char *name, char *dst, size_t n)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);

	snprintf(dst, n, "%s", v ? v : "");
}

static void server_cb(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	f->hits++;
	copy_header(req, "Authorization", f->auth, sizeof(f->auth));
	copy_header(req, "Content-Type", f->content_type, sizeof(f->content_type));
	copy_header(req, "Accept", f->accept, sizeof(f->accept));
	f->expect_seen = evhttp_find_header(evhttp_request_get_input_headers(req), "Expect") != NULL;
	if (strcmp(uri, "/get") == 0) {
		evhttp_add_header(oh, "Content-Type", "text/plain");
		evbuffer_add_printf(out, "hello world");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(uri, "/missing") == 0) {
		evbuffer_add_printf(out, "nope");
		evhttp_send_reply(req, 404, "Not Found", out);
	} else if (strcmp(uri, "/empty") == 0) {
		evhttp_send_reply(req, 204, "No Content", NULL);
	} else if (strcmp(uri, "/redirect") == 0) {
		evhttp_add_header(oh, "Location", "/get");
		evbuffer_add_printf(out, "moved");
		evhttp_send_reply(req, 302, "Found", out);
	} else if (strcmp(uri, "/echo") == 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);

		if (n >= sizeof(f->post_body))
			n = sizeof(f->post_body) - 1;
		evbuffer_copyout(in, f->post_body, n);
		f->post_body[n] = '\0';
		evbuffer_add_buffer(out, in);
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strncmp(uri, "/big/", 5) == 0) {
		/* With Content-Length. */
		size_t n = strtoul(uri + 5, NULL, 10);
		char *b = malloc(n ? n : 1);

		memset(b, 'x', n);
		evbuffer_add(out, b, n);
		free(b);
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strncmp(uri, "/chunked/", 9) == 0) {
		/* Without Content-Length: only the write callback can stop it. */
		size_t n = strtoul(uri + 9, NULL, 10), i;

		evhttp_send_reply_start(req, 200, "OK");
		for (i = 0; i < n; i += 100) {
			evbuffer_add_printf(out, "%.*s", (int)(n - i < 100 ? n - i : 100),
					    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
					    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
			evhttp_send_reply_chunk(req, out);
		}
		evhttp_send_reply_end(req);
	} else if (strcmp(uri, "/hang") == 0) {
		/* Never answered; evhttp_free releases it. */
	} else {
		evhttp_send_reply(req, 400, "Bad Request", NULL);
	}
	evbuffer_free(out);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Runs the loop until a callback breaks it or ms pass. */
static void run_loop(struct fixture *f, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *t = evtimer_new(f->base, on_deadline, f->base);

	assert_non_null(t);
	evtimer_add(t, &tv);
	event_base_dispatch(f->base);
	event_free(t);
}

static void record(void *arg, int err, long status, const char *body, size_t len)
{
	struct slot *s = arg;
	struct fixture *f = s->f;
	struct result *r = &f->res[s->i];

	r->called++;
	r->err = err;
	r->status = status;
	r->len = len;
	if (err == 0) {
		assert_non_null(body);
		assert_int_equal(body[len], '\0');
		assert_true(len < sizeof(r->body));
		memcpy(r->body, body, len + 1);
	} else {
		assert_null(body);
		assert_int_equal(len, 0);
		assert_int_equal(status, 0);
	}
	f->calls[s->i] = NULL;
	f->ncallbacks++;
	event_base_loopbreak(f->base);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int i;

	if (!f)
		return -1;
	f->base = event_base_new();
	f->srv = evhttp_new(f->base);
	if (!f->base || !f->srv)
		return -1;
	evhttp_set_gencb(f->srv, server_cb, f);
	bs = evhttp_bind_socket_with_handle(f->srv, "127.0.0.1", 0);
	if (!bs)
		return -1;
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl) != 0)
		return -1;
	f->port = ntohs(sin.sin_port);
	f->http = zk_http_new(f->base, NULL);
	if (!f->http)
		return -1;
	for (i = 0; i < MAX_CALLS; i++) {
		slots[i].f = f;
		slots[i].i = i;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	zk_http_free(f->http);
	evhttp_free(f->srv);
	event_base_free(f->base);
	free(f);
	return 0;
}

static const char *url(struct fixture *f, const char *path)
{
	static char buf[4][128];
	static int n;
	char *u = buf[n++ % 4];

	snprintf(u, sizeof(buf[0]), "http://127.0.0.1:%d%s", f->port, path);
	return u;
}

static struct zk_http_call *get(struct fixture *f, int slot, const char *path, size_t max,
				long timeout_ms)
{
	struct zk_http_req req = { 0 };

	req.method = "GET";
	req.url = url(f, path);
	req.accept = "application/json";
	req.max_body = max;
	req.timeout_ms = timeout_ms;
	f->calls[slot] = zk_http_start(f->http, &req, record, &slots[slot]);
	return f->calls[slot];
}

static void test_get(void **state)
{
	struct fixture *f = *state;

	assert_non_null(get(f, 0, "/get", 0, 0));
	run_loop(f, 5000);
	assert_int_equal(f->res[0].called, 1);
	assert_int_equal(f->res[0].err, 0);
	assert_int_equal(f->res[0].status, 200);
	assert_int_equal(f->res[0].len, 11);
	assert_string_equal(f->res[0].body, "hello world");
	assert_string_equal(f->accept, "application/json");
	assert_string_equal(f->auth, "");
	/* Exactly once. */
	run_loop(f, 100);
	assert_int_equal(f->res[0].called, 1);
}

static void test_status_and_empty(void **state)
{
	struct fixture *f = *state;

	assert_non_null(get(f, 0, "/missing", 0, 0));
	run_loop(f, 5000);
	assert_int_equal(f->res[0].err, 0);
	assert_int_equal(f->res[0].status, 404);
	assert_string_equal(f->res[0].body, "nope");

	assert_non_null(get(f, 1, "/empty", 0, 0));
	run_loop(f, 5000);
	assert_int_equal(f->res[1].called, 1);
	assert_int_equal(f->res[1].err, 0);
	assert_int_equal(f->res[1].status, 204);
	assert_int_equal(f->res[1].len, 0);
	assert_string_equal(f->res[1].body, "");
}

static void test_redirect_not_followed(void **state)
{
	struct fixture *f = *state;

	assert_non_null(get(f, 0, "/redirect", 0, 0));
	run_loop(f, 5000);
	assert_int_equal(f->res[0].err, 0);
	assert_int_equal(f->res[0].status, 302);
	assert_string_equal(f->res[0].body, "moved");
	assert_int_equal(f->hits, 1);
}

static void test_post_basic(void **state)
{
	static const char body[] = "grant_type=authorization_code&code=abc";
	struct fixture *f = *state;
	struct zk_http_req req = { 0 };

	req.method = "POST";
	req.url = url(f, "/echo");
	req.content_type = "application/x-www-form-urlencoded";
	req.body = body;
	req.body_len = sizeof(body) - 1;
	req.basic_user = "my client:id";
	req.basic_pass = "p@ss w+rd/\xc3\xa9%~._-";
	f->calls[0] = zk_http_start(f->http, &req, record, &slots[0]);
	assert_non_null(f->calls[0]);
	run_loop(f, 5000);
	assert_int_equal(f->res[0].err, 0);
	assert_int_equal(f->res[0].status, 200);
	/* base64("my%20client%3Aid:p%40ss%20w%2Brd%2F%C3%A9%25~._-") */
	assert_string_equal(f->auth, "Basic bXklMjBjbGllbnQlM0FpZDpwJTQwc3MlMjB3"
				     "JTJCcmQlMkYlQzMlQTklMjV+Ll8t");
	assert_string_equal(f->content_type, "application/x-www-form-urlencoded");
	assert_false(f->expect_seen);
	assert_string_equal(f->post_body, body);
	assert_string_equal(f->res[0].body, body);
}

static void test_post_bearer_json(void **state)
{
	struct fixture *f = *state;
	struct zk_http_req req = { 0 };

	req.method = "POST";
	req.url = url(f, "/echo");
	req.content_type = "application/json";
	req.body = "{\"a\":1}xx";
	req.body_len = 7;
	req.bearer = "eyJ.tok.en";
	f->calls[0] = zk_http_start(f->http, &req, record, &slots[0]);
	assert_non_null(f->calls[0]);
	run_loop(f, 5000);
	assert_int_equal(f->res[0].err, 0);
	assert_string_equal(f->auth, "Bearer eyJ.tok.en");
	assert_string_equal(f->content_type, "application/json");
	assert_string_equal(f->post_body, "{\"a\":1}");

	/* An empty POST. */
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url(f, "/echo");
	f->calls[1] = zk_http_start(f->http, &req, record, &slots[1]);
	assert_non_null(f->calls[1]);
	run_loop(f, 5000);
	assert_int_equal(f->res[1].err, 0);
	assert_int_equal(f->res[1].status, 200);
	assert_int_equal(f->res[1].len, 0);
}

static void test_body_cap(void **state)
{
	struct fixture *f = *state;

	/* Exactly at the cap. */
	assert_non_null(get(f, 0, "/big/1000", 1000, 0));
	run_loop(f, 5000);
	assert_int_equal(f->res[0].err, 0);
	assert_int_equal(f->res[0].len, 1000);

	/* Over, announced by Content-Length. */
	assert_non_null(get(f, 1, "/big/1001", 1000, 0));
	run_loop(f, 5000);
	assert_int_equal(f->res[1].called, 1);
	assert_int_equal(f->res[1].err, -1);

	/* Over, chunked: stopped by the write callback. */
	assert_non_null(get(f, 2, "/chunked/3000", 1000, 0));
	run_loop(f, 5000);
	assert_int_equal(f->res[2].called, 1);
	assert_int_equal(f->res[2].err, -1);

	assert_non_null(get(f, 3, "/chunked/1000", 1000, 0));
	run_loop(f, 5000);
	assert_int_equal(f->res[3].err, 0);
	assert_int_equal(f->res[3].len, 1000);
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	struct timespec t0, t1;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_non_null(get(f, 0, "/hang", 0, 300));
	run_loop(f, 5000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(f->res[0].called, 1);
	assert_int_equal(f->res[0].err, -1);
	assert_true(ms >= 250);
	assert_true(ms < 3000);
}

static void test_connection_refused(void **state)
{
	struct fixture *f = *state;
	struct zk_http_req req = { 0 };

	req.method = "GET";
	req.url = "http://127.0.0.1:1/";
	f->calls[0] = zk_http_start(f->http, &req, record, &slots[0]);
	assert_non_null(f->calls[0]);
	run_loop(f, 5000);
	assert_int_equal(f->res[0].called, 1);
	assert_int_equal(f->res[0].err, -1);
}

static void test_refused_requests(void **state)
{
	struct fixture *f = *state;
	struct zk_http_req req = { 0 };

	req.method = "GET";
	req.url = "http://10.0.0.1/";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.url = "http://127.0.0.1.evil.com/";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.url = "http://localhost@evil/";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.url = "ftp://127.0.0.1/";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.url = NULL;
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));

	req.url = url(f, "/get");
	assert_null(zk_http_start(f->http, &req, NULL, &slots[0]));
	assert_null(zk_http_start(NULL, &req, record, &slots[0]));
	assert_null(zk_http_start(f->http, NULL, record, &slots[0]));
	req.method = "PUT";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.method = NULL;
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.method = "GET";
	req.body = "x";
	req.body_len = 1;
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.method = "POST";
	req.body = NULL;
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.body_len = 0;
	req.bearer = "tok\r\nX-Injected: 1";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.bearer = NULL;
	req.accept = "a\nb";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.accept = NULL;
	req.content_type = "text/plain\r";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.content_type = NULL;
	req.basic_user = "u";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));
	req.basic_pass = "p";
	req.bearer = "t";
	assert_null(zk_http_start(f->http, &req, record, &slots[0]));

	run_loop(f, 200);
	assert_int_equal(f->ncallbacks, 0);
	assert_int_equal(f->hits, 0);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	int i;

	assert_non_null(get(f, 0, "/get", 0, 0));
	zk_http_cancel(f->calls[0]);
	zk_http_cancel(NULL);

	/* Cancelled in flight, after the request reached the server. */
	assert_non_null(get(f, 1, "/hang", 0, 0));
	for (i = 0; i < 100 && f->hits == 0; i++)
		run_loop(f, 50);
	assert_int_equal(f->hits, 1);
	zk_http_cancel(f->calls[1]);

	run_loop(f, 400);
	assert_int_equal(f->res[0].called, 0);
	assert_int_equal(f->res[1].called, 0);
	assert_int_equal(f->ncallbacks, 0);

	/* The client still works. */
	assert_non_null(get(f, 2, "/get", 0, 0));
	run_loop(f, 5000);
	assert_int_equal(f->res[2].err, 0);
	assert_string_equal(f->res[2].body, "hello world");
}

/* Slot 0's callback starts slot 1 and cancels slot 2, as the token
 * callback starts a JWKS fetch and a flow ending cancels its others. */
static void chain_cb(void *arg, int err, long status, const char *body, size_t len)
{
	struct slot *s = arg;
	struct fixture *f = s->f;

	f->res[0].called++;
	f->res[0].err = err;
	f->calls[0] = NULL;
	assert_non_null(get(f, 1, "/get", 0, 0));
	zk_http_cancel(f->calls[2]);
	f->calls[2] = NULL;
}

static void test_reentrant(void **state)
{
	struct fixture *f = *state;
	struct zk_http_req req = { 0 };
	int i;

	assert_non_null(get(f, 2, "/hang", 0, 0));
	req.method = "GET";
	req.url = url(f, "/get");
	f->calls[0] = zk_http_start(f->http, &req, chain_cb, &slots[0]);
	assert_non_null(f->calls[0]);
	for (i = 0; i < 100 && f->res[1].called == 0; i++)
		run_loop(f, 50);
	run_loop(f, 300);
	assert_int_equal(f->res[0].called, 1);
	assert_int_equal(f->res[0].err, 0);
	assert_int_equal(f->res[1].called, 1);
	assert_int_equal(f->res[1].err, 0);
	assert_string_equal(f->res[1].body, "hello world");
	assert_int_equal(f->res[2].called, 0);
}

/* Whichever finishes first cancels all the others: whether they are still
 * in flight or already finished and queued, none of them is called. */
static void first_wins_cb(void *arg, int err, long status, const char *body, size_t len)
{
	struct slot *s = arg;
	struct fixture *f = s->f;
	int i;

	f->res[s->i].called++;
	f->calls[s->i] = NULL;
	f->ncallbacks++;
	for (i = 0; i < 4; i++) {
		zk_http_cancel(f->calls[i]);
		f->calls[i] = NULL;
	}
}

static void test_cancel_siblings(void **state)
{
	struct fixture *f = *state;
	struct zk_http_req req = { 0 };
	int i, total = 0;

	req.method = "GET";
	req.url = url(f, "/get");
	for (i = 0; i < 4; i++) {
		f->calls[i] = zk_http_start(f->http, &req, first_wins_cb, &slots[i]);
		assert_non_null(f->calls[i]);
	}
	run_loop(f, 500);
	for (i = 0; i < 4; i++)
		total += f->res[i].called;
	assert_int_equal(total, 1);
	assert_int_equal(f->ncallbacks, 1);
}

/* The callback frees the whole client while other calls are pending. */
static void free_cb(void *arg, int err, long status, const char *body, size_t len)
{
	struct slot *s = arg;
	struct fixture *f = s->f;

	f->ncallbacks++;
	zk_http_free(f->http);
	f->http = NULL;
	event_base_loopbreak(f->base);
}

static void test_free_from_callback(void **state)
{
	struct fixture *f = *state;
	struct zk_http_req req = { 0 };

	assert_non_null(get(f, 1, "/hang", 0, 0));
	req.method = "GET";
	req.url = url(f, "/get");
	f->calls[0] = zk_http_start(f->http, &req, free_cb, &slots[0]);
	assert_non_null(f->calls[0]);
	run_loop(f, 5000);
	run_loop(f, 200);
	/* The hanging call is cancelled by the free, without its callback. */
	assert_int_equal(f->ncallbacks, 1);
	assert_null(f->http);
}

static void test_free_with_pending(void **state)
{
	struct fixture *f = *state;
	int i;

	assert_non_null(get(f, 0, "/hang", 0, 0));
	assert_non_null(get(f, 1, "/get", 0, 0));
	assert_non_null(get(f, 2, "/hang", 0, 0));
	for (i = 0; i < 100 && f->ncallbacks == 0; i++)
		run_loop(f, 50);
	assert_int_equal(f->ncallbacks, 1);
	assert_int_equal(f->res[1].err, 0);
	assert_int_equal(f->hits, 3);
	zk_http_free(f->http);
	f->http = NULL;
	run_loop(f, 300);
	assert_int_equal(f->ncallbacks, 1);
	assert_int_equal(f->res[0].called, 0);
	assert_int_equal(f->res[2].called, 0);
}

static void test_new(void **state)
{
	struct fixture *f = *state;
	struct zk_http *h;

	assert_null(zk_http_new(NULL, NULL));
	assert_null(zk_http_new(f->base, "/nonexistent/ca.pem"));
	h = zk_http_new(f->base, "");
	assert_non_null(h);
	zk_http_free(h);
	zk_http_free(NULL);
}

/* A self-signed certificate (CA:TRUE, so it can be its own trust anchor)
 * for the given subjectAltName. */
static X509 *make_cert(EVP_PKEY *key, const char *san)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *name;
	X509 *x = X509_new();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)"zkauth test", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

struct tls_server {
	SSL_CTX *ctx;
	struct evhttp *srv;
	int port;
	char ca_path[PATH_MAX + 16];
	char dir[PATH_MAX];
};

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	return ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						    BEV_OPT_CLOSE_ON_FREE)
		   : NULL;
}

static void tls_start(struct fixture *f, struct tls_server *t, const char *san)
{
	const char *tmp = getenv("TMPDIR");
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert;
	FILE *fp;

	assert_non_null(key);
	cert = make_cert(key, san);
	snprintf(t->dir, sizeof(t->dir), "%s/zk-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->ca_path, sizeof(t->ca_path), "%s/ca.pem", t->dir);
	fp = fopen(t->ca_path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, cert), 1);
	fclose(fp);

	t->ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(t->ctx);
	assert_int_equal(SSL_CTX_use_certificate(t->ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(t->ctx, key), 1);
	X509_free(cert);
	EVP_PKEY_free(key);

	t->srv = evhttp_new(f->base);
	assert_non_null(t->srv);
	evhttp_set_bevcb(t->srv, tls_bevcb, t->ctx);
	evhttp_set_gencb(t->srv, server_cb, f);
	bs = evhttp_bind_socket_with_handle(t->srv, "127.0.0.1", 0);
	assert_non_null(bs);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl), 0);
	t->port = ntohs(sin.sin_port);
}

static void tls_stop(struct tls_server *t)
{
	evhttp_free(t->srv);
	SSL_CTX_free(t->ctx);
	unlink(t->ca_path);
	rmdir(t->dir);
}

static int tls_get(struct fixture *f, struct zk_http *h, int slot, int port)
{
	struct zk_http_req req = { 0 };
	char u[128];
	int i;

	snprintf(u, sizeof(u), "https://127.0.0.1:%d/get", port);
	req.method = "GET";
	req.url = u;
	f->calls[slot] = zk_http_start(h, &req, record, &slots[slot]);
	assert_non_null(f->calls[slot]);
	for (i = 0; i < 100 && !f->res[slot].called; i++)
		run_loop(f, 50);
	assert_int_equal(f->res[slot].called, 1);
	return f->res[slot].err;
}

/* Peer verification is on: a self-signed server fails without ca_file and
 * succeeds with it; a certificate for another name fails even then. */
static void test_tls_verify(void **state)
{
	struct fixture *f = *state;
	struct tls_server t;
	struct zk_http *h;

	tls_start(f, &t, "IP:127.0.0.1");
	assert_int_equal(tls_get(f, f->http, 0, t.port), -1);
	h = zk_http_new(f->base, t.ca_path);
	assert_non_null(h);
	assert_int_equal(tls_get(f, h, 1, t.port), 0);
	assert_int_equal(f->res[1].status, 200);
	assert_string_equal(f->res[1].body, "hello world");
	zk_http_free(h);
	tls_stop(&t);

	tls_start(f, &t, "DNS:other.example");
	h = zk_http_new(f->base, t.ca_path);
	assert_non_null(h);
	assert_int_equal(tls_get(f, h, 2, t.port), -1);
	zk_http_free(h);
	tls_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_bearer_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentrant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_siblings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_verify, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
