/* Compact JWS verification against a JWKS and the claims we require. */
#ifndef ZK_JWT_H
#define ZK_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jwks.h"

#define ZK_JWT_MAX_BYTES (16u * 1024u)
#define ZK_SUB_MAX       255u

/* Rejection reasons, one named reason each; ZK_JWT_OK is success. */
enum zk_jwt_err {
	ZK_JWT_OK = 0,
	ZK_E_FORMAT,    /* not three strict base64url segments, bad JSON, duplicate members */
	ZK_E_SIZE,      /* over ZK_JWT_MAX_BYTES */
	ZK_E_ALG,       /* none, HS*, unknown, not allowed, or not fitting the key */
	ZK_E_KID,       /* no usable key in the set for this token */
	ZK_E_SIG,       /* signature does not verify */
	ZK_E_CRIT,      /* crit names something we do not understand; JWE; nested JWT */
	ZK_E_ISS,
	ZK_E_AUD,       /* aud / azp */
	ZK_E_EXP,       /* missing, not a number, or passed */
	ZK_E_NBF,
	ZK_E_IAT,
	ZK_E_NONCE,
	ZK_E_SUB,
	ZK_E_AUTH_TIME, /* missing or older than max_age */
	ZK_E_INTERNAL,  /* allocation or library failure */
	ZK_E_GROUPS,    /* require_groups: no listed group in the groups claim */
	ZK_E_ACR,       /* acr_values: the acr claim is missing or not one of them */
};

struct zk_jwt_expect {
	const char *issuer;     /* exact */
	const char *client_id;  /* must be in aud */
	const char *nonce;      /* exact when not NULL; NULL: no nonce check */
	unsigned allowed_algs;  /* ZK_ALG_* mask */
	int64_t now;            /* seconds since the epoch: injectable clock */
	int64_t clock_skew;     /* seconds */
	int64_t max_age;        /* seconds; < 0: no auth_time requirement */
	const char *require_groups; /* space-separated names, one of which the
				     * groups claim (string or array) must hold;
				     * NULL: no requirement */
	const char *acr_values;     /* space-separated; the acr claim must be one;
				     * NULL: not checked */
	bool access_token;          /* an access-token JWT (RFC 9068: typ at+jwt
				     * allowed); false: an ID token, whose typ
				     * may only be JWT */
};

struct zk_jwt_claims {
	char sub[ZK_SUB_MAX + 1];
	int64_t exp;
	int64_t iat;
	int64_t auth_time;      /* -1 when absent */
};

/*
 * Verifies token (len bytes, not necessarily NUL-terminated): strict form,
 * header (alg allowed and fitting the key, no crit we do not know), the
 * signature with a key from keys only (selected by kid; without kid, only
 * when exactly one usable key fits), then the claims. *out is written
 * only on ZK_JWT_OK. Returns an enum zk_jwt_err.
 */
int zk_jwt_verify(const char *token, size_t len, const struct zk_jwks *keys,
		  const struct zk_jwt_expect *expect, struct zk_jwt_claims *out);

/* "E_SIG" etc., for the admin's log. */
const char *zk_jwt_strerror(int err);

#endif
