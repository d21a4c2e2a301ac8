/*
 * pam_zkauth against a fake zkauth-verifyd: a forked child serving a
 * script on a listening socket in a private temp directory. Sign-ins run
 * through a real libpam handle (pam_start_confdir with a service file in
 * the temp directory), either calling the module's code linked into this
 * test (built with the test's flags, sanitizers included) or through
 * pam_authenticate and the built pam_zkauth.so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <security/pam_appl.h>

#include "client.h"
#include "login.h"
#include "prompt.h"
#include "zkauth_proto.h"

#define SERVICE "zkauth-test"
#define RHOST   "203.0.113.9"
#define TTY     "ssh"
#define URL     "https://zk.example/l/abc123"
#define CODE    "4821"
#define HOST    "web-1"
#define MSG_UNAVAIL "zkauth: the sign-in service is not available."

/* ---- conversation recorder ---- */

#define MAX_MSGS 32

struct convlog {
	int n;
	int style[MAX_MSGS];
	char *msg[MAX_MSGS];
	int fail_at; /* fail the conversation at this message index; -1 never */
	const char *answer; /* typed at every prompt; NULL: just Enter */
};

static int conv_fn(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct convlog *log = data;
	struct pam_response *r;
	int i;

	r = calloc((size_t)n, sizeof(*r));
	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		if (log->fail_at == log->n) {
			free(r);
			return PAM_CONV_ERR;
		}
		if (log->n < MAX_MSGS) {
			log->style[log->n] = msg[i]->msg_style;
			log->msg[log->n] = strdup(msg[i]->msg);
			log->n++;
		}
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON || msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
			r[i].resp = strdup(log->answer ? log->answer : "");
	}
	*resp = r;
	return PAM_SUCCESS;
}

static int count_style(const struct convlog *log, int style)
{
	int i, c = 0;

	for (i = 0; i < log->n; i++)
		c += log->style[i] == style;
	return c;
}

static const char *first_style(const struct convlog *log, int style)
{
	int i;

	for (i = 0; i < log->n; i++)
		if (log->style[i] == style)
			return log->msg[i];
	return NULL;
}

/* ---- the fake daemon ---- */

enum act { S_NONE, S_CHALLENGE, S_VERDICT, S_CLOSE, S_RAW, S_RAW_CLOSE };

struct step {
	enum act act;
	uint32_t result;   /* S_VERDICT */
	char user[32];     /* S_VERDICT */
	bool hold;         /* S_VERDICT: answer only after wait_ms, like the daemon */
	uint8_t raw[128];  /* S_RAW: these bytes, whatever they are */
	size_t raw_len;
};

struct script {
	struct step start;     /* answer to START */
	struct step waits[4];  /* answers to successive WAITs */
	int n_waits;
	bool repeat_last;      /* keep answering with the last wait step */
	uint32_t want_max_age;
	const char *want_user;
	uint32_t max_wait_ms;  /* a WAIT asking longer fails the script */
	const char *want_paste; /* a PASTE with exactly this text comes before WAIT */
};

/* Child exit codes. */
enum {
	C_OK = 0,          /* script done and the module closed the connection */
	C_NO_CONNECT = 10,
	C_NO_START = 11,
	C_BAD_START = 12,
	C_BAD_FRAME = 20,
	C_BAD_WAIT = 22,
	C_BAD_PASTE = 23,  /* a PASTE not expected, or not the text typed */
	C_NO_PASTE = 24,   /* a WAIT came where a PASTE was due */
	C_NOT_CLOSED = 30, /* the module neither closed nor talked for 15 s */
	C_TOO_MANY = 40,
	C_SETUP = 50,
};

static int send_all(int fd, const uint8_t *p, size_t n)
{
	return zkp_client_send(fd, p, n, 5000) == ZKP_IO_OK ? 0 : -1;
}

static int act(int fd, const struct step *s, uint32_t wait_ms)
{
	uint8_t frame[ZK_MAX_FRAME];
	struct zk_challenge ch;
	struct zk_verdict v;
	ssize_t n = -1;

	switch (s->act) {
	case S_NONE:
		return -1;
	case S_CLOSE:
		close(fd);
		return C_OK;
	case S_RAW:
		return send_all(fd, s->raw, s->raw_len) < 0 ? C_SETUP : -1;
	case S_RAW_CLOSE:
		if (send_all(fd, s->raw, s->raw_len) < 0)
			return C_SETUP;
		close(fd);
		return C_OK;
	case S_CHALLENGE:
		memset(&ch, 0, sizeof(ch));
		ch.expires_in = 300;
		strcpy(ch.url, URL);
		strcpy(ch.code, CODE);
		strcpy(ch.host, HOST);
		n = zk_proto_encode_challenge(&ch, frame, sizeof(frame));
		break;
	case S_VERDICT:
		if (s->hold)
			(void)poll(NULL, 0, (int)(wait_ms < 3000 ? wait_ms : 3000));
		memset(&v, 0, sizeof(v));
		v.result = s->result;
		strcpy(v.user, s->user);
		n = zk_proto_encode_verdict(&v, frame, sizeof(frame));
		break;
	}
	if (n < 0 || send_all(fd, frame, (size_t)n) < 0)
		return C_SETUP;
	return -1;
}

static int serve(int lfd, const struct script *sc)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	uint8_t body[ZK_MAX_BODY], type;
	struct zk_start st;
	struct zk_wait w;
	const struct step *s;
	uint32_t len;
	int fd, rc, io, i = 0;
	bool got_paste = false;

	if (poll(&p, 1, 10000) != 1)
		return C_NO_CONNECT;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return C_NO_CONNECT;
	if (zkp_client_recv(fd, 10000, &type, body, &len) != ZKP_IO_OK || type != ZK_MSG_START ||
	    zk_proto_decode_start(body, len, &st) < 0)
		return C_NO_START;
	if (strcmp(st.user, sc->want_user ? sc->want_user : "alice") != 0 ||
	    strcmp(st.service, SERVICE) != 0 || strcmp(st.rhost, RHOST) != 0 ||
	    strcmp(st.tty, TTY) != 0 || st.max_age != sc->want_max_age || st.flags != 0)
		return C_BAD_START;
	rc = act(fd, &sc->start, 0);
	if (rc >= 0)
		return rc;
	for (;;) {
		/* longer than any wait of the module's, so that a module that
		 * hangs on is told apart from one that closes */
		io = zkp_client_recv(fd, 15000, &type, body, &len);
		if (io == ZKP_IO_CLOSED)
			return C_OK;
		if (io == ZKP_IO_TIMEOUT)
			return C_NOT_CLOSED;
		if (io == ZKP_IO_OK && type == ZK_MSG_PASTE) {
			struct zk_paste ps;

			if (zk_proto_decode_paste(body, len, &ps) < 0 || sc->want_paste == NULL ||
			    got_paste || strcmp(ps.text, sc->want_paste) != 0)
				return C_BAD_PASTE;
			got_paste = true;
			continue;
		}
		if (io != ZKP_IO_OK || type != ZK_MSG_WAIT || zk_proto_decode_wait(body, len, &w) < 0)
			return C_BAD_FRAME;
		if (sc->want_paste && !got_paste)
			return C_NO_PASTE;
		if (w.wait_ms > sc->max_wait_ms)
			return C_BAD_WAIT;
		if (i < sc->n_waits)
			s = &sc->waits[i++];
		else if (sc->repeat_last && sc->n_waits > 0)
			s = &sc->waits[sc->n_waits - 1];
		else
			return C_TOO_MANY;
		rc = act(fd, s, w.wait_ms);
		if (rc >= 0)
			return rc;
	}
}

/* ---- fixture ---- */

struct fx {
	char dir[64];
	char sock[128];
	char svc[128];
	char module[PATH_MAX];
	int lfd;      /* a listener nobody accepts on, for "no connection" checks */
	pid_t child;
	struct convlog log;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *b = getenv("ZK_BUILD"), *src = getenv("ZK_SRCDIR");
	char build[PATH_MAX], *real;

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/zkp-client-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->sock, sizeof(fx->sock), "%s/verifyd.sock", fx->dir);
	snprintf(fx->svc, sizeof(fx->svc), "%s/" SERVICE, fx->dir);
	if (b != NULL && b[0] != '\0')
		snprintf(build, sizeof(build), "%s", b);
	else
		snprintf(build, sizeof(build), "%s/build", src ? src : ".");
	real = realpath(build, NULL);
	assert_non_null(real);
	snprintf(fx->module, sizeof(fx->module), "%s/pam_zkauth.so", real);
	free(real);
	fx->lfd = -1;
	fx->child = -1;
	fx->log.fail_at = -1;
	*state = fx;
	return 0;
}

static void log_clear(struct convlog *log)
{
	int i;

	for (i = 0; i < log->n; i++)
		free(log->msg[i]);
	memset(log, 0, sizeof(*log));
	log->fail_at = -1;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->child > 0) {
		kill(fx->child, SIGKILL);
		waitpid(fx->child, NULL, 0);
	}
	if (fx->lfd >= 0)
		close(fx->lfd);
	log_clear(&fx->log);
	unlink(fx->sock);
	unlink(fx->svc);
	chmod(fx->dir, 0700);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static int bound_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return s;
}

/*
 * Starts the fake daemon. as_uid (or -1): the uid it listens as, so that
 * SO_PEERCRED shows it (credentials are taken at listen()); sock_owner
 * (or -1): chown of the socket file. Both need root.
 */
static void spawn_as(struct fx *fx, const struct script *sc, int as_uid, int sock_owner)
{
	int s = bound_socket(fx->sock), sync[2];
	char c;

	if (sock_owner >= 0)
		assert_int_equal(chown(fx->sock, (uid_t)sock_owner, (gid_t)-1), 0);
	assert_int_equal(pipe(sync), 0);
	fx->child = fork();
	assert_true(fx->child >= 0);
	if (fx->child == 0) {
		close(sync[0]);
		if (as_uid >= 0 && (setresgid(65534, 65534, 65534) < 0 ||
				    setresuid((uid_t)as_uid, (uid_t)as_uid, (uid_t)as_uid) < 0))
			_exit(C_SETUP);
		if (listen(s, 8) < 0)
			_exit(C_SETUP);
		if (write(sync[1], "x", 1) != 1)
			_exit(C_SETUP);
		close(sync[1]);
		_exit(serve(s, sc));
	}
	close(sync[1]);
	assert_int_equal(read(sync[0], &c, 1), 1);
	close(sync[0]);
	close(s);
}

static void spawn(struct fx *fx, const struct script *sc)
{
	spawn_as(fx, sc, -1, -1);
}

/* Asserts the fake daemon finished its script and saw the module close. */
static void reap(struct fx *fx)
{
	int st;

	assert_int_equal(waitpid(fx->child, &st, 0), fx->child);
	fx->child = -1;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), C_OK);
}

/* A listener nobody serves: after the sign-in, nothing may have connected. */
static void listen_only(struct fx *fx)
{
	fx->lfd = bound_socket(fx->sock);
	assert_int_equal(listen(fx->lfd, 8), 0);
}

static void assert_no_connection(struct fx *fx)
{
	struct pollfd p = { .fd = fx->lfd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 0), 0);
}

enum how { DIRECT, MODULE };

/* Copies fmt into out with its first "%s" replaced by sock. */
static void subst_socket(char *out, size_t cap, const char *fmt, const char *sock)
{
	const char *at = strstr(fmt, "%s");

	if (at == NULL)
		snprintf(out, cap, "%s", fmt);
	else
		snprintf(out, cap, "%.*s%s%s", (int)(at - fmt), fmt, sock, at + 2);
}

/*
 * One sign-in as user with module arguments args ("%s" in it is replaced
 * by the socket path). DIRECT calls zkp_authenticate on the handle;
 * MODULE goes through pam_authenticate and the built pam_zkauth.so.
 */
static int run(struct fx *fx, enum how how, const char *user, int flags, const char *args_fmt)
{
	struct pam_conv conv = { conv_fn, &fx->log };
	pam_handle_t *pamh = NULL;
	char args[1024], copy[1024], *save = NULL, *tok;
	const char *argv[16];
	int argc = 0, rc;
	FILE *f;

	subst_socket(args, sizeof(args), args_fmt, fx->sock);
	f = fopen(fx->svc, "w");
	assert_non_null(f);
	fprintf(f, "auth required %s %s\n", fx->module, args);
	fclose(f);

	assert_int_equal(pam_start_confdir(SERVICE, user, &conv, fx->dir, &pamh), PAM_SUCCESS);
	assert_int_equal(pam_set_item(pamh, PAM_RHOST, RHOST), PAM_SUCCESS);
	assert_int_equal(pam_set_item(pamh, PAM_TTY, TTY), PAM_SUCCESS);
	if (how == MODULE) {
		rc = pam_authenticate(pamh, flags);
	} else {
		snprintf(copy, sizeof(copy), "%s", args);
		for (tok = strtok_r(copy, " ", &save); tok != NULL && argc < 16;
		     tok = strtok_r(NULL, " ", &save))
			argv[argc++] = tok;
		rc = zkp_authenticate(pamh, flags, argc, argv);
	}
	pam_end(pamh, rc);
	return rc;
}

static struct script base_script(void)
{
	struct script sc;

	memset(&sc, 0, sizeof(sc));
	sc.start.act = S_CHALLENGE;
	sc.want_max_age = ZK_NO_MAX_AGE;
	sc.max_wait_ms = ZKP_WAIT_SLICE_MS;
	return sc;
}

static struct step verdict(uint32_t result, const char *user)
{
	struct step s;

	memset(&s, 0, sizeof(s));
	s.act = S_VERDICT;
	s.result = result;
	snprintf(s.user, sizeof(s.user), "%s", user);
	return s;
}

static struct step raw(const uint8_t *p, size_t n)
{
	struct step s;

	memset(&s, 0, sizeof(s));
	s.act = S_RAW;
	assert_true(n <= sizeof(s.raw));
	memcpy(s.raw, p, n);
	s.raw_len = n;
	return s;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- tests ---- */

static void check_success_prompt(const struct convlog *log)
{
	const char *p;
	char *end = NULL;

	assert_int_equal(log->n, 1);
	assert_int_equal(log->style[0], PAM_PROMPT_ECHO_ON);
	p = log->msg[0];
	assert_true(strncmp(p, "alice@web-1 (zkauth-test from 203.0.113.9)\n\n",
			    strlen("alice@web-1 (zkauth-test from 203.0.113.9)\n\n")) == 0);
	assert_non_null(strstr(p, "\n####              ##")); /* the QR finder's top edge */
	/* How long is left: the module's timeout or the login's expires_in,
	 * whichever ends first, less what has passed. */
	p = strstr(p, "\n\n" URL "\nCode: " CODE "\nApprove within ");
	assert_non_null(p);
	p += strlen("\n\n" URL "\nCode: " CODE "\nApprove within ");
	assert_true(strtoul(p, &end, 10) > 0 && strtoul(p, NULL, 10) <= 300);
	assert_string_equal(end, " seconds.\nPress Enter after approving (or paste the code): ");
	assert_string_equal(p + strlen(p) - strlen(ZKP_PROMPT_ENTER), ZKP_PROMPT_ENTER);
}

static void test_success(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.waits[sc.n_waits++] = verdict(ZK_R_OK, "alice");
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s timeout=60 qr=ascii"), PAM_SUCCESS);
	reap(fx);
	check_success_prompt(&fx->log);
}

/* What the person pastes at the prompt goes to the daemon as PASTE, before
 * WAIT, exactly as typed; a blank answer sends nothing. */
static void test_paste_sent(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.want_paste = "http://127.0.0.1:8443/zkauth/callback?code=c0de&state=s7";
	fx->log.answer = sc.want_paste;
	sc.waits[sc.n_waits++] = verdict(ZK_R_OK, "alice");
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s timeout=60 qr=off"), PAM_SUCCESS);
	reap(fx);
}

static void test_blank_answer_sends_no_paste(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	fx->log.answer = " \t ";
	sc.waits[sc.n_waits++] = verdict(ZK_R_OK, "alice");
	spawn(fx, &sc); /* want_paste NULL: a PASTE fails the script */
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s timeout=60 qr=off"), PAM_SUCCESS);
	reap(fx);
}

static void test_success_through_module(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.want_max_age = 0;
	sc.waits[sc.n_waits++] = verdict(ZK_R_OK, "alice");
	spawn(fx, &sc);
	assert_int_equal(run(fx, MODULE, "alice", 0, "socket=%s qr=ascii max_age=0 debug"), PAM_SUCCESS);
	reap(fx);
	check_success_prompt(&fx->log);
}

static void test_pending_then_ok(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.max_wait_ms = 20000;
	sc.want_max_age = 600;
	sc.waits[sc.n_waits++] = verdict(ZK_R_PENDING, "");
	sc.waits[sc.n_waits++] = verdict(ZK_R_PENDING, "");
	sc.waits[sc.n_waits++] = verdict(ZK_R_OK, "alice");
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s timeout=20 qr=off max_age=600"),
			 PAM_SUCCESS);
	reap(fx);
	assert_int_equal(fx->log.n, 3);
	assert_string_equal(fx->log.msg[0], "alice@web-1 (zkauth-test from 203.0.113.9)\n\n" URL
			    "\nCode: " CODE "\nApprove within 20 seconds.\n"
			    "Press Enter after approving (or paste the code): ");
	assert_int_equal(fx->log.style[1], PAM_PROMPT_ECHO_ON);
	assert_string_equal(fx->log.msg[1], "Not approved yet. Press Enter after approving (or paste the code): ");
	assert_string_equal(fx->log.msg[2], "Not approved yet. Press Enter after approving (or paste the code): ");
}

/* wrong max_age in START makes the fake daemon fail: the check can fail */
static void test_start_fields_checked(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();
	int st;

	sc.want_max_age = 5;
	sc.waits[sc.n_waits++] = verdict(ZK_R_OK, "alice");
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s max_age=6"), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(waitpid(fx->child, &st, 0), fx->child);
	fx->child = -1;
	assert_int_equal(WEXITSTATUS(st), C_BAD_START);
}

static const struct {
	uint32_t result;
	int pam;
	const char *msg;
} refusals[] = {
	{ ZK_R_DENIED, PAM_AUTH_ERR, "zkauth: the sign-in was denied." },
	{ ZK_R_WRONG_USER, PAM_AUTH_ERR, "zkauth: that identity may not sign in as alice." },
	{ ZK_R_EXPIRED, PAM_AUTH_ERR, "zkauth: the sign-in expired." },
	{ ZK_R_BAD_TOKEN, PAM_AUTH_ERR, "zkauth: the sign-in could not be verified." },
	{ ZK_R_NOT_ALLOWED, PAM_AUTH_ERR, "zkauth: this sign-in is not allowed." },
	{ ZK_R_CANCELLED, PAM_AUTH_ERR, "zkauth: the sign-in was cancelled." },
	{ ZK_R_UNKNOWN_USER, PAM_USER_UNKNOWN, "zkauth: the sign-in was denied." },
	{ ZK_R_PROVIDER, PAM_AUTHINFO_UNAVAIL, "zkauth: the identity provider is not available." },
	{ ZK_R_BUSY, PAM_AUTHINFO_UNAVAIL, "zkauth: too many sign-ins are waiting; try again later." },
	{ ZK_R_BAD_REQUEST, PAM_SERVICE_ERR, "zkauth: the sign-in service refused the request." },
	{ ZK_R_INTERNAL, PAM_SERVICE_ERR, "zkauth: the sign-in service failed." },
};

static void test_refusals_at_start(void **state)
{
	struct fx *fx = *state;
	size_t i;

	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		struct script sc = base_script();

		sc.start = verdict(refusals[i].result, "");
		spawn(fx, &sc);
		assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), refusals[i].pam);
		reap(fx);
		/* no prompt, one sentence */
		assert_int_equal(fx->log.n, 1);
		assert_int_equal(fx->log.style[0], PAM_ERROR_MSG);
		assert_string_equal(fx->log.msg[0], refusals[i].msg);
		log_clear(&fx->log);
		unlink(fx->sock);
	}
}

static void test_refusals_after_wait(void **state)
{
	struct fx *fx = *state;
	size_t i;

	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		struct script sc = base_script();

		sc.waits[sc.n_waits++] = verdict(refusals[i].result, "");
		spawn(fx, &sc);
		assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s qr=utf8"), refusals[i].pam);
		reap(fx);
		assert_int_equal(fx->log.n, 2);
		assert_int_equal(fx->log.style[0], PAM_PROMPT_ECHO_ON);
		assert_int_equal(fx->log.style[1], PAM_ERROR_MSG);
		assert_string_equal(fx->log.msg[1], refusals[i].msg);
		log_clear(&fx->log);
		unlink(fx->sock);
	}
}

static void test_denied_through_module(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.waits[sc.n_waits++] = verdict(ZK_R_DENIED, "");
	spawn(fx, &sc);
	assert_int_equal(run(fx, MODULE, "alice", 0, "socket=%s"), PAM_AUTH_ERR);
	reap(fx);
	assert_string_equal(first_style(&fx->log, PAM_ERROR_MSG), "zkauth: the sign-in was denied.");
}

static void test_ok_for_another_user(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.waits[sc.n_waits++] = verdict(ZK_R_OK, "bob");
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTH_ERR);
	reap(fx);
	assert_string_equal(first_style(&fx->log, PAM_ERROR_MSG),
			    "zkauth: that identity may not sign in as alice.");
}

static void test_ok_prefix_user_refused(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.waits[sc.n_waits++] = verdict(ZK_R_OK, "alic");
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTH_ERR);
	reap(fx);
}

static void test_daemon_closes_before_reply(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.start.act = S_CLOSE;
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
	reap(fx);
	assert_int_equal(fx->log.n, 1);
	assert_int_equal(fx->log.style[0], PAM_ERROR_MSG);
	assert_string_equal(fx->log.msg[0], MSG_UNAVAIL);
}

static void test_daemon_closes_mid_conversation(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.waits[sc.n_waits++] = verdict(ZK_R_PENDING, "");
	sc.waits[sc.n_waits].act = S_CLOSE;
	sc.n_waits++;
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
	reap(fx);
	assert_int_equal(count_style(&fx->log, PAM_PROMPT_ECHO_ON), 2);
	assert_string_equal(first_style(&fx->log, PAM_ERROR_MSG), MSG_UNAVAIL);
}

static size_t put_hdr(uint8_t *p, uint8_t magic0, uint8_t version, uint8_t type, uint32_t len)
{
	p[0] = magic0;
	p[1] = 'K';
	p[2] = version;
	p[3] = type;
	p[4] = (uint8_t)(len >> 24);
	p[5] = (uint8_t)(len >> 16);
	p[6] = (uint8_t)(len >> 8);
	p[7] = (uint8_t)len;
	return ZK_HDR_LEN;
}

/* Frames the module must refuse, as answers to START (at_wait false) or
 * to the first WAIT. */
static void malformed_frames(struct step *out, size_t *n, bool at_wait)
{
	uint8_t f[ZK_MAX_FRAME];
	struct zk_challenge ch;
	struct zk_verdict v;
	struct zk_wait w = { 100 };
	ssize_t len;

	*n = 0;
	put_hdr(f, 'X', 1, ZK_MSG_VERDICT, 0);             /* bad magic */
	out[(*n)++] = raw(f, ZK_HDR_LEN);
	put_hdr(f, 'Z', 2, ZK_MSG_VERDICT, 0);             /* other version */
	out[(*n)++] = raw(f, ZK_HDR_LEN);
	put_hdr(f, 'Z', 1, ZK_MSG_VERDICT, ZK_MAX_BODY + 1); /* over the cap */
	out[(*n)++] = raw(f, ZK_HDR_LEN);
	put_hdr(f, 'Z', 1, 9, 0);                          /* unknown type */
	out[(*n)++] = raw(f, ZK_HDR_LEN);
	put_hdr(f, 'Z', 1, ZK_MSG_VERDICT, 10);            /* body cut short, then EOF */
	memset(f + ZK_HDR_LEN, 0, 4);
	out[*n] = raw(f, ZK_HDR_LEN + 4);
	out[(*n)++].act = S_RAW_CLOSE;
	put_hdr(f, 'Z', 1, ZK_MSG_VERDICT, 0);             /* empty verdict body */
	out[(*n)++] = raw(f, ZK_HDR_LEN);

	memset(&v, 0, sizeof(v));
	v.result = ZK_R_DENIED;
	len = zk_proto_encode_verdict(&v, f, sizeof(f));   /* trailing byte */
	f[len] = 0;
	f[7]++;
	out[(*n)++] = raw(f, (size_t)len + 1);
	len = zk_proto_encode_verdict(&v, f, sizeof(f));   /* result out of range */
	f[ZK_HDR_LEN + 3] = 99;
	out[(*n)++] = raw(f, (size_t)len);
	len = zk_proto_encode_wait(&w, f, sizeof(f));      /* a module->daemon type */
	out[(*n)++] = raw(f, (size_t)len);

	memset(&ch, 0, sizeof(ch));
	strcpy(ch.url, URL);
	len = zk_proto_encode_challenge(&ch, f, sizeof(f));
	f[ZK_HDR_LEN + 4 + 2 + 3] = '\0';                  /* NUL inside the URL */
	out[(*n)++] = raw(f, (size_t)len);
	if (at_wait) {
		/* a CHALLENGE where a VERDICT is due */
		len = zk_proto_encode_challenge(&ch, f, sizeof(f));
		out[(*n)++] = raw(f, (size_t)len);
	} else {
		ch.url[0] = '\0';                          /* a challenge without URL */
		len = zk_proto_encode_challenge(&ch, f, sizeof(f));
		out[(*n)++] = raw(f, (size_t)len);
		v.result = ZK_R_OK;                        /* START approved at once */
		strcpy(v.user, "alice");
		len = zk_proto_encode_verdict(&v, f, sizeof(f));
		out[(*n)++] = raw(f, (size_t)len);
		v.result = ZK_R_PENDING;
		v.user[0] = '\0';
		len = zk_proto_encode_verdict(&v, f, sizeof(f));
		out[(*n)++] = raw(f, (size_t)len);
	}
}

static void test_malformed_frames(void **state)
{
	struct fx *fx = *state;
	struct step frames[24];
	size_t n, i;
	int at_wait;

	for (at_wait = 0; at_wait < 2; at_wait++) {
		malformed_frames(frames, &n, at_wait);
		for (i = 0; i < n; i++) {
			struct script sc = base_script();

			if (at_wait)
				sc.waits[sc.n_waits++] = frames[i];
			else
				sc.start = frames[i];
			spawn(fx, &sc);
			assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s qr=off"),
					 PAM_AUTHINFO_UNAVAIL);
			reap(fx);
			assert_string_equal(first_style(&fx->log, PAM_ERROR_MSG), MSG_UNAVAIL);
			/* a refused answer to START shows no prompt */
			assert_int_equal(count_style(&fx->log, PAM_PROMPT_ECHO_ON), at_wait);
			log_clear(&fx->log);
			unlink(fx->sock);
		}
	}
}

static void test_no_socket(void **state)
{
	struct fx *fx = *state;
	int64_t t0 = mono_ms();
	int how;

	for (how = DIRECT; how <= MODULE; how++) {
		assert_int_equal(run(fx, how, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
		assert_int_equal(fx->log.n, 1);
		assert_int_equal(fx->log.style[0], PAM_ERROR_MSG);
		assert_string_equal(fx->log.msg[0], MSG_UNAVAIL);
		log_clear(&fx->log);
	}
	assert_true(mono_ms() - t0 < 1500);
}

static void test_not_a_socket(void **state)
{
	struct fx *fx = *state;
	FILE *f = fopen(fx->sock, "w");

	assert_non_null(f);
	fclose(f);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
	assert_string_equal(first_style(&fx->log, PAM_ERROR_MSG), MSG_UNAVAIL);
}

static void test_unsafe_directory(void **state)
{
	struct fx *fx = *state;
	static const mode_t modes[] = { 0770, 0707, 0777, 01700, 01777 };
	size_t i;

	listen_only(fx);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		assert_int_equal(chmod(fx->dir, modes[i]), 0);
		assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
		assert_string_equal(first_style(&fx->log, PAM_ERROR_MSG), MSG_UNAVAIL);
		log_clear(&fx->log);
		assert_no_connection(fx);
	}
	assert_int_equal(chmod(fx->dir, 0755), 0); /* read/search for all is fine */
}

/* Root only: ownership rules of the directory, socket and peer. */
static void test_ownership_rules(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	if (geteuid() != 0)
		skip();
	/* directory owned by someone else than root or the socket's owner */
	listen_only(fx);
	assert_int_equal(chown(fx->dir, 12345, (gid_t)-1), 0);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
	assert_no_connection(fx);
	assert_int_equal(chown(fx->dir, 0, (gid_t)-1), 0);
	close(fx->lfd);
	fx->lfd = -1;
	unlink(fx->sock);
	log_clear(&fx->log);

	/* socket owned by root, daemon running as nobody: refused after connect */
	sc.start.act = S_NONE;
	spawn_as(fx, &sc, 65534, -1);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
	assert_string_equal(first_style(&fx->log, PAM_ERROR_MSG), MSG_UNAVAIL);
	{
		int st;

		/* it connected, but never sent START */
		assert_int_equal(waitpid(fx->child, &st, 0), fx->child);
		fx->child = -1;
		assert_int_equal(WEXITSTATUS(st), C_NO_START);
	}
	unlink(fx->sock);
	log_clear(&fx->log);

	/* socket and daemon both nobody, but the directory is root's: the
	 * daemon must be root or own the directory */
	spawn_as(fx, &sc, 65534, 65534);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
	{
		int st;

		assert_int_equal(waitpid(fx->child, &st, 0), fx->child);
		fx->child = -1;
		assert_int_equal(WEXITSTATUS(st), C_NO_START);
	}
	unlink(fx->sock);
	log_clear(&fx->log);

	/* the same with the directory owned by nobody too: still refused, the
	 * daemon is neither root nor daemon_user (zkauth)... */
	assert_int_equal(chown(fx->dir, 65534, (gid_t)-1), 0);
	spawn_as(fx, &sc, 65534, 65534);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
	{
		int st;

		assert_int_equal(waitpid(fx->child, &st, 0), fx->child);
		fx->child = -1;
		assert_int_equal(WEXITSTATUS(st), C_NO_START);
	}
	unlink(fx->sock);
	log_clear(&fx->log);

	/* ...and accepted when nobody is the configured daemon_user */
	sc = base_script();
	sc.waits[sc.n_waits++] = verdict(ZK_R_OK, "alice");
	spawn_as(fx, &sc, 65534, 65534);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s daemon_user=nobody"), PAM_SUCCESS);
	reap(fx);
	assert_int_equal(chown(fx->dir, 0, (gid_t)-1), 0);
}

/* A directory above the socket's that others may write (and is not
 * sticky) lets them swap the socket's directory: refused before connect. */
static void test_unsafe_ancestor(void **state)
{
	struct fx *fx = *state;
	char sub[128], sock[160];
	int lfd;

	assert_true((size_t)snprintf(sub, sizeof(sub), "%s/run", fx->dir) < sizeof(sub));
	assert_true((size_t)snprintf(sock, sizeof(sock), "%s/verifyd.sock", sub) < sizeof(sock));
	assert_int_equal(mkdir(sub, 0755), 0);
	lfd = bound_socket(sock);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(chmod(fx->dir, 0777), 0);
	assert_true((size_t)snprintf(fx->sock, sizeof(fx->sock), "%s", sock) < sizeof(fx->sock));
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_AUTHINFO_UNAVAIL);
	{
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 100), 0); /* nobody connected */
	}
	assert_int_equal(chmod(fx->dir, 0700), 0);
	close(lfd);
	unlink(sock);
	rmdir(sub);
}

static void test_timeout(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();
	struct step pending = verdict(ZK_R_PENDING, "");
	int64_t t0 = mono_ms(), dt;

	pending.hold = true;
	sc.max_wait_ms = 1000;
	sc.waits[sc.n_waits++] = pending;
	sc.repeat_last = true;
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s timeout=1 qr=off"), PAM_AUTH_ERR);
	dt = mono_ms() - t0;
	reap(fx);
	assert_true(dt >= 900 && dt < 4000);
	assert_string_equal(first_style(&fx->log, PAM_ERROR_MSG), "zkauth: the sign-in timed out.");
}

static void test_conversation_fails(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	spawn(fx, &sc);
	fx->log.fail_at = 0;
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_CONV_ERR);
	reap(fx); /* the module closed without a WAIT */
	assert_int_equal(fx->log.n, 0);

	log_clear(&fx->log);
	unlink(fx->sock);
	sc.waits[sc.n_waits++] = verdict(ZK_R_PENDING, "");
	spawn(fx, &sc);
	fx->log.fail_at = 1; /* the "not approved yet" prompt */
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s"), PAM_CONV_ERR);
	reap(fx);
}

static void test_silent(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();

	sc.start = verdict(ZK_R_DENIED, "");
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, "alice", PAM_SILENT, "socket=%s"), PAM_AUTH_ERR);
	reap(fx);
	assert_int_equal(fx->log.n, 0);
	assert_int_equal(run(fx, DIRECT, "alice", PAM_SILENT, "socket=%s.missing"), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(fx->log.n, 0);
}

static void test_bad_arguments(void **state)
{
	struct fx *fx = *state;

	listen_only(fx);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s bogus"), PAM_SERVICE_ERR);
	assert_int_equal(run(fx, DIRECT, "alice", 0, "socket=%s timeout=0"), PAM_SERVICE_ERR);
	assert_int_equal(run(fx, MODULE, "alice", 0, "socket=%s timeout=abc"), PAM_SERVICE_ERR);
	assert_no_connection(fx);
}

static void test_bad_users(void **state)
{
	struct fx *fx = *state;
	char longname[ZK_MAX_USER + 2];

	listen_only(fx);
	assert_int_equal(run(fx, DIRECT, "al\nice", 0, "socket=%s"), PAM_AUTH_ERR);
	assert_int_equal(run(fx, DIRECT, "al\x1b" "ice", 0, "socket=%s"), PAM_AUTH_ERR);
	assert_int_equal(run(fx, DIRECT, "al\x7fice", 0, "socket=%s"), PAM_AUTH_ERR);
	memset(longname, 'a', ZK_MAX_USER + 1);
	longname[ZK_MAX_USER + 1] = '\0';
	assert_int_equal(run(fx, DIRECT, longname, 0, "socket=%s"), PAM_AUTH_ERR);
	assert_no_connection(fx);
	assert_string_equal(first_style(&fx->log, PAM_ERROR_MSG), "zkauth: the sign-in was denied.");
}

static void test_longest_user_accepted(void **state)
{
	struct fx *fx = *state;
	struct script sc = base_script();
	char name[ZK_MAX_USER + 1];

	memset(name, 'u', ZK_MAX_USER);
	name[ZK_MAX_USER] = '\0';
	sc.want_user = name;
	sc.start = verdict(ZK_R_UNKNOWN_USER, "");
	spawn(fx, &sc);
	assert_int_equal(run(fx, DIRECT, name, 0, "socket=%s"), PAM_USER_UNKNOWN);
	reap(fx);
}

/* ---- the I/O layer alone, on a socketpair ---- */

static void test_io_timeouts_and_eof(void **state)
{
	uint8_t body[ZK_MAX_BODY], type, hdr[ZK_HDR_LEN];
	uint32_t len;
	int sv[2];
	int64_t t0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	t0 = mono_ms();
	assert_int_equal(zkp_client_recv(sv[0], 100, &type, body, &len), ZKP_IO_TIMEOUT);
	assert_true(mono_ms() - t0 >= 90);
	/* half a header, then silence */
	put_hdr(hdr, 'Z', 1, ZK_MSG_VERDICT, 0);
	assert_int_equal(write(sv[1], hdr, 4), 4);
	assert_int_equal(zkp_client_recv(sv[0], 100, &type, body, &len), ZKP_IO_TIMEOUT);
	close(sv[1]);
	assert_int_equal(zkp_client_recv(sv[0], 100, &type, body, &len), ZKP_IO_CLOSED);
	/* writing to a closed peer must not raise SIGPIPE */
	assert_int_equal(zkp_client_send(sv[0], hdr, sizeof(hdr), 100), ZKP_IO_CLOSED);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paste_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_ancestor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blank_answer_sends_no_paste, setup, teardown),
		cmocka_unit_test_setup_teardown(test_success_through_module, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_then_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_fields_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_after_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_denied_through_module, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ok_for_another_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ok_prefix_user_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_closes_before_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_closes_mid_conversation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ownership_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversation_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_longest_user_accepted, setup, teardown),
		cmocka_unit_test(test_io_timeouts_and_eof),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
