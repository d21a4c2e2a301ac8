/* The QR code of the sign-in URL as terminal text. */
#ifndef ZKP_QR_H
#define ZKP_QR_H

#include <security/pam_modules.h>

enum zkp_qr_mode {
	ZKP_QR_AUTO,  /* UTF-8 unless the locale clearly says otherwise */
	ZKP_QR_UTF8,  /* half blocks, two module rows per text line */
	ZKP_QR_ASCII, /* "##" light, "  " dark, one text line per module row */
	ZKP_QR_OFF,
};

/* Light modules drawn around the symbol on every side. */
#define ZKP_QR_QUIET 2
/* Larger symbols (over 117 modules) do not fit a terminal in any useful
 * way; the prompt then shows the URL alone. */
#define ZKP_QR_MAX_VERSION 25

/*
 * Renders text as a QR code (8-bit mode, level L, smallest version) in
 * mode ZKP_QR_UTF8 or ZKP_QR_ASCII. Returns a NUL-terminated heap string,
 * every text line ending in '\n', for the caller to free(); or NULL with
 * errno EINVAL (empty text or another mode), ERANGE (over
 * ZKP_QR_MAX_VERSION) or ENOMEM.
 *
 * UTF-8 mode draws LIGHT modules as ink (U+2580 upper half, U+2584 lower
 * half, U+2588 full block) and dark modules as spaces: on the usual light-on-
 * dark terminal the ink is light, so the code appears with its real colours
 * and the drawn quiet zone separates it from the dark background. Rendering
 * the text white on black gives an image zbarimg decodes. ASCII mode keeps
 * the same colours with "##" for a light module and two spaces for a dark
 * one, one text line per module row (a terminal cell is about twice as
 * tall as wide, so two columns per module keep it square).
 */
char *zkp_qr_render(const char *text, enum zkp_qr_mode mode);

/*
 * What qr=auto means, from the values (each may be NULL) of LC_ALL,
 * LC_CTYPE and LANG: the first non-empty one in that order (POSIX
 * precedence) decides. ZKP_QR_ASCII only when it names a codeset that is
 * not UTF-8 ("de_DE.ISO-8859-1"); no variable, "C", "POSIX" or a locale
 * without a codeset give ZKP_QR_UTF8. sshd and other daemons run in the C
 * locale while the person's terminal is almost always UTF-8, so the C
 * locale of the process says nothing about the terminal.
 */
enum zkp_qr_mode zkp_qr_pick(const char *lc_all, const char *lc_ctype, const char *lang);

/* Resolves ZKP_QR_AUTO for this handle: each variable from the PAM
 * environment, else the process environment. Other modes are returned as
 * they are. */
enum zkp_qr_mode zkp_qr_resolve(pam_handle_t *pamh, enum zkp_qr_mode mode);

#endif
