/* Logging to syslog (LOG_AUTHPRIV) or, for tests and foreground debugging,
 * to stderr. The daemon is single-threaded: plain statics are enough. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

static bool log_to_stderr;
static bool log_debug;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t (*log_clock)(void) = mono_ms;

void zk_log_set_clock(int64_t (*now_ms)(void))
{
	log_clock = now_ms ? now_ms : mono_ms;
}

void zk_log_open(bool to_stderr, bool debug)
{
	log_to_stderr = to_stderr;
	log_debug = debug;
	if (!to_stderr)
		openlog("zkauth-verifyd", LOG_PID, LOG_AUTHPRIV);
}

static const char *level_name(int prio)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
	};

	return names[prio & LOG_PRIMASK];
}

/* Where a cut at len leaves whole characters and whole escapes before it:
 * a reader must not take the half of one for something else. */
static size_t clean_cut(const char *msg, size_t len)
{
	size_t i;

	while (len > 0 && ((unsigned char)msg[len] & 0xc0) == 0x80)
		len--;
	for (i = len > 3 ? len - 3 : 0; i < len; i++)
		if (msg[i] == '\\' && msg[i + 1] == 'x') {
			len = i;
			break;
		}
	return len;
}

/* suffix is kept whole even when the message has to be cut. */
static void vlog(int prio, const char *suffix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog(int prio, const char *suffix, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 32];
	size_t room = sizeof(msg) - strlen(suffix);
	int n;
	size_t i, len;
	ssize_t w;

	n = vsnprintf(msg, room, fmt, ap);
	if (n < 0)
		return;
	len = strlen(msg);
	if ((size_t)n >= room && len >= 3) {
		len = clean_cut(msg, len - 3);
		memcpy(msg + len, "...", 4);
		len += 3;
	}
	memcpy(msg + len, suffix, strlen(suffix) + 1);
	len += strlen(suffix);
	/* Strings from the network or from users end up here: no line breaks,
	 * escapes or other control characters reach the log. */
	for (i = 0; i < len; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	if (!log_to_stderr) {
		syslog(LOG_AUTHPRIV | prio, "%s", msg);
		return;
	}
	n = snprintf(line, sizeof(line), "zkauth-verifyd: %s: %s\n", level_name(prio), msg);
	if (n < 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	do
		w = write(STDERR_FILENO, line, len);
	while (w < 0 && errno == EINTR);
}

void zk_log(int prio, const char *fmt, ...)
{
	va_list ap;
	int saved_errno = errno;

	prio &= LOG_PRIMASK;
	if (prio == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	vlog(prio, "", fmt, ap);
	va_end(ap);
	/* Callers log in the middle of error handling. */
	errno = saved_errno;
}

bool zk_log_limited(struct zk_log_limit *lim, int prio, const char *fmt, ...)
{
	char suffix[96] = "";
	va_list ap;
	int64_t now;
	int saved_errno = errno;

	prio &= LOG_PRIMASK;
	if (prio == LOG_DEBUG && !log_debug)
		return false;
	now = log_clock();
	if (lim->written && now - lim->last < ZK_LOG_LIMIT_MS) {
		if (lim->in_window >= (lim->burst ? lim->burst : 1)) {
			lim->suppressed++;
			return false;
		}
		/* Within the burst: written, the window goes on. */
		lim->in_window++;
		va_start(ap, fmt);
		vlog(prio, "", fmt, ap);
		va_end(ap);
		errno = saved_errno;
		return true;
	}
	/* The span since the last line written, not the interval: the flood
	 * may have stopped long before this line came. */
	if (lim->suppressed > 0)
		snprintf(suffix, sizeof(suffix), " (%lu similar suppressed in the last %lld s)",
			 lim->suppressed, (long long)((now - lim->last) / 1000));
	lim->written = true;
	lim->last = now;
	lim->in_window = 1;
	lim->suppressed = 0;
	va_start(ap, fmt);
	vlog(prio, suffix, fmt, ap);
	va_end(ap);
	errno = saved_errno;
	return true;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 when none starts
 * there: a stray continuation byte, C0/C1/F5..FF, an overlong form, a
 * surrogate, a code point above U+10FFFF or a sequence cut short (the NUL
 * fails the continuation test, so nothing past it is read). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;              /* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f;              /* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90;              /* overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f;              /* above U+10FFFF */
	for (i = 1; i < n; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

static bool plain_ascii(unsigned char c, bool keep_space)
{
	if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '=')
		return false;
	return c != ' ' || keep_space;
}

static const char *quote(const char *s, char *buf, size_t n, bool keep_space)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, cut = 0, len, out, i;
	bool esc;

	if (n == 0)
		return "";
	if (s == NULL)
		p = (const unsigned char *)"";
	while (*p) {
		/* A unit is one character or one bad byte: it goes in whole or
		 * not at all. cut is the last unit boundary that leaves room
		 * for the "..." and the NUL. */
		if (o + 4 <= n)
			cut = o;
		len = utf8_len(p);
		/* U+0080..U+009F are the C1 controls, C2 80..C2 9F. */
		esc = len == 0 || (len == 1 && !plain_ascii(p[0], keep_space)) ||
		      (len == 2 && p[0] == 0xc2 && p[1] <= 0x9f);
		if (len == 0)
			len = 1;
		out = esc ? 4 * len : len;
		if (o + out >= n) {
			o = cut;
			for (i = 0; i < 3 && o + 1 < n; i++)
				buf[o++] = '.';
			break;
		}
		for (i = 0; i < len; i++) {
			if (!esc) {
				buf[o++] = (char)p[i];
				continue;
			}
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[p[i] >> 4];
			buf[o++] = hex[p[i] & 0xf];
		}
		p += len;
	}
	buf[o] = '\0';
	return buf;
}

const char *zk_log_quote(const char *s, char *buf, size_t n)
{
	return quote(s, buf, n, false);
}

const char *zk_log_text(const char *s, char *buf, size_t n)
{
	return quote(s, buf, n, true);
}
