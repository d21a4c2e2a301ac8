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

/* Links followed on the way to one file, as the kernel's MAXSYMLINKS. */
#define LINKS_MAX 40

/* Root, or the user the daemon runs as: the only ones who may change what
 * it trusts. */
static bool owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/*
 * A directory on the way to a trusted file: whoever may write to it may
 * replace the file. A root-owned sticky directory such as /tmp is the
 * exception: there only an entry's owner (checked next) or root may rename
 * or remove it.
 */
static int check_dir(const struct stat *st, const char *path, const char *dir, char *err,
		     size_t errlen)
{
	if (!owner_ok(st->st_uid)) {
		seterr(err, errlen, "%s: directory %s is owned by uid %u, not root or the daemon's "
		       "user (uid %u)", path, dir, (unsigned)st->st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !((st->st_mode & S_ISVTX) && st->st_uid == 0)) {
		seterr(err, errlen, "%s: directory %s is %s-writable (mode %04o) and not a "
		       "root-owned sticky directory like /tmp: others could replace the file; "
		       "chmod go-w it", path, dir, (st->st_mode & S_IWOTH) ? "world" : "group",
		       (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

/*
 * Opens path for reading as the kernel would resolve it, but one component
 * at a time with openat() from "/" (a relative path from getcwd()),
 * checking each directory before going into it and holding it open while
 * the next one is opened. A walk with file descriptors rather than
 * realpath() and then open(): what is checked is what is opened, and no
 * rename in between can swap a directory. A symbolic link on the way
 * (/var/run, an /etc/zkauth that points elsewhere) is followed only when
 * root or we own it: it sits in a directory already checked, so no one
 * else can change it, and its target is walked and checked the same way.
 * The last component is opened with O_NOFOLLOW: the file itself is never a
 * link. Returns the fd, or -1 with "PATH: reason" in err.
 */
static int open_walk(const char *path, char *err, size_t errlen)
{
	char rest[2 * PATH_MAX], where[PATH_MAX], target[PATH_MAX], name[NAME_MAX + 1];
	const char *p;
	struct stat st;
	size_t n, links = 0;
	ssize_t tl;
	int dfd = -1, fd = -1;
	bool last;

	if (path[0] == '/') {
		n = (size_t)snprintf(rest, sizeof(rest), "%s", path);
	} else {
		if (!getcwd(where, sizeof(where))) {
			seterr(err, errlen, "%s: current directory: %s", path, strerror(errno));
			return -1;
		}
		n = (size_t)snprintf(rest, sizeof(rest), "%s/%s", where, path);
	}
	if (n >= sizeof(rest)) {
		seterr(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	p = rest;
	for (;;) {
		if (*p == '/') {
			/* From the top: the path, or a link's absolute target. */
			if (dfd >= 0)
				close(dfd);
			where[0] = '\0';
			dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0 || fstat(dfd, &st) != 0) {
				seterr(err, errlen, "%s: /: %s", path, strerror(errno));
				goto fail;
			}
			if (check_dir(&st, path, "/", err, errlen) < 0)
				goto fail;
			p += strspn(p, "/");
		}
		n = strcspn(p, "/");
		if (n == 0) {
			/* "/" or "dir/": names a directory. */
			seterr(err, errlen, "%s: not a regular file", path);
			goto fail;
		}
		if (n > NAME_MAX) {
			seterr(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
			goto fail;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		last = *p == '\0';
		p += strspn(p, "/");
		if (last)
			break;
		if (strcmp(name, ".") == 0)
			continue;
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0) {
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > LINKS_MAX) {
				seterr(err, errlen, "%s: %s", path, strerror(ELOOP));
				goto fail;
			}
			if (!owner_ok(st.st_uid)) {
				seterr(err, errlen, "%s: symbolic link %s/%s is owned by uid %u, not "
				       "root or the daemon's user (uid %u)", path, where, name,
				       (unsigned)st.st_uid, (unsigned)geteuid());
				goto fail;
			}
			/* "" reads the link the O_PATH fd stands for. */
			tl = readlinkat(fd, "", target, sizeof(target));
			if (tl <= 0 || (size_t)tl >= sizeof(target)) {
				seterr(err, errlen, "%s: %s/%s: cannot read the link", path, where, name);
				goto fail;
			}
			/* The target takes the link's place in what is left to walk. */
			n = strlen(p);
			if ((size_t)tl + 1 + n >= sizeof(rest)) {
				seterr(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
				goto fail;
			}
			memmove(rest + tl + 1, p, n + 1);
			memcpy(rest, target, (size_t)tl);
			rest[tl] = '/';
			p = rest;
			close(fd);
			fd = -1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			seterr(err, errlen, "%s: %s/%s: %s", path, where, name, strerror(ENOTDIR));
			goto fail;
		}
		if (strcmp(name, "..") == 0) {
			char *slash = strrchr(where, '/');

			if (slash)
				*slash = '\0';
		} else {
			if (strlen(where) + 1 + n >= sizeof(where)) {
				seterr(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
				goto fail;
			}
			strcat(where, "/");
			strcat(where, name);
		}
		if (check_dir(&st, path, where[0] ? where : "/", err, errlen) < 0)
			goto fail;
		close(dfd);
		dfd = fd;
		fd = -1;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		seterr(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	/* O_NONBLOCK: a FIFO put in the file's place must not hang the open. */
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ELOOP)
			seterr(err, errlen, "%s: is a symbolic link", path);
		else
			seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	close(dfd);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return -1;
}

/*
 * StrictModes for a file the daemon trusts, after OpenSSH's
 * secure_filename(): a regular file reached through directories only root
 * or we can change (open_walk), owned by root or us. A secret has no group
 * or other permission bits at all; any other file is not group- or
 * world-writable. Sets *st and returns the open fd, or -1 with a reason.
 */
static int open_checked(const char *path, bool secret, struct stat *st, char *err, size_t errlen)
{
	int fd;

	if (!path || !*path) {
		seterr(err, errlen, "%s: %s", path ? path : "(null)", strerror(ENOENT));
		return -1;
	}
	fd = open_walk(path, err, errlen);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (!owner_ok(st->st_uid)) {
		seterr(err, errlen, "%s: owned by uid %u, not root or the daemon's user (uid %u)",
		       path, (unsigned)st->st_uid, (unsigned)geteuid());
		goto fail;
	}
	if (secret && (st->st_mode & (S_IRWXG | S_IRWXO))) {
		seterr(err, errlen, "%s: mode %04o gives access to group or others (use 0600)",
		       path, (unsigned)(st->st_mode & 07777));
		goto fail;
	}
	if (!secret && (st->st_mode & (S_IWGRP | S_IWOTH))) {
		seterr(err, errlen, "%s: %s-writable (mode %04o): the daemon trusts this file, so "
		       "only root or its own user may change it; chmod %s it", path,
		       (st->st_mode & S_IWOTH) ? "world" : "group", (unsigned)(st->st_mode & 07777),
		       (st->st_mode & S_IWOTH) ? "go-w" : "g-w");
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * Opens and reads a file the daemon trusts (open_checked), not larger
 * than max. *out is NUL-terminated and holds nothing past *len: wiping
 * *len bytes (zk_freezero) clears a secret.
 */
static int read_trusted(const char *path, size_t max, bool secret, char **out, size_t *len,
			char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd, r, rc = -1;

	fd = open_checked(path, secret, &st, err, errlen);
	if (fd < 0)
		goto out;
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

int zk_check_trusted_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open_checked(path, false, &st, err, errlen);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
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
