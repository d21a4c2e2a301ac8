/* The browser's way back, read without the event loop or any login: which
 * page a request path asks for, the parameters of a callback query, and
 * whether they let the daemon exchange the code. listener.c and flow.c
 * decide with these; the unit tests and fuzz targets call them too. */
#ifndef ZKD_CALLBACK_H
#define ZKD_CALLBACK_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

enum zkd_route {
	ZKD_ROUTE_NOT_FOUND,
	ZKD_ROUTE_SHORT_LINK,       /* /l/<id>[/go]: the rest follows "/l/" */
	ZKD_ROUTE_CALLBACK,         /* redirect_uri's path */
};

/* Which page path (NULL: none) asks for, given redirect_uri's path. A
 * callback path under /l/ stays the callback. */
enum zkd_route zkd_route(const char *path, const char *callback_path);

/* A short link's rest, "<id>" or "<id>/go", into id (NUL-terminated,
 * at most id_max characters; id has room for id_max + 1). 0 and *go, or
 * -1: no short link of ours. */
int zkd_short_link(const char *rest, char *id, size_t id_max, bool *go);

/*
 * The value of cookie name in a Cookie request header ("a=1; b=2"), into
 * out (room for cap bytes with the NUL). 0 when found exactly once; -1 when
 * absent, repeated (a second cookie of that name, as a sibling subdomain
 * could plant, is not trusted either way) or longer than cap - 1.
 */
int zkd_cookie_get(const char *header, const char *name, char *out, size_t cap);

/*
 * Whether a request's Host header names the listener as the browser knows
 * it: the authority (host and port, the scheme's default port when none
 * is written; the host without regard to case) of redirect_uri, or of
 * public_url when set. Anything else (a DNS-rebinding name, a missing or
 * malformed Host) is refused before the request is looked at.
 */
bool zkd_host_ok(const char *host, const char *redirect_uri, const char *public_url);

/*
 * An application/x-www-form-urlencoded string (a callback's query, the
 * Continue form's body, a pasted address's query), read as the WHATWG URL
 * standard reads it: pairs separated by '&', a name without '=' is a name
 * with an empty value ("...&error_description"), '+' is a space, %XX is
 * decoded and a '%' not followed by two hex digits stays as it is.
 */
#define ZKD_FORM_MAX 32
struct zkd_form {
	size_t n;
	char *name[ZKD_FORM_MAX];
	char *value[ZKD_FORM_MAX];
};
/* 0, or -1 (f then empty): NULL text, more than ZKD_FORM_MAX pairs, a NUL
 * byte decoded, or no memory. */
int zkd_form_parse(const char *text, struct zkd_form *f);
/* The value of the i-th (from 0) pair called name, or NULL. */
const char *zkd_form_nth(const struct zkd_form *f, const char *name, size_t i);
/* How many pairs are called name. */
size_t zkd_form_count(const struct zkd_form *f, const char *name);
/* Wipes every name and value (they hold codes), frees them; f is empty. */
void zkd_form_clear(struct zkd_form *f);

/* The parameters of a callback query (or of a pasted redirect address).
 * The four pointers point into form (the first of each name), or are NULL
 * when absent. RFC 6749 3.1: parameters must not repeat; repeated is set
 * when state, code, iss or error comes more than once (and the login is
 * then denied, whatever the order). */
struct zkd_query {
	struct zkd_form form;
	const char *state;
	const char *code;
	const char *error;
	const char *iss;
	bool repeated;
};

/* 0, or -1 when query is NULL or unreadable (see zkd_form_parse). Either
 * way q is ready for zkd_query_clear. */
int zkd_query_parse(struct zkd_query *q, const char *query);
/* Wipes the parsed copies (they hold the code), then frees them. */
void zkd_query_clear(struct zkd_query *q);

/*
 * Whether the provider's answer lets the daemon redeem code: NULL when
 * it does, else the reason the login is denied ("iss_mismatch",
 * "denied_at_provider", "provider_error", "no_code"). iss_expected: the
 * provider said (RFC 9207) that its answers carry iss.
 */
const char *zkd_callback_check(const struct zk_config *cfg, const char *code,
			       const char *error, const char *iss, bool iss_expected);

#endif
