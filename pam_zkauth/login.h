/* One sign-in, from module arguments to PAM code. */
#ifndef ZKP_LOGIN_H
#define ZKP_LOGIN_H

#include <security/pam_modules.h>

/* Longest single WAIT asked of the daemon; the loop asks again. */
#define ZKP_WAIT_SLICE_MS 25000u

/* pam_sm_authenticate's work: returns the PAM code of the sign-in. */
int zkp_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv);

#endif
