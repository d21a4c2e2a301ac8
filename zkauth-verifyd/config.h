/* zkauth.conf: INI with the keys of DESIGN.md section 5, one table. */
#ifndef ZK_CONFIG_H
#define ZK_CONFIG_H

#include <stddef.h>

enum zk_profile { ZK_PROFILE_OIDC, ZK_PROFILE_ZKAUTH, ZK_PROFILE_ZEROAUTH };
enum zk_auth_method {
	ZK_AUTH_BASIC,
	ZK_AUTH_POST,
	ZK_AUTH_JSON,
	ZK_AUTH_PRIVATE_KEY_JWT,
	ZK_AUTH_NONE
};
enum zk_flow { ZK_FLOW_CODE, ZK_FLOW_DEVICE };

/* Signature algorithms, a bit each (allowed_algs). */
enum zk_alg {
	ZK_ALG_RS256 = 1u << 0,
	ZK_ALG_RS384 = 1u << 1,
	ZK_ALG_RS512 = 1u << 2,
	ZK_ALG_PS256 = 1u << 3,
	ZK_ALG_PS384 = 1u << 4,
	ZK_ALG_PS512 = 1u << 5,
	ZK_ALG_ES256 = 1u << 6,
	ZK_ALG_ES384 = 1u << 7,
	ZK_ALG_ES512 = 1u << 8,
	ZK_ALG_EDDSA = 1u << 9,
};
#define ZK_ALGS_DEFAULT (ZK_ALG_RS256 | ZK_ALG_ES256 | ZK_ALG_PS256 | ZK_ALG_EDDSA)

/*
 * Every string is NULL when the key was absent or empty ("key =").
 * Defaults are applied by zk_config_load.
 */
struct zk_config {
	/* [provider] */
	enum zk_profile profile;              /* default oidc */
	char *issuer;
	char *client_id;
	char *client_secret_file;
	enum zk_auth_method token_auth_method; /* default client_secret_basic */
	char *client_key_file;
	char *client_key_id;                  /* kid of the assertion's header, or NULL */
	char *api_key_file;
	enum zk_flow flow;                    /* default code */
	char *redirect_uri;
	char *scopes;                         /* default "openid"; always contains openid */
	char *acr_values;                     /* asked for, and the token's acr must be one */
	unsigned allowed_algs;                /* default ZK_ALGS_DEFAULT */
	unsigned clock_skew;                  /* default 60, 0..600 */
	char *ca_file;
	char *authorization_endpoint;
	char *token_endpoint;
	char *jwks_uri;
	char *device_authorization_endpoint;
	/* [listener] */
	char *listen;                         /* default 127.0.0.1:8443 */
	char *tls_certificate;
	char *tls_private_key;
	char *public_url;
	unsigned max_connections;             /* default 512, 1..100000 */
	unsigned max_connections_per_address; /* IPv4 address or IPv6 /64; default 32, 1..100000 */
	/* [accounts] */
	char *map_file;                       /* default /etc/zkauth/users.map */
	char *require_groups;
	/* [daemon] */
	char *socket_path;                    /* key "socket"; default /run/zkauth/verifyd.sock */
	unsigned flow_timeout;                /* default 300, 5..600 */
	unsigned max_pending;                 /* default 1000, 1..100000 */
	unsigned max_pending_per_user;        /* per account and source; default 3, 1..1000 */
	unsigned max_pending_per_account;     /* default 10, 1..100000 */
	char *step_up_services;               /* services that get max_age 0; NULL: none */
	unsigned terminal_code;               /* default 0: the page's code typed at the prompt */
	/* [provider] */
	unsigned device_flow_remote;          /* default 1: the device flow also for rhost */
};

#define ZK_CONFIG_DEFAULT_PATH "/etc/zkauth/zkauth.conf"

/*
 * Parses path into *out (all defaults applied, cross-key checks done).
 * On error returns -1, writes "FILE:LINE: key 'KEY': what is wrong" (or a
 * file-level message) into err and leaves *out zeroed. Returns 0 on success.
 */
int zk_config_load(const char *path, struct zk_config *out, char *err, size_t errlen);
void zk_config_free(struct zk_config *c); /* accepts a zeroed struct */

/* "RS256" -> ZK_ALG_RS256; 0 for unknown names (case-sensitive). */
unsigned zk_alg_from_name(const char *name);
const char *zk_alg_name(unsigned alg);

#endif
