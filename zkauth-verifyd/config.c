/*
 * zkauth.conf: an INI file with the keys of DESIGN.md section 5.
 *
 * One keyword table says, for every key, its section, how its value is
 * parsed and where it is stored (like OpenSSH's servconf.c). Everything
 * not in the table is an error, so is a key twice or in the wrong section.
 * After the file: profile presets, defaults, then the checks that involve
 * several keys. The result is all-or-nothing.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "util.h"

#define CONF_FILE_MAX (64u * 1024u)
#define CONF_LINE_MAX 4096u

/* Enum fields are written through an unsigned pointer by parse_enum. */
_Static_assert(sizeof(enum zk_profile) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum zk_auth_method) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum zk_flow) == sizeof(unsigned), "enum size");

enum section { SEC_NONE, SEC_PROVIDER, SEC_LISTENER, SEC_ACCOUNTS, SEC_DAEMON, SEC_COUNT };

static const char *const section_names[SEC_COUNT] = {
	[SEC_NONE] = "",
	[SEC_PROVIDER] = "provider",
	[SEC_LISTENER] = "listener",
	[SEC_ACCOUNTS] = "accounts",
	[SEC_DAEMON] = "daemon",
};

struct enum_name {
	const char *name;
	unsigned value;
};

static const struct enum_name profile_names[] = {
	{ "oidc", ZK_PROFILE_OIDC },
	{ "zkauth", ZK_PROFILE_ZKAUTH },
	{ "zeroauth", ZK_PROFILE_ZEROAUTH },
	{ NULL, 0 },
};

static const struct enum_name auth_method_names[] = {
	{ "client_secret_basic", ZK_AUTH_BASIC },
	{ "client_secret_post", ZK_AUTH_POST },
	{ "client_secret_json", ZK_AUTH_JSON },
	{ "private_key_jwt", ZK_AUTH_PRIVATE_KEY_JWT },
	{ "none", ZK_AUTH_NONE },
	{ NULL, 0 },
};

static const struct enum_name yes_no_names[] = {
	{ "yes", 1 },
	{ "no", 0 },
	{ NULL, 0 },
};

static const struct enum_name flow_names[] = {
	{ "code", ZK_FLOW_CODE },
	{ "device", ZK_FLOW_DEVICE },
	{ NULL, 0 },
};

struct keyword;

/* Parses val (trimmed, comment removed, possibly "") into field; on
 * failure returns -1 with the reason in why. */
typedef int (*kw_parse)(const struct keyword *k, const char *val, void *field,
			char *why, size_t whylen);

struct keyword {
	const char *name;
	enum section section;
	kw_parse parse;
	size_t offset;
	unsigned long min, max;        /* parse_uint */
	const struct enum_name *names; /* parse_enum */
};

static int parse_str(const struct keyword *, const char *, void *, char *, size_t);
static int parse_client_id(const struct keyword *, const char *, void *, char *, size_t);
static int parse_path(const struct keyword *, const char *, void *, char *, size_t);
static int parse_socket(const struct keyword *, const char *, void *, char *, size_t);
static int parse_url(const struct keyword *, const char *, void *, char *, size_t);
static int parse_base_url(const struct keyword *, const char *, void *, char *, size_t);
static int parse_redirect(const struct keyword *, const char *, void *, char *, size_t);
static int parse_enum(const struct keyword *, const char *, void *, char *, size_t);
static int parse_uint(const struct keyword *, const char *, void *, char *, size_t);
static int parse_algs(const struct keyword *, const char *, void *, char *, size_t);
static int parse_scopes(const struct keyword *, const char *, void *, char *, size_t);
static int parse_tokens(const struct keyword *, const char *, void *, char *, size_t);
static int parse_listen(const struct keyword *, const char *, void *, char *, size_t);
static int parse_key_id(const struct keyword *, const char *, void *, char *, size_t);

enum kw_id {
	K_PROFILE, K_ISSUER, K_CLIENT_ID, K_CLIENT_SECRET_FILE, K_TOKEN_AUTH_METHOD,
	K_CLIENT_KEY_FILE, K_API_KEY_FILE, K_FLOW, K_REDIRECT_URI, K_SCOPES,
	K_ALLOWED_ALGS, K_CLOCK_SKEW, K_CA_FILE, K_AUTHORIZATION_ENDPOINT,
	K_TOKEN_ENDPOINT, K_JWKS_URI, K_DEVICE_AUTHORIZATION_ENDPOINT,
	K_LISTEN, K_TLS_CERTIFICATE, K_TLS_PRIVATE_KEY, K_PUBLIC_URL,
	K_MAP_FILE, K_REQUIRE_GROUPS, K_ACR_VALUES,
	K_SOCKET, K_FLOW_TIMEOUT, K_MAX_PENDING, K_MAX_PENDING_PER_USER,
	K_DEVICE_FLOW_REMOTE, K_STEP_UP_SERVICES, K_TERMINAL_CODE, K_MAX_PENDING_PER_ACCOUNT,
	K_CLIENT_KEY_ID,
	K_MAX_CONNECTIONS, K_MAX_CONNECTIONS_PER_ADDRESS,
	K_COUNT
};

#define OFF(f) offsetof(struct zk_config, f)

static const struct keyword keywords[K_COUNT] = {
	[K_PROFILE] = { "profile", SEC_PROVIDER, parse_enum, OFF(profile), 0, 0, profile_names },
	[K_ISSUER] = { "issuer", SEC_PROVIDER, parse_base_url, OFF(issuer), 0, 0, NULL },
	[K_CLIENT_ID] = { "client_id", SEC_PROVIDER, parse_client_id, OFF(client_id), 0, 0, NULL },
	[K_CLIENT_SECRET_FILE] = { "client_secret_file", SEC_PROVIDER, parse_path,
				   OFF(client_secret_file), 0, 0, NULL },
	[K_TOKEN_AUTH_METHOD] = { "token_auth_method", SEC_PROVIDER, parse_enum,
				  OFF(token_auth_method), 0, 0, auth_method_names },
	[K_CLIENT_KEY_FILE] = { "client_key_file", SEC_PROVIDER, parse_path,
				OFF(client_key_file), 0, 0, NULL },
	[K_API_KEY_FILE] = { "api_key_file", SEC_PROVIDER, parse_path, OFF(api_key_file), 0, 0, NULL },
	[K_FLOW] = { "flow", SEC_PROVIDER, parse_enum, OFF(flow), 0, 0, flow_names },
	[K_REDIRECT_URI] = { "redirect_uri", SEC_PROVIDER, parse_redirect, OFF(redirect_uri),
			     0, 0, NULL },
	[K_SCOPES] = { "scopes", SEC_PROVIDER, parse_scopes, OFF(scopes), 0, 0, NULL },
	[K_ACR_VALUES] = { "acr_values", SEC_PROVIDER, parse_tokens, OFF(acr_values), 0, 0, NULL },
	[K_ALLOWED_ALGS] = { "allowed_algs", SEC_PROVIDER, parse_algs, OFF(allowed_algs), 0, 0, NULL },
	[K_CLOCK_SKEW] = { "clock_skew", SEC_PROVIDER, parse_uint, OFF(clock_skew), 0, 600, NULL },
	[K_CA_FILE] = { "ca_file", SEC_PROVIDER, parse_path, OFF(ca_file), 0, 0, NULL },
	[K_AUTHORIZATION_ENDPOINT] = { "authorization_endpoint", SEC_PROVIDER, parse_url,
				       OFF(authorization_endpoint), 0, 0, NULL },
	[K_TOKEN_ENDPOINT] = { "token_endpoint", SEC_PROVIDER, parse_url, OFF(token_endpoint),
			       0, 0, NULL },
	[K_JWKS_URI] = { "jwks_uri", SEC_PROVIDER, parse_url, OFF(jwks_uri), 0, 0, NULL },
	[K_DEVICE_AUTHORIZATION_ENDPOINT] = { "device_authorization_endpoint", SEC_PROVIDER, parse_url,
					      OFF(device_authorization_endpoint), 0, 0, NULL },
	[K_LISTEN] = { "listen", SEC_LISTENER, parse_listen, OFF(listen), 0, 0, NULL },
	[K_TLS_CERTIFICATE] = { "tls_certificate", SEC_LISTENER, parse_path,
				OFF(tls_certificate), 0, 0, NULL },
	[K_TLS_PRIVATE_KEY] = { "tls_private_key", SEC_LISTENER, parse_path,
				OFF(tls_private_key), 0, 0, NULL },
	[K_PUBLIC_URL] = { "public_url", SEC_LISTENER, parse_base_url, OFF(public_url), 0, 0, NULL },
	[K_MAX_CONNECTIONS] = { "max_connections", SEC_LISTENER, parse_uint, OFF(max_connections),
				1, 100000, NULL },
	[K_MAX_CONNECTIONS_PER_ADDRESS] = { "max_connections_per_address", SEC_LISTENER, parse_uint,
					    OFF(max_connections_per_address), 1, 100000, NULL },
	[K_MAP_FILE] = { "map_file", SEC_ACCOUNTS, parse_path, OFF(map_file), 0, 0, NULL },
	[K_REQUIRE_GROUPS] = { "require_groups", SEC_ACCOUNTS, parse_str, OFF(require_groups),
			       0, 0, NULL },
	[K_SOCKET] = { "socket", SEC_DAEMON, parse_socket, OFF(socket_path), 0, 0, NULL },
	[K_FLOW_TIMEOUT] = { "flow_timeout", SEC_DAEMON, parse_uint, OFF(flow_timeout), 5, 600, NULL },
	[K_MAX_PENDING] = { "max_pending", SEC_DAEMON, parse_uint, OFF(max_pending), 1, 100000, NULL },
	[K_MAX_PENDING_PER_USER] = { "max_pending_per_user", SEC_DAEMON, parse_uint,
				     OFF(max_pending_per_user), 1, 1000, NULL },
	[K_DEVICE_FLOW_REMOTE] = { "device_flow_remote", SEC_PROVIDER, parse_enum,
				   OFF(device_flow_remote), 0, 0, yes_no_names },
	[K_STEP_UP_SERVICES] = { "step_up_services", SEC_DAEMON, parse_tokens,
				 OFF(step_up_services), 0, 0, NULL },
	[K_CLIENT_KEY_ID] = { "client_key_id", SEC_PROVIDER, parse_key_id, OFF(client_key_id),
			      0, 0, NULL },
	[K_MAX_PENDING_PER_ACCOUNT] = { "max_pending_per_account", SEC_DAEMON, parse_uint,
					OFF(max_pending_per_account), 1, 100000, NULL },
	[K_TERMINAL_CODE] = { "terminal_code", SEC_DAEMON, parse_enum, OFF(terminal_code), 0, 0,
			      yes_no_names },
};

/* The string fields, for zk_config_free. */
static const size_t string_fields[] = {
	OFF(issuer), OFF(client_id), OFF(client_secret_file), OFF(client_key_file),
	OFF(api_key_file), OFF(redirect_uri), OFF(scopes), OFF(ca_file),
	OFF(authorization_endpoint), OFF(token_endpoint), OFF(jwks_uri),
	OFF(device_authorization_endpoint), OFF(listen), OFF(tls_certificate),
	OFF(tls_private_key), OFF(public_url), OFF(map_file), OFF(require_groups),
	OFF(acr_values), OFF(socket_path), OFF(step_up_services), OFF(client_key_id),
};

#define ZKAUTH_AUTHORIZE "https://auth.zkauth.tech/api/oauth/authorize"
#define ZKAUTH_TOKEN     "https://api.zkauth.tech/api/oauth/token"
#define ZKAUTH_JWKS      "https://api.zkauth.tech/.well-known/jwks.json"
#define ZKAUTH_ISSUER    "https://api.zkauth.tech"

#define DEFAULT_LISTEN   "127.0.0.1:8443"
/* PAM services that raise privileges or unlock a session: malware running
 * as the user must not approve them through the user's signed-in browser,
 * so they ask the provider for a fresh sign-in. */
#define DEFAULT_STEP_UP_SERVICES \
	"sudo sudo-i su su-l polkit-1 pkexec xscreensaver gnome-screensaver " \
	"cinnamon-screensaver mate-screensaver xfce4-screensaver kde kscreenlocker " \
	"i3lock swaylock xlock xsecurelock physlock"
#define DEFAULT_MAP_FILE "/etc/zkauth/users.map"
#define DEFAULT_SOCKET   "/run/zkauth/verifyd.sock"
#define DEFAULT_SCOPES   "openid"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char **str_field(struct zk_config *c, size_t off)
{
	return (char **)(void *)((unsigned char *)c + off);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int set_string(const char *val, void *field, char *why, size_t whylen)
{
	char *s;

	if (!*val)
		return 0; /* "key =": absent; defaults and presets still apply */
	s = strdup(val);
	if (!s) {
		seterr(why, whylen, "out of memory");
		return -1;
	}
	*(char **)field = s;
	return 0;
}

static int parse_str(const struct keyword *k, const char *val, void *field, char *why, size_t whylen)
{
	return set_string(val, field, why, whylen);
}

/* RFC 6749 appendix A.1: client_id is VSCHAR (printable ASCII and space). */
static int parse_client_id(const struct keyword *k, const char *val, void *field, char *why,
			   size_t whylen)
{
	const char *p;

	for (p = val; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			seterr(why, whylen, "must be printable ASCII");
			return -1;
		}
	}
	return set_string(val, field, why, whylen);
}

/* The daemon does not depend on its working directory: absolute paths. */
static int parse_path(const struct keyword *k, const char *val, void *field, char *why, size_t whylen)
{
	if (*val && *val != '/') {
		seterr(why, whylen, "must be an absolute path");
		return -1;
	}
	return set_string(val, field, why, whylen);
}

static int parse_socket(const struct keyword *k, const char *val, void *field, char *why,
			size_t whylen)
{
	struct sockaddr_un sa;

	if (strlen(val) >= sizeof(sa.sun_path)) {
		seterr(why, whylen, "longer than %zu bytes", sizeof(sa.sun_path) - 1);
		return -1;
	}
	return parse_path(k, val, field, why, whylen);
}

static int parse_url(const struct keyword *k, const char *val, void *field, char *why, size_t whylen)
{
	if (*val && !zk_url_allowed(val)) {
		seterr(why, whylen, "must be an https:// URL (http:// only to a loopback address)");
		return -1;
	}
	return set_string(val, field, why, whylen);
}

/* issuer and public_url are bases other URLs are built on (and the issuer
 * is compared exactly): no query, no fragment. */
static int parse_base_url(const struct keyword *k, const char *val, void *field, char *why,
			  size_t whylen)
{
	if (strpbrk(val, "?#")) {
		seterr(why, whylen, "must not have a query or fragment");
		return -1;
	}
	return parse_url(k, val, field, why, whylen);
}

/* RFC 6749 3.1.2: the redirection endpoint has no fragment. */
static int parse_redirect(const struct keyword *k, const char *val, void *field, char *why,
			  size_t whylen)
{
	if (strchr(val, '#')) {
		seterr(why, whylen, "must not have a fragment");
		return -1;
	}
	return parse_url(k, val, field, why, whylen);
}

static int parse_enum(const struct keyword *k, const char *val, void *field, char *why, size_t whylen)
{
	const struct enum_name *e;
	size_t used;

	for (e = k->names; e->name; e++) {
		if (strcmp(val, e->name) == 0) {
			*(unsigned *)field = e->value;
			return 0;
		}
	}
	seterr(why, whylen, "expected one of ");
	for (e = k->names; e->name && why; e++) {
		used = strlen(why);
		if (used + 1 < whylen)
			snprintf(why + used, whylen - used, "%s%s", e == k->names ? "" : "|", e->name);
	}
	return -1;
}

static int parse_uint(const struct keyword *k, const char *val, void *field, char *why, size_t whylen)
{
	unsigned long v;

	if (zk_parse_uint(val, k->min, k->max, &v) != 0) {
		seterr(why, whylen, "expected a whole number from %lu to %lu", k->min, k->max);
		return -1;
	}
	*(unsigned *)field = (unsigned)v;
	return 0;
}

/* Next token of s separated by spaces or tabs; NULL at the end. */
static const char *next_token(const char **s, size_t *len)
{
	const char *p = *s, *start;

	while (is_space(*p))
		p++;
	if (!*p)
		return NULL;
	start = p;
	while (*p && !is_space(*p))
		p++;
	*len = (size_t)(p - start);
	*s = p;
	return start;
}

static int parse_algs(const struct keyword *k, const char *val, void *field, char *why, size_t whylen)
{
	char name[16];
	const char *tok;
	unsigned mask = 0, bit;
	size_t n;

	while ((tok = next_token(&val, &n))) {
		bit = 0;
		if (n < sizeof(name)) {
			memcpy(name, tok, n);
			name[n] = '\0';
			bit = zk_alg_from_name(name);
		}
		if (!bit) {
			seterr(why, whylen, "unknown algorithm '%.*s'", (int)(n > 32 ? 32 : n), tok);
			return -1;
		}
		mask |= bit;
	}
	if (!mask) {
		seterr(why, whylen, "at least one algorithm is required");
		return -1;
	}
	*(unsigned *)field = mask;
	return 0;
}

/* RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). The result
 * is the tokens joined by single spaces, "openid" first when missing. */
static int parse_scopes(const struct keyword *k, const char *val, void *field, char *why,
			size_t whylen)
{
	const char *tok, *p = val;
	bool has_openid = false, any = false;
	size_t n, i, cap, used = 0;
	char *out;

	while ((tok = next_token(&p, &n))) {
		any = true;
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)tok[i];

			if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') {
				seterr(why, whylen,
				       "scope '%.*s' has a character RFC 6749 does not allow",
				       (int)(n > 64 ? 64 : n), tok);
				return -1;
			}
		}
		if (n == 6 && memcmp(tok, "openid", 6) == 0)
			has_openid = true;
	}
	if (!any)
		return 0; /* default applies */
	cap = strlen(val) + sizeof(" openid");
	out = malloc(cap);
	if (!out) {
		seterr(why, whylen, "out of memory");
		return -1;
	}
	if (!has_openid) {
		memcpy(out, "openid", 6);
		used = 6;
	}
	p = val;
	while ((tok = next_token(&p, &n))) {
		if (used)
			out[used++] = ' ';
		memcpy(out + used, tok, n);
		used += n;
	}
	out[used] = '\0';
	*(char **)field = out;
	return 0;
}

/* A space-separated list of printable tokens (acr_values), kept as written. */
static int parse_tokens(const struct keyword *k, const char *val, void *field, char *why,
			size_t whylen)
{
	const char *p;

	for (p = val; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c < 0x21 && c != ' ') || c > 0x7e || c == '"' || c == '\\') {
			seterr(why, whylen, "must be printable ASCII words separated by spaces");
			return -1;
		}
	}
	return set_string(val, field, why, whylen);
}

/* One printable ASCII word of at most 128 bytes, no quote or backslash:
 * it goes into a JSON string as it is. */
static int parse_key_id(const struct keyword *k, const char *val, void *field, char *why,
			size_t whylen)
{
	if (strlen(val) > 128 || strchr(val, ' ')) {
		seterr(why, whylen, "must be one word of at most 128 characters");
		return -1;
	}
	return parse_tokens(k, val, field, why, whylen);
}

static bool hostname_ok(const char *h, size_t n)
{
	size_t i;

	if (n == 0 || n > 253 || h[0] == '-' || h[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* "HOST:PORT" (IPv4 address or host name) or "[IPV6]:PORT". */
static int parse_listen(const struct keyword *k, const char *val, void *field, char *why,
			size_t whylen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port, *close;
	unsigned long v;
	struct in6_addr a6;
	size_t n;

	if (val[0] == '[') {
		close = strchr(val, ']');
		if (!close || close[1] != ':')
			goto bad;
		n = (size_t)(close - (val + 1));
		if (n == 0 || n >= sizeof(host))
			goto bad;
		memcpy(host, val + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			goto bad;
		port = close + 2;
	} else {
		close = strrchr(val, ':');
		if (!close)
			goto bad;
		n = (size_t)(close - val);
		if (memchr(val, ':', n) || !hostname_ok(val, n))
			goto bad;
		port = close + 1;
	}
	if (zk_parse_uint(port, 1, 65535, &v) != 0)
		goto bad;
	return set_string(val, field, why, whylen);
bad:
	seterr(why, whylen, "expected HOST:PORT or [IPV6]:PORT with a port from 1 to 65535");
	return -1;
}

static const struct keyword *find_keyword(const char *name)
{
	size_t i;

	for (i = 0; i < K_COUNT; i++)
		if (strcmp(keywords[i].name, name) == 0)
			return &keywords[i];
	return NULL;
}

static enum section find_section(const char *name)
{
	int i;

	for (i = SEC_NONE + 1; i < SEC_COUNT; i++)
		if (strcmp(section_names[i], name) == 0)
			return (enum section)i;
	return SEC_NONE;
}

/* Trims spaces and tabs at both ends, in place. */
static char *trim(char *s)
{
	size_t n;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* A '#' that begins s or follows a space or tab starts a comment. */
static void cut_comment(char *s)
{
	char *p;

	for (p = s; *p; p++) {
		if (*p == '#' && (p == s || is_space(p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

struct parse_state {
	const char *path;
	bool seen[K_COUNT];
	size_t line_of[K_COUNT];
};

/* One line (NUL-terminated, no newline, control characters already
 * refused); *sec is the current section. */
static int parse_line(struct parse_state *ps, struct zk_config *c, char *line, size_t lineno,
		      enum section *sec, char *err, size_t errlen)
{
	char why[256], *s, *eq, *key, *val;
	const struct keyword *k;
	size_t idx;

	s = trim(line);
	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		size_t n;

		cut_comment(s);
		s = trim(s);
		n = strlen(s);
		if (n < 2 || s[n - 1] != ']') {
			seterr(err, errlen, "%s:%zu: malformed section header", ps->path, lineno);
			return -1;
		}
		s[n - 1] = '\0';
		s = trim(s + 1);
		*sec = find_section(s);
		if (*sec == SEC_NONE) {
			seterr(err, errlen, "%s:%zu: section '%.64s': unknown section", ps->path,
			       lineno, s);
			return -1;
		}
		return 0;
	}
	eq = strchr(s, '=');
	if (!eq) {
		s[strcspn(s, " \t")] = '\0';
		seterr(err, errlen, "%s:%zu: key '%.64s': expected 'key = value'", ps->path, lineno, s);
		return -1;
	}
	*eq = '\0';
	key = trim(s);
	val = eq + 1;
	cut_comment(val);
	val = trim(val);
	k = find_keyword(key);
	if (!k) {
		seterr(err, errlen, "%s:%zu: key '%.64s': unknown key", ps->path, lineno, key);
		return -1;
	}
	if (k->section != *sec) {
		seterr(err, errlen, "%s:%zu: key '%s': belongs in section [%s]", ps->path, lineno,
		       k->name, section_names[k->section]);
		return -1;
	}
	idx = (size_t)(k - keywords);
	if (ps->seen[idx]) {
		seterr(err, errlen, "%s:%zu: key '%s': duplicate (first set on line %zu)", ps->path,
		       lineno, k->name, ps->line_of[idx]);
		return -1;
	}
	ps->seen[idx] = true;
	ps->line_of[idx] = lineno;
	why[0] = '\0';
	if (k->parse(k, val, (unsigned char *)c + k->offset, why, sizeof(why)) != 0) {
		seterr(err, errlen, "%s:%zu: key '%s': %s", ps->path, lineno, k->name, why);
		return -1;
	}
	return 0;
}

static int parse_text(struct parse_state *ps, struct zk_config *c, const char *data, size_t len,
		      char *err, size_t errlen)
{
	char line[CONF_LINE_MAX + 1];
	enum section sec = SEC_NONE;
	size_t off = 0, lineno = 0, raw, ll, i;
	const char *nl;

	while (off < len) {
		lineno++;
		nl = memchr(data + off, '\n', len - off);
		raw = nl ? (size_t)(nl - (data + off)) : len - off;
		ll = raw;
		if (ll > 0 && data[off + ll - 1] == '\r')
			ll--;
		if (ll > CONF_LINE_MAX) {
			seterr(err, errlen, "%s:%zu: line longer than %u bytes", ps->path, lineno,
			       CONF_LINE_MAX);
			return -1;
		}
		for (i = 0; i < ll; i++) {
			unsigned char ch = (unsigned char)data[off + i];

			if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
				seterr(err, errlen, "%s:%zu: control character in line", ps->path,
				       lineno);
				return -1;
			}
		}
		memcpy(line, data + off, ll);
		line[ll] = '\0';
		off += raw + (nl ? 1 : 0);
		if (parse_line(ps, c, line, lineno, &sec, err, errlen) != 0)
			return -1;
	}
	return 0;
}

static int preset(char **field, const char *value)
{
	if (*field)
		return 0;
	*field = strdup(value);
	return *field ? 0 : -1;
}

/* Profile presets and defaults for what the file left out. */
static int apply_defaults(const struct parse_state *ps, struct zk_config *c)
{
	if (c->profile == ZK_PROFILE_ZKAUTH) {
		if (preset(&c->authorization_endpoint, ZKAUTH_AUTHORIZE) != 0 ||
		    preset(&c->token_endpoint, ZKAUTH_TOKEN) != 0 ||
		    preset(&c->jwks_uri, ZKAUTH_JWKS) != 0 ||
		    preset(&c->issuer, ZKAUTH_ISSUER) != 0)
			return -1;
		if (!ps->seen[K_TOKEN_AUTH_METHOD])
			c->token_auth_method = ZK_AUTH_JSON;
		/* ZKAuth documents its tokens as RS256 only. */
		if (!ps->seen[K_ALLOWED_ALGS])
			c->allowed_algs = ZK_ALG_RS256;
	}
	if (!ps->seen[K_ALLOWED_ALGS] && c->profile != ZK_PROFILE_ZKAUTH)
		c->allowed_algs = ZK_ALGS_DEFAULT;
	if (!ps->seen[K_CLOCK_SKEW])
		c->clock_skew = 60;
	if (!ps->seen[K_FLOW_TIMEOUT])
		c->flow_timeout = 300;
	if (!ps->seen[K_MAX_PENDING])
		c->max_pending = 1000;
	if (!ps->seen[K_MAX_PENDING_PER_USER])
		c->max_pending_per_user = 3;
	if (!ps->seen[K_MAX_PENDING_PER_ACCOUNT])
		c->max_pending_per_account = 10;
	if (!ps->seen[K_MAX_CONNECTIONS])
		c->max_connections = 512;
	if (!ps->seen[K_MAX_CONNECTIONS_PER_ADDRESS])
		c->max_connections_per_address = 32;
	if (!ps->seen[K_DEVICE_FLOW_REMOTE])
		c->device_flow_remote = 1;
	/* "step_up_services =" (empty) turns it off; absent: the default. */
	if (!ps->seen[K_STEP_UP_SERVICES] && preset(&c->step_up_services,
						    DEFAULT_STEP_UP_SERVICES) != 0)
		return -1;
	if (preset(&c->scopes, DEFAULT_SCOPES) != 0 || preset(&c->listen, DEFAULT_LISTEN) != 0 ||
	    preset(&c->map_file, DEFAULT_MAP_FILE) != 0 ||
	    preset(&c->socket_path, DEFAULT_SOCKET) != 0)
		return -1;
	return 0;
}

/* "FILE:LINE: key 'K': why" when the key is in the file, else "FILE: key ...". */
static int key_err(const struct parse_state *ps, enum kw_id id, const char *why, char *err,
		   size_t errlen)
{
	if (ps->seen[id])
		seterr(err, errlen, "%s:%zu: key '%s': %s", ps->path, ps->line_of[id],
		       keywords[id].name, why);
	else
		seterr(err, errlen, "%s: key '%s': %s", ps->path, keywords[id].name, why);
	return -1;
}

/* "https://Host:1/a" and "https://host:2/b": the same scheme and host
 * (case-insensitive), ports aside. */
static bool same_scheme_host(const char *a, const char *b)
{
	size_t na = strcspn(a, "/?#"), nb;
	const char *ha = strstr(a, "://"), *hb = strstr(b, "://");

	if (ha == NULL || hb == NULL || ha - a != hb - b || strncasecmp(a, b, (size_t)(ha - a)) != 0)
		return false;
	ha += 3;
	hb += 3;
	/* host ends at '/', '?', '#' or the port's ':' ("[v6]" kept whole) */
	na = *ha == '[' ? strcspn(ha, "]") + 1 : strcspn(ha, ":/?#");
	nb = *hb == '[' ? strcspn(hb, "]") + 1 : strcspn(hb, ":/?#");
	return na == nb && strncasecmp(ha, hb, na) == 0;
}

static int cross_check(const struct parse_state *ps, const struct zk_config *c, char *err,
		       size_t errlen)
{
	if (!c->client_id)
		return key_err(ps, K_CLIENT_ID, "is required", err, errlen);
	if (c->profile == ZK_PROFILE_OIDC && !c->issuer)
		return key_err(ps, K_ISSUER, "is required with profile oidc", err, errlen);
	if (c->flow == ZK_FLOW_CODE && !c->redirect_uri)
		return key_err(ps, K_REDIRECT_URI, "is required with flow code", err, errlen);
	if (c->token_auth_method == ZK_AUTH_JSON && c->profile != ZK_PROFILE_ZKAUTH)
		return key_err(ps, K_TOKEN_AUTH_METHOD, "client_secret_json needs profile zkauth",
			       err, errlen);
	if (c->profile == ZK_PROFILE_ZEROAUTH) {
		/* The broker holds the client credentials; we hold its API key. */
		if (!c->issuer)
			return key_err(ps, K_ISSUER, "is required with profile zeroauth (its base URL)",
				       err, errlen);
		if (!c->api_key_file)
			return key_err(ps, K_API_KEY_FILE, "is required with profile zeroauth", err, errlen);
		if (!c->jwks_uri)
			return key_err(ps, K_JWKS_URI, "is required with profile zeroauth", err, errlen);
		if (c->flow != ZK_FLOW_CODE)
			return key_err(ps, K_FLOW, "profile zeroauth has only the code flow", err, errlen);
		return 0;
	}
	switch (c->token_auth_method) {
	case ZK_AUTH_NONE:
		break;
	case ZK_AUTH_PRIVATE_KEY_JWT:
		if (!c->client_key_file)
			return key_err(ps, K_CLIENT_KEY_FILE,
				       "is required with token_auth_method private_key_jwt", err,
				       errlen);
		break;
	default:
		if (!c->client_secret_file)
			return key_err(ps, K_CLIENT_SECRET_FILE, "is required unless "
				       "token_auth_method is none or private_key_jwt", err, errlen);
		break;
	}
	/* The confirmation page's cookie must reach the callback: browsers
	 * keep cookies per host and send Secure ones over https only. */
	if (c->public_url && c->redirect_uri && !same_scheme_host(c->public_url, c->redirect_uri))
		return key_err(ps, K_PUBLIC_URL, "must have the scheme and host of redirect_uri "
			       "(the sign-in cookie set on the short link must reach the callback)",
			       err, errlen);
	if (!c->tls_certificate != !c->tls_private_key)
		return key_err(ps, c->tls_certificate ? K_TLS_PRIVATE_KEY : K_TLS_CERTIFICATE,
			       "tls_certificate and tls_private_key go together", err, errlen);
	return 0;
}

void zk_config_free(struct zk_config *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < sizeof(string_fields) / sizeof(string_fields[0]); i++)
		free(*str_field(c, string_fields[i]));
	memset(c, 0, sizeof(*c));
}

int zk_config_load(const char *path, struct zk_config *out, char *err, size_t errlen)
{
	struct parse_state ps;
	struct zk_config c;
	char *data = NULL;
	size_t len = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	memset(&ps, 0, sizeof(ps));
	ps.path = path;
	if (zk_read_config_file(path, CONF_FILE_MAX, &data, &len, err, errlen) != 0)
		goto out;
	if (parse_text(&ps, &c, data, len, err, errlen) != 0)
		goto out;
	if (apply_defaults(&ps, &c) != 0) {
		seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if (cross_check(&ps, &c, err, errlen) != 0)
		goto out;
	*out = c;
	memset(&c, 0, sizeof(c));
	rc = 0;
out:
	zk_config_free(&c);
	free(data);
	return rc;
}
