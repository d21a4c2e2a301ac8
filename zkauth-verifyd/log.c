/* Logging to syslog (LOG_AUTHPRIV) or, for tests and foreground debugging,
 * to stderr. The daemon is single-threaded: plain statics are enough. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

static bool log_to_stderr;
static bool log_debug;

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

void zk_log(int prio, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 32];
	va_list ap;
	int n;
	size_t i, len;
	ssize_t w;
	int saved_errno = errno;

	prio &= LOG_PRIMASK;
	if (prio == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		goto out;
	len = strlen(msg);
	if ((size_t)n >= sizeof(msg) && len >= 3)
		memcpy(msg + len - 3, "...", 3);
	/* Strings from the network or from users end up here: no line breaks,
	 * escapes or other control characters reach the log. */
	for (i = 0; i < len; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	if (!log_to_stderr) {
		syslog(LOG_AUTHPRIV | prio, "%s", msg);
		goto out;
	}
	n = snprintf(line, sizeof(line), "zkauth-verifyd: %s: %s\n", level_name(prio), msg);
	if (n < 0)
		goto out;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	do
		w = write(STDERR_FILENO, line, len);
	while (w < 0 && errno == EINTR);
out:
	/* Callers log in the middle of error handling. */
	errno = saved_errno;
}
