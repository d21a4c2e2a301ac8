/* Unit tests for zkauth-verifyd/config.c: the zkauth.conf parser. */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testfiles.h"

#include "config.h"

static char conf_path[PATH_MAX + 64];

static int setup(void **state)
{
	if (tf_mkdir("zk-config") < 0)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/zkauth.conf", tf_dir);
	return 0;
}

static int teardown(void **state)
{
	return tf_rmdir();
}

static void write_conf_len(const char *text, size_t len, mode_t mode)
{
	tf_write_at(conf_path, text, len, mode);
}

static void write_conf(const char *text)
{
	write_conf_len(text, strlen(text), 0644);
}

static bool is_zeroed(const struct zk_config *c)
{
	static const struct zk_config zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* Loads text, expects failure, and checks the message names the file, the
 * line (when line > 0) and the key (when key is not NULL). */
static void expect_error_len(const char *text, size_t len, unsigned line, const char *key,
			     const char *why)
{
	struct zk_config c;
	char err[512] = "", want[PATH_MAX + 128];

	write_conf_len(text, len, 0644);
	memset(&c, 0xa5, sizeof(c));
	if (zk_config_load(conf_path, &c, err, sizeof(err)) != -1)
		fail_msg("accepted:\n%s", text);
	assert_true(is_zeroed(&c));
	if (line)
		snprintf(want, sizeof(want), "%s:%u: ", conf_path, line);
	else
		snprintf(want, sizeof(want), "%s: ", conf_path);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", err, want);
	if (key) {
		snprintf(want, sizeof(want), "key '%s': ", key);
		if (!strstr(err, want))
			fail_msg("error \"%s\" does not name %s", err, want);
	}
	if (why && !strstr(err, why))
		fail_msg("error \"%s\" does not say \"%s\"", err, why);
	zk_config_free(&c);
}

static void expect_error(const char *text, unsigned line, const char *key, const char *why)
{
	expect_error_len(text, strlen(text), line, key, why);
}

static void load_ok(const char *text, struct zk_config *c)
{
	char err[512] = "";

	write_conf(text);
	if (zk_config_load(conf_path, c, err, sizeof(err)) != 0)
		fail_msg("rejected: %s\n%s", err, text);
}

#define MIN_PROVIDER                                   \
	"[provider]\n"                                 \
	"issuer = https://idp.example.com\n"           \
	"client_id = ssh-hosts\n"                      \
	"client_secret_file = /etc/zkauth/secret\n"    \
	"redirect_uri = https://h.example.com/cb\n"

static void test_full(void **state)
{
	struct zk_config c;

	load_ok("# zkauth.conf with every key\n"
		"; an ini-style comment\n"
		"\n"
		"[provider]\n"
		"profile = oidc                      # oidc | zkauth | zeroauth\n"
		"issuer = https://idp.example.com\n"
		"client_id = ssh-hosts\n"
		"client_secret_file = /etc/zkauth/client_secret       # 0600\n"
		"token_auth_method = client_secret_post\n"
		"client_key_file = /etc/zkauth/client.key\n"
		"api_key_file = /etc/zkauth/api_key\n"
		"flow = device\n"
		"redirect_uri = https://host.example.com:8443/zkauth/callback\n"
		"scopes = openid profile\temail\n"
		"acr_values = urn:mfa phr\n"
		"allowed_algs = RS256 ES384  EdDSA\n"
		"clock_skew = 0\n"
		"ca_file = /etc/zkauth/ca.pem\n"
		"authorization_endpoint = https://idp.example.com/auth\n"
		"token_endpoint = http://127.0.0.1:9000/token\n"
		"jwks_uri = https://idp.example.com/jwks#frag\n"
		"device_authorization_endpoint = http://[::1]:9000/device\n"
		"\n"
		"   [listener]   \n"
		"listen = [::1]:8443\n"
		"tls_certificate = /etc/zkauth/cert.pem\n"
		"tls_private_key = /etc/zkauth/key.pem\n"
		"public_url = https://host.example.com/zk\n"
		"[accounts]\n"
		"map_file = /etc/zkauth/map\n"
		"require_groups = admins ops\n"
		"[daemon]\n"
		"\tsocket\t=\t/run/zk/s.sock\t\n"
		"flow_timeout = 600\n"
		"max_pending = 100000\n"
		"max_pending_per_user = 1000\n",
		&c);
	assert_int_equal(c.profile, ZK_PROFILE_OIDC);
	assert_string_equal(c.issuer, "https://idp.example.com");
	assert_string_equal(c.client_id, "ssh-hosts");
	assert_string_equal(c.client_secret_file, "/etc/zkauth/client_secret");
	assert_int_equal(c.token_auth_method, ZK_AUTH_POST);
	assert_string_equal(c.client_key_file, "/etc/zkauth/client.key");
	assert_string_equal(c.api_key_file, "/etc/zkauth/api_key");
	assert_int_equal(c.flow, ZK_FLOW_DEVICE);
	assert_string_equal(c.redirect_uri, "https://host.example.com:8443/zkauth/callback");
	assert_string_equal(c.scopes, "openid profile email");
	assert_string_equal(c.acr_values, "urn:mfa phr");
	assert_int_equal(c.allowed_algs, ZK_ALG_RS256 | ZK_ALG_ES384 | ZK_ALG_EDDSA);
	assert_int_equal(c.clock_skew, 0);
	assert_string_equal(c.ca_file, "/etc/zkauth/ca.pem");
	assert_string_equal(c.authorization_endpoint, "https://idp.example.com/auth");
	assert_string_equal(c.token_endpoint, "http://127.0.0.1:9000/token");
	assert_string_equal(c.jwks_uri, "https://idp.example.com/jwks#frag");
	assert_string_equal(c.device_authorization_endpoint, "http://[::1]:9000/device");
	assert_string_equal(c.listen, "[::1]:8443");
	assert_string_equal(c.tls_certificate, "/etc/zkauth/cert.pem");
	assert_string_equal(c.tls_private_key, "/etc/zkauth/key.pem");
	assert_string_equal(c.public_url, "https://host.example.com/zk");
	assert_string_equal(c.map_file, "/etc/zkauth/map");
	assert_string_equal(c.require_groups, "admins ops");
	assert_string_equal(c.socket_path, "/run/zk/s.sock");
	assert_int_equal(c.flow_timeout, 600);
	assert_int_equal(c.max_pending, 100000);
	assert_int_equal(c.max_pending_per_user, 1000);
	zk_config_free(&c);
	assert_true(is_zeroed(&c));
	zk_config_free(&c);
	zk_config_free(NULL);
}

static void test_defaults(void **state)
{
	struct zk_config c;

	load_ok(MIN_PROVIDER
		"client_key_file =                   # PEM key for private_key_jwt\n"
		"ca_file =\n"
		"scopes =\n"
		"[listener]\n"
		"tls_certificate =\n",
		&c);
	assert_int_equal(c.profile, ZK_PROFILE_OIDC);
	assert_int_equal(c.token_auth_method, ZK_AUTH_BASIC);
	assert_int_equal(c.flow, ZK_FLOW_CODE);
	assert_string_equal(c.scopes, "openid");
	assert_int_equal(c.allowed_algs, ZK_ALGS_DEFAULT);
	assert_int_equal(c.clock_skew, 60);
	assert_null(c.ca_file);
	assert_null(c.client_key_file);
	assert_null(c.api_key_file);
	assert_null(c.authorization_endpoint);
	assert_null(c.token_endpoint);
	assert_null(c.jwks_uri);
	assert_null(c.device_authorization_endpoint);
	assert_string_equal(c.listen, "127.0.0.1:8443");
	assert_null(c.tls_certificate);
	assert_null(c.tls_private_key);
	assert_null(c.public_url);
	assert_string_equal(c.map_file, "/etc/zkauth/users.map");
	assert_null(c.require_groups);
	assert_string_equal(c.socket_path, "/run/zkauth/verifyd.sock");
	assert_int_equal(c.flow_timeout, 300);
	assert_int_equal(c.max_pending, 1000);
	assert_int_equal(c.max_pending_per_user, 3);
	zk_config_free(&c);
}

/* The keys of the bound approval: fresh sign-in services, the device
 * flow for remote hosts, the page's code typed at the terminal, and a
 * public_url whose cookie reaches the callback. */
static void test_approval_keys(void **state)
{
	struct zk_config c;

	load_ok(MIN_PROVIDER, &c);
	assert_non_null(c.step_up_services);
	assert_non_null(strstr(c.step_up_services, "sudo "));
	assert_non_null(strstr(c.step_up_services, " su "));
	assert_non_null(strstr(c.step_up_services, "polkit-1"));
	assert_non_null(strstr(c.step_up_services, "xscreensaver"));
	assert_int_equal(c.device_flow_remote, 1);
	assert_int_equal(c.terminal_code, 0);
	zk_config_free(&c);

	/* Empty: no service gets a fresh sign-in (not the default list). */
	load_ok(MIN_PROVIDER "device_flow_remote = no\n[daemon]\nstep_up_services =\nterminal_code = yes\n",
		&c);
	assert_null(c.step_up_services);
	assert_int_equal(c.device_flow_remote, 0);
	assert_int_equal(c.terminal_code, 1);
	zk_config_free(&c);
	load_ok(MIN_PROVIDER "[daemon]\nstep_up_services = sudo  doas\n", &c);
	assert_string_equal(c.step_up_services, "sudo  doas");
	zk_config_free(&c);
	expect_error(MIN_PROVIDER "[daemon]\nterminal_code = maybe\n", 7, "terminal_code", NULL);
	expect_error(MIN_PROVIDER "device_flow_remote = 1\n", 6, "device_flow_remote", NULL);
	expect_error(MIN_PROVIDER "[daemon]\nstep_up_services = su\"do\"\n", 7, "step_up_services",
		     NULL);

	/* public_url: redirect_uri's scheme and host (the port may differ). */
	load_ok(MIN_PROVIDER "[listener]\npublic_url = https://H.example.com:9443/zk\n", &c);
	zk_config_free(&c);
	expect_error(MIN_PROVIDER "[listener]\npublic_url = https://other.example.com/zk\n", 7,
		     "public_url", "host of redirect_uri");
	expect_error(MIN_PROVIDER "[listener]\npublic_url = http://127.0.0.1:8443\n", 7, "public_url",
		     "scheme and host");
	expect_error(MIN_PROVIDER "[listener]\npublic_url = https://h.example.com.evil\n", 7,
		     "public_url", NULL);
}

/* The listener's caps: defaults, the range 1..100000, [listener] only. */
static void test_listener_caps(void **state)
{
	struct zk_config c;

	load_ok(MIN_PROVIDER, &c);
	assert_int_equal(c.max_connections, 512);
	assert_int_equal(c.max_connections_per_address, 32);
	zk_config_free(&c);
	load_ok(MIN_PROVIDER "[listener]\nmax_connections = 1\nmax_connections_per_address = 100000\n",
		&c);
	assert_int_equal(c.max_connections, 1);
	assert_int_equal(c.max_connections_per_address, 100000);
	zk_config_free(&c);
	load_ok(MIN_PROVIDER "[listener]\nmax_connections = 100000\nmax_connections_per_address = 1\n",
		&c);
	assert_int_equal(c.max_connections, 100000);
	assert_int_equal(c.max_connections_per_address, 1);
	zk_config_free(&c);

	expect_error(MIN_PROVIDER "[listener]\nmax_connections = 0\n", 7, "max_connections", NULL);
	expect_error(MIN_PROVIDER "[listener]\nmax_connections = 100001\n", 7, "max_connections",
		     NULL);
	expect_error(MIN_PROVIDER "[listener]\nmax_connections = -1\n", 7, "max_connections", NULL);
	expect_error(MIN_PROVIDER "[listener]\nmax_connections = 1k\n", 7, "max_connections", NULL);
	expect_error(MIN_PROVIDER "[listener]\nmax_connections =\n", 7, "max_connections", NULL);
	expect_error(MIN_PROVIDER "[listener]\nmax_connections_per_address = 0\n", 7,
		     "max_connections_per_address", NULL);
	expect_error(MIN_PROVIDER "[listener]\nmax_connections_per_address = 100001\n", 7,
		     "max_connections_per_address", NULL);
	expect_error(MIN_PROVIDER "[listener]\nmax_connections_per_address = 0x10\n", 7,
		     "max_connections_per_address", NULL);
	expect_error(MIN_PROVIDER "[daemon]\nmax_connections = 10\n", 7, "max_connections",
		     "section [listener]");
	expect_error(MIN_PROVIDER "max_connections_per_address = 10\n", 6,
		     "max_connections_per_address", "section [listener]");
	expect_error(MIN_PROVIDER "[listener]\nmax_connections = 5\nmax_connections = 6\n", 8,
		     "max_connections", "duplicate");
}

static void test_scopes(void **state)
{
	struct zk_config c;

	load_ok(MIN_PROVIDER "scopes = profile email\n", &c);
	assert_string_equal(c.scopes, "openid profile email");
	zk_config_free(&c);
	load_ok(MIN_PROVIDER "scopes = email  openid\n", &c);
	assert_string_equal(c.scopes, "email openid");
	zk_config_free(&c);
	load_ok(MIN_PROVIDER "scopes = openidx\n", &c);
	assert_string_equal(c.scopes, "openid openidx");
	zk_config_free(&c);
	load_ok(MIN_PROVIDER "scopes = urn:x:y!$%&'()*+,-./:;<=>?@[]^_`{|}~\n", &c);
	assert_string_equal(c.scopes, "openid urn:x:y!$%&'()*+,-./:;<=>?@[]^_`{|}~");
	zk_config_free(&c);
}

static void test_zkauth_profile(void **state)
{
	struct zk_config c;

	load_ok("[provider]\n"
		"profile = zkauth\n"
		"client_id = abc\n"
		"client_secret_file = /etc/zkauth/secret\n"
		"redirect_uri = https://h.example.com/cb\n",
		&c);
	assert_int_equal(c.profile, ZK_PROFILE_ZKAUTH);
	assert_string_equal(c.authorization_endpoint, "https://auth.zkauth.tech/api/oauth/authorize");
	assert_string_equal(c.token_endpoint, "https://api.zkauth.tech/api/oauth/token");
	assert_string_equal(c.jwks_uri, "https://api.zkauth.tech/.well-known/jwks.json");
	assert_string_equal(c.issuer, "https://api.zkauth.tech");
	assert_int_equal(c.token_auth_method, ZK_AUTH_JSON);
	/* ZKAuth signs with RS256 only: nothing else is accepted by default. */
	assert_int_equal(c.allowed_algs, ZK_ALG_RS256);
	zk_config_free(&c);

	/* Every preset yields to the file; the others stay. */
	load_ok("[provider]\n"
		"profile = zkauth\n"
		"client_id = abc\n"
		"client_secret_file = /etc/zkauth/secret\n"
		"redirect_uri = http://127.0.0.1:8443/cb\n"
		"token_endpoint = http://127.0.0.1:9000/token\n"
		"issuer = http://127.0.0.1:9000\n"
		"token_auth_method = client_secret_basic\n"
		"jwks_uri =\n",
		&c);
	assert_string_equal(c.authorization_endpoint, "https://auth.zkauth.tech/api/oauth/authorize");
	assert_string_equal(c.token_endpoint, "http://127.0.0.1:9000/token");
	assert_string_equal(c.issuer, "http://127.0.0.1:9000");
	assert_string_equal(c.jwks_uri, "https://api.zkauth.tech/.well-known/jwks.json");
	assert_int_equal(c.token_auth_method, ZK_AUTH_BASIC);
	assert_int_equal(c.allowed_algs, ZK_ALG_RS256);
	zk_config_free(&c);

	/* An admin may still widen or change the algorithms. */
	load_ok("[provider]\n"
		"profile = zkauth\n"
		"client_id = abc\n"
		"client_secret_file = /etc/zkauth/secret\n"
		"redirect_uri = https://h.example.com/cb\n"
		"allowed_algs = RS256 ES256\n",
		&c);
	assert_int_equal(c.allowed_algs, ZK_ALG_RS256 | ZK_ALG_ES256);
	zk_config_free(&c);

	/* No presets for other profiles; their algorithms are the default. */
	load_ok(MIN_PROVIDER, &c);
	assert_null(c.token_endpoint);
	assert_int_equal(c.allowed_algs, ZK_ALGS_DEFAULT);
	zk_config_free(&c);
}

static void test_cross_key(void **state)
{
	struct zk_config c;

	expect_error("[provider]\nissuer = https://i.example\nclient_secret_file = /s\n"
		     "redirect_uri = https://h.example/cb\n",
		     0, "client_id", "required");
	expect_error("[provider]\nclient_id = x\nclient_secret_file = /s\n"
		     "redirect_uri = https://h.example/cb\n",
		     0, "issuer", "required");
	/* Set but empty counts as absent. */
	expect_error("[provider]\nclient_id =\nissuer = https://i.example\nclient_secret_file = /s\n"
		     "redirect_uri = https://h.example/cb\n",
		     2, "client_id", "required");
	expect_error("[provider]\nclient_id = x\nissuer = https://i.example\nclient_secret_file = /s\n",
		     0, "redirect_uri", "required");
	expect_error("[provider]\nclient_id = x\nissuer = https://i.example\n"
		     "redirect_uri = https://h.example/cb\n",
		     0, "client_secret_file", "required");
	expect_error("[provider]\nclient_id = x\nissuer = https://i.example\n"
		     "redirect_uri = https://h.example/cb\ntoken_auth_method = client_secret_post\n",
		     0, "client_secret_file", "required");
	expect_error("[provider]\nclient_id = x\nissuer = https://i.example\n"
		     "redirect_uri = https://h.example/cb\ntoken_auth_method = private_key_jwt\n"
		     "client_secret_file = /s\n",
		     0, "client_key_file", "required");
	expect_error(MIN_PROVIDER "token_auth_method = client_secret_json\n", 6,
		     "token_auth_method", "profile zkauth");
	expect_error("[provider]\nprofile = zeroauth\nclient_id = x\nclient_secret_file = /s\n"
		     "redirect_uri = https://h.example/cb\ntoken_auth_method = client_secret_json\n",
		     6, "token_auth_method", "profile zkauth");
	expect_error(MIN_PROVIDER "[listener]\ntls_certificate = /c.pem\n", 0, "tls_private_key",
		     NULL);

	/* Accepted combinations. */
	load_ok("[provider]\nclient_id = x\nissuer = https://i.example\n"
		"redirect_uri = https://h.example/cb\ntoken_auth_method = none\n",
		&c);
	assert_int_equal(c.token_auth_method, ZK_AUTH_NONE);
	assert_null(c.client_secret_file);
	zk_config_free(&c);
	load_ok("[provider]\nclient_id = x\nissuer = https://i.example\n"
		"redirect_uri = https://h.example/cb\ntoken_auth_method = private_key_jwt\n"
		"client_key_file = /k.pem\n",
		&c);
	assert_int_equal(c.token_auth_method, ZK_AUTH_PRIVATE_KEY_JWT);
	zk_config_free(&c);
	load_ok("[provider]\nclient_id = x\nissuer = https://i.example\nflow = device\n"
		"client_secret_file = /s\n",
		&c);
	assert_int_equal(c.flow, ZK_FLOW_DEVICE);
	assert_null(c.redirect_uri);
	zk_config_free(&c);
	expect_error("[provider]\nprofile = zeroauth\nclient_id = x\n"
		     "redirect_uri = https://h.example/cb\n",
		     0, "issuer", "zeroauth");
	expect_error("[provider]\nprofile = zeroauth\nclient_id = x\nissuer = https://z.example\n"
		     "redirect_uri = https://h.example/cb\njwks_uri = https://z.example/jwks\n",
		     0, "api_key_file", "zeroauth");
	expect_error("[provider]\nprofile = zeroauth\nclient_id = x\nissuer = https://z.example\n"
		     "redirect_uri = https://h.example/cb\napi_key_file = /k\n",
		     0, "jwks_uri", "zeroauth");
	load_ok("[provider]\nprofile = zeroauth\nclient_id = x\nissuer = https://z.example\n"
		"redirect_uri = https://h.example/cb\napi_key_file = /k\n"
		"jwks_uri = https://z.example/jwks\n",
		&c);
	assert_int_equal(c.profile, ZK_PROFILE_ZEROAUTH);
	assert_null(c.client_secret_file);
	zk_config_free(&c);
}

static void test_structure_errors(void **state)
{
	expect_error("[provider]\n[bogus]\n", 2, NULL, "section 'bogus'");
	expect_error("[provider\n", 1, NULL, "section");
	expect_error("client_id = x\n" MIN_PROVIDER, 1, "client_id", "section [provider]");
	expect_error(MIN_PROVIDER "[daemon]\nclient_id = y\n", 7, "client_id", "section [provider]");
	expect_error(MIN_PROVIDER "[provider]\nlisten = 127.0.0.1:1\n", 7, "listen",
		     "section [listener]");
	expect_error(MIN_PROVIDER "bogus_key = 1\n", 6, "bogus_key", "unknown key");
	expect_error(MIN_PROVIDER "Client_Id = 1\n", 6, "Client_Id", "unknown key");
	expect_error(MIN_PROVIDER "client_id = other\n", 6, "client_id", "duplicate");
	expect_error(MIN_PROVIDER "[provider]\nclient_id = other\n", 7, "client_id", "duplicate");
	expect_error(MIN_PROVIDER "ca_file =\nca_file =\n", 7, "ca_file", "duplicate");
	expect_error(MIN_PROVIDER "just some words\n", 6, "just", "key = value");
	expect_error(MIN_PROVIDER "flow = co\x01" "de\n", 6, NULL, "control character");
	expect_error(MIN_PROVIDER "flow = code\x7f\n", 6, NULL, "control character");
	expect_error_len(MIN_PROVIDER "#x\0\n", sizeof(MIN_PROVIDER "#x\0\n") - 1, 6, NULL,
			 "control character");
}

static void test_value_errors(void **state)
{
	static const struct {
		const char *line;
		const char *key;
		const char *why;
	} cases[] = {
		{ "profile = OIDC\n", "profile", "oidc|zkauth|zeroauth" },
		{ "profile =\n", "profile", "expected one of" },
		{ "token_auth_method = client_secret\n", "token_auth_method", "none" },
		{ "flow = implicit\n", "flow", "code|device" },
		{ "clock_skew = 601\n", "clock_skew", "0 to 600" },
		{ "clock_skew = -1\n", "clock_skew", NULL },
		{ "clock_skew = 6 0\n", "clock_skew", NULL },
		{ "clock_skew =\n", "clock_skew", NULL },
		{ "clock_skew = 0x10\n", "clock_skew", NULL },
		{ "allowed_algs = RS256 HS256\n", "allowed_algs", "'HS256'" },
		{ "allowed_algs = none\n", "allowed_algs", "'none'" },
		{ "allowed_algs = rs256\n", "allowed_algs", "'rs256'" },
		{ "allowed_algs = RS256,ES256\n", "allowed_algs", NULL },
		{ "allowed_algs =\n", "allowed_algs", "at least one" },
		{ "allowed_algs =     # nothing\n", "allowed_algs", "at least one" },
		{ "scopes = openid \"email\"\n", "scopes", "scope" },
		{ "acr_values = ph\xc3\xa9\n", "acr_values", "printable" },
		{ "acr_values = \"phr\"\n", "acr_values", "printable" },
		{ "scopes = openid a\\b\n", "scopes", "scope" },
		{ "scopes = openid \xc3\xa9\n", "scopes", "scope" },
		{ "token_endpoint = http://idp.example.com/token\n", "token_endpoint", "https" },
		{ "jwks_uri = http://127.0.0.1.evil.com/\n", "jwks_uri", "loopback" },
		{ "authorization_endpoint = ftp://127.0.0.1/\n", "authorization_endpoint", NULL },
		{ "device_authorization_endpoint = https://u@x/\n", "device_authorization_endpoint",
		  NULL },
		{ "ca_file = relative/ca.pem\n", "ca_file", "absolute" },
		{ "client_key_file = key.pem\n", "client_key_file", "absolute" },
		{ "api_key_file = ~/k\n", "api_key_file", "absolute" },
	};
	char text[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), MIN_PROVIDER "%s", cases[i].line);
		expect_error(text, 6, cases[i].key, cases[i].why);
	}

	/* Keys that MIN_PROVIDER sets: give them first. */
	expect_error("[provider]\nissuer = http://idp.example.com\n", 2, "issuer", "https");
	expect_error("[provider]\nissuer = https://idp.example.com/?x=1\n", 2, "issuer", "query");
	expect_error("[provider]\nissuer=https://idp.example.com#x\n", 2, "issuer", "fragment");
	expect_error("[provider]\nredirect_uri = https://h.example.com/cb#x\n", 2, "redirect_uri",
		     "fragment");
	expect_error("[provider]\nredirect_uri = http://10.0.0.1/cb\n", 2, "redirect_uri", NULL);
	expect_error("[provider]\nclient_id = caf\xc3\xa9\n", 2, "client_id", "ASCII");
}

static void test_other_section_errors(void **state)
{
	static const struct {
		const char *text;
		const char *key;
	} cases[] = {
		{ "[listener]\nlisten = 127.0.0.1\n", "listen" },
		{ "[listener]\nlisten = 127.0.0.1:0\n", "listen" },
		{ "[listener]\nlisten = 127.0.0.1:65536\n", "listen" },
		{ "[listener]\nlisten = 127.0.0.1:\n", "listen" },
		{ "[listener]\nlisten = :8443\n", "listen" },
		{ "[listener]\nlisten = ::1:8443\n", "listen" },
		{ "[listener]\nlisten = [::1]8443\n", "listen" },
		{ "[listener]\nlisten = [nothex]:8443\n", "listen" },
		{ "[listener]\nlisten = a/b:8443\n", "listen" },
		{ "[listener]\nlisten =\n", "listen" },
		{ "[listener]\npublic_url = http://login.example.com/\n", "public_url" },
		{ "[listener]\npublic_url = https://login.example.com/#x\n", "public_url" },
		{ "[listener]\ntls_certificate = cert.pem\n", "tls_certificate" },
		{ "[accounts]\nmap_file = users.map\n", "map_file" },
		{ "[daemon]\nflow_timeout = 4\n", "flow_timeout" },
		{ "[daemon]\nflow_timeout = 601\n", "flow_timeout" },
		{ "[daemon]\nmax_pending = 0\n", "max_pending" },
		{ "[daemon]\nmax_pending = 100001\n", "max_pending" },
		{ "[daemon]\nmax_pending_per_user = 0\n", "max_pending_per_user" },
		{ "[daemon]\nmax_pending_per_user = 1001\n", "max_pending_per_user" },
		{ "[daemon]\nsocket = run/zk.sock\n", "socket" },
		/* 108 bytes: one over what sun_path holds with its NUL. */
		{ "[daemon]\nsocket = /run/zkauth/"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  ".sock\n",
		  "socket" },
	};
	char text[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s" MIN_PROVIDER, cases[i].text);
		expect_error(text, 2, cases[i].key, NULL);
	}
}

static void test_listen_ok(void **state)
{
	static const char *const ok[] = {
		"0.0.0.0:8443", "127.0.0.1:1", "[::]:65535", "[::1]:8443", "localhost:8443",
		"host.example.com:443",
	};
	struct zk_config c;
	char text[512];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), MIN_PROVIDER "[listener]\nlisten = %s\n", ok[i]);
		load_ok(text, &c);
		assert_string_equal(c.listen, ok[i]);
		zk_config_free(&c);
	}
	/* A socket path of 107 bytes still fits sun_path. */
	load_ok(MIN_PROVIDER "[daemon]\nsocket = /run/zkauth/"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		".sock\n", &c);
	assert_int_equal(strlen(c.socket_path), 107);
	zk_config_free(&c);
}

static void test_comments_ok(void **state)
{
	struct zk_config c;

	load_ok("  # indented comment\r\n"
		"\t; another\r\n"
		"[provider]   # trailing comment on a section\r\n"
		"issuer=https://idp.example.com\r\n"
		"client_id   =   ssh hosts   # spaces inside are kept\r\n"
		"client_secret_file = /etc/zkauth/secret#1\r\n"
		"redirect_uri = https://h.example.com/cb\r\n"
		"jwks_uri = https://idp.example.com/k#x # comment\r\n"
		"[accounts]\r\n"
		"require_groups = wheel  ;not-a-comment\r\n"
		"map_file = /m\r\n"
		"# last line without a newline",
		&c);
	assert_string_equal(c.issuer, "https://idp.example.com");
	assert_string_equal(c.client_id, "ssh hosts");
	assert_string_equal(c.client_secret_file, "/etc/zkauth/secret#1");
	assert_string_equal(c.jwks_uri, "https://idp.example.com/k#x");
	assert_string_equal(c.require_groups, "wheel  ;not-a-comment");
	assert_string_equal(c.map_file, "/m");
	zk_config_free(&c);
}

static void test_file_errors(void **state)
{
	struct zk_config c;
	char err[512] = "", *big;
	size_t n = 70 * 1024, i;

	/* World-writable. */
	write_conf_len(MIN_PROVIDER, strlen(MIN_PROVIDER), 0666);
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(zk_config_load(conf_path, &c, err, sizeof(err)), -1);
	assert_true(is_zeroed(&c));
	assert_non_null(strstr(err, conf_path));
	assert_non_null(strstr(err, "world-writable"));
	/* Group-writable: refused too (the file decides who may log in). */
	write_conf_len(MIN_PROVIDER, strlen(MIN_PROVIDER), 0664);
	assert_int_equal(zk_config_load(conf_path, &c, err, sizeof(err)), -1);
	assert_true(is_zeroed(&c));
	assert_non_null(strstr(err, "group-writable (mode 0664)"));

	/* Over 64 KiB, even when it is all comments. */
	big = malloc(n);
	assert_non_null(big);
	memset(big, '#', n);
	for (i = 63; i < n; i += 64)
		big[i] = '\n';
	memcpy(big, MIN_PROVIDER, strlen(MIN_PROVIDER));
	write_conf_len(big, n, 0644);
	assert_int_equal(zk_config_load(conf_path, &c, err, sizeof(err)), -1);
	assert_true(is_zeroed(&c));
	assert_non_null(strstr(err, "larger"));
	/* Just under the cap is fine. */
	write_conf_len(big, 64 * 1024, 0644);
	assert_int_equal(zk_config_load(conf_path, &c, err, sizeof(err)), 0);
	zk_config_free(&c);

	free(big);

	/* Missing file, directory. */
	snprintf(err, sizeof(err), "x");
	assert_int_equal(zk_config_load("/nonexistent/zkauth.conf", &c, err, sizeof(err)), -1);
	assert_true(is_zeroed(&c));
	assert_non_null(strstr(err, "/nonexistent/zkauth.conf"));
	assert_int_equal(zk_config_load(tf_dir, &c, err, sizeof(err)), -1);
	assert_true(is_zeroed(&c));
}

static void test_line_too_long(void **state)
{
	char *text;
	size_t off;

	text = malloc(8192);
	assert_non_null(text);
	off = (size_t)snprintf(text, 8192, MIN_PROVIDER "require_groups = ");
	memset(text + off, 'g', 4100);
	snprintf(text + off + 4100, 8192 - off - 4100, "\n");
	/* require_groups is in [accounts], but the length is checked first. */
	expect_error(text, 6, NULL, "longer than 4096");
	free(text);

	/* 4096 bytes exactly is allowed. */
	text = malloc(8192);
	assert_non_null(text);
	off = (size_t)snprintf(text, 8192, MIN_PROVIDER "[accounts]\nrequire_groups = ");
	memset(text + off, 'g', 4096 - 17);
	snprintf(text + off + 4096 - 17, 8192 - off - 4096 + 17, "\n");
	{
		struct zk_config c;

		load_ok(text, &c);
		assert_int_equal(strlen(c.require_groups), 4096 - 17);
		zk_config_free(&c);
	}
	free(text);
}

static void test_err_buffer(void **state)
{
	struct zk_config c;
	char err[8];

	write_conf("[bogus]\n");
	memset(err, 'x', sizeof(err));
	assert_int_equal(zk_config_load(conf_path, &c, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(zk_config_load(conf_path, &c, NULL, 0), -1);
	assert_true(is_zeroed(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_approval_keys),
		cmocka_unit_test(test_listener_caps),
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_zkauth_profile),
		cmocka_unit_test(test_cross_key),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_other_section_errors),
		cmocka_unit_test(test_listen_ok),
		cmocka_unit_test(test_comments_ok),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_err_buffer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
