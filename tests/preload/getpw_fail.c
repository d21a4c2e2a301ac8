/* Test-only preload for zkauth-verifyd: getpwnam_r fails the way NSS does
 * when the process is out of descriptors, so that the tests can show such
 * a failure is "busy", never "no such account". Without ZK_TEST_GETPW_ERRNO
 * in the environment it only passes the call on (to nss_wrapper, which the
 * tests preload after this library).
 *
 *   ZK_TEST_GETPW_ERRNO=EMFILE | ENFILE | EIO
 */
#include <dlfcn.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, struct passwd **res);

int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, struct passwd **res)
{
	static int (*next)(const char *, struct passwd *, char *, size_t, struct passwd **);
	const char *fail = getenv("ZK_TEST_GETPW_ERRNO");

	if (fail && *fail) {
		*res = NULL;
		if (strcmp(fail, "EMFILE") == 0)
			return EMFILE;
		if (strcmp(fail, "ENFILE") == 0)
			return ENFILE;
		return EIO;
	}
	if (next == NULL)
		next = (int (*)(const char *, struct passwd *, char *, size_t, struct passwd **))
			dlsym(RTLD_NEXT, "getpwnam_r");
	if (next == NULL) {
		*res = NULL;
		return ENOSYS;
	}
	return next(name, pw, buf, len, res);
}
