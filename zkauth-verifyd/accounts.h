/* The account map: lines "SUBJECT LOCAL_USER", '#' comments, blank lines. */
#ifndef ZK_ACCOUNTS_H
#define ZK_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>

struct zk_accounts;

/*
 * Loads the map. Errors (unreadable, a line without exactly two fields,
 * a field over 255 bytes, control characters) give -1 and
 * "FILE:LINE: what" in err. Returns 0 and sets *out on success.
 */
int zk_accounts_load(const char *path, struct zk_accounts **out, char *err, size_t errlen);
void zk_accounts_free(struct zk_accounts *a);

/* True only when the exact pair (sub, user) is listed: full-length,
 * byte-exact comparison of both. */
bool zk_accounts_allows(const struct zk_accounts *a, const char *sub, const char *user);

#endif
