/*
 * The browser's request to the callback listener, read the way
 * zkauth-verifyd/listener.c (on_request) and flow.c (flow_callback,
 * flow_short_link) read it: libevent parses the request target
 * (evhttp_uri_parse_with_flags with EVHTTP_URI_NONCONFORMANT, as evhttp
 * does for a request line); "/l/<id>" is a short link compared with
 * zk_streq_ct; on the callback path the query goes to
 * evhttp_parse_query_str, and state, code, error and iss are looked up
 * with evhttp_find_header and compared as flow_callback does. Keep this in
 * step with those files.
 *
 * Input: a request target starting with '/' ("/zkauth/callback?state=..."),
 * or else a bare query string. It is a C string to libevent, so it ends at
 * the first NUL, and no longer than the listener's header cap.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#include "util.h"

#define TARGET_MAX    8192u /* LISTENER_MAX_HEADERS */
#define CALLBACK_PATH "/zkauth/callback"
#define OUR_STATE     "Q2hhbmdlIG1lIG5vdCBhIHJlYWwgc3RhdGU"
#define OUR_LINK      "3q2b7xk"
#define OUR_ISSUER    "https://idp.example.com"

static void read_query(const char *query)
{
	struct evkeyvalq params;
	const char *state, *code, *error, *iss;
	volatile bool match = false, denied = false, no_code = false, iss_ok = false;

	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(query, &params) != 0)
		goto out;
	state = evhttp_find_header(&params, "state");
	code = evhttp_find_header(&params, "code");
	error = evhttp_find_header(&params, "error");
	iss = evhttp_find_header(&params, "iss");
	match = state != NULL && zk_streq_ct(OUR_STATE, state);
	iss_ok = iss == NULL || strcmp(iss, OUR_ISSUER) == 0;
	if (error != NULL)
		denied = strcmp(error, "access_denied") == 0;
	no_code = code == NULL || code[0] == '\0';
out:
	evhttp_clear_headers(&params);
	(void)match;
	(void)denied;
	(void)no_code;
	(void)iss_ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evhttp_uri *uri;
	const char *path, *query;
	volatile bool short_link = false;
	char *text;

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
	uri = evhttp_uri_parse_with_flags(text, EVHTTP_URI_NONCONFORMANT);
	if (uri != NULL) {
		path = evhttp_uri_get_path(uri);
		query = evhttp_uri_get_query(uri);
		if (path != NULL && strncmp(path, "/l/", 3) == 0 && strcmp(path, CALLBACK_PATH) != 0)
			short_link = zk_streq_ct(OUR_LINK, path + 3);
		else if (path != NULL && strcmp(path, CALLBACK_PATH) == 0 && query != NULL)
			read_query(query);
		evhttp_uri_free(uri);
	}
	free(text);
	(void)short_link;
	return 0;
}
