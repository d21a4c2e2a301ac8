/* One real file per process stands in for the configuration and account
 * map files: the loaders refuse symbolic links (such as /proc/self/fd/N),
 * so it lives in a private directory, rewritten in place for each input.
 * /dev/shm when there is one keeps it off the disk. */
#include "fuzz.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char path[96];

static void remove_file(void)
{
	unlink(path);
	rmdir(dir);
}

const char *fz_memfile(const uint8_t *data, size_t size)
{
	static int fd = -1;
	size_t off = 0;

	if (fd < 0) {
		snprintf(dir, sizeof(dir), "%s/zkauth-fuzz-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (mkdtemp(dir) == NULL) {
			perror("fuzz: mkdtemp");
			abort();
		}
		snprintf(path, sizeof(path), "%s/input", dir);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			perror("fuzz: open");
			abort();
		}
		atexit(remove_file);
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
