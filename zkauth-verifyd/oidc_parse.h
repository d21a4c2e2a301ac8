/* Reading the provider's JSON answers: a response body in, a parsed
 * result or a decision out. No event loop, no network, no login state:
 * oidc.c calls these from its HTTP callbacks, and the unit tests and
 * fuzz targets call the very same code. Bodies are the NUL-terminated
 * buffers zk_http hands over; every function logs why it refused, in the
 * words oidc.c has always used. */
#ifndef ZKD_OIDC_PARSE_H
#define ZKD_OIDC_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "zkauth_proto.h"

/* RFC 8628 3.2: 5 s when the provider names no usable interval; slow_down
 * adds 5 s. No interval beyond an hour: a device code lives at most that
 * long (expires_in is capped at 3600 too). */
#define ZKD_DEVICE_INTERVAL_DEFAULT 5
#define ZKD_DEVICE_INTERVAL_MAX 3600
#define ZKD_DEVICE_EXPIRES_MAX 3600
#define ZKD_DEVICE_CODE_MAX 1024
/* zeroauth's state is a UUID; anything much shorter is not one of its. */
#define ZKD_BROKER_STATE_MIN 16
#define ZKD_BROKER_STATE_MAX 128

/* Wipes every string member of doc's top level, then frees it. cJSON
 * frees without wiping, and token answers carry secrets. NULL is fine. */
void zkd_json_free_wiped(cJSON *doc);

/* The endpoints the provider's discovery document gives, each already
 * replaced by the configuration's own where it sets one. Owned copies:
 * free with zkd_discovery_free. device_endpoint only for flow = device. */
struct zkd_discovery {
	char *authorization_endpoint;
	char *token_endpoint;
	char *jwks_uri;
	char *device_endpoint;
	bool iss_in_response;       /* RFC 9207 */
};

/* Reads a discovery document fetched for cfg->issuer (which must be set).
 * 0 and *out filled, or -1 (logged unless memory ran out) and *out
 * untouched. */
int zkd_parse_discovery(const char *body, size_t len, const struct zk_config *cfg,
			struct zkd_discovery *out);
/* Frees the strings and clears d; NULL is fine. */
void zkd_discovery_free(struct zkd_discovery *d);

/* What a token endpoint answer tells the daemon to do next. */
enum zkd_next {
	ZKD_NEXT_VERIFY,            /* token holds the token to verify */
	ZKD_NEXT_POLL,              /* device flow: authorization_pending */
	ZKD_NEXT_SLOW_DOWN,         /* device flow: slow_down */
	ZKD_NEXT_END,               /* the exchange ends with result, reason */
};

/* doc owns token: after using token, zkd_token_answer_clear wipes and
 * frees it, whatever next says. */
struct zkd_token_answer {
	enum zkd_next next;
	const char *token;
	uint32_t result;            /* ZKD_NEXT_END: a ZK_R_* code */
	const char *reason;         /* ZKD_NEXT_END: a static word for the log */
	cJSON *doc;
};

/* The token endpoint's answer (HTTP status, body) to a code exchange for
 * profile: id_token (oidc), access_token (zkauth) or accessToken
 * (zeroauth) on 200, invalid_grant and other errors otherwise. next is
 * ZKD_NEXT_VERIFY or ZKD_NEXT_END. */
void zkd_parse_token_response(const char *body, size_t len, long status,
			      enum zk_profile profile, struct zkd_token_answer *a);
/* The same endpoint while the device flow polls (RFC 8628 3.5). */
void zkd_parse_device_token(const char *body, size_t len, long status,
			    struct zkd_token_answer *a);
void zkd_token_answer_clear(struct zkd_token_answer *a);

/* A device authorization response (RFC 8628 3.2). */
struct zkd_device_auth {
	char *device_code;               /* secret: zk_freezero_str */
	char url[ZK_MAX_URL + 1];        /* verification_uri_complete, else verification_uri */
	char user_code[ZK_MAX_CODE + 1];
	int64_t expires_in;              /* 1..ZKD_DEVICE_EXPIRES_MAX */
	int64_t interval;                /* 1..ZKD_DEVICE_INTERVAL_MAX */
};

/* 0 and *out filled, or -1 (logged unless memory ran out) and *out
 * untouched. */
int zkd_parse_device_auth(const char *body, size_t len, struct zkd_device_auth *out);

/* The interval after a slow_down answer. */
int64_t zkd_device_slow_down(int64_t interval);

/* zeroauth's answer to the authorize request: where to send the browser
 * and the state it will come back with. Owned copies (zk_freezero_str). */
struct zkd_broker_auth {
	char *url;
	char *state;
};

/* 0 and *out filled; -1: the answer is not usable (logged); -2: memory
 * ran out. *out is untouched unless 0. */
int zkd_parse_broker_auth(const char *body, size_t len, struct zkd_broker_auth *out);

#endif
