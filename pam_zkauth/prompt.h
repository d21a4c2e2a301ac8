/* The text shown to the person: sanitising and the one sign-in prompt. */
#ifndef ZKP_PROMPT_H
#define ZKP_PROMPT_H

#include <stddef.h>

#include "qr.h"
#include "zkauth_proto.h"

/* Hard cap of the prompt, QR included (a version 25 QR in ASCII is about
 * 30 KiB; URL and lines are bounded by the protocol). */
#define ZKP_PROMPT_MAX 49152u

#define ZKP_PROMPT_ENTER "Press Enter after approving (or paste the code): "
#define ZKP_PROMPT_AGAIN "Not approved yet. Press Enter after approving (or paste the code): "

/*
 * Copies src into dst (cap bytes, cap > 0), truncating, and replaces every
 * byte outside printable ASCII with '?': control characters could drive
 * the terminal, and bytes >= 0x80 include C1 controls on terminals not in
 * UTF-8 mode. Host names, URLs and codes are ASCII by their own rules.
 */
void zkp_sanitize(char *dst, size_t cap, const char *src);

/*
 * Builds the sign-in prompt, one line each:
 *   <user>@<host> (<service> from <rhost>)   ("@<host>", " from <rhost>"
 *                                             left out when empty)
 *   (blank)
 *   QR code lines                             (unless qr is off, or the
 *   (blank)                                    QR could not be made)
 *   <url>
 *   Code: <code>                              (when code is non-empty)
 *   Approve within <seconds> seconds.         (when seconds is not 0)
 *   Press Enter after approving (or paste the code): 
 * Every string is sanitised; the QR encodes the sanitised URL, so it
 * decodes to exactly the URL printed under it. qr must be resolved (not
 * ZKP_QR_AUTO). Returns a heap string to free(), or NULL with errno
 * ENOMEM or E2BIG. *qr_errno is 0, or why the QR was left out.
 */
char *zkp_prompt_build(const char *user, const char *service, const char *rhost,
		       const struct zk_challenge *ch, unsigned seconds, enum zkp_qr_mode qr,
		       int *qr_errno);

#endif
