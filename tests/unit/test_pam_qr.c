/* pam_zkauth QR rendering, locale choice, sanitising and the prompt text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <qrencode.h>

#include "prompt.h"
#include "qr.h"

#define URL "https://host.example.com:8443/l/Zq3xT9vLmR2kWp"

#define FULL  "\xe2\x96\x88"
#define UPPER "\xe2\x96\x80"
#define LOWER "\xe2\x96\x84"

static QRcode *reference(const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);

	assert_non_null(qr);
	return qr;
}

/* Expected lightness of padded module (x, y), square of side n. */
static bool want_light(const QRcode *qr, int x, int y)
{
	int sx = x - ZKP_QR_QUIET, sy = y - ZKP_QR_QUIET;

	if (sx < 0 || sy < 0 || sx >= qr->width || sy >= qr->width)
		return true;
	return (qr->data[sy * qr->width + sx] & 1) == 0;
}

/* Splits s at '\n' (every line must end in one); returns the count. */
static size_t split_lines(char *s, char **lines, size_t max)
{
	size_t n = 0;
	char *nl;

	while (*s != '\0') {
		nl = strchr(s, '\n');
		assert_non_null(nl);
		assert_true(n < max);
		*nl = '\0';
		lines[n++] = s;
		s = nl + 1;
	}
	return n;
}

static void test_ascii_layout(void **state)
{
	QRcode *qr = reference(URL);
	char *out = zkp_qr_render(URL, ZKP_QR_ASCII), *lines[256];
	int n = qr->width + 2 * ZKP_QR_QUIET, x, y;
	size_t count;

	assert_non_null(out);
	count = split_lines(out, lines, 256);
	assert_int_equal(count, (size_t)n);
	for (y = 0; y < n; y++) {
		assert_int_equal(strlen(lines[y]), (size_t)(2 * n));
		for (x = 0; x < n; x++) {
			const char *cell = lines[y] + 2 * x;

			if (want_light(qr, x, y))
				assert_memory_equal(cell, "##", 2);
			else
				assert_memory_equal(cell, "  ", 2);
		}
	}
	/* quiet zone of two light modules all around; the finder's top edge */
	assert_int_equal(strspn(lines[0], "#"), (size_t)(2 * n));
	assert_int_equal(strspn(lines[1], "#"), (size_t)(2 * n));
	assert_int_equal(strspn(lines[n - 1], "#"), (size_t)(2 * n));
	assert_memory_equal(lines[2], "####              ##", 20);
	free(out);
	QRcode_free(qr);
}

/* One glyph of a half-block line; returns its byte length. */
static size_t glyph(const char *p, bool *top, bool *bottom)
{
	if (p[0] == ' ') {
		*top = *bottom = false;
		return 1;
	}
	if (memcmp(p, FULL, 3) == 0) {
		*top = *bottom = true;
	} else if (memcmp(p, UPPER, 3) == 0) {
		*top = true;
		*bottom = false;
	} else if (memcmp(p, LOWER, 3) == 0) {
		*top = false;
		*bottom = true;
	} else {
		fail_msg("unexpected byte 0x%02x in UTF-8 QR", (unsigned char)p[0]);
	}
	return 3;
}

static void test_utf8_layout(void **state)
{
	QRcode *qr = reference(URL);
	char *out = zkp_qr_render(URL, ZKP_QR_UTF8), *lines[256];
	int n = qr->width + 2 * ZKP_QR_QUIET, x, row;
	size_t count;

	assert_true(n % 2 == 1); /* QR widths are odd: the last line is half used */
	assert_non_null(out);
	count = split_lines(out, lines, 256);
	assert_int_equal(count, (size_t)(n + 1) / 2);
	for (row = 0; row < (int)count; row++) {
		const char *p = lines[row];

		for (x = 0; x < n; x++) {
			bool top, bottom;

			p += glyph(p, &top, &bottom);
			/* light modules are ink */
			assert_int_equal(top, want_light(qr, x, 2 * row));
			if (2 * row + 1 < n)
				assert_int_equal(bottom, want_light(qr, x, 2 * row + 1));
			else
				assert_false(bottom);
		}
		assert_int_equal(*p, '\0');
	}
	/* rows 0 and 1 are quiet zone: all full blocks; the last line is the
	 * bottom quiet row alone: all upper halves */
	assert_int_equal(strlen(lines[0]), (size_t)n * 3);
	for (x = 0; x < n; x++) {
		assert_memory_equal(lines[0] + 3 * x, FULL, 3);
		assert_memory_equal(lines[count - 1] + 3 * x, UPPER, 3);
	}
	free(out);
	QRcode_free(qr);
}

static void test_render_refusals(void **state)
{
	char big[ZK_MAX_URL + 1];

	errno = 0;
	assert_null(zkp_qr_render("", ZKP_QR_UTF8));
	assert_int_equal(errno, EINVAL);
	assert_null(zkp_qr_render(URL, ZKP_QR_OFF));
	assert_int_equal(errno, EINVAL);
	assert_null(zkp_qr_render(URL, ZKP_QR_AUTO));
	assert_int_equal(errno, EINVAL);
	/* 2048 bytes need a version far over ZKP_QR_MAX_VERSION */
	memset(big, 'a', ZK_MAX_URL);
	big[ZK_MAX_URL] = '\0';
	assert_null(zkp_qr_render(big, ZKP_QR_ASCII));
	assert_int_equal(errno, ERANGE);
}

/* Writes a PGM of the text: each character cell cw x ch pixels, drawn by
 * cell(): 0 black, 255 white, for the top and bottom half. */
static int have_zbarimg(void)
{
	return system("command -v zbarimg >/dev/null 2>&1") == 0;
}

static char *zbar_decode(const char *path)
{
	char cmd[512], buf[4096];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "zbarimg -q --raw '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	pclose(p);
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return strdup(buf);
}

#define PX 4      /* pixels per module */
#define MARGIN 8  /* modules of terminal background around the text */

static void write_pgm(const char *path, const unsigned char *img, int w, int h)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	fprintf(f, "P5\n%d %d\n255\n", w, h);
	assert_int_equal(fwrite(img, 1, (size_t)w * h, f), (size_t)w * h);
	fclose(f);
}

/* The UTF-8 QR as a terminal shows it white on black must decode to URL. */
static void test_utf8_decodes_white_on_black(void **state)
{
	char *out, *lines[256], *got;
	char path[] = "/tmp/zkp-qr-XXXXXX";
	unsigned char *img;
	int fd, cols, rows, w, h, x, row, i, j;
	size_t count;

	if (!have_zbarimg())
		skip();
	out = zkp_qr_render(URL, ZKP_QR_UTF8);
	assert_non_null(out);
	count = split_lines(out, lines, 256);
	rows = (int)count * 2;
	cols = 0;
	for (const char *p = lines[0]; *p; cols++) {
		bool t, b;

		p += glyph(p, &t, &b);
	}
	w = (cols + 2 * MARGIN) * PX;
	h = (rows + 2 * MARGIN) * PX;
	img = calloc((size_t)w * h, 1); /* black background */
	assert_non_null(img);
	for (row = 0; row < (int)count; row++) {
		const char *p = lines[row];

		for (x = 0; x < cols; x++) {
			bool half[2];

			p += glyph(p, &half[0], &half[1]);
			for (int k = 0; k < 2; k++) {
				if (!half[k])
					continue;
				for (i = 0; i < PX; i++)
					for (j = 0; j < PX; j++)
						img[(size_t)((MARGIN + 2 * row + k) * PX + i) * w +
						    (MARGIN + x) * PX + j] = 255;
			}
		}
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_pgm(path, img, w, h);
	got = zbar_decode(path);
	unlink(path);
	assert_string_equal(got, URL);
	free(got);
	free(img);
	free(out);
}

/* The ASCII QR as a terminal shows it ("##" light on black) decodes too. */
static void test_ascii_decodes_white_on_black(void **state)
{
	char *out, *lines[256], *got;
	char path[] = "/tmp/zkp-qr-XXXXXX";
	unsigned char *img;
	int fd, n, w, h, x, y, i, j;
	size_t count;

	if (!have_zbarimg())
		skip();
	out = zkp_qr_render(URL, ZKP_QR_ASCII);
	assert_non_null(out);
	count = split_lines(out, lines, 256);
	n = (int)count;
	w = (n + 2 * MARGIN) * PX;
	h = w;
	img = calloc((size_t)w * h, 1); /* black background */
	assert_non_null(img);
	for (y = 0; y < n; y++)
		for (x = 0; x < n; x++)
			if (lines[y][2 * x] == '#')
				for (i = 0; i < PX; i++)
					for (j = 0; j < PX; j++)
						img[(size_t)((MARGIN + y) * PX + i) * w + (MARGIN + x) * PX + j] = 255;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_pgm(path, img, w, h);
	got = zbar_decode(path);
	unlink(path);
	assert_string_equal(got, URL);
	free(got);
	free(img);
	free(out);
}

static void test_auto_pick(void **state)
{
	assert_int_equal(zkp_qr_pick(NULL, NULL, NULL), ZKP_QR_UTF8);
	assert_int_equal(zkp_qr_pick("", "", ""), ZKP_QR_UTF8);
	assert_int_equal(zkp_qr_pick(NULL, NULL, "C"), ZKP_QR_UTF8);
	assert_int_equal(zkp_qr_pick(NULL, NULL, "POSIX"), ZKP_QR_UTF8);
	assert_int_equal(zkp_qr_pick(NULL, NULL, "en_US.UTF-8"), ZKP_QR_UTF8);
	assert_int_equal(zkp_qr_pick(NULL, NULL, "C.utf8"), ZKP_QR_UTF8);
	assert_int_equal(zkp_qr_pick(NULL, NULL, "sr_RS.UTF-8@latin"), ZKP_QR_UTF8);
	assert_int_equal(zkp_qr_pick(NULL, NULL, "de_DE.ISO-8859-1"), ZKP_QR_ASCII);
	assert_int_equal(zkp_qr_pick(NULL, NULL, "ja_JP.eucJP@x"), ZKP_QR_ASCII);
	assert_int_equal(zkp_qr_pick(NULL, NULL, "xx.averyveryverylongcodesetname"), ZKP_QR_ASCII);
	/* precedence LC_ALL, LC_CTYPE, LANG; empty ones do not count */
	assert_int_equal(zkp_qr_pick("de_DE.ISO-8859-1", "en_US.UTF-8", "en_US.UTF-8"), ZKP_QR_ASCII);
	assert_int_equal(zkp_qr_pick("", "de_DE.ISO-8859-1", "en_US.UTF-8"), ZKP_QR_ASCII);
	assert_int_equal(zkp_qr_pick("en_US.UTF-8", "de_DE.ISO-8859-1", NULL), ZKP_QR_UTF8);
	assert_int_equal(zkp_qr_pick(NULL, NULL, "de_DE.ISO-8859-1"), ZKP_QR_ASCII);
	/* explicit modes are left alone; no handle needed */
	assert_int_equal(zkp_qr_resolve(NULL, ZKP_QR_OFF), ZKP_QR_OFF);
	assert_int_equal(zkp_qr_resolve(NULL, ZKP_QR_ASCII), ZKP_QR_ASCII);
}

static void test_sanitize(void **state)
{
	char out[16];

	zkp_sanitize(out, sizeof(out), "a\x1b[31mb\n\t\x7f\xc3\xa9");
	assert_string_equal(out, "a?[31mb?" "?" "?" "?" "?"); /* \n \t DEL and two UTF-8 bytes */
	zkp_sanitize(out, 4, "abcdef");
	assert_string_equal(out, "abc");
	zkp_sanitize(out, sizeof(out), "");
	assert_string_equal(out, "");
}

static struct zk_challenge challenge(const char *url, const char *code, const char *host)
{
	struct zk_challenge ch;

	memset(&ch, 0, sizeof(ch));
	ch.expires_in = 300;
	snprintf(ch.url, sizeof(ch.url), "%s", url);
	snprintf(ch.code, sizeof(ch.code), "%s", code);
	snprintf(ch.host, sizeof(ch.host), "%s", host);
	return ch;
}

static void test_prompt_without_qr(void **state)
{
	struct zk_challenge ch = challenge(URL, "4821", "web-1");
	int qr_err = -1;
	char *p;

	p = zkp_prompt_build("alice", "sudo", "", &ch, 0, ZKP_QR_OFF, &qr_err);
	assert_non_null(p);
	assert_int_equal(qr_err, 0);
	assert_string_equal(p, "alice@web-1 (sudo)\n\n" URL "\nCode: 4821\nPress Enter after approving (or paste the code): ");
	free(p);

	ch = challenge(URL, "", "web-1");
	p = zkp_prompt_build("alice", "sshd", "203.0.113.9", &ch, 0, ZKP_QR_OFF, &qr_err);
	assert_non_null(p);
	assert_string_equal(p, "alice@web-1 (sshd from 203.0.113.9)\n\n" URL
			    "\nPress Enter after approving (or paste the code): ");
	free(p);

	/* daemon- and user-provided text is sanitised */
	ch = challenge("https://x.example/\x1b]0;pwned\x07", "12\r34", "evil\x1b[2J");
	p = zkp_prompt_build("al\x1bice", "login", "tty\n1", &ch, 0, ZKP_QR_OFF, &qr_err);
	assert_non_null(p);
	assert_string_equal(p, "al?ice@evil?[2J (login from tty?1)\n\n"
			    "https://x.example/?]0;pwned?\nCode: 12?34\nPress Enter after approving (or paste the code): ");
	free(p);
}

/* How long the person has, on a line of its own before the question. */
static void test_prompt_seconds(void **state)
{
	struct zk_challenge ch = challenge(URL, "4821", "web-1");
	int qr_err = -1;
	char *p;

	p = zkp_prompt_build("alice", "sshd", "203.0.113.9", &ch, 100, ZKP_QR_OFF, &qr_err);
	assert_non_null(p);
	assert_string_equal(p, "alice@web-1 (sshd from 203.0.113.9)\n\n" URL "\nCode: 4821\n"
			    "Approve within 100 seconds.\n"
			    "Press Enter after approving (or paste the code): ");
	free(p);
}

static void test_prompt_with_qr(void **state)
{
	struct zk_challenge ch = challenge(URL, "4821", "web-1");
	QRcode *qr = reference(URL);
	char *p, *lines[256];
	int qr_err = -1, n = qr->width + 2 * ZKP_QR_QUIET;
	size_t count, i, qr_lines = (size_t)(n + 1) / 2;

	p = zkp_prompt_build("alice", "sshd", "198.51.100.7", &ch, 0, ZKP_QR_UTF8, &qr_err);
	assert_non_null(p);
	assert_int_equal(qr_err, 0);
	/* the last line has no newline: add one to split */
	p = realloc(p, strlen(p) + 2);
	strcat(p, "\n");
	count = split_lines(p, lines, 256);
	assert_int_equal(count, 2 + qr_lines + 1 + 3);
	assert_string_equal(lines[0], "alice@web-1 (sshd from 198.51.100.7)");
	assert_string_equal(lines[1], "");
	for (i = 0; i < qr_lines; i++) {
		const char *q = lines[2 + i];
		int cells = 0;
		bool t, b;

		while (*q != '\0') {
			q += glyph(q, &t, &b);
			cells++;
		}
		assert_int_equal(cells, n);
	}
	assert_string_equal(lines[2 + qr_lines], "");
	assert_string_equal(lines[3 + qr_lines], URL);
	assert_string_equal(lines[4 + qr_lines], "Code: 4821");
	assert_string_equal(lines[5 + qr_lines], "Press Enter after approving (or paste the code): ");
	free(p);
	QRcode_free(qr);
}

static void test_prompt_url_too_long_for_qr(void **state)
{
	struct zk_challenge ch;
	char url[ZK_MAX_URL + 1];
	int qr_err = 0;
	char *p;

	memset(url, 'a', ZK_MAX_URL);
	memcpy(url, "https://", 8);
	url[ZK_MAX_URL] = '\0';
	ch = challenge(url, "", "h");
	p = zkp_prompt_build("alice", "sshd", "", &ch, 0, ZKP_QR_ASCII, &qr_err);
	assert_non_null(p);
	assert_int_equal(qr_err, ERANGE);
	assert_non_null(strstr(p, "\n\nhttps://aaaa"));
	assert_null(strchr(p, '#'));
	assert_true(strlen(p) < ZKP_PROMPT_MAX);
	free(p);
}

static void test_prompt_largest_fits(void **state)
{
	struct zk_challenge ch;
	char url[ZK_MAX_URL + 1];
	size_t len;
	int qr_err = -1;
	char *p;

	/* find the longest URL that still gets a QR, in both modes */
	for (len = 1200; len > 8; len--) {
		QRcode *qr;

		memset(url, 'a', len);
		memcpy(url, "https://", 8);
		url[len] = '\0';
		qr = QRcode_encodeString(url, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
		assert_non_null(qr);
		if (qr->version <= ZKP_QR_MAX_VERSION) {
			QRcode_free(qr);
			break;
		}
		QRcode_free(qr);
	}
	ch = challenge(url, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "h");
	p = zkp_prompt_build("alice", "sshd", "", &ch, 0, ZKP_QR_ASCII, &qr_err);
	assert_non_null(p);
	assert_int_equal(qr_err, 0);
	assert_non_null(strchr(p, '#'));
	free(p);
	p = zkp_prompt_build("alice", "sshd", "", &ch, 0, ZKP_QR_UTF8, &qr_err);
	assert_non_null(p);
	assert_int_equal(qr_err, 0);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii_layout),
		cmocka_unit_test(test_utf8_layout),
		cmocka_unit_test(test_render_refusals),
		cmocka_unit_test(test_utf8_decodes_white_on_black),
		cmocka_unit_test(test_ascii_decodes_white_on_black),
		cmocka_unit_test(test_auto_pick),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_prompt_without_qr),
		cmocka_unit_test(test_prompt_with_qr),
		cmocka_unit_test(test_prompt_seconds),
		cmocka_unit_test(test_prompt_url_too_long_for_qr),
		cmocka_unit_test(test_prompt_largest_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
