/* Small helpers shared by the daemon's files: strict numbers, wiping,
 * checked file reads, the CSPRNG, and the URL policy. */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Longest URL we accept anywhere (configuration or discovery). */
#define URL_MAX 4096u

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

int zk_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *p;

	if (!s || !*s)
		return -1;
	for (p = s; *p; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return -1;
		d = (unsigned)(*p - '0');
		if (v > (ULONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void zk_wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

void zk_freezero(void *p, size_t n)
{
	if (!p)
		return;
	zk_wipe(p, n);
	free(p);
}

void zk_freezero_str(char *s)
{
	if (s)
		zk_freezero(s, strlen(s));
}

/* Reads at most max bytes from fd into a fresh NUL-terminated buffer;
 * -2 when there is more than max. The buffer is wiped before any free. */
static int read_capped(int fd, size_t max, char **out, size_t *len)
{
	char *buf;
	size_t n = 0;
	char extra;
	ssize_t r;

	if (max >= SIZE_MAX)
		return -1;
	buf = malloc(max + 1);
	if (!buf)
		return -1;
	while (n < max) {
		r = read(fd, buf + n, max - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n == max) {
		/* One byte more tells a file of exactly max bytes from a bigger one. */
		do
			r = read(fd, &extra, 1);
		while (r < 0 && errno == EINTR);
		zk_wipe(&extra, sizeof(extra));
		if (r != 0) {
			zk_freezero(buf, max + 1);
			return r > 0 ? -2 : -1;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	zk_freezero(buf, max + 1);
	return -1;
}

/*
 * Opens and reads a file the daemon trusts: a regular file (no symbolic
 * link for a secret), not larger than max. A secret must be ours or
 * root's with no group or other permission; any other file must not be
 * world-writable. *out is NUL-terminated and holds nothing past *len:
 * wiping *len bytes (zk_freezero) clears a secret.
 */
static int read_trusted(const char *path, size_t max, bool secret, char **out, size_t *len,
			char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd = -1, r, rc = -1;
	uid_t euid = geteuid();

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (secret ? O_NOFOLLOW : 0));
	if (fd < 0) {
		if (secret && errno == ELOOP)
			seterr(err, errlen, "%s: is a symbolic link", path);
		else
			seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (secret && st.st_uid != euid && st.st_uid != 0) {
		seterr(err, errlen, "%s: owned by uid %u, expected %u or root", path,
		       (unsigned)st.st_uid, (unsigned)euid);
		goto out;
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		seterr(err, errlen, "%s: mode %04o gives access to group or others (use 0600)",
		       path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (!secret && (st.st_mode & S_IWOTH)) {
		seterr(err, errlen, "%s: is world-writable", path);
		goto out;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
		seterr(err, errlen, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	r = read_capped(fd, max, &buf, &n);
	if (r == -2) {
		seterr(err, errlen, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	if (r != 0) {
		seterr(err, errlen, "%s: read failed", path);
		goto out;
	}
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	if (buf)
		zk_freezero(buf, max + 1);
	if (fd >= 0)
		close(fd);
	return rc;
}

int zk_read_secret_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t n = 0;

	if (read_trusted(path, max, true, &buf, &n, err, errlen) < 0)
		return -1;
	if (n > 0 && buf[n - 1] == '\n') {
		buf[--n] = '\0';
		if (n > 0 && buf[n - 1] == '\r')
			buf[--n] = '\0';
	}
	/* An empty secret or one cut short by a NUL would be used as a
	 * different secret than the file holds: refuse both. */
	if (n == 0 || memchr(buf, '\0', n)) {
		seterr(err, errlen, n == 0 ? "%s: is empty" : "%s: contains a NUL byte", path);
		zk_freezero(buf, max + 1);
		return -1;
	}
	*out = buf;
	*len = n;
	return 0;
}

int zk_read_config_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
	return read_trusted(path, max, false, out, len, err, errlen);
}

int zk_random(unsigned char *buf, size_t n)
{
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;

		if (RAND_bytes(buf, chunk) != 1)
			return -1;
		buf += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

/*
 * The time taken depends on the length of a only (the value we hold, such
 * as the expected state), not on where the strings differ.
 */
bool zk_streq_ct(const char *a, const char *b)
{
	size_t la, lb, i;
	unsigned char d;

	if (!a || !b)
		return false;
	la = strlen(a);
	lb = strlen(b);
	d = la != lb;
	for (i = 0; i < la; i++) {
		unsigned char cb = lb ? (unsigned char)b[i < lb ? i : 0] : 0;

		d |= (unsigned char)a[i] ^ cb;
	}
	return d == 0;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A DNS name or IPv4 literal as curl would take it: letters, digits, '-',
 * '.', '_'; no percent-encoding, no empty label at the start. */
static bool regname_ok(const char *h, size_t n)
{
	size_t i;

	if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!is_alnum(h[i]) && h[i] != '-' && h[i] != '.' && h[i] != '_')
			return false;
	return true;
}

static bool host_is_loopback(const char *host, bool bracketed)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (bracketed)
		return inet_pton(AF_INET6, host, &a6) == 1 &&
		       memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	/* inet_pton takes dotted quads only: no "127.1", octal or hex forms. */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return false;
}

/*
 * Scheme, then authority up to the first '/', '?' or '#'. The authority is
 * host[:port] with no userinfo at all: "http://localhost@evil/" would
 * otherwise look local to a careless reader and go to "evil".
 */
bool zk_url_allowed(const char *url)
{
	char host[256];
	const char *p, *auth, *end, *hs, *he, *port = NULL;
	bool https, bracketed = false;
	size_t n;

	if (!url)
		return false;
	n = strnlen(url, URL_MAX + 1);
	if (n == 0 || n > URL_MAX)
		return false;
	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	if (strncasecmp(url, "https://", 8) == 0) {
		https = true;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		https = false;
		auth = url + 7;
	} else {
		return false;
	}
	end = auth + strcspn(auth, "/?#");
	if (end == auth || memchr(auth, '@', (size_t)(end - auth)))
		return false;
	if (*auth == '[') {
		bracketed = true;
		hs = auth + 1;
		he = memchr(hs, ']', (size_t)(end - hs));
		if (!he)
			return false;
		if (he + 1 < end) {
			if (he[1] != ':')
				return false;
			port = he + 2;
		}
	} else {
		hs = auth;
		he = memchr(hs, ':', (size_t)(end - hs));
		if (he)
			port = he + 1;
		else
			he = end;
	}
	if (port) {
		char pbuf[8];
		unsigned long v;
		size_t pl = (size_t)(end - port);

		if (pl == 0 || pl >= sizeof(pbuf))
			return false;
		memcpy(pbuf, port, pl);
		pbuf[pl] = '\0';
		if (zk_parse_uint(pbuf, 1, 65535, &v) != 0)
			return false;
	}
	n = (size_t)(he - hs);
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, hs, n);
	host[n] = '\0';
	if (bracketed) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, host, &a6) != 1)
			return false;
	} else if (!regname_ok(host, n)) {
		return false;
	}
	return https || host_is_loopback(host, bracketed);
}

bool zk_plain_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int zk_no_pass_phrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}
