/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-nbd: a host's iSCSI LUs, each over several paths, served as NBD
 * exports by lbfo itself — the nbdkit plugin's exports, keys and control
 * socket, with the NBD protocol spoken on lbfo's own loop (nbdsrv.h), so
 * that a small request costs no thread hand-off.
 *
 *   lbfo-nbd -U /run/lbfo.sock portal=198.18.1.2 portal=198.18.2.2
 *   lbfo-nbd -p 10809 -i 127.0.0.1 config=/etc/lbfo/lbfo.conf
 *
 * Runs in the foreground (systemd: Type=notify). The socket is made once
 * the paths that answered discovery are logged in: a client that finds it
 * finds the exports ready. SIGTERM / SIGINT: no new connection or request
 * is taken, what was read is answered (at most STOP_GRACE_MS, and not at
 * all with no path up: it could only wait), then the sessions go. SIGHUP: the configuration is read again (lbfoctl reload).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "lbfo/host.h"
#include "discover.h"
#include "nbdsrv.h"
#include "notify.h"

#define STOP_GRACE_MS 2000
#define MAX_LISTEN 16

static bool use_syslog, verbose;

static const char *const level_names[] = {
	[LBFO_LOG_ERR] = "error", [LBFO_LOG_WARNING] = "warning",
	[LBFO_LOG_NOTICE] = "notice", [LBFO_LOG_INFO] = "info", [LBFO_LOG_DEBUG] = "debug",
};

static void log_msg(int level, const char *msg, void *opaque)
{
	(void)opaque;
	if (level >= LBFO_LOG_INFO && !verbose)
		return;
	if (use_syslog)
		syslog(level, "%s", msg);
	else
		fprintf(stderr, "lbfo-nbd: %s: %s\n",
			level >= LBFO_LOG_ERR && level <= LBFO_LOG_DEBUG ? level_names[level] : "log",
			msg);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lbfo-nbd [-U SOCKET | -p PORT [-i ADDRESS]] [-r] [-v] KEY=VALUE...\n"
		"\n"
		"Serve every iSCSI LU the portals lead to (or the one target= and lun= name),\n"
		"each reached over several network paths and balanced / failed over by lbfo,\n"
		"as NBD exports named by WWID (the default export \"\" when there is one LU).\n"
		"The same exports, keys and control socket as the nbdkit plugin\n"
		"(nbdkit lbfo ...), with NBD served on lbfo's own event loop: small I/O costs\n"
		"less CPU. Fixed newstyle NBD, structured replies, block size constraints,\n"
		"multi-conn, FUA, trim, write zeroes; no TLS (the nbdkit plugin has it).\n"
		"Runs in the foreground; the socket appears once the paths are logged in.\n"
		"\n"
		"  -U, --unix SOCKET    listen on a Unix socket\n"
		"  -p, --port PORT      listen on TCP PORT (default 10809 without -U)\n"
		"  -i, --ipaddr ADDR    the TCP address to listen on (default: every one)\n"
		"  -r, --readonly       refuse writes (the exports are read-only)\n"
		"  -v, --verbose        log every connection (and debug messages)\n"
		"  -f, --foreground     accepted as nbdkit's (lbfo-nbd never forks)\n"
		"  -h, --help           this text and every key\n"
		"  -V, --version\n"
		"  log=stderr|syslog    where messages go (default stderr)\n"
		"\n"
		"Keys (config=FILE reads an INI file; docs/configuration.md):\n\n%s",
		lbfo_host_config_help());
}

struct opts {
	const char *unix_path, *port, *addr;
	bool readonly;
};

static int apply_key(struct lbfo_host_config *c, const char *key, const char *value, char *err,
		     size_t errlen)
{
	if (!strcmp(key, "config"))
		return lbfo_host_config_load(c, value, err, errlen);
	return lbfo_host_config_set(c, key, value, err, errlen);
}

static char **kv_args;
static int nkv;

/* Every KEY=VALUE of the command line into c: 0, or -1 with err. */
static int apply_args(struct lbfo_host_config *c, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < nkv; i++) {
		char key[128];
		const char *eq = strchr(kv_args[i], '=');

		if (!eq || eq == kv_args[i] || (size_t)(eq - kv_args[i]) >= sizeof(key)) {
			snprintf(err, errlen, "'%s': expected KEY=VALUE (lbfo-nbd --help)",
				 kv_args[i]);
			return -1;
		}
		memcpy(key, kv_args[i], (size_t)(eq - kv_args[i]));
		key[eq - kv_args[i]] = 0;
		if (!strcmp(key, "log"))
			continue;
		if (apply_key(c, key, eq + 1, err, errlen) < 0)
			return -1;
	}
	return lbfo_host_config_check(c, err, errlen);
}

static int reread(void *arg, struct lbfo_host_config *c, char *err, size_t errlen)
{
	(void)arg;
	return apply_args(c, err, errlen);
}

/* log= is the process's, not the host's. */
static int log_key(void)
{
	int i;

	for (i = 0; i < nkv; i++) {
		const char *v;

		if (strncmp(kv_args[i], "log=", 4))
			continue;
		v = kv_args[i] + 4;
		if (!strcmp(v, "syslog"))
			use_syslog = true;
		else if (!strcmp(v, "stderr"))
			use_syslog = false;
		else {
			fprintf(stderr, "lbfo-nbd: error: invalid value '%s' for 'log': expected "
				"stderr or syslog\n", v);
			return -1;
		}
	}
	if (use_syslog)
		openlog("lbfo-nbd", LOG_PID, LOG_DAEMON);
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "unix", required_argument, NULL, 'U' }, { "port", required_argument, NULL, 'p' },
		{ "ipaddr", required_argument, NULL, 'i' }, { "readonly", no_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { "foreground", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "U:p:i:rvhVf", lo, NULL)) != -1) {
		switch (ch) {
		case 'U': o->unix_path = optarg; break;
		case 'p': o->port = optarg; break;
		case 'i': o->addr = optarg; break;
		case 'r': o->readonly = true; break;
		case 'v': verbose = true; break;
		case 'f': break; /* nbdkit's: lbfo-nbd always is */
		case 'h': usage(stdout); exit(0);
		case 'V': printf("lbfo-nbd 0.1.0\n"); exit(0);
		default:
			fprintf(stderr, "lbfo-nbd --help tells the options\n");
			return -1;
		}
	}
	if (o->unix_path && (o->port || o->addr)) {
		fprintf(stderr, "lbfo-nbd: error: -U and -p/-i exclude each other\n");
		return -1;
	}
	if (!o->unix_path && !o->port)
		o->port = "10809";
	kv_args = argv + optind;
	nkv = argc - optind;
	return 0;
}

/* ---- listening ------------------------------------------------------------------- */

static int listen_unix(const char *path, int *fds)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "lbfo-nbd: error: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	/* a socket left by a process that is gone: replace it (never a file) */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "lbfo-nbd: error: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fds[0] = fd;
	return 1;
}

static int listen_tcp(const char *addr, const char *port, int *fds)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	int n = 0, rc, one = 1, err = 0;

	rc = getaddrinfo(addr, port, &hints, &res);
	if (rc) {
		fprintf(stderr, "lbfo-nbd: error: %s:%s: %s\n", addr ? addr : "*", port,
			gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai && n < MAX_LISTEN; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
			err = errno;
			close(fd);
			continue;
		}
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	if (!n)
		fprintf(stderr, "lbfo-nbd: error: listen on %s:%s: %s\n", addr ? addr : "*", port,
			strerror(err ? err : EADDRNOTAVAIL));
	return n ? n : -1;
}

static void peer_name(int fd, const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?", serv[16] = "?";
	int one = 1;

	if (ss->ss_family == AF_UNIX) {
		snprintf(out, len, "unix socket client (fd %d)", fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host, sizeof(host), serv,
		    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(out, len, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

/* ---- the host -------------------------------------------------------------------- */

/* Discovery, the host's loop, the paths logged in: the host, or NULL. */
static struct lbfo_host *start_host(const struct lbfo_host_config *cfg)
{
	static char err[4096];
	struct lbfo_san *san;
	struct lbfo_host *h;
	int ready, lus, up, total;

	if (lbfo_nbd_discover(cfg, &san, err, sizeof(err)) < 0) {
		nbd_log(LBFO_LOG_ERR, "%s", err);
		return NULL;
	}
	h = lbfo_host_start(cfg, san, err, sizeof(err));
	if (!h) {
		nbd_log(LBFO_LOG_ERR, "%s", err);
		return NULL;
	}
	lbfo_host_set_reloader(h, reread, NULL);
	lbfo_host_wait_ready(h, cfg->lu.login_timeout_ms);
	lbfo_host_counts(h, &ready, &lus, &up, &total);
	nbd_log(LBFO_LOG_NOTICE, "%d of %d LUs ready, %d of %d paths up", ready, lus, up, total);
	return h;
}

/* Accept until SIGTERM / SIGINT (SIGHUP: reload). */
static void serve(struct nbd_server *s, const int *lfds, int nl, int sigfd)
{
	struct pollfd pfd[MAX_LISTEN + 1];
	int i;

	for (i = 0; i < nl; i++)
		pfd[i] = (struct pollfd){ .fd = lfds[i], .events = POLLIN };
	pfd[nl] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, (nfds_t)nl + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			nbd_log(LBFO_LOG_ERR, "poll: %s", strerror(errno));
			return;
		}
		if (pfd[nl].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGHUP) {
					nbd_log(LBFO_LOG_NOTICE, "signal %u: stopping", si.ssi_signo);
					return;
				}
				nbd_log(LBFO_LOG_NOTICE, "SIGHUP: reloading the configuration");
				lbfo_host_request_reload(s->host);
			}
		}
		for (i = 0; i < nl; i++) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			char peer[96];
			int fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(lfds[i], (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
					nbd_log(LBFO_LOG_WARNING, "accept: %s", strerror(errno));
					poll(NULL, 0, 100); /* let connections end first */
				}
				continue;
			}
			peer_name(fd, &ss, peer, sizeof(peer));
			nbd_server_accept(s, fd, peer);
		}
	}
}

static void stop(struct nbd_server *s, struct lbfo_host *h)
{
	int left, ready, lus, up, total;

	(void)lbfo_sd_notify("STOPPING=1");
	lbfo_host_counts(h, &ready, &lus, &up, &total);
	if (!up)
		lbfo_host_shutdown(h, "lbfo-nbd is stopping with no path up");
	left = nbd_server_stop(s, STOP_GRACE_MS);
	if (left) {
		/* Requests still waiting (no path, say): they fail now. */
		nbd_log(LBFO_LOG_NOTICE, "%d connection(s) still busy after %d ms: failing what "
			"they wait for", left, STOP_GRACE_MS);
		lbfo_host_shutdown(h, "lbfo-nbd is stopping");
		left = nbd_server_stop(s, 1000);
	}
	if (left) {
		/* A thread still in a handshake would use the host: leave it be. */
		nbd_log(LBFO_LOG_NOTICE, "%d connection(s) left in the handshake", left);
		return;
	}
	lbfo_host_set_guest(h, NULL);
	lbfo_host_stop(h);
	nbd_server_fini(s);
}

int main(int argc, char **argv)
{
	static struct nbd_server srv;
	struct lbfo_host_config cfg;
	struct opts o = { 0 };
	struct lbfo_host *h;
	char err[LBFO_ERR_MAX], where[300];
	int lfds[MAX_LISTEN], nl, sigfd, i, ready, lus, up, total;
	sigset_t ss;

	nbd_log_to(log_msg);
	if (parse_opts(argc, argv, &o) < 0 || log_key() < 0)
		return 1;
	lbfo_host_config_defaults(&cfg);
	cfg.lu.log = log_msg;
	if (apply_args(&cfg, err, sizeof(err)) < 0) {
		nbd_log(LBFO_LOG_ERR, "%s", err);
		lbfo_host_config_free(&cfg);
		return 1;
	}
	/* Every thread started from here on has these blocked: signalfd reads them. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &ss, SFD_CLOEXEC);
	h = sigfd < 0 ? NULL : start_host(&cfg);
	if (!h) {
		lbfo_host_config_free(&cfg);
		return 1;
	}
	nl = o.unix_path ? listen_unix(o.unix_path, lfds) : listen_tcp(o.addr, o.port, lfds);
	if (nl < 0 || nbd_server_init(&srv, h, o.readonly, err, sizeof(err)) < 0) {
		if (nl >= 0)
			nbd_log(LBFO_LOG_ERR, "%s", err);
		lbfo_host_stop(h);
		lbfo_host_config_free(&cfg);
		return 1;
	}
	lbfo_host_set_guest(h, &(struct lbfo_host_guest){ .fd = srv.epfd,
		.service = nbd_conn_service, .flush = nbd_conn_flush, .arg = &srv });
	snprintf(where, sizeof(where), "%s%s%s", o.unix_path ? o.unix_path : o.addr ? o.addr : "*",
		 o.unix_path ? "" : ":", o.unix_path ? "" : o.port);
	lbfo_host_counts(h, &ready, &lus, &up, &total);
	nbd_log(LBFO_LOG_NOTICE, "serving %d export(s) on %s", lus, where);
	if (lbfo_sd_notify_ready(ready, lus, up, total, cfg.lu.login_timeout_ms) < 0)
		nbd_log(LBFO_LOG_WARNING, "READY=1 to $NOTIFY_SOCKET: %s", strerror(errno));
	serve(&srv, lfds, nl, sigfd);
	for (i = 0; i < nl; i++)
		close(lfds[i]);
	if (o.unix_path)
		unlink(o.unix_path);
	stop(&srv, h);
	close(sigfd);
	lbfo_host_config_free(&cfg);
	return 0;
}
