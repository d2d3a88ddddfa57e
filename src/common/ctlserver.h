/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control server of both daemons: a UNIX socket that lbfoctl talks to,
 * served from the daemon's own event loop without ever blocking it.
 *
 * Protocol: a client connects and sends one request line (at most
 * max_request bytes with its newline); the reply is "ok\n" and a body, or
 * "error: MESSAGE\n"; then the server closes. `help` lists the requests
 * (generated from the command table).
 *
 * Loop contract (the same for any loop, like libiscsi's get_fd / service):
 *   lbfo_ctl_server_fd()            ONE pollable fd (an epoll fd over the
 *                                   listener and every client): readable
 *                                   when any of them is ready. Register it
 *                                   level-triggered (POLLIN / EPOLLIN).
 *   lbfo_ctl_server_service(s, now) handle whatever is ready, then the
 *                                   deadlines due at `now`.
 *   lbfo_ctl_server_next_deadline() the earliest deadline (CLOCK_MONOTONIC
 *                                   ns, as `now`), or UINT64_MAX: call
 *                                   service by then even if nothing is ready.
 * Time is passed in; the server has no thread and reads no clock.
 *
 * Per client: the request is gathered as it comes; the reply is built in
 * memory at once when the line is complete (the figures of one moment),
 * then sent as the client takes it. Deadlines: a client has deadline_ns
 * from its accept to send its whole request (a silent or trickling one is
 * told "no complete request within ..." and closed, freeing its slot),
 * then deadline_ns from each part of the reply it takes; one that stops
 * reading is cut off, and the log callback says how much it got (a reply
 * is never cut short silently). At most max_clients at once: a newcomer
 * beyond them is told "too many control clients" and closed. A request
 * longer than max_request, one with a NUL byte, or one closed before its
 * newline gets an error reply.
 *
 * Commands: each entry of the daemon's table (ctlcmds.h) is bound to a
 * handler; a request matches the entry with the longest name whose words
 * begin it, and the handler gets argv[0] = the entry's name and the words
 * after it, their number checked against the synopsis first. A handler
 * writes the body to `out` and returns 0, or writes one line to `err`
 * and returns -1 (whatever it wrote to `out` is then dropped).
 *
 * Threads: one thread drives a server; handlers run inside
 * lbfo_ctl_server_service(), on that thread, so they see the daemon's
 * state as the loop leaves it (a daemon whose state has a lock takes it
 * around the call). A handler that needs the time reads the loop's `now`
 * from its app (the router keeps it in struct router).
 */
#ifndef LBFO_CTLSERVER_H
#define LBFO_CTLSERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctlcmds.h"

typedef int (*lbfo_ctl_run_fn)(void *app, int argc, char **argv, FILE *out, char *err,
			       size_t errlen);

struct lbfo_ctl_config {
	const char *path;           /* socket to listen on (mode 0600), or NULL ... */
	int listen_fd;              /* ... a listening socket to adopt (-1: none) */
	const struct lbfo_ctl_desc *cmds; /* the daemon's table */
	const lbfo_ctl_run_fn *run; /* run[i] serves cmds[i]; every one set */
	size_t ncmds;
	void *app;                  /* handlers' and log's first argument */
	/* What the server reports (syslog level, one line): clients cut off,
	 * accept failures. NULL: nothing. */
	void (*log)(void *app, int level, const char *msg);
	unsigned max_clients;       /* 0: 8 */
	size_t max_request;         /* bytes with the newline; 0: 4096 */
	uint64_t deadline_ns;       /* per step; 0: 5 s */
};

struct lbfo_ctl_stats {
	uint64_t accepted;          /* clients served a slot */
	uint64_t requests;          /* complete requests handled */
	uint64_t errors;            /* error replies (bad requests, refusals) */
	uint64_t busy;              /* newcomers told "too many control clients" */
	uint64_t timed_out;         /* clients with no complete request in time */
	uint64_t cut_off;           /* clients that stopped taking their reply */
};

struct lbfo_ctl_server;

/* Listen (or adopt listen_fd) and check the table: every command has a
 * handler. Returns the server, or NULL with a message in err. */
struct lbfo_ctl_server *lbfo_ctl_server_new(const struct lbfo_ctl_config *cfg, char *err,
					    size_t errlen);
/* Close every client and the listener; remove the socket file it made. */
void lbfo_ctl_server_free(struct lbfo_ctl_server *s);

int lbfo_ctl_server_fd(const struct lbfo_ctl_server *s);
/* Returns how many readiness events it handled. */
int lbfo_ctl_server_service(struct lbfo_ctl_server *s, uint64_t now_ns);
uint64_t lbfo_ctl_server_next_deadline(const struct lbfo_ctl_server *s);

unsigned lbfo_ctl_server_clients(const struct lbfo_ctl_server *s);
const struct lbfo_ctl_stats *lbfo_ctl_server_stats(const struct lbfo_ctl_server *s);

/* The `help` body of a table: one line per request, synopsis and help. */
void lbfo_ctl_help(const struct lbfo_ctl_desc *cmds, size_t n, FILE *out);

/* How many arguments a synopsis takes: *max is SIZE_MAX when it repeats. */
void lbfo_ctl_arity(const char *args, size_t *min, size_t *max);

/* "[json]", the one optional argument of a request that shows something:
 * 1 for json, 0 for text, -1 with a message naming the request. */
int lbfo_ctl_json_arg(int argc, char **argv, char *err, size_t errlen);

/* The `events [json]` request of either daemon, over its event ring. */
struct lbfo_events;
int lbfo_ctl_events(const struct lbfo_events *ev, int argc, char **argv, FILE *out,
		    char *err, size_t errlen);

#endif
