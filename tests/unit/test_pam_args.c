/* pam_zkauth argument parsing: defaults, every argument, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <limits.h>

#include <cmocka.h>

#include "args.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void test_defaults(void **state)
{
	struct zkp_args a;
	int bad = -1;
	const char *why = NULL;

	assert_int_equal(zkp_args_parse(0, NULL, &a, &bad, &why), 0);
	assert_string_equal(a.socket_path, "/run/zkauth/verifyd.sock");
	assert_int_equal(a.timeout, 300);
	assert_false(a.has_timeout); /* login.c then picks sshd's shorter default */
	assert_int_equal(a.qr, ZKP_QR_AUTO);
	assert_false(a.has_max_age);
	assert_false(a.debug);
	assert_string_equal(a.daemon_user, "zkauth");
	assert_int_equal(bad, -1);
	assert_null(why);
}

static void test_all_arguments(void **state)
{
	const char *argv[] = { "socket=/tmp/zk/s.sock", "timeout=42", "qr=ascii", "max_age=0",
			       "daemon_user=_zk-auth.d", "debug" };
	struct zkp_args a;
	int bad;
	const char *why;

	assert_int_equal(zkp_args_parse(ARGC(argv), argv, &a, &bad, &why), 0);
	assert_string_equal(a.socket_path, "/tmp/zk/s.sock");
	assert_int_equal(a.timeout, 42);
	assert_true(a.has_timeout);
	assert_int_equal(a.qr, ZKP_QR_ASCII);
	assert_true(a.has_max_age);
	assert_int_equal(a.max_age, 0);
	assert_string_equal(a.daemon_user, "_zk-auth.d");
	assert_true(a.debug);
}

static void test_qr_values_and_last_wins(void **state)
{
	static const struct { const char *arg; enum zkp_qr_mode mode; } cases[] = {
		{ "qr=auto", ZKP_QR_AUTO }, { "qr=utf8", ZKP_QR_UTF8 },
		{ "qr=ascii", ZKP_QR_ASCII }, { "qr=off", ZKP_QR_OFF },
	};
	const char *twice[] = { "timeout=5", "timeout=7" };
	struct zkp_args a;
	int bad;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { "qr=off", cases[i].arg };

		assert_int_equal(zkp_args_parse(2, argv, &a, &bad, &why), 0);
		assert_int_equal(a.qr, cases[i].mode);
	}
	assert_int_equal(zkp_args_parse(2, twice, &a, &bad, &why), 0);
	assert_int_equal(a.timeout, 7);
}

static void test_ranges(void **state)
{
	static const struct { const char *arg; int ok; } cases[] = {
		{ "timeout=1", 1 }, { "timeout=3600", 1 }, { "timeout=0", 0 }, { "timeout=3601", 0 },
		{ "max_age=0", 1 }, { "max_age=86400", 1 }, { "max_age=86401", 0 },
		{ "timeout=0300", 1 },
	};
	struct zkp_args a;
	int bad;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { cases[i].arg };
		int rc = zkp_args_parse(1, argv, &a, &bad, &why);

		if (cases[i].ok) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(bad, 0);
			assert_non_null(why);
		}
	}
	{
		const char *argv[] = { "max_age=86400", "timeout=3600" };

		assert_int_equal(zkp_args_parse(2, argv, &a, &bad, &why), 0);
		assert_int_equal(a.max_age, 86400);
		assert_int_equal(a.timeout, 3600);
	}
}

static void test_bad_numbers(void **state)
{
	static const char *const bad_args[] = {
		"timeout=", "timeout=abc", "timeout=-1", "timeout=+5", "timeout= 5", "timeout=5 ",
		"timeout=5s", "timeout=0x10", "timeout=1e2", "timeout=99999999999999999999999999",
		"max_age=", "max_age=-0", "max_age=18446744073709551616", "max_age=4294967296",
	};
	struct zkp_args a;
	int bad;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		const char *argv[] = { "debug", bad_args[i] };

		bad = -1;
		assert_int_equal(zkp_args_parse(2, argv, &a, &bad, &why), -1);
		assert_int_equal(bad, 1);
		assert_non_null(why);
	}
}

static void test_unknown_and_malformed(void **state)
{
	static const char *const bad_args[] = {
		"bogus", "debug=1", "socket", "timeout", "Timeout=5", "QR=utf8", "qr=UTF8",
		"qr=", "qr=utf-8", "", "socket=", "socket=relative/path", " debug", "max_age",
		"daemon_user=", "daemon_user=-x", "daemon_user=a b", "daemon_user=ro:ot",
		"daemon_user=abcdefghijklmnopqrstuvwxyz0123456",
		"socket=/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct zkp_args a, before;
	int bad;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		const char *argv[] = { "timeout=5", "qr=off", bad_args[i], "debug" };

		memset(&a, 0xa5, sizeof(a));
		before = a;
		bad = -1;
		why = NULL;
		assert_int_equal(zkp_args_parse(4, argv, &a, &bad, &why), -1);
		assert_int_equal(bad, 2);
		assert_non_null(why);
		/* the output is written only on success */
		assert_memory_equal(&a, &before, sizeof(a));
	}
}

static void test_socket_length_limit(void **state)
{
	char arg[7 + 108 + 1];
	const char *argv[] = { arg };
	struct zkp_args a;
	int bad;
	const char *why;

	/* 107 bytes of path + NUL fill sun_path exactly */
	memcpy(arg, "socket=/", 8);
	memset(arg + 8, 'a', 106);
	arg[8 + 106] = '\0';
	assert_int_equal(strlen(arg + 7), 107);
	assert_int_equal(zkp_args_parse(1, argv, &a, &bad, &why), 0);
	assert_int_equal(strlen(a.socket_path), 107);

	arg[8 + 106] = 'a';
	arg[8 + 107] = '\0';
	assert_int_equal(zkp_args_parse(1, argv, &a, &bad, &why), -1);
}

static void test_parse_uint(void **state)
{
	unsigned long v = 12345;

	assert_int_equal(zkp_parse_uint("0", 0, 0, &v), 0);
	assert_int_equal(v, 0);
	v = 12345;
	assert_int_equal(zkp_parse_uint("5", 0, 0, &v), -1);
	assert_int_equal(v, 12345);
	assert_int_equal(zkp_parse_uint("18446744073709551615", 0, ULONG_MAX, &v), 0);
	assert_true(v == ULONG_MAX);
	assert_int_equal(zkp_parse_uint("18446744073709551616", 0, ULONG_MAX, &v), -1);
	assert_int_equal(zkp_parse_uint("99999999999999999999", 0, ULONG_MAX, &v), -1);
	assert_int_equal(zkp_parse_uint("10", 10, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(zkp_parse_uint("9", 10, 20, &v), -1);
	assert_int_equal(zkp_parse_uint("21", 10, 20, &v), -1);
	assert_int_equal(zkp_parse_uint("", 0, 10, &v), -1);
	assert_int_equal(zkp_parse_uint(NULL, 0, 10, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_arguments),
		cmocka_unit_test(test_qr_values_and_last_wins),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_unknown_and_malformed),
		cmocka_unit_test(test_socket_length_limit),
		cmocka_unit_test(test_parse_uint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
