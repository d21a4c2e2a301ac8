/* Logging: syslog LOG_AUTHPRIV, or stderr when asked (tests, foreground debugging).
 * Never pass secrets, tokens, codes, state or full callback URLs. */
#ifndef ZK_LOG_H
#define ZK_LOG_H

#include <stdbool.h>
#include <syslog.h>

void zk_log_open(bool to_stderr, bool debug);
void zk_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
