/* Unit tests: quoting log fields and limiting repeated lines (log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

/* What a quoted copy of one unit (a character or a bad byte) looks like. */
struct unit {
	const char *in;
	const char *out;
};

static const char *quoted(const char *s)
{
	static char buf[1024];

	return zk_log_quote(s, buf, sizeof(buf));
}

/* Captures what zk_log writes to stderr between begin and end. */
static int saved_stderr = -1;
static FILE *capture;

static void capture_begin(void)
{
	capture = tmpfile();
	assert_non_null(capture);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fileno(capture), STDERR_FILENO), STDERR_FILENO);
}

static void capture_end(char *out, size_t n)
{
	ssize_t r;

	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	r = pread(fileno(capture), out, n - 1, 0);
	assert_true(r >= 0);
	out[r] = '\0';
	fclose(capture);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay += strlen(needle))
		n++;
	return n;
}

static void test_forged_fields(void **state)
{
	const char *evil = "x\" sub=\"evil\" result=granted";
	char line[2048];

	assert_string_equal(quoted(evil), "x\\x22\\x20sub\\x3d\\x22evil\\x22\\x20result\\x3dgranted");
	assert_null(strpbrk(quoted(evil), " \"="));

	zk_log_open(true, false);
	capture_begin();
	zk_log(LOG_NOTICE, "login user=\"%s\" sub=\"\" result=%s reason=%s", quoted(evil),
	       "denied", "unknown_user");
	capture_end(line, sizeof(line));
	assert_string_equal(line, "zkauth-verifyd: notice: login user=\"x\\x22\\x20sub\\x3d\\x22evil"
				  "\\x22\\x20result\\x3dgranted\" sub=\"\" result=denied "
				  "reason=unknown_user\n");
	assert_int_equal(count(line, "result="), 1);
	assert_int_equal(count(line, "sub="), 1);
	assert_int_equal(count(line, "\""), 4);

	/* A line break cannot start a line of its own either. */
	assert_string_equal(quoted("a\nzkauth-verifyd: info: login"),
			    "a\\x0azkauth-verifyd:\\x20info:\\x20login");
}

static void test_plain_kept(void **state)
{
	char buf[8];

	assert_string_equal(quoted("alice"), "alice");
	assert_string_equal(quoted("id-alice@example.com"), "id-alice@example.com");
	assert_string_equal(quoted("203.0.113.9"), "203.0.113.9");
	assert_string_equal(quoted("[2001:db8::1]:22"), "[2001:db8::1]:22");
	assert_string_equal(quoted("https://idp.example.com/x?y"), "https://idp.example.com/x?y");
	assert_string_equal(quoted(""), "");
	assert_string_equal(quoted(NULL), "");
	assert_string_equal(zk_log_quote("abc", buf, 0), "");
	/* Free text keeps its spaces, not its '=' or quotes. */
	assert_string_equal(zk_log_text("SSL certificate problem: a=\"b\"", buf, sizeof(buf)),
			    "SSL ...");
	{
		char big[128];

		assert_string_equal(zk_log_text("no alternative name a=\"b\\\"", big, sizeof(big)),
				    "no alternative name a\\x3d\\x22b\\x5c\\x22");
		assert_string_equal(zk_log_text("tab\there", big, sizeof(big)), "tab\\x09here");
	}
}

/* Every ASCII byte: controls, DEL, space, '"', '\\' and '=' are escaped,
 * the rest stays. */
static void test_ascii_classes(void **state)
{
	char in[2] = { 0, 0 }, want[8];
	int c;

	for (c = 1; c < 0x80; c++) {
		in[0] = (char)c;
		if (c < 0x20 || c == 0x7f || c == ' ' || c == '"' || c == '\\' || c == '=')
			snprintf(want, sizeof(want), "\\x%02x", c);
		else
			snprintf(want, sizeof(want), "%c", c);
		assert_string_equal(quoted(in), want);
	}
}

/* No byte from 0x80 up is valid UTF-8 on its own: the raw C1 bytes
 * 0x80..0x9f, stray continuation bytes, leads without their tail, C0, C1
 * and F5..FF. */
static void test_high_bytes_alone(void **state)
{
	char in[3] = { 0, 0, 0 }, want[16];
	int c;

	for (c = 0x80; c <= 0xff; c++) {
		in[0] = (char)c;
		snprintf(want, sizeof(want), "\\x%02x", c);
		assert_string_equal(quoted(in), want);
		/* ... nor followed by ASCII. */
		in[1] = 'a';
		snprintf(want, sizeof(want), "\\x%02xa", c);
		assert_string_equal(quoted(in), want);
		in[1] = 0;
	}
}

/* U+0080..U+009F are control characters too, though valid UTF-8. */
static void test_c1_encoded(void **state)
{
	char in[3] = { (char)0xc2, 0, 0 }, want[16];
	int c;

	for (c = 0x80; c <= 0x9f; c++) {
		in[1] = (char)c;
		snprintf(want, sizeof(want), "\\xc2\\x%02x", c);
		assert_string_equal(quoted(in), want);
	}
	/* U+00A0 on is text. */
	assert_string_equal(quoted("\xc2\xa0"), "\xc2\xa0");
	assert_string_equal(quoted("\xc2\xbf"), "\xc2\xbf");
}

static void test_utf8_kept(void **state)
{
	assert_string_equal(quoted("Ren\xc3\xa9"), "Ren\xc3\xa9");                 /* é */
	assert_string_equal(quoted("\xe2\x82\xac" "5"), "\xe2\x82\xac" "5");        /* € */
	assert_string_equal(quoted("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");        /* 😀 */
	assert_string_equal(quoted("\xdf\xbf"), "\xdf\xbf");                        /* U+07FF */
	assert_string_equal(quoted("\xe0\xa0\x80"), "\xe0\xa0\x80");                /* U+0800 */
	assert_string_equal(quoted("\xed\x9f\xbf"), "\xed\x9f\xbf");                /* U+D7FF */
	assert_string_equal(quoted("\xee\x80\x80"), "\xee\x80\x80");                /* U+E000 */
	assert_string_equal(quoted("\xf0\x90\x80\x80"), "\xf0\x90\x80\x80");        /* U+10000 */
	assert_string_equal(quoted("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");        /* U+10FFFF */
}

static void test_utf8_invalid(void **state)
{
	/* Overlong forms: '/' as C0 AF, E0 80 AF, F0 80 80 AF; NUL as C0 80. */
	assert_string_equal(quoted("\xc0\xaf"), "\\xc0\\xaf");
	assert_string_equal(quoted("\xc1\xbf"), "\\xc1\\xbf");
	assert_string_equal(quoted("\xc0\x80"), "\\xc0\\x80");
	assert_string_equal(quoted("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");
	assert_string_equal(quoted("\xe0\x9f\xbf"), "\\xe0\\x9f\\xbf");
	assert_string_equal(quoted("\xf0\x80\x80\xaf"), "\\xf0\\x80\\x80\\xaf");
	assert_string_equal(quoted("\xf0\x8f\xbf\xbf"), "\\xf0\\x8f\\xbf\\xbf");
	/* Surrogates. */
	assert_string_equal(quoted("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	assert_string_equal(quoted("\xed\xbf\xbf"), "\\xed\\xbf\\xbf");
	/* Above U+10FFFF, and leads F5..FF with a tail. */
	assert_string_equal(quoted("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
	assert_string_equal(quoted("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
	assert_string_equal(quoted("\xff\xfe"), "\\xff\\xfe");
	/* Cut off at the end, or by an ASCII byte. */
	assert_string_equal(quoted("a\xc3"), "a\\xc3");
	assert_string_equal(quoted("a\xe2\x82"), "a\\xe2\\x82");
	assert_string_equal(quoted("a\xf0\x9f\x98"), "a\\xf0\\x9f\\x98");
	assert_string_equal(quoted("\xe2\x82" "a\xc3\xa9"), "\\xe2\\x82" "a\xc3\xa9");
	/* A bad byte does not swallow the good character after it. */
	assert_string_equal(quoted("\x80\xc3\xa9"), "\\x80\xc3\xa9");
	assert_string_equal(quoted("\xc3\xc3\xa9"), "\\xc3\xc3\xa9");
}

/*
 * For every buffer size: the copy fits, and either is whole or is a run of
 * whole units followed by "...", the longest run that leaves room for it.
 */
static void test_truncation(void **state)
{
	static const struct unit units[] = {
		{ "a", "a" },
		{ "\xc3\xa9", "\xc3\xa9" },
		{ "\x01", "\\x01" },
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
		{ "\xc2\x85", "\\xc2\\x85" },
		{ "=", "\\x3d" },
		{ "\xe2\x82\xac", "\xe2\x82\xac" },
		/* Invalid UTF-8 goes byte by byte: each escape is a unit. */
		{ "\xed", "\\xed" },
		{ "\xa0", "\\xa0" },
		{ "\x80", "\\x80" },
		{ "b", "b" },
		{ "\xe2", "\\xe2" },
		{ "\x82", "\\x82" },
	};
	const size_t nu = sizeof(units) / sizeof(units[0]);
	char in[64] = "", full[128] = "", buf[128];
	size_t bound[20], n, i, len, keep;

	bound[0] = 0;
	for (i = 0; i < nu; i++) {
		strcat(in, units[i].in);
		strcat(full, units[i].out);
		bound[i + 1] = strlen(full);
	}
	assert_string_equal(quoted(in), full);
	for (n = 1; n <= strlen(full) + 4; n++) {
		memset(buf, 'Z', sizeof(buf));
		zk_log_quote(in, buf, n);
		len = strlen(buf);
		assert_true(len < n);
		if (n > strlen(full)) {
			assert_string_equal(buf, full);
			continue;
		}
		if (n < 4) {
			/* Too small for any unit and the mark: only dots. */
			assert_int_equal(len, n - 1);
			assert_int_equal(strspn(buf, "."), len);
			continue;
		}
		assert_true(len >= 3);
		assert_string_equal(buf + len - 3, "...");
		keep = 0;
		for (i = 0; i <= nu; i++)
			if (bound[i] + 4 <= n)
				keep = bound[i];
		assert_int_equal(len - 3, keep);
		assert_memory_equal(buf, full, keep);
	}
	/* Long plain names fit a buffer of their size plus one, as before. */
	{
		char name[256], out[256];

		memset(name, 'u', 255);
		name[255] = '\0';
		assert_string_equal(zk_log_quote(name, out, sizeof(out)), name);
	}
}

static void log_cut_utf8(void)
{
	char big[1600];
	size_t i;

	big[0] = 'x';
	for (i = 1; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[i] = '\0';
	zk_log(LOG_WARNING, "%s", big);
}

static void log_cut_escape(void)
{
	char raw[400], q[ZK_LOG_QUOTED(400)];

	memset(raw, 1, sizeof(raw) - 1);
	raw[sizeof(raw) - 1] = '\0';
	zk_log(LOG_WARNING, "x%s", zk_log_quote(raw, q, sizeof(q)));
}

/* A line cut at the length limit keeps whole characters and escapes. */
static void test_line_cut(void **state)
{
	static const char head[] = "zkauth-verifyd: warning: x";
	char out[4096];
	size_t body;

	zk_log_open(true, false);
	capture_begin();
	log_cut_utf8();
	capture_end(out, sizeof(out));
	assert_true(strncmp(out, head, strlen(head)) == 0);
	body = strlen(out) - strlen(head) - strlen("...\n");
	assert_string_equal(out + strlen(head) + body, "...\n");
	assert_true(body > 900);
	assert_int_equal(body % 2, 0);

	capture_begin();
	log_cut_escape();
	capture_end(out, sizeof(out));
	assert_true(strncmp(out, head, strlen(head)) == 0);
	body = strlen(out) - strlen(head) - strlen("...\n");
	assert_string_equal(out + strlen(head) + body, "...\n");
	assert_true(body > 900);
	assert_int_equal(body % 4, 0);
}

static int64_t fake_now;

static int64_t fake_clock(void)
{
	return fake_now;
}

static void test_limit_flood(void **state)
{
	struct zk_log_limit lim = { 0 };
	char out[8192];
	int i;

	zk_log_open(true, false);
	zk_log_set_clock(fake_clock);
	fake_now = 5000;
	capture_begin();
	assert_true(zk_log_limited(&lim, LOG_NOTICE, "callback: unknown state from %s", "a"));
	for (i = 1; i < 1000; i++) {
		fake_now = 5000 + i * (ZK_LOG_LIMIT_MS - 1) / 1000;
		assert_false(zk_log_limited(&lim, LOG_NOTICE, "callback: unknown state from %s", "b"));
	}
	capture_end(out, sizeof(out));
	assert_string_equal(out, "zkauth-verifyd: notice: callback: unknown state from a\n");

	/* Once the interval is over the next line goes out, with the count. */
	capture_begin();
	fake_now = 5000 + ZK_LOG_LIMIT_MS;
	assert_true(zk_log_limited(&lim, LOG_NOTICE, "callback: unknown state from %s", "c"));
	fake_now += 1;
	assert_false(zk_log_limited(&lim, LOG_NOTICE, "callback: unknown state from %s", "d"));
	/* The span reported is the real one since the last line written. */
	fake_now += 65000;
	assert_true(zk_log_limited(&lim, LOG_NOTICE, "callback: unknown state from %s", "e"));
	/* Nothing dropped in between: no count. */
	fake_now += ZK_LOG_LIMIT_MS;
	assert_true(zk_log_limited(&lim, LOG_NOTICE, "callback: unknown state from %s", "f"));
	capture_end(out, sizeof(out));
	assert_string_equal(out,
			    "zkauth-verifyd: notice: callback: unknown state from c"
			    " (999 similar suppressed in the last 10 s)\n"
			    "zkauth-verifyd: notice: callback: unknown state from e"
			    " (1 similar suppressed in the last 65 s)\n"
			    "zkauth-verifyd: notice: callback: unknown state from f\n");
	zk_log_set_clock(NULL);
}

static void test_limit_kinds(void **state)
{
	static struct zk_log_limit too_many, not_allowed;
	struct zk_log_limit dbg = { 0 };
	char out[8192];
	int i;

	zk_log_open(true, false);
	zk_log_set_clock(fake_clock);
	fake_now = 100;
	capture_begin();
	for (i = 0; i < 50; i++) {
		zk_log_limited(&too_many, LOG_WARNING, "ipc: uid %d holds too many connections", i);
		zk_log_limited(&not_allowed, LOG_WARNING, "ipc: uid %d not allowed", i);
	}
	/* A line below the log level is not written, and not counted. */
	assert_false(zk_log_limited(&dbg, LOG_DEBUG, "debug"));
	fake_now += ZK_LOG_LIMIT_MS;
	zk_log_limited(&not_allowed, LOG_WARNING, "ipc: uid %d not allowed", 50);
	assert_true(zk_log_limited(&dbg, LOG_INFO, "info"));
	capture_end(out, sizeof(out));
	assert_string_equal(out,
			    "zkauth-verifyd: warning: ipc: uid 0 holds too many connections\n"
			    "zkauth-verifyd: warning: ipc: uid 0 not allowed\n"
			    "zkauth-verifyd: warning: ipc: uid 50 not allowed"
			    " (49 similar suppressed in the last 10 s)\n"
			    "zkauth-verifyd: info: info\n");
	zk_log_set_clock(NULL);
}

/* The count survives a line cut at the length limit. */
static void test_limit_long_line(void **state)
{
	struct zk_log_limit lim = { 0 };
	char big[3000], out[8192];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	zk_log_open(true, false);
	zk_log_set_clock(fake_clock);
	fake_now = 0;
	capture_begin();
	zk_log_limited(&lim, LOG_ERR, "%s", big);
	zk_log_limited(&lim, LOG_ERR, "%s", big);
	fake_now = ZK_LOG_LIMIT_MS;
	zk_log_limited(&lim, LOG_ERR, "%s", big);
	capture_end(out, sizeof(out));
	assert_int_equal(count(out, "\n"), 2);
	assert_non_null(strstr(out, "aaa... (1 similar suppressed in the last 10 s)\n"));
	assert_true(strlen(out) < 2 * 1100);
	zk_log_set_clock(NULL);

	/* The real clock: a second line at once is held back. */
	memset(&lim, 0, sizeof(lim));
	capture_begin();
	assert_true(zk_log_limited(&lim, LOG_ERR, "real clock"));
	assert_false(zk_log_limited(&lim, LOG_ERR, "real clock"));
	capture_end(out, sizeof(out));
	assert_string_equal(out, "zkauth-verifyd: err: real clock\n");
}

/* A burst: that many lines in a window, then the count. */
static void test_limit_burst(void **state)
{
	struct zk_log_limit lim = { .burst = 3 };
	int i;

	zk_log_open(true, false);
	zk_log_set_clock(fake_clock);
	fake_now = 1000;
	for (i = 0; i < 3; i++)
		assert_true(zk_log_limited(&lim, LOG_NOTICE, "refused %d", i));
	for (i = 0; i < 7; i++)
		assert_false(zk_log_limited(&lim, LOG_NOTICE, "refused %d", i));
	fake_now = 1000 + ZK_LOG_LIMIT_MS;
	assert_true(zk_log_limited(&lim, LOG_NOTICE, "refused again"));
	assert_int_equal(lim.suppressed, 0);
	assert_int_equal(lim.in_window, 1);
	zk_log_set_clock(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forged_fields),
		cmocka_unit_test(test_plain_kept),
		cmocka_unit_test(test_ascii_classes),
		cmocka_unit_test(test_high_bytes_alone),
		cmocka_unit_test(test_c1_encoded),
		cmocka_unit_test(test_utf8_kept),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_line_cut),
		cmocka_unit_test(test_limit_flood),
		cmocka_unit_test(test_limit_kinds),
		cmocka_unit_test(test_limit_long_line),
		cmocka_unit_test(test_limit_burst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
