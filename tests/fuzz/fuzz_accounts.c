/*
 * zk_accounts_load and zk_accounts_allows on a hostile account map (loaded
 * by path from a memfd, support/memfile.c). Every pair the file lists must
 * be allowed afterwards, byte for byte; a subject or user cut short or
 * lengthened by one byte must not match unless the file lists that too.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"

/* Pairs checked per input: enough to cover sorting and duplicates. */
#define CHECK_MAX 64

struct pair {
	char sub[256], user[256];
};

/*
 * The pairs of an accepted file, read the way accounts.h describes it:
 * lines split on '\n' (one trailing '\r' dropped), fields split on spaces
 * and tabs, blank lines and lines whose first field starts with '#'
 * skipped. Every other line of an accepted file has exactly two fields.
 */
static size_t listed_pairs(const uint8_t *data, size_t size, struct pair *out, size_t max)
{
	size_t off = 0, n = 0;

	while (off < size && n < max) {
		const char *line = (const char *)data + off, *nl;
		const char *f[3];
		size_t ll, fl[3], i = 0;
		int nf = 0;

		nl = memchr(line, '\n', size - off);
		ll = nl ? (size_t)(nl - line) : size - off;
		off += ll + (nl ? 1 : 0);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		while (i < ll && nf < 3) {
			size_t s;

			while (i < ll && (line[i] == ' ' || line[i] == '\t'))
				i++;
			if (i == ll)
				break;
			s = i;
			while (i < ll && line[i] != ' ' && line[i] != '\t')
				i++;
			f[nf] = line + s;
			fl[nf++] = i - s;
		}
		if (nf == 0 || f[0][0] == '#')
			continue;
		if (nf != 2 || fl[0] > 255 || fl[1] > 255) {
			fprintf(stderr, "fuzz_accounts: accepted a line that is not SUBJECT USER\n");
			abort();
		}
		memcpy(out[n].sub, f[0], fl[0]);
		out[n].sub[fl[0]] = '\0';
		memcpy(out[n].user, f[1], fl[1]);
		out[n].user[fl[1]] = '\0';
		n++;
	}
	return n;
}

static bool listed(const struct pair *p, size_t n, const char *sub, const char *user)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(p[i].sub, sub) == 0 && strcmp(p[i].user, user) == 0)
			return true;
	return false;
}

/* allows() must answer exactly "is the pair listed", for listed pairs and
 * for near misses (one byte shorter, one byte longer). */
static void check_pair(const struct zk_accounts *a, const struct pair *all, size_t n,
		       const char *sub, const char *user, bool complete)
{
	bool want = listed(all, n, sub, user);

	if (zk_accounts_allows(a, sub, user) != want && (want || complete)) {
		fprintf(stderr, "fuzz_accounts: allows() %s a pair the map %s\n",
			want ? "refuses" : "grants", want ? "lists" : "does not list");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pair pairs[CHECK_MAX];
	struct zk_accounts *a = NULL;
	char err[512], sub[260], user[260];
	const char *path = fz_memfile(data, size);
	size_t n, i, sl, ul;
	bool complete;

	err[0] = '\0';
	if (zk_accounts_load(path, &a, err, sizeof(err)) != 0) {
		if (a != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	n = listed_pairs(data, size, pairs, CHECK_MAX);
	/* With more pairs than we keep, a near miss may be listed further on. */
	complete = n < CHECK_MAX;
	for (i = 0; i < n; i++) {
		sl = strlen(pairs[i].sub);
		ul = strlen(pairs[i].user);
		check_pair(a, pairs, n, pairs[i].sub, pairs[i].user, complete);
		memcpy(sub, pairs[i].sub, sl + 1);
		memcpy(user, pairs[i].user, ul + 1);
		sub[sl - 1] = '\0';
		check_pair(a, pairs, n, sub, pairs[i].user, complete);
		memcpy(sub, pairs[i].sub, sl);
		memcpy(sub + sl, "x", 2);
		check_pair(a, pairs, n, sub, pairs[i].user, complete);
		user[ul - 1] = '\0';
		check_pair(a, pairs, n, pairs[i].sub, user, complete);
	}
	if (zk_accounts_allows(a, "", "") || zk_accounts_allows(a, NULL, "root") ||
	    zk_accounts_allows(a, "x", NULL))
		abort();
	zk_accounts_free(a);
	return 0;
}
