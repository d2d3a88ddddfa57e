/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "ctlserver.h"
#include "events.h"
#include "unixsock.h"

#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull
#define DEF_CLIENTS 8
#define DEF_REQUEST 4096
#define DEF_DEADLINE (5 * NS_PER_SEC)
#define MAX_WORDS 64
/* Out of descriptors: listen again after this. */
#define ACCEPT_PAUSE_NS (100 * NS_PER_MS)

/* One client: reading its request (reply == NULL), then sending the reply. */
struct client {
	int fd;
	unsigned slot;
	uint64_t deadline_ns;
	size_t len;          /* request bytes so far */
	char *req;           /* max_request + 1 bytes */
	char *reply;         /* "ok\n" + body, or "error: ...\n" */
	size_t reply_len, sent;
	size_t taken;        /* of what was sent, what the client had read */
};

struct lbfo_ctl_server {
	struct lbfo_ctl_config cfg;
	int ep;              /* the one pollable fd */
	int lfd;
	char path[108];      /* the socket file made here, "" when adopted */
	bool paused;         /* listener out of the epoll set (no descriptors) */
	uint64_t resume_ns;
	struct client **client;
	unsigned nclients;
	struct lbfo_ctl_stats st;
};

/* ---- requests ------------------------------------------------------------ */

void lbfo_ctl_arity(const char *args, size_t *min, size_t *max)
{
	const char *p = args ? args : "";
	int depth = 0;

	*min = *max = 0;
	while (*p) {
		size_t n = strcspn(p, " ");
		bool optional = depth > 0 || *p == '[';
		size_t i;

		for (i = 0; i < n && p[i] == '['; i++)
			depth++;
		if (n && (memmem(p, n, "..", 2) != NULL))
			*max = SIZE_MAX;
		else if (n && optional && *max != SIZE_MAX)
			(*max)++;
		else if (n) {
			(*min)++;
			if (*max != SIZE_MAX)
				(*max)++;
		}
		for (i = n; i > 0 && p[i - 1] == ']' && depth > 0; i--)
			depth--;
		p += n;
		p += strspn(p, " ");
	}
}

void lbfo_ctl_help(const struct lbfo_ctl_desc *cmds, size_t n, FILE *out)
{
	size_t i, w = 4;

	for (i = 0; i < n; i++) {
		size_t k = strlen(cmds[i].name) + (cmds[i].args[0] ? 1 + strlen(cmds[i].args) : 0);

		if (k > w)
			w = k;
	}
	for (i = 0; i < n; i++) {
		char syn[256];

		snprintf(syn, sizeof(syn), "%s%s%s", cmds[i].name, cmds[i].args[0] ? " " : "",
			 cmds[i].args);
		fprintf(out, "%-*s  %s\n", (int)w, syn, cmds[i].help);
	}
	fprintf(out, "%-*s  %s\n", (int)w, "help", "this list");
}

/* Words of a command name that begin the request: the number matched
 * (all of the name's), or 0. */
static int match(const char *name, char **word, int nword)
{
	int k = 0;

	while (*name) {
		size_t n = strcspn(name, " ");

		if (k >= nword || strlen(word[k]) != n || strncmp(word[k], name, n))
			return 0;
		k++;
		name += n;
		name += strspn(name, " ");
	}
	return k;
}

/* Is word the first word of some command? (then "WORD NEXT" is what is
 * unknown: 'path drain' rather than 'path'). */
static bool first_word(const struct lbfo_ctl_config *c, const char *word)
{
	size_t i, n = strlen(word);

	for (i = 0; i < c->ncmds; i++)
		if (!strncmp(c->cmds[i].name, word, n) && c->cmds[i].name[n] == ' ')
			return true;
	return false;
}

static int unknown(const struct lbfo_ctl_config *c, char **word, int nword, char *err,
		   size_t errlen)
{
	if (nword > 1 && first_word(c, word[0]))
		snprintf(err, errlen, "unknown request '%.40s %.40s' (try 'help')", word[0], word[1]);
	else
		snprintf(err, errlen, "unknown request '%.60s' (try 'help')", word[0]);
	return -1;
}

/* Run one request line (NUL-terminated, no newline) into out / err. */
static int dispatch(const struct lbfo_ctl_config *c, char *line, FILE *out, char *err,
		    size_t errlen)
{
	char *word[MAX_WORDS + 1], *save = NULL, *t;
	int nword = 0, best = -1, bestn = 0, i;
	size_t min, max, nargs;

	for (t = strtok_r(line, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
		if (nword == MAX_WORDS) {
			snprintf(err, errlen, "too many words (at most %d)", MAX_WORDS);
			return -1;
		}
		word[nword++] = t;
	}
	if (nword == 0) {
		snprintf(err, errlen, "empty request (try 'help')");
		return -1;
	}
	if (nword == 1 && !strcmp(word[0], "help")) {
		lbfo_ctl_help(c->cmds, c->ncmds, out);
		return 0;
	}
	for (i = 0; i < (int)c->ncmds; i++) {
		int k = match(c->cmds[i].name, word, nword);

		if (k > bestn) {
			best = i;
			bestn = k;
		}
	}
	if (best < 0)
		return unknown(c, word, nword, err, errlen);
	lbfo_ctl_arity(c->cmds[best].args, &min, &max);
	nargs = (size_t)(nword - bestn);
	if (nargs < min || nargs > max) {
		snprintf(err, errlen, "usage: %s%s%s", c->cmds[best].name,
			 c->cmds[best].args[0] ? " " : "", c->cmds[best].args);
		return -1;
	}
	word[bestn - 1] = (char *)c->cmds[best].name; /* argv[0]: the whole name */
	word[nword] = NULL;
	return c->run[best](c->app, (int)nargs + 1, word + bestn - 1, out, err, errlen);
}

/* An error message on one line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* The reply to a complete request line. Returns the error flag. */
static bool answer(struct lbfo_ctl_server *s, char *line, size_t len, FILE *f)
{
	char err[512] = "", *body = NULL;
	size_t blen = 0;
	FILE *out;
	int rc = -1;

	if (memchr(line, '\0', len)) {
		fprintf(f, "error: request contains a NUL byte\n");
		return true;
	}
	out = open_memstream(&body, &blen);
	if (!out) {
		fprintf(f, "error: out of memory\n");
		return true;
	}
	rc = dispatch(&s->cfg, line, out, err, sizeof(err));
	if (fclose(out) != 0 && rc == 0) {
		rc = -1;
		snprintf(err, sizeof(err), "out of memory");
	}
	if (rc == 0) {
		fputs("ok\n", f);
		fwrite(body, 1, blen, f);
	} else {
		one_line(err);
		fprintf(f, "error: %s\n", err[0] ? err : "failed (no reason given)");
	}
	free(body);
	return rc != 0;
}

static void dur_text(uint64_t ns, char *buf, size_t len)
{
	if (ns % NS_PER_SEC == 0)
		snprintf(buf, len, "%llu s", (unsigned long long)(ns / NS_PER_SEC));
	else
		snprintf(buf, len, "%llu ms", (unsigned long long)(ns / NS_PER_MS));
}

/* Build c's reply from what its request holds: a line, or max_request
 * bytes without one, or less and the client stopped sending. The figures
 * are taken now, in one piece, whatever pace the client reads them at.
 * Returns -1 when out of memory (nothing is sent rather than half). */
static int build(struct lbfo_ctl_server *s, struct client *c)
{
	char *nl = memchr(c->req, '\n', c->len);
	FILE *f = open_memstream(&c->reply, &c->reply_len);
	bool bad = true;

	if (!f)
		return -1;
	if (!nl) {
		fprintf(f, "error: %s\n", c->len >= s->cfg.max_request ? "request too long" :
			"incomplete request (one line, ending in a newline)");
	} else {
		*nl = '\0';
		s->st.requests++;
		bad = answer(s, c->req, (size_t)(nl - c->req), f);
	}
	if (bad)
		s->st.errors++;
	if (fclose(f) != 0) {
		free(c->reply);
		c->reply = NULL;
		return -1;
	}
	return 0;
}

/* ---- clients --------------------------------------------------------------- */

/* Closing the socket also takes it out of the epoll set (nothing else holds
 * the descriptor). An epoll batch has at most one event per registration,
 * the one being handled if any, so a client may go at once, mid-batch. */
static void client_free(struct lbfo_ctl_server *s, struct client *c)
{
	s->client[c->slot] = NULL;
	s->nclients--;
	close(c->fd);
	free(c->reply);
	free(c->req);
	free(c);
}

/* Send what the socket takes. Returns 1 when all is sent, 0 to wait for
 * EPOLLOUT, -1 when the client is gone. */
static int client_send(struct client *c)
{
	while (c->sent < c->reply_len) {
		ssize_t k = send(c->fd, c->reply + c->sent, c->reply_len - c->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (k <= 0)
			return -1;
		c->sent += (size_t)k;
	}
	return 1;
}

/* The request is complete (or can be no more): build the reply and send
 * it, most often all at once; what the socket does not take waits for
 * EPOLLOUT. Frees the client when done or gone. */
static void client_reply(struct lbfo_ctl_server *s, struct client *c, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int rc = build(s, c) < 0 ? -1 : client_send(c);

	c->deadline_ns = now + s->cfg.deadline_ns; /* to take it */
	if (rc == 0 && epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		return;
	client_free(s, c);
}

/* Of what was sent, how much the client has read: what is no longer in
 * the socket (SIOCOUTQ counts whole buffers of some 36 KiB with their
 * overhead, so this may be short of the truth by as much, never over). */
static size_t taken(const struct client *c)
{
	int outq = 0;

	if (ioctl(c->fd, SIOCOUTQ, &outq) < 0 || outq < 0)
		return c->taken;
	return c->sent > (size_t)outq ? c->sent - (size_t)outq : 0;
}

static void client_io(struct lbfo_ctl_server *s, struct client *c, uint64_t now)
{
	size_t room = s->cfg.max_request - c->len;
	ssize_t k;

	/* Level-triggered: the read or send below tells all the event bits
	 * would, EPOLLHUP and EPOLLERR included. */
	if (c->reply) {
		size_t before = c->sent;
		int rc = client_send(c);

		if (rc != 0)
			client_free(s, c);
		else if (c->sent > before) { /* progress: a slow reader is no dead one */
			c->deadline_ns = now + s->cfg.deadline_ns;
			c->taken = taken(c);
		}
		return;
	}
	k = recv(c->fd, c->req + c->len, room, MSG_DONTWAIT);
	if (k < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_free(s, c);
		return;
	}
	if (k == 0) {
		/* Half-closed without a newline: it may still read the error. */
		client_reply(s, c, now);
		return;
	}
	c->len += (size_t)k;
	if (c->len >= s->cfg.max_request || memchr(c->req + c->len - (size_t)k, '\n', (size_t)k))
		client_reply(s, c, now);
}

static void say(struct lbfo_ctl_server *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct lbfo_ctl_server *s, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!s->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->cfg.log(s->cfg.app, level, msg);
}

/* A client past its deadline. Still sending its request: it is told why,
 * if the socket takes it now. Taking its reply: a reader slower than the
 * socket's buffer shows progress only in what left the socket, so that
 * counts too; one that took nothing more is cut short (the client sees
 * the end of the stream, so the log says it was incomplete). Returns true
 * when the client is gone. */
static bool expire(struct lbfo_ctl_server *s, struct client *c, uint64_t now)
{
	char d[32];

	dur_text(s->cfg.deadline_ns, d, sizeof(d));
	if (c->reply) {
		size_t t = taken(c);

		if (t > c->taken) {
			c->taken = t;
			c->deadline_ns = now + s->cfg.deadline_ns;
			return false;
		}
		s->st.cut_off++;
		say(s, LOG_WARNING, "control client cut off: it took %zu of its reply's %zu "
		    "bytes and then nothing for %s; what it got is incomplete", t,
		    c->reply_len, d);
	} else {
		char late[96];
		int n = snprintf(late, sizeof(late), "error: no complete request within %s\n", d);

		s->st.timed_out++;
		send(c->fd, late, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	client_free(s, c);
	return true;
}

/* ---- listener ---------------------------------------------------------------- */

static void take(struct lbfo_ctl_server *s, int fd, uint64_t now)
{
	static const char busy[] = "error: too many control clients\n";
	struct epoll_event ev = { .events = EPOLLIN };
	struct client *c;
	unsigned i;

	for (i = 0; i < s->cfg.max_clients && s->client[i]; i++)
		;
	if (i == s->cfg.max_clients) {
		/* Full: say so if the socket takes it at once, and close; the
		 * client's request, sent or not, is not read. */
		s->st.busy++;
		send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->req = malloc(s->cfg.max_request + 1);
	ev.data.ptr = c;
	if (!c || !c->req || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		if (c)
			free(c->req);
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->slot = i;
	c->deadline_ns = now + s->cfg.deadline_ns;
	s->client[i] = c;
	s->nclients++;
	s->st.accepted++;
}

static void accept_all(struct lbfo_ctl_server *s, uint64_t now)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd >= 0) {
			take(s, fd, now);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if ((errno == EMFILE || errno == ENFILE) &&
		    epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL) == 0) {
			/* Out of descriptors: the waiting client would make
			 * level-triggered epoll report the socket for ever. */
			s->paused = true;
			s->resume_ns = now + ACCEPT_PAUSE_NS;
			say(s, LOG_WARNING, "control socket: accept: %s; paused for %llu ms",
			    strerror(errno), (unsigned long long)(ACCEPT_PAUSE_NS / NS_PER_MS));
		}
		return;
	}
}

int lbfo_ctl_server_service(struct lbfo_ctl_server *s, uint64_t now)
{
	struct epoll_event evs[32];
	int n = epoll_wait(s->ep, evs, 32, 0), i;
	unsigned k;

	for (i = 0; i < n; i++) {
		if (evs[i].data.ptr)
			client_io(s, evs[i].data.ptr, now);
		else
			accept_all(s, now);
	}
	if (s->paused && now >= s->resume_ns) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev) == 0)
			s->paused = false;
		else
			s->resume_ns = now + ACCEPT_PAUSE_NS;
	}
	for (k = 0; k < s->cfg.max_clients; k++)
		if (s->client[k] && now >= s->client[k]->deadline_ns)
			expire(s, s->client[k], now);
	return n < 0 ? 0 : n;
}

uint64_t lbfo_ctl_server_next_deadline(const struct lbfo_ctl_server *s)
{
	uint64_t d = s->paused ? s->resume_ns : UINT64_MAX;
	unsigned k;

	for (k = 0; k < s->cfg.max_clients; k++)
		if (s->client[k] && s->client[k]->deadline_ns < d)
			d = s->client[k]->deadline_ns;
	return d;
}

/* ---- set-up ------------------------------------------------------------------ */

static int check_table(const struct lbfo_ctl_config *c, char *err, size_t errlen)
{
	size_t i;

	if (!c->cmds || !c->run) {
		snprintf(err, errlen, "control server: no command table");
		return -1;
	}
	for (i = 0; i < c->ncmds; i++)
		if (!c->cmds[i].name || !c->cmds[i].args || !c->cmds[i].help || !c->run[i]) {
			snprintf(err, errlen, "control server: command %zu ('%s') has no %s", i,
				 c->cmds[i].name ? c->cmds[i].name : "?",
				 c->run[i] ? "description" : "handler");
			return -1;
		}
	return 0;
}

static int open_listener(struct lbfo_ctl_server *s, char *err, size_t errlen)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (s->cfg.listen_fd >= 0) {
		s->lfd = s->cfg.listen_fd;
	} else {
		s->lfd = lbfo_unix_listen(s->cfg.path, 16, err, errlen);
		if (s->lfd < 0)
			return -1;
		snprintf(s->path, sizeof(s->path), "%s", s->cfg.path);
	}
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
		snprintf(err, errlen, "control socket: epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

struct lbfo_ctl_server *lbfo_ctl_server_new(const struct lbfo_ctl_config *cfg, char *err,
					    size_t errlen)
{
	struct lbfo_ctl_server *s;

	if (check_table(cfg, err, errlen) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->cfg = *cfg;
	s->lfd = -1;
	if (!s->cfg.max_clients)
		s->cfg.max_clients = DEF_CLIENTS;
	if (!s->cfg.max_request)
		s->cfg.max_request = DEF_REQUEST;
	if (!s->cfg.deadline_ns)
		s->cfg.deadline_ns = DEF_DEADLINE;
	s->client = calloc(s->cfg.max_clients, sizeof(*s->client));
	if (!s->client)
		goto nomem;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0) {
		snprintf(err, errlen, "control server: epoll: %s", strerror(errno));
		free(s->client);
		free(s);
		return NULL;
	}
	if (open_listener(s, err, errlen) < 0) {
		lbfo_ctl_server_free(s);
		return NULL;
	}
	return s;
nomem:
	free(s);
	snprintf(err, errlen, "control server: out of memory");
	return NULL;
}

void lbfo_ctl_server_free(struct lbfo_ctl_server *s)
{
	unsigned k;

	if (!s)
		return;
	for (k = 0; k < s->cfg.max_clients; k++)
		if (s->client[k])
			client_free(s, s->client[k]);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->path[0])
		unlink(s->path);
	close(s->ep);
	free(s->client);
	free(s);
}

int lbfo_ctl_server_fd(const struct lbfo_ctl_server *s)
{
	return s->ep;
}

unsigned lbfo_ctl_server_clients(const struct lbfo_ctl_server *s)
{
	return s->nclients;
}

const struct lbfo_ctl_stats *lbfo_ctl_server_stats(const struct lbfo_ctl_server *s)
{
	return &s->st;
}

int lbfo_ctl_json_arg(int argc, char **argv, char *err, size_t errlen)
{
	if (argc == 1)
		return 0;
	if (!strcmp(argv[1], "json"))
		return 1;
	snprintf(err, errlen, "%s: unknown argument '%s' (expected json)", argv[0], argv[1]);
	return -1;
}

int lbfo_ctl_events(const struct lbfo_events *ev, int argc, char **argv, FILE *out,
		    char *err, size_t errlen)
{
	int json = lbfo_ctl_json_arg(argc, argv, err, errlen);

	if (json < 0)
		return -1;
	if (json)
		lbfo_events_json(ev, out);
	else
		lbfo_events_text(ev, out);
	return 0;
}
