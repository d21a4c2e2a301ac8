/* What every fuzz target shares: the libFuzzer entry points (declared here
 * so that -Wmissing-prototypes stays quiet) and the in-memory file the
 * path-taking loaders read. */
#ifndef ZK_FUZZ_H
#define ZK_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Replaces the content of one memfd, made on the first call and kept for
 * the life of the process, with data, and returns a path that opens it
 * ("/proc/self/fd/N"). The memfd is mode 0600: zk_read_config_file refuses
 * world-writable files, and a memfd starts out 0777. Aborts on failure.
 */
const char *fz_memfile(const uint8_t *data, size_t size);

#endif
