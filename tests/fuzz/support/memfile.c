/* One memfd per process stands in for the configuration and account map
 * files: no disk traffic per input, nothing left behind after a crash. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fz_memfile(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	size_t off = 0;

	if (fd < 0) {
		fd = memfd_create("zkauth-fuzz", MFD_CLOEXEC);
		if (fd < 0 || fchmod(fd, 0600) != 0) {
			perror("fuzz: memfd");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0) {
		perror("fuzz: ftruncate");
		abort();
	}
	while (off < size) {
		ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);

		if (w <= 0) {
			perror("fuzz: pwrite");
			abort();
		}
		off += (size_t)w;
	}
	return path;
}
