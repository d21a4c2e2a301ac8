/*
 * zkauth wire protocol between pam_zkauth.so and zkauth-verifyd.
 *
 * One Unix stream socket, one login per connection. Every frame is an
 * 8-byte header followed by a body:
 *
 *   u16 magic   ZK_PROTO_MAGIC ("ZK"), big endian
 *   u8  version ZK_PROTO_VERSION; a peer speaking another version is refused
 *   u8  type    enum zk_msg_type
 *   u32 length  body length in bytes, big endian, <= ZK_MAX_BODY
 *
 * Body fields come in the fixed order given for each type below:
 *   u32  big endian
 *   str  u16 length (big endian) + that many bytes; no NUL byte inside and
 *        no terminator on the wire; the length is checked against the
 *        field's maximum before anything is copied.
 * A body with bytes left over after its last field is malformed.
 *
 * The daemon answers with message ids (enum zk_result), never sentences:
 * the module owns every word shown to a person.
 *
 * Conversation:
 *   module -> START      daemon -> CHALLENGE (login started) or VERDICT (refused)
 *   module -> WAIT       daemon -> VERDICT (ZK_R_PENDING when wait_ms passed)
 *   ... WAIT again while pending ...
 * When the person pasted something at the prompt (the code, or the whole
 * address the browser was sent to), the module sends PASTE before WAIT;
 * PASTE has no answer of its own.
 * Closing the connection cancels the login.
 */
#ifndef ZKAUTH_PROTO_H
#define ZKAUTH_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZK_PROTO_MAGIC   0x5a4bu /* "ZK" */
#define ZK_PROTO_VERSION 1u
#define ZK_HDR_LEN       8u

/* Largest body of any frame; a header announcing more is malformed. */
#define ZK_MAX_BODY      4096u

/* Field maxima, in bytes, without a terminator. */
#define ZK_MAX_USER      255u  /* PAM user / mapped local account */
#define ZK_MAX_SERVICE   64u   /* PAM service name */
#define ZK_MAX_RHOST     255u  /* PAM_RHOST: a host name or an address */
#define ZK_MAX_TTY       64u   /* PAM_TTY */
#define ZK_MAX_HOST      255u  /* host name the daemon runs on, for the prompt */
#define ZK_MAX_URL       2048u /* URL to show and encode in the QR */
#define ZK_MAX_CODE      32u   /* short matching code or device user_code */
#define ZK_MAX_PASTE     2048u /* what the person pasted at the prompt */

/* START.max_age when no step-up is asked for. */
#define ZK_NO_MAX_AGE    UINT32_MAX
/* Longest a single WAIT may be held by the daemon. */
#define ZK_MAX_WAIT_MS   60000u

enum zk_msg_type {
	/* module -> daemon: str user, str service, str rhost, str tty,
	 * u32 max_age (seconds or ZK_NO_MAX_AGE), u32 flags (0) */
	ZK_MSG_START = 1,
	/* daemon -> module: u32 expires_in (seconds), str url, str code,
	 * str host (where the login happens, for the prompt) */
	ZK_MSG_CHALLENGE = 2,
	/* module -> daemon: u32 wait_ms (<= ZK_MAX_WAIT_MS) */
	ZK_MSG_WAIT = 3,
	/* daemon -> module: u32 result (enum zk_result), str user (the mapped
	 * local account; empty unless result is ZK_R_OK) */
	ZK_MSG_VERDICT = 4,
	/* module -> daemon: str text (the authorization code, or the redirect
	 * address holding it; a secret: wiped after use) */
	ZK_MSG_PASTE = 5,
};

/* Verdicts and refusals. Values are part of the protocol: append only. */
enum zk_result {
	ZK_R_OK = 0,            /* approved, sub maps to the user */
	ZK_R_PENDING = 1,       /* not decided yet; WAIT again */
	ZK_R_DENIED = 2,        /* the person or the provider refused */
	ZK_R_WRONG_USER = 3,    /* the approving identity is not mapped to this user */
	ZK_R_EXPIRED = 4,       /* flow_timeout passed */
	ZK_R_BAD_TOKEN = 5,     /* token failed verification */
	ZK_R_PROVIDER = 6,      /* provider unreachable or answered garbage */
	ZK_R_NOT_ALLOWED = 7,   /* caller may not start a login for this user */
	ZK_R_BUSY = 8,          /* too many pending logins */
	ZK_R_BAD_REQUEST = 9,   /* malformed or out-of-order message */
	ZK_R_INTERNAL = 10,     /* daemon-side failure */
	ZK_R_UNKNOWN_USER = 11, /* no such local account */
	ZK_R_CANCELLED = 12,    /* the login was cancelled */
	ZK_R_MAX = 12
};

struct zk_start {
	char user[ZK_MAX_USER + 1];
	char service[ZK_MAX_SERVICE + 1];
	char rhost[ZK_MAX_RHOST + 1];
	char tty[ZK_MAX_TTY + 1];
	uint32_t max_age;
	uint32_t flags;
};

struct zk_challenge {
	uint32_t expires_in;
	char url[ZK_MAX_URL + 1];
	char code[ZK_MAX_CODE + 1];
	char host[ZK_MAX_HOST + 1];
};

struct zk_wait {
	uint32_t wait_ms;
};

struct zk_verdict {
	uint32_t result;
	char user[ZK_MAX_USER + 1];
};

struct zk_paste {
	char text[ZK_MAX_PASTE + 1];
};

/* Whole frame (header + body) never exceeds this. */
#define ZK_MAX_FRAME (ZK_HDR_LEN + ZK_MAX_BODY)

/*
 * Encoders write one whole frame into buf and return its length, or -1
 * when a string is over its maximum, contains no terminator within it, or
 * the frame does not fit in cap. Nothing is partially valid on -1.
 */
ssize_t zk_proto_encode_start(const struct zk_start *m, uint8_t *buf, size_t cap);
ssize_t zk_proto_encode_challenge(const struct zk_challenge *m, uint8_t *buf, size_t cap);
ssize_t zk_proto_encode_wait(const struct zk_wait *m, uint8_t *buf, size_t cap);
ssize_t zk_proto_encode_verdict(const struct zk_verdict *m, uint8_t *buf, size_t cap);
ssize_t zk_proto_encode_paste(const struct zk_paste *m, uint8_t *buf, size_t cap);

/*
 * Parses a header. Returns 0 and sets *type and *body_len, or -1 for a
 * wrong magic, version, unknown type or a length over ZK_MAX_BODY.
 */
int zk_proto_parse_header(const uint8_t hdr[ZK_HDR_LEN], uint8_t *type, uint32_t *body_len);

/*
 * Decoders read exactly len bytes of body. Return 0 on success, -1 when a
 * field is truncated, too long, holds a NUL, a number is out of range, or
 * bytes are left over. *out is written only on success.
 */
int zk_proto_decode_start(const uint8_t *body, size_t len, struct zk_start *out);
int zk_proto_decode_challenge(const uint8_t *body, size_t len, struct zk_challenge *out);
int zk_proto_decode_wait(const uint8_t *body, size_t len, struct zk_wait *out);
int zk_proto_decode_verdict(const uint8_t *body, size_t len, struct zk_verdict *out);
int zk_proto_decode_paste(const uint8_t *body, size_t len, struct zk_paste *out);

#endif
