/*
 * zk_json_parse_object, the strict JSON reader every untrusted document
 * (JWKS, JWT header and payload) goes through before cJSON's tree is used.
 * Both modes run on every input, and must agree as jwks.h says: without
 * nul_members a NUL in any value refuses the document; with it the
 * document is accepted and the top-level members holding one are flagged.
 * So: accepted without flags <=> accepted with flags and no member flagged.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jwks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *strict = NULL, *flagged = NULL;
	const cJSON *c;
	unsigned char *nul = NULL;
	bool any = false, ok_strict, ok_flagged;
	size_t i = 0;
	char *text;

	/* Larger than anything the daemon reads (the JWKS cap). */
	if (size > ZK_JWKS_MAX_BYTES)
		return 0;
	/* Callers terminate the text; the reader insists. */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	ok_strict = zk_json_parse_object(text, size, &strict, NULL) == 0;
	ok_flagged = zk_json_parse_object(text, size, &flagged, &nul) == 0;
	if (ok_flagged) {
		if (!cJSON_IsObject(flagged) || nul == NULL)
			abort();
		/* One flag per top-level member: reading each must stay in bounds. */
		for (c = flagged->child; c != NULL; c = c->next, i++) {
			if (c->string == NULL)
				abort();
			any |= nul[i] != 0;
		}
	}
	if (ok_strict && !cJSON_IsObject(strict))
		abort();
	if (ok_strict != (ok_flagged && !any)) {
		fprintf(stderr, "fuzz_json_strict: modes disagree (strict %d, flagged %d, nul %d)\n",
			ok_strict, ok_flagged, any);
		abort();
	}
	cJSON_Delete(strict);
	cJSON_Delete(flagged);
	free(nul);
	free(text);
	return 0;
}
