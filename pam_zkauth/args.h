/* Module arguments: `socket=PATH timeout=SECONDS qr=auto|utf8|ascii|off
 * max_age=SECONDS daemon_user=NAME debug`, parsed into a struct through
 * one table. */
#ifndef ZKP_ARGS_H
#define ZKP_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "qr.h"

#define ZKP_DEFAULT_SOCKET  "/run/zkauth/verifyd.sock"
#define ZKP_DEFAULT_TIMEOUT 300u
/* For service sshd without timeout=: sshd drops the connection after
 * LoginGraceTime (120 s by default), counted from the TCP connect; key
 * exchange and the first prompt take some of it. The module ends first,
 * with its own "timed out", and the daemon cancels the login. */
#define ZKP_SSHD_TIMEOUT    100u
#define ZKP_TIMEOUT_MIN     1u
#define ZKP_TIMEOUT_MAX     3600u
#define ZKP_MAX_AGE_MAX     86400u
/* The account the daemon runs as (besides root); its uid is the only
 * other one trusted at the other end of the socket. */
#define ZKP_DEFAULT_DAEMON_USER "zkauth"
#define ZKP_DAEMON_USER_MAX 32u

struct zkp_args {
	const char *socket_path; /* points into argv or at the default */
	unsigned int timeout;    /* seconds for the whole sign-in */
	bool has_timeout;        /* timeout= given */
	enum zkp_qr_mode qr;
	bool has_max_age;        /* max_age= given (0 is valid: re-authenticate now) */
	uint32_t max_age;
	const char *daemon_user; /* points into argv or at the default */
	bool debug;
};

/*
 * Strict unsigned decimal: the whole string, digits only (no sign, no
 * blanks), no overflow, within [min, max]. Returns 0 and sets *out, or -1.
 */
int zkp_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/*
 * Parses argv. Returns 0 and fills *out, or -1 with *bad set to the index
 * of the first refused argument and *why to a constant reason. A repeated
 * argument takes its last value. *out is written only on success.
 */
int zkp_args_parse(int argc, const char **argv, struct zkp_args *out, int *bad, const char **why);

#endif
