/* The built pam_zkauth.so loads with every symbol resolved (RTLD_NOW) and
 * exports the pam_sm_* entry points and nothing of its internals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

static void module_path(char *out, size_t cap)
{
	const char *b = getenv("ZK_BUILD"), *src = getenv("ZK_SRCDIR");

	if (b != NULL && b[0] != '\0')
		snprintf(out, cap, "%s/pam_zkauth.so", b);
	else
		snprintf(out, cap, "%s/build/pam_zkauth.so", src ? src : ".");
}

static void test_dlopen_exports(void **state)
{
	static const char *const exported[] = {
		"pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt",
	};
	/* internals of every file of the module, and the shared codec */
	static const char *const hidden[] = {
		"zkp_args_parse", "zkp_parse_uint", "zkp_authenticate", "zkp_client_connect",
		"zkp_client_recv", "zkp_qr_render", "zkp_prompt_build", "zkp_conv_prompt",
		"zkp_outcome_report", "zkp_sanitize", "zk_proto_encode_start",
		"zk_proto_parse_header",
	};
	char path[PATH_MAX];
	void *h;
	size_t i;

	module_path(path, sizeof(path));
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		fail_msg("dlopen %s: %s", path, dlerror());
	for (i = 0; i < sizeof(exported) / sizeof(exported[0]); i++) {
		if (dlsym(h, exported[i]) == NULL)
			fail_msg("%s not exported", exported[i]);
	}
	for (i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		if (dlsym(h, hidden[i]) != NULL)
			fail_msg("%s is exported", hidden[i]);
	}
	assert_int_equal(dlclose(h), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dlopen_exports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
