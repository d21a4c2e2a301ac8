/* One sign-in, from module arguments to PAM code. */
#ifndef ZKP_LOGIN_H
#define ZKP_LOGIN_H

#include <security/pam_modules.h>

/* Longest single WAIT asked of the daemon; the loop asks again. */
#define ZKP_WAIT_SLICE_MS 25000u

/* pam_sm_authenticate's work: returns the PAM code of the sign-in. */
int zkp_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv);

/* Key of the pam_set_data entry naming the user this handle approved. */
#define ZKP_DATA_APPROVED "pam_zkauth_approved_user"
void zkp_remember_approval(pam_handle_t *pamh, const char *user);
/* Account phase: PAM_SUCCESS for the user approved in this handle,
 * PAM_IGNORE otherwise (other modules decide). */
int zkp_acct_mgmt(pam_handle_t *pamh);

#endif
