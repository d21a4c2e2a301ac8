/* The built pam_zkauth.so loads with every symbol resolved (RTLD_NOW) and
 * exports the pam_sm_* entry points and nothing of its internals; its
 * dynamic symbol table, its DT_NEEDED list and its writable data are read
 * with binutils (nm, readelf, objdump), each test skipped when the tool is
 * missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

/* The unit tests are built with the module's flags: under SAN=1 both
 * carry the sanitizer runtimes. */
#if defined(__SANITIZE_ADDRESS__)
#define ZK_SAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZK_SAN 1
#endif
#endif
#ifndef ZK_SAN
#define ZK_SAN 0
#endif

/* False, saying so, when tool is not on PATH (the caller skips). */
static bool have_tool(const char *tool)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	if (system(cmd) == 0)
		return true;
	print_message("%s is not installed (binutils): skipped\n", tool);
	return false;
}

/*
 * Runs "TOOL ARGS 'PATH'" and hands each output line (newline removed) to
 * fn. The path comes from our own build directory; a quote in it would
 * break the command, so it is refused. Returns the number of lines.
 */
static int each_line(const char *tool, const char *args, const char *path,
		     void (*fn)(const char *line, void *arg), void *arg)
{
	char cmd[PATH_MAX + 128], line[4096];
	FILE *p;
	int n = 0, st;

	if (strchr(path, '\'') != NULL)
		fail_msg("module path %s holds a quote", path);
	snprintf(cmd, sizeof(cmd), "LC_ALL=C %s %s '%s' 2>&1", tool, args, path);
	p = popen(cmd, "r");
	if (p == NULL)
		fail_msg("popen %s failed", tool);
	while (fgets(line, sizeof(line), p) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		fn(line, arg);
		n++;
	}
	st = pclose(p);
	if (st != 0)
		fail_msg("%s exited with status %d", cmd, st);
	return n;
}

struct sym_check {
	int pam_sm;
	char bad[1024];
};

/* "ADDR TYPE NAME" lines of nm -D --defined-only. */
static void check_dynsym(const char *line, void *arg)
{
	struct sym_check *c = arg;
	const char *name = strrchr(line, ' ');

	name = name ? name + 1 : line;
	if (strncmp(name, "pam_sm_", 7) == 0) {
		c->pam_sm++;
		return;
	}
	snprintf(c->bad + strlen(c->bad), sizeof(c->bad) - strlen(c->bad), " %s", name);
}

/* The dynamic symbol table holds pam_sm_* and nothing else: no internal
 * function or variable, nothing pulled in from a static library. */
static void test_exports_only_pam_sm(void **state)
{
	struct sym_check c = { 0 };
	char path[PATH_MAX];

	if (!have_tool("nm"))
		skip();
	module_path(path, sizeof(path));
	each_line("nm", "-D --defined-only", path, check_dynsym, &c);
	if (c.bad[0] != '\0')
		fail_msg("%s exports more than pam_sm_*:%s", path, c.bad);
	assert_int_equal(c.pam_sm, 3);
}

struct needed {
	bool pam, qrencode, libc;
	char bad[1024];
};

static bool lib_is(const char *lib, const char *stem)
{
	size_t n = strlen(stem);

	return strncmp(lib, stem, n) == 0 && strncmp(lib + n, ".so", 3) == 0;
}

/* " 0x... (NEEDED)  Shared library: [libfoo.so.1]" lines of readelf -d. */
static void check_needed(const char *line, void *arg)
{
	struct needed *c = arg;
	const char *open = strchr(line, '['), *close;
	char lib[256];

	if (strstr(line, "(NEEDED)") == NULL || open == NULL || (close = strchr(open, ']')) == NULL)
		return;
	snprintf(lib, sizeof(lib), "%.*s", (int)(close - open - 1), open + 1);
	if (lib_is(lib, "libpam"))
		c->pam = true;
	else if (lib_is(lib, "libqrencode"))
		c->qrencode = true;
	else if (lib_is(lib, "libc"))
		c->libc = true;
	else if (ZK_SAN && (lib_is(lib, "libasan") || lib_is(lib, "libubsan")))
		return;
	else
		snprintf(c->bad + strlen(c->bad), sizeof(c->bad) - strlen(c->bad), " %s", lib);
}

/* A module loads into every program that authenticates: it needs libpam,
 * libqrencode and libc, and nothing else (the network and crypto libraries
 * belong to the daemon). */
static void test_needed_libraries(void **state)
{
	struct needed c = { 0 };
	char path[PATH_MAX];

	if (!have_tool("readelf"))
		skip();
	module_path(path, sizeof(path));
	each_line("readelf", "-dW", path, check_needed, &c);
	if (c.bad[0] != '\0')
		fail_msg("%s needs more than libpam, libqrencode and libc:%s", path, c.bad);
	assert_true(c.pam);
	assert_true(c.qrencode);
	assert_true(c.libc);
}

/* What the toolchain puts in .data and .bss of every shared object
 * (crtstuff.c, the DSO handle, the end of the TM clone table). */
static const char *const toolchain_data[] = {
	"completed.0", "completed.1", "__dso_handle", "__TMC_END__",
};

/* objdump -t: "ADDR FLAGS SECTION SIZE NAME" for symbols of objects. */
static void check_data(const char *line, void *arg)
{
	char *bad = arg;
	static const char *const sections[] = { " .data\t", " .bss\t", " .tdata\t", " .tbss\t" };
	const char *name;
	size_t i;
	bool writable = false;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		writable = writable || strstr(line, sections[i]) != NULL;
	if (!writable || strstr(line, " O ") == NULL)
		return;
	name = strrchr(line, ' ');
	name = name ? name + 1 : line;
	for (i = 0; i < sizeof(toolchain_data) / sizeof(toolchain_data[0]); i++) {
		if (strcmp(name, toolchain_data[i]) == 0)
			return;
	}
	snprintf(bad + strlen(bad), 1024 - strlen(bad), " %s", name);
}

/*
 * No writable global or static variable of the module's own: PAM may run
 * it in several threads and for several handles at once, so state lives in
 * pam_set_data, not in globals. Constant tables of pointers are in
 * .data.rel.ro, read-only after relocation, and are fine. Needs the
 * static symbol table (an unstripped build).
 */
static void test_no_writable_globals(void **state)
{
	char path[PATH_MAX], bad[1024] = "";
	char cmd[PATH_MAX + 64];

	if (!have_tool("objdump") || !have_tool("readelf"))
		skip();
	module_path(path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "readelf -SW '%s' | grep -q ' \\.symtab '", path);
	if (strchr(path, '\'') != NULL || system(cmd) != 0) {
		print_message("%s has no symbol table (stripped): skipped\n", path);
		skip();
	}
	each_line("objdump", "-t", path, check_data, bad);
	if (bad[0] != '\0')
		fail_msg("%s has writable data of its own:%s", path, bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dlopen_exports),
		cmocka_unit_test(test_exports_only_pam_sm),
		cmocka_unit_test(test_needed_libraries),
		cmocka_unit_test(test_no_writable_globals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
