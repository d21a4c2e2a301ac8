/* Unit tests for zkauth-verifyd/accounts.c: the subject -> user map. */
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

#include "accounts.h"

static char map_path[PATH_MAX + 64];

static int setup(void **state)
{
	if (tf_mkdir("zk-accounts") < 0)
		return -1;
	snprintf(map_path, sizeof(map_path), "%s/users.map", tf_dir);
	return 0;
}

static int teardown(void **state)
{
	return tf_rmdir();
}

static void write_map_len(const char *text, size_t len, mode_t mode)
{
	tf_write_at(map_path, text, len, mode);
}

static struct zk_accounts *load_ok(const char *text)
{
	struct zk_accounts *a = NULL;
	char err[512] = "";

	write_map_len(text, strlen(text), 0644);
	if (zk_accounts_load(map_path, &a, err, sizeof(err)) != 0)
		fail_msg("rejected: %s", err);
	assert_non_null(a);
	return a;
}

static void expect_error_len(const char *text, size_t len, unsigned line, const char *why)
{
	struct zk_accounts *a = (struct zk_accounts *)(uintptr_t)0x1;
	char err[512] = "", want[PATH_MAX + 128];

	write_map_len(text, len, 0644);
	assert_int_equal(zk_accounts_load(map_path, &a, err, sizeof(err)), -1);
	assert_true(a == (struct zk_accounts *)(uintptr_t)0x1);
	snprintf(want, sizeof(want), "%s:%u: ", map_path, line);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", err, want);
	if (why && !strstr(err, why))
		fail_msg("error \"%s\" does not say \"%s\"", err, why);
}

static void expect_error(const char *text, unsigned line, const char *why)
{
	expect_error_len(text, strlen(text), line, why);
}

static void test_lookup(void **state)
{
	struct zk_accounts *a;

	a = load_ok("# subject            user\n"
		    "\n"
		    "   \t\n"
		    "   # indented comment\n"
		    "248289761001 alice\n"
		    "auth0|5f7c8ec7c33c6c004bbafe82\t\tbob\n"
		    "  spaced-sub   carol  \n"
		    "crlf-sub dave\r\n"
		    "248289761001 alice2\n"
		    "248289761001 alice\n"
		    "x Svc_1.a-b$\n"
		    "last-line-without-newline erin");
	assert_true(zk_accounts_allows(a, "248289761001", "alice"));
	assert_true(zk_accounts_allows(a, "248289761001", "alice2"));
	assert_true(zk_accounts_allows(a, "auth0|5f7c8ec7c33c6c004bbafe82", "bob"));
	assert_true(zk_accounts_allows(a, "spaced-sub", "carol"));
	assert_true(zk_accounts_allows(a, "crlf-sub", "dave"));
	assert_true(zk_accounts_allows(a, "x", "Svc_1.a-b$"));
	assert_true(zk_accounts_allows(a, "last-line-without-newline", "erin"));

	/* Exact, full-length, byte-exact: both fields. */
	assert_false(zk_accounts_allows(a, "248289761001", "bob"));
	assert_false(zk_accounts_allows(a, "248289761001", "alic"));
	assert_false(zk_accounts_allows(a, "248289761001", "alice3"));
	assert_false(zk_accounts_allows(a, "248289761001", "Alice"));
	assert_false(zk_accounts_allows(a, "24828976100", "alice"));
	assert_false(zk_accounts_allows(a, "2482897610011", "alice"));
	assert_false(zk_accounts_allows(a, "248289761001 ", "alice"));
	assert_false(zk_accounts_allows(a, "AUTH0|5f7c8ec7c33c6c004bbafe82", "bob"));
	assert_false(zk_accounts_allows(a, "auth0|5f7c8ec7c33c6c004bbafe82", "carol"));
	assert_false(zk_accounts_allows(a, "crlf-sub", "dave\r"));
	assert_false(zk_accounts_allows(a, "#", "subject"));
	assert_false(zk_accounts_allows(a, "", ""));
	assert_false(zk_accounts_allows(a, "", "alice"));
	assert_false(zk_accounts_allows(a, "248289761001", ""));
	assert_false(zk_accounts_allows(a, NULL, "alice"));
	assert_false(zk_accounts_allows(a, "248289761001", NULL));
	assert_false(zk_accounts_allows(NULL, "248289761001", "alice"));
	zk_accounts_free(a);
	zk_accounts_free(NULL);
}

static void test_empty(void **state)
{
	struct zk_accounts *a;

	a = load_ok("");
	assert_false(zk_accounts_allows(a, "a", "b"));
	zk_accounts_free(a);
	a = load_ok("# nobody yet\n\n");
	assert_false(zk_accounts_allows(a, "#", "nobody"));
	zk_accounts_free(a);
}

static void test_many(void **state)
{
	struct zk_accounts *a;
	char *text, sub[32], user[32];
	size_t off = 0, cap = 1000 * 40;
	int i;

	text = malloc(cap);
	assert_non_null(text);
	for (i = 999; i >= 0; i--)
		off += (size_t)snprintf(text + off, cap - off, "sub-%d user%d\n", i, i % 7);
	a = load_ok(text);
	for (i = 0; i < 1000; i++) {
		snprintf(sub, sizeof(sub), "sub-%d", i);
		snprintf(user, sizeof(user), "user%d", i % 7);
		assert_true(zk_accounts_allows(a, sub, user));
		snprintf(user, sizeof(user), "user%d", (i + 1) % 7);
		assert_false(zk_accounts_allows(a, sub, user));
	}
	zk_accounts_free(a);
	free(text);
}

static void test_errors(void **state)
{
	char line[2048], big[300];

	expect_error("a b\nonlyone\n", 2, "SUBJECT LOCAL_USER");
	expect_error("a b\nc d e\n", 2, "SUBJECT LOCAL_USER");
	expect_error("a b # trailing comment\n", 1, "SUBJECT LOCAL_USER");
	expect_error("a b\n\n\nsub -bob\n", 4, "user name");
	expect_error("sub 1bob\n", 1, "user name");
	expect_error("sub a/b\n", 1, "user name");
	expect_error("sub a:b\n", 1, "user name");
	expect_error("sub bob$x\n", 1, "user name");
	expect_error("sub b\xc3\xb6" "b\n", 1, "user name");
	expect_error("sub aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 1, "user name"); /* 33 */
	expect_error("sub\x01x bob\n", 1, "control");
	expect_error("sub bob\x7f\n", 1, "control");
	expect_error("sub bob\rx\n", 1, "control");
	expect_error_len("sub\0 bob\n", 9, 1, "control");

	memset(big, 's', sizeof(big));
	snprintf(line, sizeof(line), "ok user\n%.256s bob\n", big);
	expect_error(line, 2, "255");
	memset(line, 'x', sizeof(line));
	memcpy(line, "a b\n", 4);
	line[4 + 1025] = '\n';
	line[4 + 1026] = '\0';
	expect_error(line, 2, "longer than 1024");
}

static void test_limits_ok(void **state)
{
	struct zk_accounts *a;
	char line[2048], sub[256];

	/* A 255-byte subject, a 32-byte user. */
	memset(sub, 's', 255);
	sub[255] = '\0';
	snprintf(line, sizeof(line), "%s aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", sub);
	a = load_ok(line);
	assert_true(zk_accounts_allows(a, sub, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	zk_accounts_free(a);
	/* UTF-8 subjects are bytes like any other. */
	a = load_ok("j\xc3\xb6rg jorg\n");
	assert_true(zk_accounts_allows(a, "j\xc3\xb6rg", "jorg"));
	assert_false(zk_accounts_allows(a, "jorg", "jorg"));
	zk_accounts_free(a);
}

static void test_file_errors(void **state)
{
	struct zk_accounts *a = NULL;
	char err[512] = "", *big;
	size_t n = 1024 * 1024 + 1, i;

	write_map_len("a b\n", 4, 0666);
	assert_int_equal(zk_accounts_load(map_path, &a, err, sizeof(err)), -1);
	assert_null(a);
	assert_non_null(strstr(err, map_path));
	assert_non_null(strstr(err, "world-writable"));

	big = malloc(n);
	assert_non_null(big);
	memset(big, '#', n);
	for (i = 99; i < n; i += 100)
		big[i] = '\n';
	write_map_len(big, n, 0644);
	assert_int_equal(zk_accounts_load(map_path, &a, err, sizeof(err)), -1);
	assert_null(a);
	assert_non_null(strstr(err, "larger"));
	write_map_len(big, n - 1, 0644);
	assert_int_equal(zk_accounts_load(map_path, &a, err, sizeof(err)), 0);
	assert_non_null(a);
	zk_accounts_free(a);
	a = NULL;
	free(big);

	assert_int_equal(zk_accounts_load("/nonexistent/users.map", &a, err, sizeof(err)), -1);
	assert_null(a);
	assert_non_null(strstr(err, "/nonexistent/users.map"));
	assert_int_equal(zk_accounts_load(tf_dir, &a, err, sizeof(err)), -1);
	assert_null(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits_ok),
		cmocka_unit_test(test_file_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
