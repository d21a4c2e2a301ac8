/* The browser's way back (see callback.h). */
#include "callback.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Splits an authority "host[:port]" or "[v6][:port]" (n bytes at a) into
 * its host (h, hn) and port (default_port when absent). */
static bool authority(const char *a, size_t n, unsigned default_port, const char **h,
		      size_t *hn, unsigned long *port)
{
	const char *colon = NULL;
	size_t i;

	if (n == 0)
		return false;
	if (a[0] == '[') {
		const char *close = memchr(a, ']', n);

		if (close == NULL)
			return false;
		*h = a;
		*hn = (size_t)(close - a) + 1;
		if (*hn < n) {
			if (a[*hn] != ':')
				return false;
			colon = a + *hn;
		}
	} else {
		colon = memchr(a, ':', n);
		*h = a;
		*hn = colon ? (size_t)(colon - a) : n;
	}
	if (*hn == 0)
		return false;
	*port = default_port;
	if (colon) {
		size_t pn = n - (size_t)(colon + 1 - a);

		if (pn == 0 || pn > 5)
			return false;
		*port = 0;
		for (i = 0; i < pn; i++) {
			if (colon[1 + i] < '0' || colon[1 + i] > '9')
				return false;
			*port = *port * 10 + (unsigned long)(colon[1 + i] - '0');
		}
		if (*port == 0 || *port > 65535)
			return false;
	}
	return true;
}

static bool host_matches(const char *host, const char *url)
{
	const char *a, *h1, *h2;
	size_t an, h1n, h2n;
	unsigned long p1, p2;
	unsigned dflt;

	if (url == NULL)
		return false;
	if (strncmp(url, "https://", 8) == 0)
		dflt = 443;
	else if (strncmp(url, "http://", 7) == 0)
		dflt = 80;
	else
		return false;
	a = strstr(url, "://") + 3;
	an = strcspn(a, "/?#");
	return authority(a, an, dflt, &h1, &h1n, &p1) &&
	       authority(host, strlen(host), dflt, &h2, &h2n, &p2) &&
	       h1n == h2n && strncasecmp(h1, h2, h1n) == 0 && p1 == p2;
}

bool zkd_host_ok(const char *host, const char *redirect_uri, const char *public_url)
{
	if (host == NULL || host[0] == '\0' || strpbrk(host, " \t/@?#\\"))
		return false;
	return host_matches(host, redirect_uri) || host_matches(host, public_url);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* s[0..n) decoded into a new string, or NULL (no memory, or a NUL). */
static char *form_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t i, j = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '+') {
			out[j++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && (hi = hex_digit(s[i + 1])) >= 0 &&
			   (lo = hex_digit(s[i + 2])) >= 0) {
			out[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[j++] = s[i];
		}
		if (out[j - 1] == '\0') {
			zk_freezero(out, n + 1);
			return NULL;
		}
	}
	out[j] = '\0';
	return out;
}

int zkd_form_parse(const char *text, struct zkd_form *f)
{
	const char *p = text;

	memset(f, 0, sizeof(*f));
	if (text == NULL)
		return -1;
	while (*p) {
		size_t len = strcspn(p, "&"), nlen;
		const char *eq = memchr(p, '=', len);

		if (len > 0) {
			if (f->n == ZKD_FORM_MAX)
				goto fail;
			nlen = eq ? (size_t)(eq - p) : len;
			f->name[f->n] = form_decode(p, nlen);
			f->value[f->n] = eq ? form_decode(eq + 1, len - nlen - 1) : strdup("");
			f->n++;
			if (f->name[f->n - 1] == NULL || f->value[f->n - 1] == NULL)
				goto fail;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return 0;
fail:
	zkd_form_clear(f);
	return -1;
}

const char *zkd_form_nth(const struct zkd_form *f, const char *name, size_t i)
{
	size_t k;

	for (k = 0; k < f->n; k++)
		if (strcmp(f->name[k], name) == 0 && i-- == 0)
			return f->value[k];
	return NULL;
}

size_t zkd_form_count(const struct zkd_form *f, const char *name)
{
	size_t k, c = 0;

	for (k = 0; k < f->n; k++)
		c += strcmp(f->name[k], name) == 0;
	return c;
}

void zkd_form_clear(struct zkd_form *f)
{
	size_t k;

	for (k = 0; k < f->n; k++) {
		zk_freezero_str(f->name[k]);
		zk_freezero_str(f->value[k]);
	}
	memset(f, 0, sizeof(*f));
}

int zkd_query_parse(struct zkd_query *q, const char *query)
{
	static const char *const once[] = { "state", "code", "error", "iss" };
	size_t i;

	memset(q, 0, sizeof(*q));
	if (zkd_form_parse(query, &q->form) < 0)
		return -1;
	q->state = zkd_form_nth(&q->form, "state", 0);
	q->code = zkd_form_nth(&q->form, "code", 0);
	q->error = zkd_form_nth(&q->form, "error", 0);
	q->iss = zkd_form_nth(&q->form, "iss", 0);
	for (i = 0; i < sizeof(once) / sizeof(once[0]); i++)
		if (zkd_form_count(&q->form, once[i]) > 1)
			q->repeated = true;
	return 0;
}

void zkd_query_clear(struct zkd_query *q)
{
	zkd_form_clear(&q->form);
	memset(q, 0, sizeof(*q));
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
