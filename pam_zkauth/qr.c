/* QR rendering for the terminal, with libqrencode. */
#include "qr.h"

#include <errno.h>
#include <qrencode.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_ext.h>

#define UPPER_HALF "\xe2\x96\x80" /* U+2580 */
#define LOWER_HALF "\xe2\x96\x84" /* U+2584 */
#define FULL_BLOCK "\xe2\x96\x88" /* U+2588 */

/* Is the module at (x, y) of the padded square of side n light? Outside
 * the square counts as not light (left to the terminal background). */
static bool light(const QRcode *qr, int n, int x, int y)
{
	int sx = x - ZKP_QR_QUIET, sy = y - ZKP_QR_QUIET;

	if (x < 0 || y < 0 || x >= n || y >= n)
		return false;
	if (sx < 0 || sy < 0 || sx >= qr->width || sy >= qr->width)
		return true;
	return (qr->data[sy * qr->width + sx] & 1) == 0;
}

static char *put(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

char *zkp_qr_render(const char *text, enum zkp_qr_mode mode)
{
	QRcode *qr = NULL;
	char *out = NULL, *p;
	size_t cap;
	int n, x, y, saved;

	if (text == NULL || text[0] == '\0' || (mode != ZKP_QR_UTF8 && mode != ZKP_QR_ASCII)) {
		errno = EINVAL;
		return NULL;
	}
	qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	if (qr == NULL)
		return NULL; /* errno from libqrencode: EINVAL, ERANGE or ENOMEM */
	if (qr->version > ZKP_QR_MAX_VERSION) {
		errno = ERANGE;
		goto out;
	}
	n = qr->width + 2 * ZKP_QR_QUIET;
	if (mode == ZKP_QR_UTF8)
		cap = (size_t)(n + 1) / 2 * ((size_t)n * 3 + 1) + 1;
	else
		cap = (size_t)n * ((size_t)n * 2 + 1) + 1;
	out = malloc(cap);
	if (out == NULL)
		goto out;
	p = out;
	if (mode == ZKP_QR_UTF8) {
		for (y = 0; y < n; y += 2) {
			for (x = 0; x < n; x++) {
				bool top = light(qr, n, x, y), bottom = light(qr, n, x, y + 1);

				p = put(p, top ? (bottom ? FULL_BLOCK : UPPER_HALF) :
						 (bottom ? LOWER_HALF : " "));
			}
			*p++ = '\n';
		}
	} else {
		for (y = 0; y < n; y++) {
			for (x = 0; x < n; x++)
				p = put(p, light(qr, n, x, y) ? "##" : "  ");
			*p++ = '\n';
		}
	}
	*p = '\0';
out:
	saved = errno;
	QRcode_free(qr);
	errno = saved;
	return out;
}

/* "en_US.UTF-8@euro" -> is the codeset UTF-8? 1 yes, 0 no, -1 none named. */
static int codeset_utf8(const char *locale)
{
	const char *dot = strchr(locale, '.'), *p;
	char norm[16];
	size_t n = 0;

	if (dot == NULL)
		return -1;
	for (p = dot + 1; *p != '\0' && *p != '@'; p++) {
		if (*p == '-' || *p == '_')
			continue;
		if (n == sizeof(norm) - 1)
			return 0;
		norm[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
	}
	if (n == 0)
		return -1;
	norm[n] = '\0';
	return strcmp(norm, "utf8") == 0;
}

enum zkp_qr_mode zkp_qr_pick(const char *lc_all, const char *lc_ctype, const char *lang)
{
	const char *v[3] = { lc_all, lc_ctype, lang };
	size_t i;

	for (i = 0; i < 3; i++) {
		if (v[i] != NULL && v[i][0] != '\0')
			return codeset_utf8(v[i]) == 0 ? ZKP_QR_ASCII : ZKP_QR_UTF8;
	}
	return ZKP_QR_UTF8;
}

static const char *locale_var(pam_handle_t *pamh, const char *name)
{
	const char *v = pam_getenv(pamh, name);

	return (v != NULL && v[0] != '\0') ? v : getenv(name);
}

enum zkp_qr_mode zkp_qr_resolve(pam_handle_t *pamh, enum zkp_qr_mode mode)
{
	if (mode != ZKP_QR_AUTO)
		return mode;
	return zkp_qr_pick(locale_var(pamh, "LC_ALL"), locale_var(pamh, "LC_CTYPE"),
			   locale_var(pamh, "LANG"));
}
