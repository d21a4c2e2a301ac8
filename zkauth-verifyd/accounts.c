/* The account map: which identity-provider subject may log in as which
 * local user. Loaded whole, sorted, and searched by the exact pair. */
#include "accounts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define ACCOUNTS_FILE_MAX (1024u * 1024u)
#define ACCOUNTS_LINE_MAX 1024u
#define FIELD_MAX         255u
/* Longest login name we accept: what utmp and most tools can hold. */
#define USER_MAX          32u

struct zk_pair {
	char *sub;
	char *user;
};

struct zk_accounts {
	struct zk_pair *pairs; /* sorted by (sub, user) with strcmp */
	size_t n;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * A name useradd and the shadow tools would accept on Debian without
 * --badname: a letter or '_' first, then letters, digits, '_', '-', '.',
 * optionally a final '$' (Samba machine accounts).
 */
static bool user_plausible(const char *u, size_t n)
{
	size_t i;

	if (n == 0 || n > USER_MAX)
		return false;
	if (!((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= 'A' && u[0] <= 'Z') || u[0] == '_'))
		return false;
	for (i = 1; i < n; i++) {
		char c = u[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.')
			continue;
		if (c == '$' && i == n - 1)
			continue;
		return false;
	}
	return true;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct zk_pair *x = a, *y = b;
	int r = strcmp(x->sub, y->sub);

	return r ? r : strcmp(x->user, y->user);
}

struct pair_key {
	const char *sub;
	const char *user;
};

/* strcmp compares the full length of both strings: "alice" never matches
 * "alice2", nor a subject that merely starts the same. */
static int key_cmp(const void *k, const void *e)
{
	const struct pair_key *x = k;
	const struct zk_pair *y = e;
	int r = strcmp(x->sub, y->sub);

	return r ? r : strcmp(x->user, y->user);
}

void zk_accounts_free(struct zk_accounts *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->n; i++) {
		free(a->pairs[i].sub);
		free(a->pairs[i].user);
	}
	free(a->pairs);
	free(a);
}

static int add_pair(struct zk_accounts *a, size_t *cap, const char *sub, size_t sl,
		    const char *user, size_t ul)
{
	struct zk_pair *p;

	if (a->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		p = realloc(a->pairs, ncap * sizeof(*p));
		if (!p)
			return -1;
		a->pairs = p;
		*cap = ncap;
	}
	p = &a->pairs[a->n];
	p->sub = strndup(sub, sl);
	p->user = strndup(user, ul);
	if (!p->sub || !p->user) {
		free(p->sub);
		free(p->user);
		return -1;
	}
	a->n++;
	return 0;
}

/* Splits line (len bytes, no newline) into at most 3 fields on spaces and
 * tabs; returns the number of fields seen (3 meaning "more than 2"). */
static int split_fields(const char *line, size_t len, const char *f[3], size_t fl[3])
{
	size_t i = 0;
	int nf = 0;

	while (i < len && nf < 3) {
		size_t s;

		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			break;
		s = i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		f[nf] = line + s;
		fl[nf] = i - s;
		nf++;
	}
	return nf;
}

int zk_accounts_load(const char *path, struct zk_accounts **out, char *err, size_t errlen)
{
	struct zk_accounts *a = NULL;
	char *data = NULL;
	size_t len = 0, off = 0, cap = 0, lineno = 0, i, j;
	int rc = -1;

	if (zk_read_config_file(path, ACCOUNTS_FILE_MAX, &data, &len, err, errlen) != 0)
		goto out;
	a = calloc(1, sizeof(*a));
	if (!a) {
		seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (off < len) {
		const char *line = data + off, *nl, *f[3];
		size_t ll, fl[3], k;
		int nf;

		lineno++;
		nl = memchr(line, '\n', len - off);
		ll = nl ? (size_t)(nl - line) : len - off;
		off += ll + (nl ? 1 : 0);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll > ACCOUNTS_LINE_MAX) {
			seterr(err, errlen, "%s:%zu: line longer than %u bytes", path, lineno,
			       ACCOUNTS_LINE_MAX);
			goto out;
		}
		for (k = 0; k < ll; k++) {
			unsigned char c = (unsigned char)line[k];

			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				seterr(err, errlen, "%s:%zu: control character", path, lineno);
				goto out;
			}
		}
		nf = split_fields(line, ll, f, fl);
		if (nf == 0 || f[0][0] == '#')
			continue;
		if (nf != 2) {
			seterr(err, errlen, "%s:%zu: expected \"SUBJECT LOCAL_USER\"", path, lineno);
			goto out;
		}
		if (fl[0] > FIELD_MAX || fl[1] > FIELD_MAX) {
			seterr(err, errlen, "%s:%zu: field longer than %u bytes", path, lineno,
			       FIELD_MAX);
			goto out;
		}
		if (!user_plausible(f[1], fl[1])) {
			seterr(err, errlen, "%s:%zu: '%.*s' is not a valid user name", path, lineno,
			       (int)fl[1], f[1]);
			goto out;
		}
		if (add_pair(a, &cap, f[0], fl[0], f[1], fl[1]) != 0) {
			seterr(err, errlen, "%s: out of memory", path);
			goto out;
		}
	}
	if (a->n > 1) {
		qsort(a->pairs, a->n, sizeof(*a->pairs), pair_cmp);
		/* A pair listed twice is harmless: keep one. */
		for (i = 1, j = 1; i < a->n; i++) {
			if (pair_cmp(&a->pairs[i], &a->pairs[j - 1]) == 0) {
				free(a->pairs[i].sub);
				free(a->pairs[i].user);
				continue;
			}
			a->pairs[j++] = a->pairs[i];
		}
		a->n = j;
	}
	*out = a;
	a = NULL;
	rc = 0;
out:
	zk_accounts_free(a);
	free(data);
	return rc;
}

bool zk_accounts_allows(const struct zk_accounts *a, const char *sub, const char *user)
{
	struct pair_key key = { sub, user };

	if (!a || !sub || !user || a->n == 0)
		return false;
	return bsearch(&key, a->pairs, a->n, sizeof(*a->pairs), key_cmp) != NULL;
}
