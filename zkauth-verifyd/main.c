/* zkauth-verifyd: the local daemon behind pam_zkauth.so. Runs in the
 * foreground (systemd style) with one event loop. */
#include "daemon.h"
#include "assertion.h"
#include "http.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#define SECRET_MAX 4096

int64_t zkd_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t zkd_now_wall(void)
{
	return (int64_t)time(NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zkauth-verifyd [-c FILE] [--log-stderr] [--debug]\n"
		"       zkauth-verifyd --check-config [-c FILE]\n"
		"       zkauth-verifyd --version | --help\n"
		"\n"
		"Verifies OpenID Connect logins for pam_zkauth.so. Runs in the foreground.\n"
		"\n"
		"  -c, --config FILE   configuration file (default " ZK_CONFIG_DEFAULT_PATH ")\n"
		"  -t, --check-config  validate the configuration and exit\n"
		"  -e, --log-stderr    log to standard error instead of syslog\n"
		"  -d, --debug         log debugging details (never secrets)\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n");
}

/* The path part of redirect_uri: what the listener serves. */
static char *callback_path(const char *uri)
{
	const char *p = strstr(uri, "://");
	const char *end;

	if (p == NULL)
		return NULL;
	p = strchr(p + 3, '/');
	if (p == NULL)
		return strdup("/");
	end = p + strcspn(p, "?#");
	return strndup(p, (size_t)(end - p));
}

/* scheme://host[:port] of url, or url itself without a trailing '/'. */
static char *origin_of(const char *url, bool whole)
{
	const char *p = strstr(url, "://");
	size_t n;

	if (p == NULL)
		return NULL;
	n = whole ? strlen(url) : (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
	while (n > 0 && url[n - 1] == '/')
		n--;
	return strndup(url, n);
}

/* Checks that go beyond the file's syntax: secrets readable and tight.
 * *secret is set only on success (NULL when the config names none). */
static int load_secret(const struct zk_config *c, char **secret, size_t *len)
{
	char err[512];
	char *s = NULL;
	size_t n = 0;

	if (c->client_secret_file == NULL) {
		*secret = NULL;
		*len = 0;
		return 0;
	}
	if (zk_read_secret_file(c->client_secret_file, SECRET_MAX, &s, &n, err, sizeof(err)) < 0) {
		zk_log(LOG_ERR, "client_secret_file: %s", err);
		return -1;
	}
	if (n == 0) {
		zk_log(LOG_ERR, "client_secret_file %s is empty", c->client_secret_file);
		zk_freezero(s, n);
		return -1;
	}
	*secret = s;
	*len = n;
	return 0;
}

/*
 * Before any secret is read: no core file, and no ptrace attach or
 * /proc/PID/mem, environ or fd reads by other processes of our uid (a
 * non-dumpable process's /proc files belong to root). A crash or a
 * compromised process of the same user then cannot take the client
 * secret, the keys or a login's verifier out of our memory. Failing
 * either, we do not start: the secrets would not be safe. (glibc makes
 * setrlimit() the prlimit64 call, which the unit's SystemCallFilter
 * allows; the setrlimit syscall itself is in @resources, denied there.)
 */
static int not_dumpable(void)
{
	const struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) != 0) {
		zk_log(LOG_ERR, "cannot turn off core dumps (RLIMIT_CORE): %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		zk_log(LOG_ERR, "cannot make the process non-dumpable (PR_SET_DUMPABLE): %s",
		       strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The files the daemon trusts but does not read at start itself: the
 * account map (read for each login), and the files a library opens by
 * name (ca_file by libcurl, tls_certificate by OpenSSL). Checked here so
 * that --check-config and the start refuse a loose one with its reason.
 */
static int check_trusted_files(const struct zk_config *c)
{
	const struct {
		const char *key, *path;
	} files[] = {
		{ "map_file", c->map_file },
		{ "ca_file", c->ca_file },
		{ "tls_certificate", c->tls_certificate },
	};
	char err[1024];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].path == NULL || files[i].path[0] == '\0')
			continue;
		if (zk_check_trusted_file(files[i].path, err, sizeof(err)) < 0) {
			zk_log(LOG_ERR, "%s: %s", files[i].key, err);
			return -1;
		}
	}
	return 0;
}

/* sd_notify(3)'s protocol, without linking libsystemd: one datagram to
 * $NOTIFY_SOCKET when systemd runs us as Type=notify. */
static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	n = strlen(path);
	if (n >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		zk_log(LOG_WARNING, "sd_notify: %s", strerror(errno));
	close(fd);
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* SIGHUP: read the config and the secret again and apply them to new
 * logins. A bad file changes nothing; what is bound at start (sockets,
 * callback URL, trust anchors) needs a restart. */
static void reload(struct zkd *d)
{
	struct zk_config nc;
	char err[1024];
	char *secret = NULL;
	size_t slen = 0;
	EVP_PKEY *key = NULL;
	bool provider_changed;

	notify("RELOADING=1");
	if (zk_config_load(d->config_path, &nc, err, sizeof(err)) < 0) {
		zk_log(LOG_ERR, "reload: %s; keeping the running configuration", err);
		goto done;
	}
	if (load_secret(&nc, &secret, &slen) < 0) {
		zk_log(LOG_ERR, "reload: keeping the running configuration");
		goto keep;
	}
	if (nc.token_auth_method == ZK_AUTH_PRIVATE_KEY_JWT &&
	    (key = zk_client_key_load(nc.client_key_file, err, sizeof(err))) == NULL) {
		zk_log(LOG_ERR, "reload: client_key_file: %s; keeping the running configuration", err);
		goto keep;
	}
	if (!same(nc.socket_path, d->cfg.socket_path) || !same(nc.listen, d->cfg.listen) ||
	    !same(nc.redirect_uri, d->cfg.redirect_uri) || !same(nc.public_url, d->cfg.public_url) ||
	    !same(nc.tls_certificate, d->cfg.tls_certificate) ||
	    !same(nc.tls_private_key, d->cfg.tls_private_key) || !same(nc.ca_file, d->cfg.ca_file) ||
	    nc.flow != d->cfg.flow) {
		zk_log(LOG_ERR, "reload: socket, listen, redirect_uri, public_url, tls_*, ca_file "
		       "and flow take effect only at a restart; keeping the running configuration");
		goto keep;
	}
	provider_changed = nc.profile != d->cfg.profile || !same(nc.issuer, d->cfg.issuer) ||
		!same(nc.authorization_endpoint, d->cfg.authorization_endpoint) ||
		!same(nc.token_endpoint, d->cfg.token_endpoint) ||
		!same(nc.jwks_uri, d->cfg.jwks_uri) ||
		!same(nc.device_authorization_endpoint, d->cfg.device_authorization_endpoint);
	zk_config_free(&d->cfg);
	d->cfg = nc;
	zk_freezero(d->client_secret, d->client_secret_len);
	d->client_secret = secret;
	d->client_secret_len = slen;
	EVP_PKEY_free(d->client_key);
	d->client_key = key;
	if (provider_changed)
		provider_reset(d);
	zk_log(LOG_NOTICE, "configuration reloaded from %s", d->config_path);
	goto done;
keep:
	EVP_PKEY_free(key);
	zk_freezero(secret, slen);
	zk_config_free(&nc);
done:
	notify("READY=1");
}

/* libevent's own warnings go where ours go. */
static void libevent_log(int severity, const char *msg)
{
	zk_log(severity >= EVENT_LOG_ERR ? LOG_ERR : severity == EVENT_LOG_WARN ? LOG_WARNING
										 : LOG_DEBUG,
	       "libevent: %s", msg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct zkd *d = arg;

	if (sig == SIGHUP) {
		reload(d);
		return;
	}
	notify("STOPPING=1");
	zk_log(LOG_INFO, "stopping on signal %d", (int)sig);
	event_base_loopexit(d->base, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "log-stderr", no_argument, NULL, 'e' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zkd d;
	struct event *sigs[4] = { NULL };
	const int signums[4] = { SIGTERM, SIGINT, SIGHUP, 0 };
	bool check = false, to_stderr = false, debug = false;
	char err[1024];
	int opt, i, rc = 1;

	memset(&d, 0, sizeof(d));
	d.config_path = ZK_CONFIG_DEFAULT_PATH;
	while ((opt = getopt_long(argc, argv, "c:tedVh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': d.config_path = optarg; break;
		case 't': check = true; break;
		case 'e': to_stderr = true; break;
		case 'd': debug = true; break;
		case 'V': printf("zkauth-verifyd %s\n", ZK_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	zk_log_open(to_stderr || check, debug);
	if (not_dumpable() < 0)
		return 1;

	if (zk_config_load(d.config_path, &d.cfg, err, sizeof(err)) < 0) {
		zk_log(LOG_ERR, "%s", err);
		return 1;
	}
	if (check_trusted_files(&d.cfg) < 0)
		goto out;
	if (load_secret(&d.cfg, &d.client_secret, &d.client_secret_len) < 0)
		goto out;
	if (d.cfg.token_auth_method == ZK_AUTH_PRIVATE_KEY_JWT) {
		d.client_key = zk_client_key_load(d.cfg.client_key_file, err, sizeof(err));
		if (d.client_key == NULL) {
			zk_log(LOG_ERR, "client_key_file: %s", err);
			goto out;
		}
	}
	if (d.cfg.profile == ZK_PROFILE_ZEROAUTH) {
		if (d.cfg.api_key_file == NULL) {
			zk_log(LOG_ERR, "profile = zeroauth needs api_key_file");
			goto out;
		}
		if (zk_read_secret_file(d.cfg.api_key_file, SECRET_MAX, &d.api_key, &d.api_key_len,
					err, sizeof(err)) < 0) {
			zk_log(LOG_ERR, "api_key_file: %s", err);
			goto out;
		}
		if (d.cfg.jwks_uri == NULL) {
			zk_log(LOG_ERR, "profile = zeroauth needs jwks_uri");
			goto out;
		}
	}
	/* The code flow needs the callback listener; the device flow does not. */
	if (d.cfg.flow == ZK_FLOW_CODE) {
		d.callback_path = d.cfg.redirect_uri ? callback_path(d.cfg.redirect_uri) : NULL;
		if (d.callback_path == NULL) {
			zk_log(LOG_ERR, "redirect_uri: no path");
			goto out;
		}
		d.public_base = d.cfg.public_url ? origin_of(d.cfg.public_url, true)
						 : origin_of(d.cfg.redirect_uri, false);
		if (d.public_base == NULL)
			goto out;
	}
	if (check) {
		if (listener_check_tls(&d) < 0)
			goto out;
		printf("%s: OK\n", d.config_path);
		rc = 0;
		goto out;
	}
	if (gethostname(d.hostname, sizeof(d.hostname) - 1) < 0)
		snprintf(d.hostname, sizeof(d.hostname), "localhost");

	/* A module that goes away mid-write must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(libevent_log);
	d.base = event_base_new();
	if (d.base == NULL)
		goto out;
	for (i = 0; signums[i]; i++) {
		sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0)
			goto out;
	}
	d.http = zk_http_new(d.base, d.cfg.ca_file);
	if (d.http == NULL) {
		zk_log(LOG_ERR, "cannot set up the HTTP client");
		goto out;
	}
	if ((d.cfg.flow == ZK_FLOW_CODE && listener_start(&d) < 0) || ipc_listen(&d) < 0 ||
	    provider_init(&d) < 0)
		goto out;
	zk_log(LOG_INFO, "ready: socket %s, %s %s", d.cfg.socket_path,
	       d.cfg.flow == ZK_FLOW_CODE ? "callback listener" : "device flow, no listener",
	       d.cfg.flow == ZK_FLOW_CODE ? d.cfg.listen : "");
	notify("READY=1");
	if (event_base_dispatch(d.base) < 0)
		goto out;
	rc = 0;
out:
	ipc_close(&d);      /* closing each connection cancels its login */
	flow_free_all(&d);
	listener_stop(&d);
	provider_free(&d);
	zk_http_free(d.http);
	for (i = 0; sigs[i]; i++)
		event_free(sigs[i]);
	if (d.base)
		event_base_free(d.base);
	zk_freezero(d.client_secret, d.client_secret_len);
	zk_freezero(d.api_key, d.api_key_len);
	EVP_PKEY_free(d.client_key);
	free(d.callback_path);
	free(d.public_base);
	zk_config_free(&d.cfg);
	return rc;
}
