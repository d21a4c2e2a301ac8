/* Conversation calls. The answers are wiped before they are freed: the
 * person may paste anything at a prompt. */
#include "conv.h"

#include <stdlib.h>
#include <string.h>

static void drop_responses(struct pam_response *resp)
{
	if (resp == NULL)
		return;
	if (resp->resp != NULL) {
		explicit_bzero(resp->resp, strlen(resp->resp));
		free(resp->resp);
	}
	free(resp);
}

/* answer: when not NULL, receives the person's answer if it fits (else
 * an empty one); the caller wipes it. */
static int converse(pam_handle_t *pamh, int style, const char *text, struct zk_paste *answer)
{
	const struct pam_conv *conv = NULL;
	const void *item = NULL;
	struct pam_message msg = { .msg_style = style, .msg = text };
	const struct pam_message *msgp = &msg;
	struct pam_response *resp = NULL;
	int rc, answered;

	if (pam_get_item(pamh, PAM_CONV, &item) != PAM_SUCCESS || item == NULL)
		return PAM_CONV_ERR;
	conv = item;
	if (conv->conv == NULL)
		return PAM_CONV_ERR;
	rc = conv->conv(1, &msgp, &resp, conv->appdata_ptr);
	answered = resp != NULL;
	if (answer != NULL) {
		answer->text[0] = '\0';
		if (rc == PAM_SUCCESS && resp != NULL && resp->resp != NULL &&
		    strlen(resp->resp) <= ZK_MAX_PASTE)
			memcpy(answer->text, resp->resp, strlen(resp->resp) + 1);
	}
	drop_responses(resp);
	if (rc != PAM_SUCCESS)
		return PAM_CONV_ERR;
	/* A prompt needs an answer, even an empty one. */
	if (style == PAM_PROMPT_ECHO_ON && !answered)
		return PAM_CONV_ERR;
	return PAM_SUCCESS;
}

int zkp_conv_prompt(pam_handle_t *pamh, const char *text)
{
	return converse(pamh, PAM_PROMPT_ECHO_ON, text, NULL);
}

int zkp_conv_ask(pam_handle_t *pamh, const char *text, struct zk_paste *answer)
{
	return converse(pamh, PAM_PROMPT_ECHO_ON, text, answer);
}

void zkp_conv_error(pam_handle_t *pamh, int flags, const char *text)
{
	if ((flags & PAM_SILENT) == 0)
		(void)converse(pamh, PAM_ERROR_MSG, text, NULL);
}
