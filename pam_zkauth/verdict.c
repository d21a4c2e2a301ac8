/* The one table from outcome to PAM code, wording and log line. */
#include "verdict.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>

#include "conv.h"
#include "prompt.h"

#define MSG_UNAVAIL "zkauth: the sign-in service is not available."
#define MSG_DENIED  "zkauth: the sign-in was denied."

struct entry {
	int outcome;
	int pam;
	int prio;
	const char *log;  /* what happened, for the admin */
	const char *msg;  /* for the person; NULL: nothing to say */
	int names_user;   /* msg is followed by the user name and "." */
};

static const struct entry table[] = {
	{ ZK_R_OK, PAM_SUCCESS, LOG_INFO, "approved", NULL, 0 },
	/* PENDING never ends a sign-in by itself (it becomes ZKP_O_TIMEOUT);
	 * should it get here, it fails. */
	{ ZK_R_PENDING, PAM_AUTH_ERR, LOG_NOTICE, "still pending", "zkauth: the sign-in did not complete.", 0 },
	{ ZK_R_DENIED, PAM_AUTH_ERR, LOG_NOTICE, "denied", MSG_DENIED, 0 },
	{ ZK_R_WRONG_USER, PAM_AUTH_ERR, LOG_NOTICE, "identity not mapped to this user",
	  "zkauth: that identity may not sign in as ", 1 },
	{ ZK_R_EXPIRED, PAM_AUTH_ERR, LOG_NOTICE, "expired", "zkauth: the sign-in expired.", 0 },
	{ ZK_R_BAD_TOKEN, PAM_AUTH_ERR, LOG_NOTICE, "token failed verification",
	  "zkauth: the sign-in could not be verified.", 0 },
	{ ZK_R_PROVIDER, PAM_AUTHINFO_UNAVAIL, LOG_NOTICE, "identity provider unavailable",
	  "zkauth: the identity provider is not available.", 0 },
	{ ZK_R_NOT_ALLOWED, PAM_AUTH_ERR, LOG_NOTICE, "caller may not sign in this user",
	  "zkauth: this sign-in is not allowed.", 0 },
	{ ZK_R_BUSY, PAM_AUTHINFO_UNAVAIL, LOG_NOTICE, "daemon busy",
	  "zkauth: too many sign-ins are waiting; try again later.", 0 },
	{ ZK_R_BAD_REQUEST, PAM_SERVICE_ERR, LOG_NOTICE, "daemon refused the request as malformed",
	  "zkauth: the sign-in service refused the request.", 0 },
	{ ZK_R_INTERNAL, PAM_SERVICE_ERR, LOG_NOTICE, "daemon failure",
	  "zkauth: the sign-in service failed.", 0 },
	/* Said to the person like a denial, so that the prompt does not tell
	 * which accounts exist. */
	{ ZK_R_UNKNOWN_USER, PAM_USER_UNKNOWN, LOG_NOTICE, "unknown user", MSG_DENIED, 0 },
	{ ZK_R_CANCELLED, PAM_AUTH_ERR, LOG_NOTICE, "cancelled", "zkauth: the sign-in was cancelled.", 0 },

	{ ZKP_O_ARGS, PAM_SERVICE_ERR, LOG_ERR, "module arguments refused",
	  "zkauth: the sign-in is not configured correctly.", 0 },
	{ ZKP_O_NO_USER, PAM_AUTH_ERR, LOG_NOTICE, "no user name", MSG_DENIED, 0 },
	{ ZKP_O_BAD_USER, PAM_AUTH_ERR, LOG_NOTICE, "user name empty, too long or with control characters",
	  MSG_DENIED, 0 },
	{ ZKP_O_BAD_ITEM, PAM_SERVICE_ERR, LOG_ERR, "PAM_SERVICE, PAM_RHOST or PAM_TTY unusable",
	  "zkauth: the sign-in could not start.", 0 },
	{ ZKP_O_UNAVAIL, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "daemon unavailable", MSG_UNAVAIL, 0 },
	/* A daemon that breaks the protocol is treated like one that is not
	 * there: PAM_AUTHINFO_UNAVAIL lets a stack fall back, never in. */
	{ ZKP_O_PROTO, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "daemon protocol failure", MSG_UNAVAIL, 0 },
	{ ZKP_O_TIMEOUT, PAM_AUTH_ERR, LOG_NOTICE, "timed out", "zkauth: the sign-in timed out.", 0 },
	{ ZKP_O_MISMATCH, PAM_AUTH_ERR, LOG_ERR, "daemon approved another account",
	  "zkauth: that identity may not sign in as ", 1 },
	/* Nothing more is said through a conversation that failed. */
	{ ZKP_O_CONV, PAM_CONV_ERR, LOG_NOTICE, "conversation failed", NULL, 0 },
	{ ZKP_O_BUF, PAM_BUF_ERR, LOG_ERR, "out of memory", NULL, 0 },
};

/* Anything not in the table: fail closed. */
static const struct entry unknown = {
	-1, PAM_AUTH_ERR, LOG_ERR, "unknown outcome", MSG_DENIED, 0
};

static const struct entry *lookup(int outcome)
{
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].outcome == outcome)
			return &table[i];
	}
	return &unknown;
}

int zkp_verdict_outcome(const struct zk_verdict *v, const char *pam_user)
{
	if (v->result == ZK_R_OK && strcmp(v->user, pam_user) != 0)
		return ZKP_O_MISMATCH;
	return (int)v->result;
}

int zkp_outcome_pam(int outcome)
{
	return lookup(outcome)->pam;
}

int zkp_outcome_report(pam_handle_t *pamh, int flags, int outcome, const struct zkp_report *r)
{
	const struct entry *e = lookup(outcome);
	char user[ZK_MAX_USER + 1], service[ZK_MAX_SERVICE + 1], rhost[ZK_MAX_RHOST + 1];
	char msg[sizeof(user) + 64], detail[512];

	zkp_sanitize(user, sizeof(user), r->user ? r->user : "");
	zkp_sanitize(service, sizeof(service), r->service ? r->service : "");
	zkp_sanitize(rhost, sizeof(rhost), r->rhost ? r->rhost : "");

	if (e->msg != NULL) {
		snprintf(msg, sizeof(msg), "%s%s%s", e->msg, e->names_user ? user : "",
			 e->names_user ? "." : "");
		zkp_conv_error(pamh, flags, msg);
	}
	if (r->detail != NULL && r->detail[0] != '\0') {
		zkp_sanitize(detail, sizeof(detail), r->detail);
		pam_syslog(pamh, e->prio, "%s: user \"%s\" service \"%s\" rhost \"%s\": %s",
			   e->log, user, service, rhost, detail);
	} else {
		pam_syslog(pamh, e->prio, "%s: user \"%s\" service \"%s\" rhost \"%s\"",
			   e->log, user, service, rhost);
	}
	return e->pam;
}
