/* Unit tests: reading the browser's way back (callback.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "callback.h"

#define CB "/zkauth/callback"

static void test_route(void **state)
{
	assert_int_equal(zkd_route(CB, CB), ZKD_ROUTE_CALLBACK);
	assert_int_equal(zkd_route("/l/abc", CB), ZKD_ROUTE_SHORT_LINK);
	assert_int_equal(zkd_route("/l/", CB), ZKD_ROUTE_SHORT_LINK);
	assert_int_equal(zkd_route(NULL, CB), ZKD_ROUTE_NOT_FOUND);
	assert_int_equal(zkd_route("/", CB), ZKD_ROUTE_NOT_FOUND);
	assert_int_equal(zkd_route(CB "/", CB), ZKD_ROUTE_NOT_FOUND);
	assert_int_equal(zkd_route("/l", CB), ZKD_ROUTE_NOT_FOUND);
	/* A redirect_uri under /l/ stays the callback. */
	assert_int_equal(zkd_route("/l/cb", "/l/cb"), ZKD_ROUTE_CALLBACK);
}

static void test_short_link(void **state)
{
	char id[8];
	bool go = true;

	assert_int_equal(zkd_short_link("abc", id, 7, &go), 0);
	assert_string_equal(id, "abc");
	assert_false(go);
	assert_int_equal(zkd_short_link("abcdefg/go", id, 7, &go), 0);
	assert_string_equal(id, "abcdefg");
	assert_true(go);
	assert_int_equal(zkd_short_link("abcdefgh", id, 7, &go), -1);
	assert_int_equal(zkd_short_link("abc/", id, 7, &go), -1);
	assert_int_equal(zkd_short_link("abc/go/", id, 7, &go), -1);
	assert_int_equal(zkd_short_link("abc/gone", id, 7, &go), -1);
}

static void test_query(void **state)
{
	struct zkd_query q;

	assert_int_equal(zkd_query_parse(&q, "state=s1&code=c%2B1&iss=https%3A%2F%2Fidp"), 0);
	assert_string_equal(q.state, "s1");
	assert_string_equal(q.code, "c+1");
	assert_string_equal(q.iss, "https://idp");
	assert_null(q.error);
	zkd_query_clear(&q);
	assert_null(q.code);
	assert_int_equal(q.form.n, 0);
	assert_false(q.repeated);

	assert_int_equal(zkd_query_parse(&q, NULL), -1);
	zkd_query_clear(&q);
	assert_int_equal(zkd_query_parse(&q, "error=access_denied"), 0);
	assert_string_equal(q.error, "access_denied");
	assert_null(q.state);
	assert_false(q.repeated);
	zkd_query_clear(&q);

	/* RFC 6749 3.1: state, code, iss or error twice, in either order. */
	assert_int_equal(zkd_query_parse(&q, "code=a&state=s&code=b"), 0);
	assert_true(q.repeated);
	assert_string_equal(q.code, "a");
	zkd_query_clear(&q);
	assert_int_equal(zkd_query_parse(&q, "state=x&code=a&state=s"), 0);
	assert_true(q.repeated);
	zkd_query_clear(&q);
	assert_int_equal(zkd_query_parse(&q, "iss=i&iss=i&code=a"), 0);
	assert_true(q.repeated);
	zkd_query_clear(&q);
	/* Other names may repeat; a bare name is an empty value. */
	assert_int_equal(zkd_query_parse(&q, "x=1&x=2&code=a&error_description"), 0);
	assert_false(q.repeated);
	zkd_query_clear(&q);
}

static void test_check(void **state)
{
	char issuer[] = "https://idp.example.com";
	struct zk_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.issuer = issuer;
	assert_null(zkd_callback_check(&cfg, "code1", NULL, NULL, false));
	assert_null(zkd_callback_check(&cfg, "code1", NULL, issuer, true));
	assert_string_equal(zkd_callback_check(&cfg, "code1", NULL, NULL, true), "iss_mismatch");
	assert_string_equal(zkd_callback_check(&cfg, "code1", NULL, "https://evil", false),
			    "iss_mismatch");
	assert_string_equal(zkd_callback_check(&cfg, NULL, "access_denied", NULL, false),
			    "denied_at_provider");
	assert_string_equal(zkd_callback_check(&cfg, "code1", "server_error", NULL, false),
			    "provider_error");
	assert_string_equal(zkd_callback_check(&cfg, NULL, NULL, NULL, false), "no_code");
	assert_string_equal(zkd_callback_check(&cfg, "", NULL, NULL, false), "no_code");
	assert_string_equal(zkd_callback_check(&cfg, "a b", NULL, NULL, false), "no_code");
	assert_string_equal(zkd_callback_check(&cfg, "a\nb", NULL, NULL, false), "no_code");
	/* zeroauth: the broker checks its upstream's iss. */
	cfg.profile = ZK_PROFILE_ZEROAUTH;
	assert_null(zkd_callback_check(&cfg, "code1", NULL, "https://upstream", true));
}

static void test_cookie(void **state)
{
	char v[8];

	assert_int_equal(zkd_cookie_get("a=1; zk-x=abc; b=2", "zk-x", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(zkd_cookie_get("zk-x=abc", "zk-x", v, sizeof(v)), 0);
	assert_int_equal(zkd_cookie_get("zk-x=abc ;b=1", "zk-x", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(zkd_cookie_get("zk-x=", "zk-x", v, sizeof(v)), 0);
	assert_string_equal(v, "");
	/* Absent, a longer or shorter name, a name only in a value. */
	assert_int_equal(zkd_cookie_get(NULL, "zk-x", v, sizeof(v)), -1);
	assert_int_equal(zkd_cookie_get("", "zk-x", v, sizeof(v)), -1);
	assert_int_equal(zkd_cookie_get("zk-xy=abc", "zk-x", v, sizeof(v)), -1);
	assert_int_equal(zkd_cookie_get("k-x=abc", "zk-x", v, sizeof(v)), -1);
	assert_int_equal(zkd_cookie_get("a=zk-x=abc", "zk-x", v, sizeof(v)), -1);
	assert_int_equal(zkd_cookie_get("zk-x", "zk-x", v, sizeof(v)), -1);
	/* Twice: neither is trusted (one may be planted). */
	assert_int_equal(zkd_cookie_get("zk-x=abc; zk-x=def", "zk-x", v, sizeof(v)), -1);
	assert_int_equal(zkd_cookie_get("zk-x=abc; zk-x=abc", "zk-x", v, sizeof(v)), -1);
	/* Too long for out. */
	assert_int_equal(zkd_cookie_get("zk-x=abcdefgh", "zk-x", v, sizeof(v)), -1);
	assert_int_equal(zkd_cookie_get("zk-x=abcdefg", "zk-x", v, sizeof(v)), 0);
	assert_string_equal(v, "abcdefg");
}

static void test_form(void **state)
{
	struct zkd_form f;
	char many[ZKD_FORM_MAX * 4 + 8] = "";
	int i;

	assert_int_equal(zkd_form_parse("code=a%2Bb+c&state=s1&iss=https%3A%2F%2Fi", &f), 0);
	assert_int_equal(f.n, 3);
	assert_string_equal(zkd_form_nth(&f, "code", 0), "a+b c");
	assert_string_equal(zkd_form_nth(&f, "state", 0), "s1");
	assert_string_equal(zkd_form_nth(&f, "iss", 0), "https://i");
	assert_null(zkd_form_nth(&f, "code", 1));
	assert_null(zkd_form_nth(&f, "error", 0));
	zkd_form_clear(&f);
	assert_int_equal(f.n, 0);

	/* A bare name is a name with an empty value; empty pairs are skipped. */
	assert_int_equal(zkd_form_parse("error=unauthorized_client&error_description&&state=s&", &f), 0);
	assert_int_equal(f.n, 3);
	assert_string_equal(zkd_form_nth(&f, "error", 0), "unauthorized_client");
	assert_string_equal(zkd_form_nth(&f, "error_description", 0), "");
	assert_string_equal(zkd_form_nth(&f, "state", 0), "s");
	zkd_form_clear(&f);

	/* Repeats are kept, in order, and counted. */
	assert_int_equal(zkd_form_parse("state=a&code=c&state=b", &f), 0);
	assert_int_equal(zkd_form_count(&f, "state"), 2);
	assert_int_equal(zkd_form_count(&f, "code"), 1);
	assert_string_equal(zkd_form_nth(&f, "state", 1), "b");
	zkd_form_clear(&f);

	/* Bad escapes stay; "=" in a value; names are decoded too. */
	assert_int_equal(zkd_form_parse("a=%zz%4&b=x=y&%63ode=z&c=%", &f), 0);
	assert_string_equal(zkd_form_nth(&f, "a", 0), "%zz%4");
	assert_string_equal(zkd_form_nth(&f, "b", 0), "x=y");
	assert_string_equal(zkd_form_nth(&f, "code", 0), "z");
	assert_string_equal(zkd_form_nth(&f, "c", 0), "%");
	zkd_form_clear(&f);

	/* Refused: a decoded NUL (in a name or a value), too many pairs, NULL. */
	assert_int_equal(zkd_form_parse("code=a%00b", &f), -1);
	assert_int_equal(f.n, 0);
	assert_int_equal(zkd_form_parse("co%00de=a", &f), -1);
	for (i = 0; i < ZKD_FORM_MAX; i++)
		strcat(many, "a=1&");
	assert_int_equal(zkd_form_parse(many, &f), 0);
	zkd_form_clear(&f);
	strcat(many, "b=2");
	assert_int_equal(zkd_form_parse(many, &f), -1);
	assert_int_equal(f.n, 0);
	assert_int_equal(zkd_form_parse(NULL, &f), -1);
	assert_int_equal(zkd_form_parse("", &f), 0);
	assert_int_equal(f.n, 0);
	zkd_form_clear(&f);
}

static void test_host(void **state)
{
	const char *r = "http://127.0.0.1:8443/zkauth/callback";
	const char *rs = "https://Host.Example.com/zkauth/callback";

	assert_true(zkd_host_ok("127.0.0.1:8443", r, NULL));
	assert_false(zkd_host_ok("127.0.0.1", r, NULL));      /* port 80 then */
	assert_false(zkd_host_ok("127.0.0.1:8444", r, NULL));
	assert_false(zkd_host_ok("localhost:8443", r, NULL));
	assert_false(zkd_host_ok("evil.example:8443", r, NULL)); /* DNS rebinding */
	assert_false(zkd_host_ok(NULL, r, NULL));
	assert_false(zkd_host_ok("", r, NULL));
	assert_false(zkd_host_ok("127.0.0.1:8443 ", r, NULL));
	assert_false(zkd_host_ok("127.0.0.1:08443x", r, NULL));
	assert_false(zkd_host_ok("user@127.0.0.1:8443", r, NULL));
	/* https: the default port 443, written or not; the host's case aside */
	assert_true(zkd_host_ok("host.example.com", rs, NULL));
	assert_true(zkd_host_ok("HOST.example.COM:443", rs, NULL));
	assert_false(zkd_host_ok("host.example.com:80", rs, NULL));
	assert_false(zkd_host_ok("host.example.com.evil", rs, NULL));
	assert_false(zkd_host_ok("host.example.co", rs, NULL));
	/* behind a proxy: public_url's authority too */
	assert_true(zkd_host_ok("login.example.com:9443", rs, "https://login.example.com:9443/zk"));
	assert_true(zkd_host_ok("host.example.com", rs, "https://login.example.com:9443/zk"));
	assert_false(zkd_host_ok("login.example.com", rs, "https://login.example.com:9443/zk"));
	/* IPv6 */
	assert_true(zkd_host_ok("[::1]:8443", "http://[::1]:8443/cb", NULL));
	assert_false(zkd_host_ok("[::1]", "http://[::1]:8443/cb", NULL));
	assert_false(zkd_host_ok("[::1:8443", "http://[::1]:8443/cb", NULL));
	assert_false(zkd_host_ok("[::1]x8443", "http://[::1]:8443/cb", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_short_link),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
