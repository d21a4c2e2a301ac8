/* Module arguments: one table, one strict number parser. */
#include "args.h"

#include <string.h>
#include <sys/un.h>

int zkp_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *p;

	if (s == NULL || *s == '\0')
		return -1;
	for (p = s; *p != '\0'; p++) {
		unsigned int d;

		if (*p < '0' || *p > '9')
			return -1;
		d = (unsigned int)(*p - '0');
		/* v * 10 + d > max, checked without overflow */
		if (v > max / 10)
			return -1;
		v *= 10;
		if (d > max - v)
			return -1;
		v += d;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

enum arg_key { A_SOCKET, A_TIMEOUT, A_QR, A_MAX_AGE, A_DAEMON_USER, A_DEBUG };

static bool user_name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > ZKP_DAEMON_USER_MAX || s[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

static const struct {
	const char *name;   /* with '=' when the argument takes a value */
	enum arg_key key;
} arg_table[] = {
	{ "socket=", A_SOCKET },
	{ "timeout=", A_TIMEOUT },
	{ "qr=", A_QR },
	{ "max_age=", A_MAX_AGE },
	{ "daemon_user=", A_DAEMON_USER },
	{ "debug", A_DEBUG },
};

static const struct {
	const char *name;
	enum zkp_qr_mode mode;
} qr_table[] = {
	{ "auto", ZKP_QR_AUTO },
	{ "utf8", ZKP_QR_UTF8 },
	{ "ascii", ZKP_QR_ASCII },
	{ "off", ZKP_QR_OFF },
};

/* Applies one argument to a; returns NULL or the reason it is refused. */
static const char *apply(struct zkp_args *a, const char *arg)
{
	unsigned long v;
	const char *val = NULL;
	size_t i, n;

	for (i = 0; i < sizeof(arg_table) / sizeof(arg_table[0]); i++) {
		n = strlen(arg_table[i].name);
		if (arg_table[i].name[n - 1] == '=') {
			if (strncmp(arg, arg_table[i].name, n) == 0) {
				val = arg + n;
				break;
			}
		} else if (strcmp(arg, arg_table[i].name) == 0) {
			break;
		}
	}
	if (i == sizeof(arg_table) / sizeof(arg_table[0]))
		return "unknown argument";

	switch (arg_table[i].key) {
	case A_SOCKET:
		/* Absolute, and it must fit sockaddr_un.sun_path with its NUL. */
		if (val[0] != '/' || strlen(val) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return "socket must be an absolute path shorter than 108 bytes";
		a->socket_path = val;
		return NULL;
	case A_TIMEOUT:
		if (zkp_parse_uint(val, ZKP_TIMEOUT_MIN, ZKP_TIMEOUT_MAX, &v) < 0)
			return "timeout must be a whole number of seconds from 1 to 3600";
		a->timeout = (unsigned int)v;
		a->has_timeout = true;
		return NULL;
	case A_MAX_AGE:
		if (zkp_parse_uint(val, 0, ZKP_MAX_AGE_MAX, &v) < 0)
			return "max_age must be a whole number of seconds from 0 to 86400";
		a->has_max_age = true;
		a->max_age = (uint32_t)v;
		return NULL;
	case A_QR:
		for (i = 0; i < sizeof(qr_table) / sizeof(qr_table[0]); i++) {
			if (strcmp(val, qr_table[i].name) == 0) {
				a->qr = qr_table[i].mode;
				return NULL;
			}
		}
		return "qr must be auto, utf8, ascii or off";
	case A_DAEMON_USER:
		if (!user_name_ok(val))
			return "daemon_user must be a user name of at most 32 letters, digits, '_', '.' or '-'";
		a->daemon_user = val;
		return NULL;
	case A_DEBUG:
		a->debug = true;
		return NULL;
	}
	return "unknown argument";
}

int zkp_args_parse(int argc, const char **argv, struct zkp_args *out, int *bad, const char **why)
{
	struct zkp_args a = {
		.socket_path = ZKP_DEFAULT_SOCKET,
		.timeout = ZKP_DEFAULT_TIMEOUT,
		.qr = ZKP_QR_AUTO,
		.has_max_age = false,
		.max_age = 0,
		.daemon_user = ZKP_DEFAULT_DAEMON_USER,
		.debug = false,
	};
	int i;

	for (i = 0; i < argc; i++) {
		const char *reason = argv[i] == NULL ? "missing argument" : apply(&a, argv[i]);

		if (reason != NULL) {
			*bad = i;
			*why = reason;
			return -1;
		}
	}
	*out = a;
	return 0;
}
