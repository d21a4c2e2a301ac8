/* Unit tests for zkauth-verifyd/util.c. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testfiles.h"

#include "log.h"
#include "util.h"


static int setup(void **state)
{
	return tf_mkdir("zk-util");
}

static int teardown(void **state)
{
	return tf_rmdir();
}

static void test_parse_uint(void **state)
{
	unsigned long v;

	assert_int_equal(zk_parse_uint("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(zk_parse_uint("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(zk_parse_uint("007", 0, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(zk_parse_uint("18446744073709551615", 0, ULONG_MAX, &v), 0);
	assert_true(v == ULONG_MAX);

	v = 12345;
	assert_int_equal(zk_parse_uint("11", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint("4", 5, 10, &v), -1);
	assert_int_equal(zk_parse_uint("", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint(NULL, 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint("-1", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint("+1", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint(" 1", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint("1 ", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint("1\n", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint("1a", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint("0x1", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint("1e1", 0, 100, &v), -1);
	assert_int_equal(zk_parse_uint("1.0", 0, 10, &v), -1);
	assert_int_equal(zk_parse_uint("18446744073709551616", 0, ULONG_MAX, &v), -1);
	assert_int_equal(zk_parse_uint("99999999999999999999999", 0, ULONG_MAX, &v), -1);
	/* Output untouched on failure. */
	assert_int_equal(v, 12345);
}

static void test_url_allowed(void **state)
{
	static const struct {
		const char *url;
		bool ok;
	} cases[] = {
		{ "https://idp.example.com", true },
		{ "https://idp.example.com/", true },
		{ "https://idp.example.com:8443/a/b?c=d#e", true },
		{ "HTTPS://IDP.EXAMPLE.COM/", true },
		{ "https://10.0.0.1/", true },
		{ "https://[2001:db8::1]:443/x", true },
		{ "http://127.0.0.1:8080/x", true },
		{ "http://127.0.0.1", true },
		{ "http://127.1.2.3/", true },
		{ "http://localhost/", true },
		{ "http://LOCALHOST:9000/cb", true },
		{ "http://[::1]:1/", true },
		{ "http://[::1]/", true },
		{ "http://127.0.0.1:65535/", true },

		{ "http://127.0.0.1.evil.com/", false },
		{ "http://localhost.evil.com/", false },
		{ "http://localhost@evil/", false },
		{ "http://user:pw@127.0.0.1/", false },
		{ "https://user@idp.example.com/", false },
		{ "http://evil.com/", false },
		{ "http://10.0.0.1/", false },
		{ "http://128.0.0.1/", false },
		{ "http://127.1/", false },
		{ "http://0177.0.0.1/", false },
		{ "http://0x7f000001/", false },
		{ "http://2130706433/", false },
		{ "http://127.0.0.1./", false },
		{ "http://[::2]/", false },
		{ "http://[::ffff:127.0.0.1]/", false },
		{ "http://[::1%25lo]/", false },
		{ "http://[::1/", false },
		{ "http://[::1]x/", false },
		{ "http://127.0.0.1:0/", false },
		{ "http://127.0.0.1:65536/", false },
		{ "http://127.0.0.1:/", false },
		{ "http://127.0.0.1:80:80/", false },
		{ "http://127.0.0.1:8a/", false },
		{ "http://127.0.0.1\\@evil.com/", false },
		{ "http://%31%32%37.0.0.1/", false },
		{ "https://", false },
		{ "https:///path", false },
		{ "https://:443/", false },
		{ "https://?x", false },
		{ "https://idp .example.com/", false },
		{ "https://idp.example.com/ x", false },
		{ "https://idp.example.com/\tx", false },
		{ "https://idp.example.com/\nx", false },
		{ "https://idp.example.com/\x7f", false },
		{ "https://idp.example.com/\xc3\xa9", false },
		{ " https://idp.example.com/", false },
		{ "ftp://127.0.0.1/", false },
		{ "file:///etc/passwd", false },
		{ "//127.0.0.1/", false },
		{ "127.0.0.1", false },
		{ "http:/127.0.0.1/", false },
		{ "", false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = zk_url_allowed(cases[i].url);

		if (got != cases[i].ok)
			fail_msg("zk_url_allowed(\"%s\") = %d, expected %d", cases[i].url, got,
				 cases[i].ok);
	}
	assert_false(zk_url_allowed(NULL));
}

static void test_url_too_long(void **state)
{
	char url[5000];

	memset(url, 'a', sizeof(url));
	memcpy(url, "https://x/", 10);
	url[sizeof(url) - 1] = '\0';
	assert_false(zk_url_allowed(url));
	url[4000] = '\0';
	assert_true(zk_url_allowed(url));
}

static void test_secret_ok(void **state)
{
	char err[256] = "", *s = NULL;
	size_t len = 0;
	const char *p;

	p = tf_write("s1", "s3cret\n", 7, 0600);
	assert_int_equal(zk_read_secret_file(p, 64, &s, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 6);
	assert_string_equal(s, "s3cret");
	zk_freezero(s, len);

	p = tf_write("s2", "s3cret\r\n", 8, 0400);
	assert_int_equal(zk_read_secret_file(p, 64, &s, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 6);
	assert_string_equal(s, "s3cret");
	zk_freezero(s, len);

	/* Only one newline is stripped; no newline is fine. */
	p = tf_write("s3", "ab\n\n", 4, 0600);
	assert_int_equal(zk_read_secret_file(p, 64, &s, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 3);
	assert_string_equal(s, "ab\n");
	zk_freezero(s, len);

	p = tf_write("s4", "xyz", 3, 0600);
	assert_int_equal(zk_read_secret_file(p, 3, &s, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 3);
	assert_string_equal(s, "xyz");
	zk_freezero(s, len);
}

/* Every refusal: -1, *out untouched, a reason that names the file and
 * never contains the content. */
static void expect_refused(const char *path, size_t max, const char *why)
{
	char err[512] = "", *s = (char *)(uintptr_t)0x1;
	size_t len = 77;

	assert_int_equal(zk_read_secret_file(path, max, &s, &len, err, sizeof(err)), -1);
	assert_true(s == (char *)(uintptr_t)0x1);
	assert_int_equal(len, 77);
	assert_non_null(strstr(err, path));
	if (why && !strstr(err, why))
		fail_msg("error \"%s\" does not say \"%s\"", err, why);
	assert_null(strstr(err, "TOPSECRET"));
}

static void test_secret_refused(void **state)
{
	char path[PATH_MAX + 64], link[PATH_MAX + 64], big[100];
	const char *p;

	p = tf_write("g", "TOPSECRET\n", 10, 0640);
	expect_refused(p, 64, "mode 0640");
	p = tf_write("o", "TOPSECRET\n", 10, 0644);
	expect_refused(p, 64, "mode 0644");
	p = tf_write("x", "TOPSECRET\n", 10, 0604);
	expect_refused(p, 64, "mode");

	p = tf_write("target", "TOPSECRET\n", 10, 0600);
	snprintf(path, sizeof(path), "%s", p);
	snprintf(link, sizeof(link), "%s/link", tf_dir);
	assert_int_equal(symlink(path, link), 0);
	expect_refused(link, 64, "symbolic link");

	snprintf(path, sizeof(path), "%s/dir", tf_dir);
	assert_int_equal(mkdir(path, 0700), 0);
	expect_refused(path, 64, "not a regular file");

	snprintf(path, sizeof(path), "%s/fifo", tf_dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_refused(path, 64, "not a regular file");

	memset(big, 'A', sizeof(big));
	memcpy(big, "TOPSECRET", 9);
	p = tf_write("big", big, sizeof(big), 0600);
	expect_refused(p, 99, "larger than 99");
	/* The newline counts against the cap too. */
	p = tf_write("big2", "TOPSECRET\n", 10, 0600);
	expect_refused(p, 9, "larger");

	p = tf_write("empty", "", 0, 0600);
	expect_refused(p, 64, "empty");
	p = tf_write("nl", "\n", 1, 0600);
	expect_refused(p, 64, "empty");
	p = tf_write("nul", "TOPSECRET\0x", 11, 0600);
	expect_refused(p, 64, "NUL");

	snprintf(path, sizeof(path), "%s/missing", tf_dir);
	expect_refused(path, 64, "No such file");
}

static void test_secret_owner(void **state)
{
	const char *p;

	if (geteuid() != 0)
		skip();
	p = tf_write("foreign", "TOPSECRET\n", 10, 0600);
	assert_int_equal(chown(p, 12345, 12345), 0);
	expect_refused(p, 64, "owned by uid 12345");
}

static void test_config_file(void **state)
{
	char err[256] = "", *s = NULL;
	size_t len = 0;
	const char *p;

	p = tf_write("c1", "a = b\n", 6, 0644);
	assert_int_equal(zk_read_config_file(p, 100, &s, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 6);
	assert_string_equal(s, "a = b\n");
	free(s);
	s = NULL;

	p = tf_write("c2", "a = b\n", 6, 0666);
	assert_int_equal(zk_read_config_file(p, 100, &s, &len, err, sizeof(err)), -1);
	assert_null(s);
	assert_non_null(strstr(err, "world-writable"));

	p = tf_write("c3", "a = b\n", 6, 0644);
	assert_int_equal(zk_read_config_file(p, 5, &s, &len, err, sizeof(err)), -1);
	assert_null(s);
	assert_non_null(strstr(err, "larger"));
}

/* StrictModes (util.h): every trusted file, read or only checked. */

/* tf_dir/name made with exactly mode (mkdir's is cut by the umask). */
static const char *tf_subdir(const char *name, mode_t mode)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", tf_dir, name);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static uid_t nobody_uid(void)
{
	const struct passwd *pw = getpwnam("nobody");

	return pw ? pw->pw_uid : 65534;
}

static void expect_untrusted(const char *path, const char *why, const char *why2)
{
	char err[1024] = "", *s = NULL;
	size_t len = 77;

	assert_int_equal(zk_read_config_file(path, 100, &s, &len, err, sizeof(err)), -1);
	assert_null(s);
	assert_int_equal(len, 77);
	if (!strstr(err, path) || !strstr(err, why) || (why2 && !strstr(err, why2)))
		fail_msg("error \"%s\" does not name %s and say \"%s\" \"%s\"", err, path, why,
			 why2 ? why2 : "");
	err[0] = '\0';
	assert_int_equal(zk_check_trusted_file(path, err, sizeof(err)), -1);
	if (!strstr(err, path) || !strstr(err, why) || (why2 && !strstr(err, why2)))
		fail_msg("zk_check_trusted_file: \"%s\" does not name %s and say \"%s\"", err,
			 path, why);
}

static void expect_trusted(const char *path)
{
	char err[1024] = "", *s = NULL;
	size_t len = 0;

	if (zk_read_config_file(path, 100, &s, &len, err, sizeof(err)) != 0)
		fail_msg("%s refused: %s", path, err);
	assert_string_equal(s, "a = b\n");
	free(s);
	if (zk_check_trusted_file(path, err, sizeof(err)) != 0)
		fail_msg("zk_check_trusted_file: %s refused: %s", path, err);
}

static void test_strict_good(void **state)
{
	char path[PATH_MAX + 64], rel[PATH_MAX + 64], cwd[PATH_MAX];
	const char *d;

	/* In tf_dir (mode 0700, ours), under $TMPDIR or /tmp. */
	expect_trusted(tf_write("good", "a = b\n", 6, 0644));
	expect_trusted(tf_write("good-ro", "a = b\n", 6, 0400));
	d = tf_subdir("etc", 0755);
	snprintf(path, sizeof(path), "%s/zkauth.conf", d);
	tf_write_at(path, "a = b\n", 6, 0644);
	expect_trusted(path);
	/* ".", ".." and doubled slashes walk like the kernel's lookup. */
	snprintf(path, sizeof(path), "%s/./etc//../etc/zkauth.conf", tf_dir);
	expect_trusted(path);
	/* A relative name, from the current directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tf_dir), 0);
	expect_trusted("etc/zkauth.conf");
	assert_int_equal(chdir(cwd), 0);
	/* A link to a directory, ours, is followed; its target is checked. */
	snprintf(path, sizeof(path), "%s/etc-link", tf_dir);
	assert_int_equal(symlink("etc", path), 0);
	snprintf(path, sizeof(path), "%s/etc-link/zkauth.conf", tf_dir);
	expect_trusted(path);
	snprintf(rel, sizeof(rel), "%s/etc-abs", tf_dir);
	snprintf(path, sizeof(path), "%s/etc", tf_dir);
	assert_int_equal(symlink(path, rel), 0);
	snprintf(path, sizeof(path), "%s/etc-abs/zkauth.conf", tf_dir);
	expect_trusted(path);
}

static void test_strict_symlink(void **state)
{
	char link[PATH_MAX + 64];
	const char *p;

	p = tf_write("real.conf", "a = b\n", 6, 0644);
	snprintf(link, sizeof(link), "%s/link.conf", tf_dir);
	assert_int_equal(symlink(p, link), 0);
	expect_untrusted(link, "symbolic link", NULL);
	/* A loop of links on the way. */
	snprintf(link, sizeof(link), "%s/loop", tf_dir);
	assert_int_equal(symlink("loop", link), 0);
	snprintf(link, sizeof(link), "%s/loop/x.conf", tf_dir);
	expect_untrusted(link, "Too many levels of symbolic links", NULL);
	/* A directory or a trailing slash names no file. */
	snprintf(link, sizeof(link), "%s/", tf_dir);
	expect_untrusted(link, "not a regular file", NULL);
	snprintf(link, sizeof(link), "%s/..", tf_dir);
	expect_untrusted(link, "not a regular file", NULL);
}

static void test_strict_group_writable(void **state)
{
	char dir[PATH_MAX + 64];

	expect_untrusted(tf_write("gw.map", "a = b\n", 6, 0664), "group-writable (mode 0664)",
			 "chmod g-w");
	expect_untrusted(tf_write("ww.map", "a = b\n", 6, 0646), "world-writable (mode 0646)",
			 "chmod go-w");
	/* A group-writable directory, no sticky bit. */
	snprintf(dir, sizeof(dir), "%s", tf_subdir("gwdir", 0775));
	expect_untrusted(tf_write("gwdir/f.conf", "a = b\n", 6, 0644), dir,
			 "is group-writable (mode 0775)");
}

static void test_strict_parent_world_writable(void **state)
{
	char dir[PATH_MAX + 64], path[PATH_MAX + 96], err[1024] = "", *s = NULL;
	size_t len = 0;

	snprintf(dir, sizeof(dir), "%s", tf_subdir("wwdir", 0777));
	snprintf(path, sizeof(path), "%s/f.conf", dir);
	tf_write_at(path, "a = b\n", 6, 0644);
	expect_untrusted(path, dir, "is world-writable (mode 0777)");
	/* Below it too, and for a secret. */
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/sub/secret", dir);
	tf_write_at(path, "TOPSECRET\n", 10, 0600);
	assert_int_equal(zk_read_secret_file(path, 64, &s, &len, err, sizeof(err)), -1);
	assert_null(s);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "is world-writable (mode 0777)"));
}

/* A root-owned sticky directory (/tmp) is fine: no one else can rename or
 * remove our entries in it. One of ours is not. */
static void test_strict_sticky(void **state)
{
	char path[] = "/tmp/zk-util-sticky-XXXXXX", dir[PATH_MAX + 64];
	struct stat st;
	const char *p;
	int fd;

	if (stat("/tmp", &st) != 0 || st.st_uid != 0 || (st.st_mode & 07777) != 01777) {
		print_message("/tmp is not root's with mode 1777 here: skipped\n");
		skip();
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a = b\n", 6), 6);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	expect_trusted(path);
	unlink(path);

	snprintf(dir, sizeof(dir), "%s", tf_subdir("sticky", 01777));
	p = tf_write("sticky/f.conf", "a = b\n", 6, 0644);
	if (geteuid() == 0)
		expect_trusted(p);
	else
		expect_untrusted(p, dir, "not a root-owned sticky directory");
}

static void test_strict_owner(void **state)
{
	char dir[PATH_MAX + 64], link[PATH_MAX + 64], want[64];
	uid_t nobody = nobody_uid();
	const char *p;

	if (geteuid() != 0) {
		print_message("files of another user need root to make (chown): skipped\n");
		skip();
	}
	snprintf(want, sizeof(want), "owned by uid %u", (unsigned)nobody);
	p = tf_write("nobodys.conf", "a = b\n", 6, 0644);
	assert_int_equal(chown(p, nobody, nobody), 0);
	expect_untrusted(p, want, "not root or the daemon's user");

	snprintf(dir, sizeof(dir), "%s", tf_subdir("nobodys-dir", 0755));
	assert_int_equal(chown(dir, nobody, nobody), 0);
	p = tf_write("nobodys-dir/f.conf", "a = b\n", 6, 0644);
	expect_untrusted(p, dir, want);

	/* A link of someone else's on the way is not followed. */
	tf_subdir("real", 0755);
	tf_write("real/f.conf", "a = b\n", 6, 0644);
	snprintf(link, sizeof(link), "%s/theirs", tf_dir);
	assert_int_equal(symlink("real", link), 0);
	assert_int_equal(lchown(link, nobody, nobody), 0);
	snprintf(link, sizeof(link), "%s/theirs/f.conf", tf_dir);
	expect_untrusted(link, "symbolic link", want);
}

static void test_streq_ct(void **state)
{
	assert_true(zk_streq_ct("abc", "abc"));
	assert_true(zk_streq_ct("", ""));
	assert_false(zk_streq_ct("abc", "abd"));
	assert_false(zk_streq_ct("abc", "ab"));
	assert_false(zk_streq_ct("ab", "abc"));
	assert_false(zk_streq_ct("abc", ""));
	assert_false(zk_streq_ct("", "abc"));
	assert_false(zk_streq_ct("abc", NULL));
	assert_false(zk_streq_ct(NULL, NULL));
}

static void test_random_and_wipe(void **state)
{
	unsigned char a[32], b[32], z[32];
	char *s;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(z, 0, sizeof(z));
	assert_int_equal(zk_random(a, sizeof(a)), 0);
	assert_int_equal(zk_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, z, sizeof(a));
	assert_int_equal(zk_random(a, 0), 0);

	zk_wipe(a, sizeof(a));
	assert_memory_equal(a, z, sizeof(a));
	zk_wipe(NULL, 5);
	zk_freezero(NULL, 5);
	zk_freezero_str(NULL);
	s = strdup("secret");
	assert_non_null(s);
	zk_freezero_str(s);
}

/* Captures what zk_log writes to stderr. */
static void capture_log(char *out, size_t n, void (*fn)(void))
{
	char path[PATH_MAX + 64];
	int fd, saved;
	ssize_t r;

	snprintf(path, sizeof(path), "%s/stderr", tf_dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	fn();
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	r = pread(fd, out, n - 1, 0);
	assert_true(r >= 0);
	out[r] = '\0';
	close(fd);
}

static void log_some(void)
{
	errno = EBADF;
	zk_log(LOG_ERR, "user '%s' from %s", "al\nice\x1b[31m", "203.0.113.9");
	assert_int_equal(errno, EBADF);
	zk_log(LOG_DEBUG, "debug %d", 1);
	zk_log(LOG_NOTICE, "tab\there\x7f");
}

static void log_long(void)
{
	char big[3000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	zk_log(LOG_WARNING, "%s", big);
}

static void test_log_stderr(void **state)
{
	char out[4096];

	zk_log_open(true, false);
	capture_log(out, sizeof(out), log_some);
	assert_string_equal(out, "zkauth-verifyd: err: user 'al?ice?[31m' from 203.0.113.9\n"
				 "zkauth-verifyd: notice: tab?here?\n");

	zk_log_open(true, true);
	capture_log(out, sizeof(out), log_some);
	assert_non_null(strstr(out, "zkauth-verifyd: debug: debug 1\n"));

	/* Long messages are cut, marked, and still one line. */
	capture_log(out, sizeof(out), log_long);
	assert_true(strncmp(out, "zkauth-verifyd: warning: aaaa", 29) == 0);
	assert_non_null(strstr(out, "a...\n"));
	assert_true(strlen(out) < 1100);
	assert_true(strchr(out, '\n') == out + strlen(out) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_url_allowed),
		cmocka_unit_test(test_url_too_long),
		cmocka_unit_test(test_secret_ok),
		cmocka_unit_test(test_secret_refused),
		cmocka_unit_test(test_secret_owner),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_strict_good),
		cmocka_unit_test(test_strict_symlink),
		cmocka_unit_test(test_strict_group_writable),
		cmocka_unit_test(test_strict_parent_world_writable),
		cmocka_unit_test(test_strict_sticky),
		cmocka_unit_test(test_strict_owner),
		cmocka_unit_test(test_streq_ct),
		cmocka_unit_test(test_random_and_wipe),
		cmocka_unit_test(test_log_stderr),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
