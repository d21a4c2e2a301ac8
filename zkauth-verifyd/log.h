/* Logging: syslog LOG_AUTHPRIV, or stderr when asked (tests, foreground debugging).
 * Never pass secrets, tokens, codes, state or full callback URLs. */
#ifndef ZK_LOG_H
#define ZK_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

void zk_log_open(bool to_stderr, bool debug);
void zk_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Room for any quoted copy of len bytes: each byte may become \xHH. */
#define ZK_LOG_QUOTED(len) (4 * (size_t)(len) + 1)

/*
 * Every string that users, the network or the provider control goes
 * through this before it reaches a log line, so that it cannot end its
 * field and pose as another one (user="x" result=granted) or as another
 * line. Space, '"', '\\', '=', control bytes, the C1 controls (raw bytes
 * 0x80..0x9f and U+0080..U+009F) and every byte that is not part of valid
 * UTF-8 (overlong, surrogate, above U+10FFFF, cut off) become \xHH; other
 * UTF-8 stays readable. A copy that does not fit in n bytes ends in "...",
 * never inside an escape or a character. Returns buf ("" for a NULL s, or
 * when n is 0).
 */
const char *zk_log_quote(const char *s, char *buf, size_t n);
/* The same for free text at the end of a line, such as a library's error
 * message: spaces stay, so it remains readable; '=' and '"' still do not. */
const char *zk_log_text(const char *s, char *buf, size_t n);

/*
 * Lines that anyone can provoke at will (forged callbacks, refused local
 * connections) are written at most burst times (default once) per
 * ZK_LOG_LIMIT_MS for each kind: the first at once, then the next one once
 * the interval has passed, which says how many were dropped since. One zero-initialised
 * struct per kind of line, usually static at the call site. Lines dropped
 * after the last one written are not reported until the next one comes.
 */
#define ZK_LOG_LIMIT_MS 10000
struct zk_log_limit {
	int64_t last;               /* clock of the first line of this window, ms */
	unsigned long suppressed;   /* dropped since then */
	bool written;               /* a line of this kind was ever written */
	unsigned burst;             /* lines a window may have; 0 means 1 */
	unsigned in_window;         /* written in this window */
};
/* Returns whether the line was written. */
bool zk_log_limited(struct zk_log_limit *lim, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Tests drive the limiter's clock (milliseconds); NULL restores
 * CLOCK_MONOTONIC. */
void zk_log_set_clock(int64_t (*now_ms)(void));

#endif
