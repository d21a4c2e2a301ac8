/*
 * pam_zkauth: passwordless sign-in through OpenID Connect. The module is
 * thin: it reads its arguments and the PAM items, asks zkauth-verifyd over
 * a Unix socket, shows the link and QR code, and maps the daemon's verdict
 * to a PAM code. It never sees a secret or a token. Only the pam_sm_*
 * entry points are exported (pam_zkauth.map).
 */
#include <security/pam_modules.h>

#include "login.h"

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return zkp_authenticate(pamh, flags, argc, argv);
}

/* No credentials to set: the sign-in leaves nothing behind. */
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

/* Succeeds only for the account this module approved in this PAM handle;
 * for anyone else it abstains and leaves the decision to other modules. */
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return zkp_acct_mgmt(pamh);
}
