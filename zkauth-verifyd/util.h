/* Small helpers shared by the daemon's files. */
#ifndef ZK_UTIL_H
#define ZK_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Strict unsigned parse: the whole string, decimal digits only, in [min, max]. */
int zk_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Wipe then free; both accept NULL. zk_freezero_str wipes strlen(s). */
void zk_wipe(void *p, size_t n);
void zk_freezero(void *p, size_t n);
void zk_freezero_str(char *s);

/*
 * Every file the daemon trusts (these readers, zk_check_trusted_file) is
 * held to OpenSSH's StrictModes: a regular file, not a symbolic link,
 * owned by root or the effective uid, and every directory on its path
 * owned by root or the effective uid and not group- or world-writable,
 * unless it is a root-owned sticky directory such as /tmp. Links on the
 * way to the file are followed only when root or the effective uid owns
 * them. Reasons in err name the file and the fault.
 */

/*
 * Reads a secret-bearing file: the rules above, no group/other permission
 * bits at all, at most max bytes.
 * A single trailing newline (\n or \r\n) is stripped; what remains must be
 * non-empty and free of NUL bytes. The result is
 * NUL-terminated, to be released with zk_freezero(*out, *len).
 * Returns 0, or -1 with a reason in err (never the content).
 */
int zk_read_secret_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

/*
 * Reads a configuration-like file (zkauth.conf, the account map): the
 * rules above, not group- or world-writable, at most max bytes.
 * The result is NUL-terminated (*len excludes the NUL; the content may hold
 * NUL bytes, callers reject them), to be released with free().
 * Returns 0, or -1 with "PATH: reason" in err.
 */
int zk_read_config_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

/*
 * Checks a file the daemon trusts but a library opens by name (ca_file
 * for libcurl, tls_certificate for OpenSSL) by the rules of
 * zk_read_config_file. The directory checks are what make the name safe
 * to hand on: only root or the daemon's user could put another file
 * there. Returns 0, or -1 with "PATH: reason" in err.
 */
int zk_check_trusted_file(const char *path, char *err, size_t errlen);

/* Fills buf with n bytes from the CSPRNG (OpenSSL RAND_bytes). 0 or -1. */
int zk_random(unsigned char *buf, size_t n);

/* Constant-time equality of two NUL-terminated strings of any length. */
bool zk_streq_ct(const char *a, const char *b);

/* True when s has no control characters (below 0x20, or DEL). */
bool zk_plain_text(const char *s);

/* True when url is https://..., or http:// to a loopback host
 * (127.0.0.0/8, [::1], localhost). */
bool zk_url_allowed(const char *url);

/* A pem_password_cb for reading our private keys: an encrypted key is
 * refused at once instead of OpenSSL asking for a pass phrase on the
 * terminal, where the daemon would wait. */
int zk_no_pass_phrase(char *buf, int size, int rwflag, void *u);

#endif
