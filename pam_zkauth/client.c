/* Socket checks, connect and framed I/O with the daemon. */
#include "client.h"

#include <errno.h>
#include <pwd.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline (monotonic ms). 1 ready,
 * 0 timed out, -1 error. POLLHUP and POLLERR count as ready: the next
 * send or recv reports them. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return 0;
		r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Checks the socket file and its directory; sets *sock_uid, *dir_uid. */
static int check_path(const char *path, uid_t *sock_uid, uid_t *dir_uid, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)];
	struct stat st, dst;
	char *slash;
	size_t n = strlen(path);

	if (path[0] != '/' || n >= sizeof(dir)) {
		snprintf(err, errlen, "socket path \"%s\" is not absolute or too long", path);
		return -1;
	}
	if (lstat(path, &st) < 0) {
		snprintf(err, errlen, "socket \"%s\": %m", path);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "\"%s\" is not a socket", path);
		return -1;
	}
	memcpy(dir, path, n + 1);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0'; /* "/x" lives in "/" */
	else
		*slash = '\0';
	if (lstat(dir, &dst) < 0) {
		snprintf(err, errlen, "socket directory \"%s\": %m", dir);
		return -1;
	}
	if (!S_ISDIR(dst.st_mode)) {
		snprintf(err, errlen, "socket directory \"%s\" is not a directory", dir);
		return -1;
	}
	/* Whoever may write the directory may put another socket there. */
	if ((dst.st_mode & (S_IWGRP | S_IWOTH | S_ISVTX)) != 0) {
		snprintf(err, errlen, "socket directory \"%s\" is group/world writable or sticky (mode %04o)",
			 dir, (unsigned int)(dst.st_mode & 07777));
		return -1;
	}
	if (dst.st_uid != 0 && dst.st_uid != st.st_uid) {
		snprintf(err, errlen, "socket directory \"%s\" is owned by uid %u, not root or the socket's owner %u",
			 dir, (unsigned int)dst.st_uid, (unsigned int)st.st_uid);
		return -1;
	}
	*dir_uid = dst.st_uid;
	/* Every directory above must be just as safe: whoever can rename one
	 * of them can put another socket at this path. A sticky directory
	 * (/tmp) is safe to pass through: others cannot rename what is ours. */
	while (strcmp(dir, "/") != 0) {
		char *up = strrchr(dir, '/');

		if (up == dir)
			up[1] = '\0';
		else
			*up = '\0';
		if (stat(dir, &dst) < 0 || !S_ISDIR(dst.st_mode)) {
			snprintf(err, errlen, "\"%s\" above the socket is not a directory", dir);
			return -1;
		}
		if (dst.st_uid != 0 && dst.st_uid != st.st_uid) {
			snprintf(err, errlen, "\"%s\" above the socket is owned by uid %u, not root",
				 dir, (unsigned int)dst.st_uid);
			return -1;
		}
		if ((dst.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (dst.st_mode & S_ISVTX) == 0) {
			snprintf(err, errlen, "\"%s\" above the socket is group/world writable (mode %04o)",
				 dir, (unsigned int)(dst.st_mode & 07777));
			return -1;
		}
	}
	*sock_uid = st.st_uid;
	return 0;
}

/* Non-blocking connect bounded by ZKP_CONNECT_MS. A Unix stream connect
 * either completes at once or fails with EAGAIN when the listener's
 * backlog is full; EINPROGRESS is handled all the same. */
static int connect_bounded(int fd, const struct sockaddr_un *sa)
{
	int64_t deadline = now_ms() + ZKP_CONNECT_MS;
	int soerr = 0, r;
	socklen_t sl = sizeof(soerr);

	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EISCONN)
			return 0;
		if (errno == EINPROGRESS) {
			r = wait_fd(fd, POLLOUT, deadline);
			if (r <= 0) {
				if (r == 0)
					errno = ETIMEDOUT;
				return -1;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				return -1;
			if (soerr != 0) {
				errno = soerr;
				return -1;
			}
			return 0;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		if (now_ms() >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		(void)poll(NULL, 0, 50);
	}
}

/* The daemon runs as root or as daemon_user: no other uid is trusted at
 * the other end, wherever the socket is. */
static bool trusted_uid(uid_t uid, const char *daemon_user)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (uid == 0)
		return true;
	return getpwnam_r(daemon_user, &pw, buf, sizeof(buf), &res) == 0 && res != NULL &&
	       pw.pw_uid == uid;
}

int zkp_client_connect(const char *path, const char *daemon_user, uid_t *peer_uid, char *err,
		       size_t errlen)
{
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	uid_t sock_uid, dir_uid;
	int fd = -1;

	if (check_path(path, &sock_uid, &dir_uid, err, errlen) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket(): %m");
		return -1;
	}
	if (connect_bounded(fd, &sa) < 0) {
		snprintf(err, errlen, "connect \"%s\": %m", path);
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cl != sizeof(cred)) {
		snprintf(err, errlen, "SO_PEERCRED on \"%s\": %m", path);
		goto fail;
	}
	if (cred.uid != sock_uid || (cred.uid != 0 && cred.uid != dir_uid)) {
		snprintf(err, errlen, "daemon on \"%s\" runs as uid %u, but the socket belongs to uid %u",
			 path, (unsigned int)cred.uid, (unsigned int)sock_uid);
		goto fail;
	}
	if (!trusted_uid(cred.uid, daemon_user)) {
		snprintf(err, errlen, "daemon on \"%s\" runs as uid %u, neither root nor %s",
			 path, (unsigned int)cred.uid, daemon_user);
		goto fail;
	}
	*peer_uid = cred.uid;
	return fd;
fail:
	close(fd);
	return -1;
}

int zkp_client_send(int fd, const uint8_t *frame, size_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t off = 0;
	ssize_t w;
	int r;

	while (off < len) {
		w = send(fd, frame + off, len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			r = wait_fd(fd, POLLOUT, deadline);
			if (r == 0)
				return ZKP_IO_TIMEOUT;
			if (r < 0)
				return ZKP_IO_ERROR;
			continue;
		}
		return (w < 0 && (errno == EPIPE || errno == ECONNRESET)) ? ZKP_IO_CLOSED : ZKP_IO_ERROR;
	}
	return ZKP_IO_OK;
}

static int recv_exact(int fd, uint8_t *p, size_t len, int64_t deadline)
{
	size_t off = 0;
	ssize_t n;
	int r;

	while (off < len) {
		n = recv(fd, p + off, len - off, 0);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == 0)
			return ZKP_IO_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			r = wait_fd(fd, POLLIN, deadline);
			if (r == 0)
				return ZKP_IO_TIMEOUT;
			if (r < 0)
				return ZKP_IO_ERROR;
			continue;
		}
		return errno == ECONNRESET ? ZKP_IO_CLOSED : ZKP_IO_ERROR;
	}
	return ZKP_IO_OK;
}

int zkp_client_recv(int fd, int timeout_ms, uint8_t *type, uint8_t *body, uint32_t *len)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t hdr[ZK_HDR_LEN], t;
	uint32_t n;
	int io;

	io = recv_exact(fd, hdr, sizeof(hdr), deadline);
	if (io != ZKP_IO_OK)
		return io;
	if (zk_proto_parse_header(hdr, &t, &n) < 0)
		return ZKP_IO_PROTO;
	io = recv_exact(fd, body, n, deadline);
	if (io != ZKP_IO_OK)
		return io;
	*type = t;
	*len = n;
	return ZKP_IO_OK;
}

int zkp_client_start(int fd, const struct zk_start *s, bool *is_challenge,
		     struct zk_challenge *ch, struct zk_verdict *v)
{
	uint8_t frame[ZK_MAX_FRAME], type;
	uint32_t len;
	ssize_t n;
	int io, rio;

	n = zk_proto_encode_start(s, frame, sizeof(frame));
	if (n < 0)
		return ZKP_IO_PROTO;
	io = zkp_client_send(fd, frame, (size_t)n, ZKP_START_REPLY_MS);
	if (io != ZKP_IO_OK && io != ZKP_IO_CLOSED)
		return io;
	/* A daemon over its connection cap answers BUSY at once and closes:
	 * that verdict is there to read even when START found the socket
	 * closed. */
	rio = zkp_client_recv(fd, ZKP_START_REPLY_MS, &type, frame, &len);
	if (rio != ZKP_IO_OK)
		return io != ZKP_IO_OK ? io : rio;
	if (type == ZK_MSG_CHALLENGE) {
		if (zk_proto_decode_challenge(frame, len, ch) < 0 || ch->url[0] == '\0')
			return ZKP_IO_PROTO;
		*is_challenge = true;
		return ZKP_IO_OK;
	}
	if (type == ZK_MSG_VERDICT) {
		if (zk_proto_decode_verdict(frame, len, v) < 0 ||
		    v->result == ZK_R_OK || v->result == ZK_R_PENDING)
			return ZKP_IO_PROTO;
		*is_challenge = false;
		return ZKP_IO_OK;
	}
	return ZKP_IO_PROTO;
}

int zkp_client_paste(int fd, const struct zk_paste *p)
{
	uint8_t frame[ZK_MAX_FRAME];
	ssize_t n = zk_proto_encode_paste(p, frame, sizeof(frame));
	int io = n < 0 ? ZKP_IO_PROTO : zkp_client_send(fd, frame, (size_t)n, ZKP_WAIT_GRACE_MS);

	explicit_bzero(frame, sizeof(frame));
	return io;
}

int zkp_client_wait(int fd, uint32_t wait_ms, struct zk_verdict *v)
{
	struct zk_wait w = { .wait_ms = wait_ms };
	uint8_t frame[ZK_MAX_FRAME], type;
	uint32_t len;
	ssize_t n;
	int io;

	n = zk_proto_encode_wait(&w, frame, sizeof(frame));
	if (n < 0)
		return ZKP_IO_PROTO;
	io = zkp_client_send(fd, frame, (size_t)n, ZKP_WAIT_GRACE_MS);
	if (io != ZKP_IO_OK)
		return io;
	io = zkp_client_recv(fd, (int)wait_ms + ZKP_WAIT_GRACE_MS, &type, frame, &len);
	if (io != ZKP_IO_OK)
		return io;
	if (type != ZK_MSG_VERDICT || zk_proto_decode_verdict(frame, len, v) < 0)
		return ZKP_IO_PROTO;
	return ZKP_IO_OK;
}

const char *zkp_io_str(int io)
{
	switch (io) {
	case ZKP_IO_OK:
		return "ok";
	case ZKP_IO_CLOSED:
		return "connection closed by the daemon";
	case ZKP_IO_TIMEOUT:
		return "no answer in time";
	case ZKP_IO_ERROR:
		return "socket error";
	case ZKP_IO_PROTO:
		return "malformed or unexpected message";
	}
	return "unknown";
}
