/*
 * One sign-in: arguments, PAM items, START to the daemon, the prompt,
 * WAIT until a verdict or timeout=, and the verdict mapped once
 * (verdict.c). The connection is closed on every path; closing it cancels
 * the login in the daemon.
 */
#include "login.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>

#include "args.h"
#include "client.h"
#include "conv.h"
#include "prompt.h"
#include "qr.h"
#include "verdict.h"

/* Not an outcome in the table: a path that forgets to set one fails. */
#define OUTCOME_UNSET (-1)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Non-empty, within ZK_MAX_USER, no control characters. */
static bool user_ok(const char *user)
{
	size_t n = strnlen(user, ZK_MAX_USER + 1);
	size_t i;

	if (n == 0 || n > ZK_MAX_USER)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)user[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* Copies a string item into dst (max + 1 bytes); an unset item is "".
 * -1 when it is longer than the protocol allows. */
static int get_str_item(pam_handle_t *pamh, int type, char *dst, size_t max)
{
	const void *item = NULL;
	size_t n;

	if (pam_get_item(pamh, type, &item) != PAM_SUCCESS || item == NULL) {
		dst[0] = '\0';
		return 0;
	}
	n = strnlen(item, max + 1);
	if (n > max)
		return -1;
	memcpy(dst, item, n);
	dst[n] = '\0';
	return 0;
}

static const char *qr_name(enum zkp_qr_mode m)
{
	switch (m) {
	case ZKP_QR_AUTO:
		return "auto";
	case ZKP_QR_UTF8:
		return "utf8";
	case ZKP_QR_ASCII:
		return "ascii";
	case ZKP_QR_OFF:
		return "off";
	}
	return "?";
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

static void free_data(pam_handle_t *pamh, void *data, int error_status)
{
	free(data);
}

void zkp_remember_approval(pam_handle_t *pamh, const char *user)
{
	char *copy = strdup(user);

	if (copy && pam_set_data(pamh, ZKP_DATA_APPROVED, copy, free_data) != PAM_SUCCESS)
		free(copy);
}

int zkp_acct_mgmt(pam_handle_t *pamh)
{
	const void *approved = NULL;
	const char *user = NULL;

	if (pam_get_data(pamh, ZKP_DATA_APPROVED, &approved) != PAM_SUCCESS || approved == NULL ||
	    pam_get_item(pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS || user == NULL)
		return PAM_IGNORE;
	/* The user may have changed between the phases: only the very account
	 * this module approved passes. */
	return strcmp(approved, user) == 0 ? PAM_SUCCESS : PAM_IGNORE;
}

int zkp_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct zkp_args args;
	struct zk_start start;
	struct zk_challenge ch;
	struct zk_verdict v;
	struct zk_paste paste;
	const char *user = NULL, *why = NULL;
	char detail[512] = "";
	struct zkp_report rep = { NULL, NULL, NULL, detail };
	char arg[128];
	char *prompt = NULL;
	bool is_challenge = false;
	int64_t deadline, left;
	uint32_t wait_ms;
	uid_t peer_uid;
	int outcome = OUTCOME_UNSET;
	int fd = -1, bad = 0, io, rc, qr_err = 0;

	memset(&start, 0, sizeof(start));
	memset(&paste, 0, sizeof(paste));
	/* A new attempt on this handle: an earlier approval no longer counts
	 * for the account phase, whatever this one ends in. */
	(void)pam_set_data(pamh, ZKP_DATA_APPROVED, NULL, NULL);
	if (zkp_args_parse(argc, argv, &args, &bad, &why) < 0) {
		zkp_sanitize(arg, sizeof(arg), argv[bad] ? argv[bad] : "(null)");
		snprintf(detail, sizeof(detail), "argument \"%s\": %s", arg, why);
		outcome = ZKP_O_ARGS;
		goto out;
	}

	rc = pam_get_user(pamh, &user, NULL);
	if (rc == PAM_CONV_AGAIN)
		return PAM_INCOMPLETE; /* the application calls again later */
	if (rc != PAM_SUCCESS || user == NULL) {
		user = NULL;
		snprintf(detail, sizeof(detail), "pam_get_user: %s", pam_strerror(pamh, rc));
		outcome = ZKP_O_NO_USER;
		goto out;
	}
	rep.user = user;
	if (!user_ok(user)) {
		outcome = ZKP_O_BAD_USER;
		goto out;
	}
	memcpy(start.user, user, strlen(user) + 1);
	/* From here on our copy: libpam's string may change or go away while
	 * the application runs the conversation. */
	user = start.user;
	rep.user = user;
	if (get_str_item(pamh, PAM_SERVICE, start.service, ZK_MAX_SERVICE) < 0 ||
	    get_str_item(pamh, PAM_RHOST, start.rhost, ZK_MAX_RHOST) < 0 ||
	    get_str_item(pamh, PAM_TTY, start.tty, ZK_MAX_TTY) < 0) {
		outcome = ZKP_O_BAD_ITEM;
		goto out;
	}
	rep.service = start.service;
	rep.rhost = start.rhost;
	if (!args.has_timeout && strcmp(start.service, "sshd") == 0)
		args.timeout = ZKP_SSHD_TIMEOUT;
	start.max_age = args.has_max_age ? args.max_age : ZK_NO_MAX_AGE;
	start.flags = 0;

	deadline = now_ms() + (int64_t)args.timeout * 1000;
	if (args.debug && args.has_max_age)
		pam_syslog(pamh, LOG_DEBUG, "socket=%s timeout=%u qr=%s max_age=%u",
			   args.socket_path, args.timeout, qr_name(args.qr), args.max_age);
	else if (args.debug)
		pam_syslog(pamh, LOG_DEBUG, "socket=%s timeout=%u qr=%s max_age=none",
			   args.socket_path, args.timeout, qr_name(args.qr));

	fd = zkp_client_connect(args.socket_path, args.daemon_user, &peer_uid, detail, sizeof(detail));
	if (fd < 0) {
		outcome = ZKP_O_UNAVAIL;
		goto out;
	}
	if (args.debug)
		pam_syslog(pamh, LOG_DEBUG, "connected to %s, daemon uid %u",
			   args.socket_path, (unsigned int)peer_uid);

	io = zkp_client_start(fd, &start, &is_challenge, &ch, &v);
	if (io != ZKP_IO_OK) {
		snprintf(detail, sizeof(detail), "answer to START: %s", zkp_io_str(io));
		outcome = ZKP_O_PROTO;
		goto out;
	}
	if (!is_challenge) {
		outcome = zkp_verdict_outcome(&v, user);
		goto out;
	}
	if (args.debug)
		pam_syslog(pamh, LOG_DEBUG, "login started, expires in %u s", ch.expires_in);

	left = deadline - now_ms();
	if (ch.expires_in > 0 && (int64_t)ch.expires_in * 1000 < left)
		left = (int64_t)ch.expires_in * 1000;
	prompt = zkp_prompt_build(user, start.service, start.rhost, &ch,
				  left > 0 ? (unsigned)((left + 999) / 1000) : 0,
				  zkp_qr_resolve(pamh, args.qr), &qr_err);
	if (prompt == NULL) {
		outcome = errno == ENOMEM ? ZKP_O_BUF : ZKP_O_PROTO;
		snprintf(detail, sizeof(detail), "building the prompt: %s",
			 errno == ENOMEM ? "out of memory" : "too large");
		goto out;
	}
	if (qr_err != 0)
		pam_syslog(pamh, LOG_NOTICE, "no QR code shown: %s",
			   qr_err == ERANGE ? "URL too long" : "encoding failed");
	rc = zkp_conv_ask(pamh, prompt, &paste);
	free(prompt);
	prompt = NULL;
	if (rc != PAM_SUCCESS) {
		outcome = ZKP_O_CONV;
		goto out;
	}

	for (;;) {
		/* Something pasted (the browser could not reach the daemon): the
		 * daemon redeems it. Just Enter: nothing to send. */
		if (!blank(paste.text)) {
			io = zkp_client_paste(fd, &paste);
			explicit_bzero(&paste, sizeof(paste));
			if (io != ZKP_IO_OK) {
				snprintf(detail, sizeof(detail), "sending the pasted code: %s", zkp_io_str(io));
				outcome = ZKP_O_PROTO;
				goto out;
			}
		}
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		/* Even when time is up, one WAIT {0} picks up an approval that
		 * came while the person was still at the prompt. */
		wait_ms = left < (int64_t)ZKP_WAIT_SLICE_MS ? (uint32_t)left : ZKP_WAIT_SLICE_MS;
		if (args.debug)
			pam_syslog(pamh, LOG_DEBUG, "waiting up to %u ms for the verdict", wait_ms);
		io = zkp_client_wait(fd, wait_ms, &v);
		if (io != ZKP_IO_OK) {
			snprintf(detail, sizeof(detail), "answer to WAIT: %s", zkp_io_str(io));
			outcome = ZKP_O_PROTO;
			goto out;
		}
		if (args.debug)
			pam_syslog(pamh, LOG_DEBUG, "verdict %u", v.result);
		if (v.result != ZK_R_PENDING) {
			outcome = zkp_verdict_outcome(&v, user);
			goto out;
		}
		if (now_ms() >= deadline) {
			outcome = ZKP_O_TIMEOUT;
			goto out;
		}
		if (zkp_conv_ask(pamh, ZKP_PROMPT_AGAIN, &paste) != PAM_SUCCESS) {
			outcome = ZKP_O_CONV;
			goto out;
		}
	}

out:
	explicit_bzero(&paste, sizeof(paste));
	if (fd >= 0)
		close(fd);
	free(prompt);
	rc = zkp_outcome_report(pamh, flags, outcome, &rep);
	/* Remember whom this handle approved, for the account phase. A failure
	 * to remember only makes the account phase abstain. */
	if (rc == PAM_SUCCESS)
		zkp_remember_approval(pamh, user);
	return rc;
}
