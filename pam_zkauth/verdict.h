/* Every way a sign-in ends, mapped once to a PAM code, a sentence for the
 * person and a log line for the admin. */
#ifndef ZKP_VERDICT_H
#define ZKP_VERDICT_H

#include <security/pam_modules.h>

#include "zkauth_proto.h"

/* Outcomes: the daemon's enum zk_result values (0 .. ZK_R_MAX) as they
 * are, then the module's own. */
enum zkp_outcome {
	ZKP_O_ARGS = 100, /* module arguments refused */
	ZKP_O_NO_USER,    /* pam_get_user failed */
	ZKP_O_BAD_USER,   /* PAM user empty, too long or with control characters */
	ZKP_O_BAD_ITEM,   /* PAM_SERVICE, PAM_RHOST or PAM_TTY unusable */
	ZKP_O_UNAVAIL,    /* the daemon cannot be reached or is not trusted */
	ZKP_O_PROTO,      /* the daemon broke the protocol, closed or went silent */
	ZKP_O_TIMEOUT,    /* timeout= passed while the sign-in was pending */
	ZKP_O_MISMATCH,   /* ZK_R_OK, but for another account than the PAM user */
	ZKP_O_CONV,       /* the conversation failed */
	ZKP_O_BUF,        /* out of memory */
};

/* The outcome of a VERDICT for pam_user: ZK_R_OK stays OK only when the
 * mapped account equals pam_user exactly. */
int zkp_verdict_outcome(const struct zk_verdict *v, const char *pam_user);

/* The PAM code of an outcome; unknown outcomes fail (PAM_AUTH_ERR). */
int zkp_outcome_pam(int outcome);

/* What the log line says about the login. Any field may be NULL. */
struct zkp_report {
	const char *user;
	const char *service;
	const char *rhost;
	const char *detail; /* for the admin only, e.g. why the socket was refused */
};

/*
 * Ends a sign-in: the sentence to the person (PAM_ERROR_MSG, unless
 * PAM_SILENT or the outcome has none), one pam_syslog line, and the PAM
 * code, all from one table.
 */
int zkp_outcome_report(pam_handle_t *pamh, int flags, int outcome, const struct zkp_report *r);

#endif
