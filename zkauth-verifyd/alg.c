/* JWS algorithm names (RFC 7518 section 3.1, RFC 8037) and their ZK_ALG_* bits. */
#include "config.h"

#include <string.h>

static const struct {
	unsigned bit;
	const char *name;
} algs[] = {
	{ ZK_ALG_RS256, "RS256" }, { ZK_ALG_RS384, "RS384" }, { ZK_ALG_RS512, "RS512" },
	{ ZK_ALG_PS256, "PS256" }, { ZK_ALG_PS384, "PS384" }, { ZK_ALG_PS512, "PS512" },
	{ ZK_ALG_ES256, "ES256" }, { ZK_ALG_ES384, "ES384" }, { ZK_ALG_ES512, "ES512" },
	{ ZK_ALG_EDDSA, "EdDSA" },
};

/* Exact and case-sensitive, as JWS "alg" values are (RFC 7515 4.1.1):
 * "none", "None", "HS256" and anything unknown give 0. */
unsigned zk_alg_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return 0;
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(name, algs[i].name) == 0)
			return algs[i].bit;
	return 0;
}

/* NULL unless alg is exactly one known bit. */
const char *zk_alg_name(unsigned alg)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (alg == algs[i].bit)
			return algs[i].name;
	return NULL;
}
