/* State shared by the daemon's files: one event loop, one provider,
 * a table of pending logins, the IPC socket and the callback listener. */
#ifndef ZK_DAEMON_H
#define ZK_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "zkauth_proto.h"

struct event_base;
struct event;
struct zkl;
struct zkl_req;              /* one browser request on the listener (listener.c) */
struct evconnlistener;
struct zk_http;
struct zk_http_call;
struct zk_jwks;
struct ipc_conn;
struct login;

/* What the provider offers once discovered (or preset by the config). */
struct provider {
	char *authorization_endpoint;
	char *token_endpoint;
	char *jwks_uri;
	char *device_endpoint;      /* flow = device only */
	bool iss_in_response;       /* RFC 9207: callbacks carry iss */
	bool ready;                 /* endpoints known */
	bool discovering;
	struct zk_http_call *disc_call;
	struct zk_jwks *jwks;       /* NULL until fetched */
	int64_t jwks_fetched;       /* monotonic seconds of the last fetch attempt, 0 never */
	int64_t kid_refetched;      /* ... of the last refetch for an unknown kid, 0 never */
	struct zk_http_call *jwks_call;
	struct exchange *jwks_waiters; /* exchanges waiting for that fetch */
};

struct zkd {
	struct event_base *base;
	struct zk_config cfg;
	const char *config_path;
	struct zk_http *http;
	struct provider prov;
	char *client_secret;        /* NUL-terminated, wiped on exit */
	size_t client_secret_len;
	struct evp_pkey_st *client_key; /* private_key_jwt */
	char *api_key;              /* zeroauth: the broker's API key, wiped on exit */
	size_t api_key_len;
	char hostname[ZK_MAX_HOST + 1];
	char *callback_path;        /* path part of redirect_uri */
	char *public_base;          /* base of short links: public_url or redirect_uri's origin */

	struct evconnlistener *ipc;
	struct ipc_conn *conns;     /* open module connections */
	unsigned n_conns;
	struct zkl *listener;       /* the callback listener (listener.c) */
	struct ssl_ctx_st *tls;     /* SSL_CTX when the listener serves TLS */
	unsigned short listener_port;

	struct login *logins;       /* doubly linked list */
	unsigned n_pending;
};

/* flow.c: a login's life. */
/* Starts a login for the connection. Answers through ipc_send_* later. */
void flow_start(struct zkd *d, struct ipc_conn *c, const struct zk_start *m, uid_t caller);
/* The connection that owned the login closed: cancel and free it. */
void flow_conn_closed(struct zkd *d, struct login *l);
/* The verdict so far (ZK_R_PENDING while undecided) and the mapped user. */
uint32_t flow_result(const struct login *l, const char **user);
/* The browser came back to the callback listener; cookies: its Cookie
 * header (NULL: none). */
struct zkd_query;
void flow_callback(struct zkd *d, struct zkl_req *req, const char *cookies,
		   const struct zkd_query *q);
/* The person pasted the code (or the redirect address) at the prompt;
 * text is wiped by the caller. */
void flow_paste(struct zkd *d, struct login *l, char *text);
/* The browser opened a short link /l/<id> (GET: the confirmation page),
 * or pressed its Continue (POST /l/<id>/go with the page's token). */
void flow_short_link(struct zkd *d, struct zkl_req *req, const char *path,
		     const char *cookies, bool post, const char *token);
/* The provider became ready (or failed): resume logins waiting for it. */
void flow_provider_ready(struct zkd *d, bool ok);
void flow_free_all(struct zkd *d);

/* ipc.c */
int ipc_listen(struct zkd *d);
/* Accept error callback for both listeners: pauses accepting for 1 s. */
void zkd_accept_error(struct evconnlistener *lst, void *arg);
void ipc_close(struct zkd *d);
void ipc_send_challenge(struct ipc_conn *c, const struct zk_challenge *m);
/* Binds a started login to its connection; refuses a START. */
void ipc_bind_login(struct ipc_conn *c, struct login *l);
void ipc_refuse(struct ipc_conn *c, uint32_t result);
/* The login's verdict changed (final): deliver it if the module is waiting. */
void ipc_login_done(struct ipc_conn *c);

/* oidc.c: talking to the provider. */
int provider_init(struct zkd *d);
void provider_free(struct zkd *d);
/* After a reload changed the provider's settings. */
void provider_reset(struct zkd *d);
/* Begins discovery when needed; flow_provider_ready() is called when known. */
void provider_ensure(struct zkd *d);

struct token_result {
	uint32_t result;            /* ZK_R_OK when a verified identity came back */
	const char *reason;         /* short word for the log */
	char sub[256];
};
typedef void (*token_cb)(void *arg, const struct token_result *r);
/* Exchanges a code and verifies the identity token. Returns the call to
 * cancel (or NULL when it failed at once: cb is then already called). */
struct exchange;
struct exchange *provider_exchange(struct zkd *d, const char *code, const char *state,
				   const char *verifier, const char *nonce, int64_t max_age,
				   token_cb cb, void *arg);
/* zeroauth: the broker makes the authorization URL and the state. started()
 * gets them, then the login goes on as a code flow. NULL: failed at once. */
typedef void (*broker_cb)(void *arg, const char *url, const char *state);
struct exchange *provider_broker_start(struct zkd *d, broker_cb started, token_cb cb, void *arg);
void provider_exchange_cancel(struct exchange *x);

/* Device flow (RFC 8628): what the person is shown. */
struct device_info {
	char url[ZK_MAX_URL + 1];        /* verification_uri_complete, else verification_uri */
	char user_code[ZK_MAX_CODE + 1];
	int64_t expires_in;
};
typedef void (*device_cb)(void *arg, const struct device_info *info);
/* Asks for a device code; started() is called once the person can be
 * shown where to go, then the daemon polls and cb() gets the verified
 * identity, or cb() alone is called on failure. Cancel with
 * provider_exchange_cancel. NULL when it failed at once (cb called). */
struct exchange *provider_device(struct zkd *d, int64_t max_age, device_cb started, token_cb cb,
				 void *arg);

/* listener.c */
int listener_start(struct zkd *d);
/* Reports every request still watched (listener_watch_close) as closed,
 * then closes every connection. Call it after flow_free_all, which
 * answers the browsers of the logins it ends and stops watching them. */
void listener_stop(struct zkd *d);
/* --check-config: loads the TLS certificate and key, then drops them. */
int listener_check_tls(struct zkd *d);
/* Each request gets exactly one answer, from one of listener_reply,
 * listener_redirect or listener_page; a request may be answered later,
 * from another event, as long as its close-watch has not fired. */
/* Sends the result page to a browser waiting on the callback. */
void listener_reply(struct zkl_req *req, int status, const char *title, const char *text);
void listener_redirect(struct zkl_req *req, const char *location);
/* Adds a response header (before one of the three above). */
void listener_add_header(struct zkl_req *req, const char *name, const char *value);
/* cb(arg) runs if the browser goes away before the reply, and req is then
 * gone: never touched again. cb NULL: no more. */
void listener_watch_close(struct zkl_req *req, void (*cb)(void *arg), void *arg);
/* A page with one button: a POST form to action (a path on the listener)
 * carrying token as the field "t". */
void listener_page(struct zkl_req *req, int status, const char *title, const char *text,
		   const char *button, const char *action, const char *token);

/* Monotonic and wall clock seconds. */
int64_t zkd_now_mono(void);
int64_t zkd_now_wall(void);

#endif
