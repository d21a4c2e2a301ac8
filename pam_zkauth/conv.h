/* The application's conversation function, one message at a time. */
#ifndef ZKP_CONV_H
#define ZKP_CONV_H

#include <security/pam_modules.h>

#include "zkauth_proto.h"

/*
 * Shows text as a PAM_PROMPT_ECHO_ON prompt and waits for the answer,
 * which is wiped and dropped (the module only needs to know the person
 * pressed Enter). Returns PAM_SUCCESS, or PAM_CONV_ERR when there is no
 * conversation or it fails.
 */
int zkp_conv_prompt(pam_handle_t *pamh, const char *text);
/* A prompt whose answer is kept in *answer (empty when it did not fit in
 * ZK_MAX_PASTE); the caller wipes it. */
int zkp_conv_ask(pam_handle_t *pamh, const char *text, struct zk_paste *answer);

/* Shows text as a PAM_ERROR_MSG, unless flags hold PAM_SILENT. Best
 * effort: a failing conversation changes nothing the caller decides. */
void zkp_conv_error(pam_handle_t *pamh, int flags, const char *text);

#endif
