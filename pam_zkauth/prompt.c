/* The sign-in prompt. */
#include "prompt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void zkp_sanitize(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < cap && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
}

/* Growing text with a hard limit; once bad, appends do nothing. */
struct text {
	char *p;
	size_t len;
	size_t cap;
	int err; /* 0, ENOMEM or E2BIG */
};

static void add(struct text *t, const char *s)
{
	size_t n = strlen(s), want;
	char *np;

	if (t->err != 0)
		return;
	if (n >= ZKP_PROMPT_MAX - t->len) {
		t->err = E2BIG;
		return;
	}
	if (t->len + n + 1 > t->cap) {
		want = t->cap ? t->cap : 1024;
		while (want < t->len + n + 1)
			want *= 2;
		if (want > ZKP_PROMPT_MAX)
			want = ZKP_PROMPT_MAX;
		np = realloc(t->p, want);
		if (np == NULL) {
			t->err = ENOMEM;
			return;
		}
		t->p = np;
		t->cap = want;
	}
	memcpy(t->p + t->len, s, n + 1);
	t->len += n;
}

char *zkp_prompt_build(const char *user, const char *service, const char *rhost,
		       const struct zk_challenge *ch, unsigned seconds, enum zkp_qr_mode qr,
		       int *qr_errno)
{
	char when[64];
	struct text t = { NULL, 0, 0, 0 };
	char s_user[ZK_MAX_USER + 1], s_host[ZK_MAX_HOST + 1], s_service[ZK_MAX_SERVICE + 1];
	char s_rhost[ZK_MAX_RHOST + 1], s_url[ZK_MAX_URL + 1], s_code[ZK_MAX_CODE + 1];
	char *code = NULL;
	bool paren;

	*qr_errno = 0;
	zkp_sanitize(s_user, sizeof(s_user), user);
	zkp_sanitize(s_host, sizeof(s_host), ch->host);
	zkp_sanitize(s_service, sizeof(s_service), service ? service : "");
	zkp_sanitize(s_rhost, sizeof(s_rhost), rhost ? rhost : "");
	zkp_sanitize(s_url, sizeof(s_url), ch->url);
	zkp_sanitize(s_code, sizeof(s_code), ch->code);

	add(&t, s_user);
	if (s_host[0] != '\0') {
		add(&t, "@");
		add(&t, s_host);
	}
	paren = s_service[0] != '\0' || s_rhost[0] != '\0';
	if (paren)
		add(&t, " (");
	add(&t, s_service);
	if (s_rhost[0] != '\0') {
		add(&t, s_service[0] != '\0' ? " from " : "from ");
		add(&t, s_rhost);
	}
	if (paren)
		add(&t, ")");
	add(&t, "\n\n");

	if (qr != ZKP_QR_OFF) {
		code = zkp_qr_render(s_url, qr);
		if (code == NULL) {
			if (errno == ENOMEM)
				t.err = ENOMEM;
			*qr_errno = errno;
		} else {
			add(&t, code);
			add(&t, "\n");
		}
	}
	add(&t, s_url);
	add(&t, "\n");
	if (s_code[0] != '\0') {
		add(&t, "Code: ");
		add(&t, s_code);
		add(&t, "\n");
	}
	/* How long the person has: sshd, for one, drops the connection after
	 * LoginGraceTime whatever we do. */
	if (seconds > 0) {
		snprintf(when, sizeof(when), "Approve within %u seconds.\n", seconds);
		add(&t, when);
	}
	add(&t, ZKP_PROMPT_ENTER);

	free(code);
	if (t.err != 0) {
		free(t.p);
		errno = t.err;
		return NULL;
	}
	return t.p;
}
