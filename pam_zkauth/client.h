/* The module's end of the Unix socket to zkauth-verifyd. Every call is
 * bounded by a timeout; nothing here blocks without one. */
#ifndef ZKP_CLIENT_H
#define ZKP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "zkauth_proto.h"

/* How an exchange with the daemon ended. */
enum zkp_io {
	ZKP_IO_OK = 0,
	ZKP_IO_CLOSED,  /* the daemon closed the connection */
	ZKP_IO_TIMEOUT, /* no (whole) answer in time */
	ZKP_IO_ERROR,   /* the socket failed */
	ZKP_IO_PROTO,   /* malformed frame, or one not allowed at this point */
};

/* Longest a connect may take, though on a Unix socket it rarely waits. */
#define ZKP_CONNECT_MS 1000
/* Time the daemon has to answer START. */
#define ZKP_START_REPLY_MS 10000
/* Grace beyond wait_ms for the daemon's answer to WAIT. */
#define ZKP_WAIT_GRACE_MS 5000

/*
 * Connects to the daemon's socket at path (absolute), trusting it only if:
 * path is a socket (lstat); its directory is a real directory, not group-
 * or world-writable, not sticky, owned by root or by the socket's owner;
 * and the peer's SO_PEERCRED uid equals the socket's owner and is root or
 * the directory's owner. Returns a CLOEXEC, non-blocking descriptor and
 * sets *peer_uid, or returns -1 with the reason for the admin in err.
 */
int zkp_client_connect(const char *path, const char *daemon_user, uid_t *peer_uid, char *err,
		       size_t errlen);

/* Writes a whole frame within timeout_ms (MSG_NOSIGNAL). enum zkp_io. */
int zkp_client_send(int fd, const uint8_t *frame, size_t len, int timeout_ms);

/*
 * Reads one whole frame within timeout_ms: the header, checked with
 * zk_proto_parse_header, then exactly the announced body into body
 * (ZK_MAX_BODY bytes). enum zkp_io; *type and *len set on ZKP_IO_OK.
 */
int zkp_client_recv(int fd, int timeout_ms, uint8_t *type, uint8_t *body, uint32_t *len);

/*
 * START, then its answer within ZKP_START_REPLY_MS: a CHALLENGE with a
 * non-empty URL (*is_challenge true, *ch set) or a VERDICT refusing the
 * login (*is_challenge false, *v set; OK and PENDING are not refusals and
 * count as ZKP_IO_PROTO). enum zkp_io.
 */
int zkp_client_start(int fd, const struct zk_start *s, bool *is_challenge,
		     struct zk_challenge *ch, struct zk_verdict *v);

/* WAIT {wait_ms}, then a VERDICT within wait_ms + ZKP_WAIT_GRACE_MS.
 * enum zkp_io; *v set on ZKP_IO_OK. */
int zkp_client_wait(int fd, uint32_t wait_ms, struct zk_verdict *v);
/* Sends what the person pasted at the prompt (no answer comes back). */
int zkp_client_paste(int fd, const struct zk_paste *p);

/* A word for the log. */
const char *zkp_io_str(int io);

#endif
