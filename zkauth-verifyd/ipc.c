/* The daemon's end of the module socket: accept, authenticate the caller
 * with SO_PEERCRED, read frames, hand them to the login flow, answer. */
#include "daemon.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

/* A module has this long to send START, and a connection at most this many
 * seconds of silence while no login is pending. */
#define IPC_HELLO_TIMEOUT 10
/* Connections beyond max_pending + this slack are refused at accept. */
#define IPC_CONN_SLACK 16
/* Room for a quoted socket path in a log line. */
#define QPATH_MAX 512

/* Any local user can provoke these lines as fast as it can connect: each
 * kind is written at most once per ZK_LOG_LIMIT_MS, with a count. */
static struct zk_log_limit lim_malformed, lim_unexpected, lim_bad_header, lim_full, lim_per_uid;

enum conn_state { C_NEW, C_STARTED, C_DONE };

struct ipc_conn {
	struct zkd *d;
	struct bufferevent *bev;
	uid_t uid;
	enum conn_state state;
	struct login *login;
	struct event *wait_timer;   /* armed while a WAIT is held */
	struct event *hello_timer;  /* START must come within IPC_HELLO_TIMEOUT, in all */
	bool waiting;
	struct ipc_conn *next, *prev;
};

static void conn_free(struct ipc_conn *c)
{
	if (c == NULL)
		return;
	if (c->login)
		flow_conn_closed(c->d, c->login);
	if (c->wait_timer)
		event_free(c->wait_timer);
	if (c->hello_timer)
		event_free(c->hello_timer);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->prev)
		c->prev->next = c->next;
	else
		c->d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->d->n_conns--;
	free(c);
}

/* Never frees c: callers up the stack still hold it. A connection whose
 * reply cannot be queued is marked done and closes when the peer goes. */
static void conn_send(struct ipc_conn *c, const uint8_t *buf, ssize_t n)
{
	if (n < 0 || bufferevent_write(c->bev, buf, (size_t)n) != 0) {
		zk_log(LOG_ERR, "ipc: cannot queue a reply");
		c->state = C_DONE;
	}
}

static void send_verdict(struct ipc_conn *c, uint32_t result, const char *user)
{
	struct zk_verdict v;
	uint8_t buf[ZK_MAX_FRAME];

	memset(&v, 0, sizeof(v));
	v.result = result;
	if (result == ZK_R_OK && user)
		snprintf(v.user, sizeof(v.user), "%s", user);
	conn_send(c, buf, zk_proto_encode_verdict(&v, buf, sizeof(buf)));
}

/* A refusal ends the conversation: reply, then close once flushed. */
static void refuse(struct ipc_conn *c, uint32_t result)
{
	c->state = C_DONE;
	send_verdict(c, result, NULL);
}

void ipc_send_challenge(struct ipc_conn *c, const struct zk_challenge *m)
{
	uint8_t buf[ZK_MAX_FRAME];

	conn_send(c, buf, zk_proto_encode_challenge(m, buf, sizeof(buf)));
}

static void deliver(struct ipc_conn *c)
{
	const char *user = NULL;
	uint32_t r = flow_result(c->login, &user);

	if (c->wait_timer)
		event_del(c->wait_timer);
	c->waiting = false;
	/* A final verdict ends the conversation: close once it is written, so
	 * that finished logins hold no connection. */
	if (r != ZK_R_PENDING)
		c->state = C_DONE;
	send_verdict(c, r, user);
}

void ipc_login_done(struct ipc_conn *c)
{
	if (c->waiting)
		deliver(c);
}

static void wait_expired(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_conn *c = arg;

	c->waiting = false;
	send_verdict(c, ZK_R_PENDING, NULL);
}

static void handle_frame(struct ipc_conn *c, uint8_t type, const uint8_t *body, size_t len)
{
	if (type == ZK_MSG_START && c->state == C_NEW) {
		struct zk_start m;

		if (zk_proto_decode_start(body, len, &m) < 0) {
			zk_log_limited(&lim_malformed, LOG_WARNING, "ipc: malformed START from uid %u",
				       (unsigned)c->uid);
			refuse(c, ZK_R_BAD_REQUEST);
			return;
		}
		c->state = C_STARTED;
		evtimer_del(c->hello_timer);
		flow_start(c->d, c, &m, c->uid);
		return;
	}
	if (type == ZK_MSG_PASTE && c->state == C_STARTED && c->login && !c->waiting) {
		struct zk_paste *p = calloc(1, sizeof(*p));

		if (p == NULL || zk_proto_decode_paste(body, len, p) < 0) {
			free(p);
			refuse(c, p ? ZK_R_BAD_REQUEST : ZK_R_INTERNAL);
			return;
		}
		flow_paste(c->d, c->login, p->text);
		zk_freezero(p, sizeof(*p));
		return;
	}
	if (type == ZK_MSG_WAIT && c->state == C_STARTED && c->login && !c->waiting) {
		struct zk_wait w;
		struct timeval tv;

		if (zk_proto_decode_wait(body, len, &w) < 0) {
			refuse(c, ZK_R_BAD_REQUEST);
			return;
		}
		if (flow_result(c->login, NULL) != ZK_R_PENDING || w.wait_ms == 0) {
			deliver(c);
			return;
		}
		if (c->wait_timer == NULL)
			c->wait_timer = evtimer_new(c->d->base, wait_expired, c);
		if (c->wait_timer == NULL) {
			refuse(c, ZK_R_INTERNAL);
			return;
		}
		tv.tv_sec = w.wait_ms / 1000;
		tv.tv_usec = (w.wait_ms % 1000) * 1000;
		c->waiting = true;
		evtimer_add(c->wait_timer, &tv);
		return;
	}
	/* Anything else is out of order for this connection's state: end it
	 * (the login, if any, is cancelled with the connection). */
	zk_log_limited(&lim_unexpected, LOG_WARNING, "ipc: unexpected message %u from uid %u", type,
		       (unsigned)c->uid);
	refuse(c, ZK_R_BAD_REQUEST);
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct ipc_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t frame[ZK_MAX_FRAME];

	while (c->state != C_DONE && evbuffer_get_length(in) > 0) {
		size_t avail = evbuffer_get_length(in);

		/* A peer that sends but does not read: stop reading until our
		 * answers are gone (conn_written), so nothing piles up. */
		if (evbuffer_get_length(bufferevent_get_output(bev)) > 2 * ZK_MAX_FRAME) {
			bufferevent_disable(bev, EV_READ);
			break;
		}
		uint8_t type;
		uint32_t blen;

		if (avail < ZK_HDR_LEN)
			break;
		if (evbuffer_copyout(in, frame, ZK_HDR_LEN) != ZK_HDR_LEN ||
		    zk_proto_parse_header(frame, &type, &blen) < 0) {
			zk_log_limited(&lim_bad_header, LOG_WARNING, "ipc: bad frame header from uid %u",
				       (unsigned)c->uid);
			refuse(c, ZK_R_BAD_REQUEST);
			return;
		}
		if (avail < ZK_HDR_LEN + blen)
			break;
		evbuffer_remove(in, frame, ZK_HDR_LEN + blen);
		handle_frame(c, type, frame + ZK_HDR_LEN, blen);
	}
	/* Done: ignore whatever else the peer sends. */
	if (c->state == C_DONE)
		evbuffer_drain(in, evbuffer_get_length(in));
	zk_wipe(frame, sizeof(frame)); /* a PASTE frame holds a code */
}

static void conn_read(struct bufferevent *bev, void *arg);

static void conn_written(struct bufferevent *bev, void *arg)
{
	struct ipc_conn *c = arg;

	if (c->state == C_DONE) {
		conn_free(c);
		return;
	}
	if (!(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);
		conn_read(bev, c); /* frames may wait in the input buffer */
	}
}

static void hello_expired(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_conn *c = arg;

	zk_log(LOG_INFO, "ipc: uid %u sent no START in %d s", (unsigned)c->uid, IPC_HELLO_TIMEOUT);
	conn_free(c);
}

static unsigned conns_of(const struct zkd *d, uid_t uid)
{
	const struct ipc_conn *c;
	unsigned n = 0;

	for (c = d->conns; c; c = c->next)
		if (c->uid == uid)
			n++;
	return n;
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct ipc_conn *c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		zk_log(LOG_INFO, "ipc: uid %u sent nothing in time", (unsigned)c->uid);
	/* EOF, error or timeout: the login bound to this connection ends. */
	conn_free(c);
}

/* Over a cap: the module gets a clean BUSY ("too many sign-ins are
 * waiting") instead of a closed socket, without a connection of ours.
 * The frame fits any socket buffer; the module reads it even when its
 * START finds the socket closed. */
static void refuse_at_accept(evutil_socket_t fd)
{
	struct zk_verdict v;
	uint8_t buf[ZK_MAX_FRAME];
	ssize_t n;

	memset(&v, 0, sizeof(v));
	v.result = ZK_R_BUSY;
	n = zk_proto_encode_verdict(&v, buf, sizeof(buf));
	if (n > 0 && send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n)
		zk_log(LOG_DEBUG, "ipc: the BUSY verdict did not go out");
	close(fd);
}

static void on_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct zkd *d = arg;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct ipc_conn *c;
	struct timeval hello = { IPC_HELLO_TIMEOUT, 0 };

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || clen != sizeof(cred)) {
		zk_log(LOG_ERR, "ipc: SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	if (d->n_conns >= d->cfg.max_pending + IPC_CONN_SLACK) {
		zk_log_limited(&lim_full, LOG_WARNING, "ipc: too many connections, refusing uid %u",
			       (unsigned)cred.uid);
		refuse_at_accept(fd);
		return;
	}
	/* Anyone but root may hold only as many connections as it may have
	 * logins, and one more: no local user can crowd out the others. */
	if (cred.uid != 0 && conns_of(d, cred.uid) > d->cfg.max_pending_per_user) {
		zk_log_limited(&lim_per_uid, LOG_WARNING, "ipc: uid %u holds too many connections",
			       (unsigned)cred.uid);
		refuse_at_accept(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->d = d;
	c->uid = cred.uid;
	c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	d->n_conns++;
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	bufferevent_setcb(c->bev, conn_read, conn_written, conn_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, ZK_MAX_FRAME * 2);
	c->hello_timer = evtimer_new(d->base, hello_expired, c);
	if (c->hello_timer == NULL || evtimer_add(c->hello_timer, &hello) < 0) {
		conn_free(c);
		return;
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

void ipc_bind_login(struct ipc_conn *c, struct login *l)
{
	c->login = l;
}

void ipc_refuse(struct ipc_conn *c, uint32_t result)
{
	refuse(c, result);
}

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
}

/* Out of descriptors (or another accept error): pause accepting for a
 * second instead of spinning on the same error. Shared with listener.c. */
void zkd_accept_error(struct evconnlistener *lst, void *arg)
{
	struct event_base *base = evconnlistener_get_base(lst);
	struct timeval one = { 1, 0 };
	int err = EVUTIL_SOCKET_ERROR();

	zk_log(LOG_ERR, "accept: %s; pausing for a second", evutil_socket_error_to_string(err));
	evconnlistener_disable(lst);
	if (event_base_once(base, -1, EV_TIMEOUT, accept_resume, lst, &one) < 0)
		evconnlistener_enable(lst);
}

/* Each pending login holds a module connection (and, for a while, a
 * browser's): max_pending must fit the descriptor limit, or logins beyond
 * it would fail at accept instead of being refused as BUSY. The soft
 * limit is raised to the hard one; what still does not fit is said. */
static void check_nofile(const struct zkd *d)
{
	struct rlimit rl;
	unsigned long need = (unsigned long)d->cfg.max_pending * 2 + IPC_CONN_SLACK + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		zk_log(LOG_WARNING, "max_pending = %u needs about %lu file descriptors, but "
		       "RLIMIT_NOFILE is %lu: beyond that, logins are refused as busy; raise "
		       "LimitNOFILE or lower max_pending", d->cfg.max_pending, need,
		       (unsigned long)rl.rlim_cur);
	else
		zk_log(LOG_DEBUG, "RLIMIT_NOFILE %lu for max_pending %u",
		       (unsigned long)rl.rlim_cur, d->cfg.max_pending);
}

int ipc_listen(struct zkd *d)
{
	const char *path = d->cfg.socket_path;
	struct sockaddr_un sun;
	struct stat st;
	int fd = -1;
	mode_t old;
	char qpath[QPATH_MAX];

	if (strlen(path) >= sizeof(sun.sun_path)) {
		zk_log(LOG_ERR, "socket path too long: %s", zk_log_quote(path, qpath, sizeof(qpath)));
		return -1;
	}
	check_nofile(d);
	/* A stale socket from an earlier run is replaced; anything else at
	 * that path is left alone. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			zk_log(LOG_ERR, "%s exists and is not a socket",
			       zk_log_quote(path, qpath, sizeof(qpath)));
			return -1;
		}
		unlink(path);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	/* Anyone may connect (screen lockers run as the user); who may ask
	 * for what is decided per connection from SO_PEERCRED. */
	old = umask(0111);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		goto fail;
	}
	umask(old);
	d->ipc = evconnlistener_new(d->base, on_accept, d,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64, fd);
	if (d->ipc == NULL)
		goto fail;
	evconnlistener_set_error_cb(d->ipc, zkd_accept_error);
	return 0;
fail:
	zk_log(LOG_ERR, "cannot listen on %s: %s", zk_log_quote(path, qpath, sizeof(qpath)),
	       strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

void ipc_close(struct zkd *d)
{
	while (d->conns)
		conn_free(d->conns);
	if (d->ipc) {
		evconnlistener_free(d->ipc);
		d->ipc = NULL;
		unlink(d->cfg.socket_path);
	}
}
