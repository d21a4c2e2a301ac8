/*
 * Test helpers: one temporary directory per test program (under $TMPDIR
 * or /tmp), removed with everything in it at the end, and files written
 * into it with a given mode. A failed write aborts the test.
 */
#ifndef ZK_TESTFILES_H
#define ZK_TESTFILES_H

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char tf_dir[PATH_MAX];

/* Makes tf_dir as "<tmp>/<prefix>-XXXXXX"; 0, or -1 for a cmocka setup. */
static inline int tf_mkdir(const char *prefix)
{
	const char *base = getenv("TMPDIR");

	snprintf(tf_dir, sizeof(tf_dir), "%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix);
	return mkdtemp(tf_dir) ? 0 : -1;
}

static inline int tf_remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Removes tf_dir and everything in it; 0, or -1 for a cmocka teardown. */
static inline int tf_rmdir(void)
{
	return nftw(tf_dir, tf_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes len bytes to path (replacing it) with mode. */
static inline void tf_write_at(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Writes len bytes to tf_dir/name with mode; returns the path (static:
 * valid until the next call). */
static inline const char *tf_write(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", tf_dir, name);
	tf_write_at(path, data, len, mode);
	return path;
}

#endif
