/*
 * The browser's request to the callback listener, read by the daemon's
 * own functions (zkauth-verifyd/callback.c) the way listener.c
 * (on_request) and flow.c (flow_callback, flow_paste, flow_short_link)
 * use them: the request target splits at its first '?' as the listener
 * splits it; zkd_route picks the page; a short link goes through zkd_short_link and
 * a constant-time compare; a callback's query through zkd_query_parse,
 * the state compare and zkd_callback_check for each profile, with and
 * without RFC 9207 iss expected; then zkd_query_clear wipes it.
 *
 * Input: a request target starting with '/' ("/zkauth/callback?state=..."),
 * or else a bare query string (as a paste gives one); the same text also
 * goes through zkd_cookie_get and zkd_host_ok. It ends at the first NUL
 * (the listener refuses NUL in a request) and is no longer than the
 * listener's header cap.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "callback.h"
#include "util.h"

#define TARGET_MAX    8192u /* LISTENER_MAX_HEADERS */
#define LINK_CHARS    22    /* flow.c */
#define CALLBACK_PATH "/zkauth/callback"
#define OUR_STATE     "Q2hhbmdlIG1lIG5vdCBhIHJlYWwgc3RhdGU"
#define OUR_LINK      "3q2b7xkAAAAAAAAAAAAAAA"

static volatile size_t sink;

static void read_query(const char *query)
{
	static const enum zk_profile profiles[] = {
		ZK_PROFILE_OIDC, ZK_PROFILE_ZEROAUTH,
	};
	char issuer[] = "https://idp.example.com";
	struct zk_config cfg;
	struct zkd_query q;
	size_t i;

	if (zkd_query_parse(&q, query) < 0) {
		zkd_query_clear(&q);
		return;
	}
	sink += q.state != NULL && zk_streq_ct(OUR_STATE, q.state);
	/* The same text as a Cookie header and a Host header. */
	{
		char v[64];

		sink += zkd_cookie_get(query, "zkauth-" OUR_LINK, v, sizeof(v)) == 0;
		sink += zkd_host_ok(query, "https://h.example.com:8443/zkauth/callback",
				    "https://h.example.com/zk");
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.issuer = issuer;
	for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
		cfg.profile = profiles[i];
		const char *why = zkd_callback_check(&cfg, q.code, q.error, q.iss, false);

		/* A code goes to the provider only when it is plain text. */
		if (why == NULL && (q.code == NULL || !zk_plain_text(q.code)))
			abort();
		sink += why ? strlen(why) : 0;
		why = zkd_callback_check(&cfg, q.code, q.error, q.iss, true);
		sink += why ? strlen(why) : 0;
	}
	zkd_query_clear(&q);
}

static void read_short_link(const char *rest)
{
	char id[LINK_CHARS + 1];
	bool go;

	if (zkd_short_link(rest, id, LINK_CHARS, &go) == 0)
		sink += zk_streq_ct(OUR_LINK, id) + go;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *query;

	if (size > TARGET_MAX)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (text[0] != '/') {
		read_query(text);
		free(text);
		return 0;
	}
	/* As listener.c's on_request: the path up to '?', the query after. */
	query = strchr(text, '?');
	if (query)
		*query++ = '\0';
	switch (zkd_route(text, CALLBACK_PATH)) {
	case ZKD_ROUTE_SHORT_LINK:
		read_short_link(text + 3);
		break;
	case ZKD_ROUTE_CALLBACK:
		read_query(query);
		break;
	default:
		break;
	}
	free(text);
	return 0;
}
