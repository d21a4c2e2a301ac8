/* The browser's way back (see callback.h). */
#include "callback.h"
#include "log.h"
#include "util.h"

#include <string.h>

enum zkd_route zkd_route(const char *path, const char *callback_path)
{
	if (path && strncmp(path, "/l/", 3) == 0 && strcmp(path, callback_path) != 0)
		return ZKD_ROUTE_SHORT_LINK;
	if (path == NULL || strcmp(path, callback_path) != 0)
		return ZKD_ROUTE_NOT_FOUND;
	return ZKD_ROUTE_CALLBACK;
}

int zkd_short_link(const char *rest, char *id, size_t id_max, bool *go)
{
	size_t n = strcspn(rest, "/");
	bool is_go = strcmp(rest + n, "/go") == 0;

	if (n > id_max || (rest[n] != '\0' && !is_go))
		return -1;
	memcpy(id, rest, n);
	id[n] = '\0';
	*go = is_go;
	return 0;
}

int zkd_cookie_get(const char *header, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *p = header;
	int found = 0;

	if (header == NULL || cap == 0)
		return -1;
	while (*p) {
		const char *end, *val;
		size_t vlen;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = p + strcspn(p, ";");
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			val = p + nlen + 1;
			vlen = (size_t)(end - val);
			while (vlen > 0 && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
				vlen--;
			if (found++ || vlen >= cap)
				goto fail;
			memcpy(out, val, vlen);
			out[vlen] = '\0';
		}
		p = end;
	}
	if (found == 1)
		return 0;
fail:
	zk_wipe(out, cap);
	return -1;
}

int zkd_query_parse(struct zkd_query *q, const char *query)
{
	memset(q, 0, sizeof(*q));
	TAILQ_INIT(&q->params);
	if (query == NULL || evhttp_parse_query_str(query, &q->params) != 0)
		return -1;
	q->state = evhttp_find_header(&q->params, "state");
	q->code = evhttp_find_header(&q->params, "code");
	q->error = evhttp_find_header(&q->params, "error");
	q->iss = evhttp_find_header(&q->params, "iss");
	return 0;
}

void zkd_query_clear(struct zkd_query *q)
{
	struct evkeyval *kv;

	TAILQ_FOREACH(kv, &q->params, next) {
		zk_wipe(kv->key, strlen(kv->key));
		zk_wipe(kv->value, strlen(kv->value));
	}
	evhttp_clear_headers(&q->params);
	q->state = q->code = q->error = q->iss = NULL;
}

const char *zkd_callback_check(const struct zk_config *cfg, const char *code,
			       const char *error, const char *iss, bool iss_expected)
{
	/* RFC 9207: the response must come from our issuer when the provider
	 * says it names itself, and whenever it does. zeroauth: the iss there
	 * is the broker's upstream, which the broker checks. */
	if (cfg->profile != ZK_PROFILE_ZEROAUTH && (iss || iss_expected) &&
	    (iss == NULL || cfg->issuer == NULL || strcmp(iss, cfg->issuer) != 0)) {
		zk_log(LOG_NOTICE, "callback: iss parameter missing or not our issuer");
		return "iss_mismatch";
	}
	if (error)
		return strcmp(error, "access_denied") == 0 ? "denied_at_provider" : "provider_error";
	if (code == NULL || code[0] == '\0' || !zk_plain_text(code) || strchr(code, ' '))
		return "no_code";
	return NULL;
}
