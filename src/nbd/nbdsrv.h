/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-nbd's NBD server: the host's LUs served as NBD exports on the
 * host's own loop.
 *
 * A connection's handshake runs on a thread of its own (blocking, under a
 * deadline; nbdhand.c), the same thread that later closes it. Once the
 * client chose an export (NBD_OPT_GO or NBD_OPT_EXPORT_NAME) the
 * connection is handed to the host's loop (nbdconn.c, a guest of the
 * host: lbfo_host_set_guest): its requests are read, submitted to the
 * LU, answered and written on that one thread, in batches, so a request
 * never changes threads and costs no wake-up of its own — what the nbdkit
 * plugin's hand-off between nbdkit's workers and the loop cost (issue 13).
 */
#ifndef LBFO_NBD_SRV_H
#define LBFO_NBD_SRV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lbfo/host.h"
#include "nbdproto.h"

struct nbd_conn;

struct nbd_server {
	struct lbfo_host *host;
	bool readonly;
	int epfd;                    /* the connections' epoll set: the host's guest fd */
	int evfd;                    /* in epfd: a connection handed over, or stop */
	pthread_mutex_t mu;          /* adopt, nconns, stopping */
	pthread_cond_t cv;           /* nconns fell */
	struct nbd_conn *adopt;      /* handed over, not yet on the loop */
	int nconns;                  /* connection threads alive */
	bool stopping;               /* no more requests are read */
	/* the loop thread's alone */
	struct nbd_conn *conns;      /* on the loop */
	struct nbd_conn *dirty;      /* with replies to write */
	bool again;                  /* requests submitted after the LUs' service */
};

struct nbd_req;

struct nbd_conn {
	struct nbd_server *srv;
	int fd;
	char peer[96];               /* for the log: "unix socket" or ADDR:PORT */
	char export[256];
	struct lbfo_lu *lu;
	int client;                  /* the LU's client context */
	uint64_t size;
	uint32_t min_block;
	bool structured, can_trim, flush_for_fua;
	/* the loop thread's alone, once handed over */
	uint8_t in[64 * 1024];       /* request headers and small payloads */
	uint32_t in_len;
	struct nbd_req *reading;     /* a write whose payload is still arriving */
	uint32_t reading_got;
	uint64_t skip;               /* bytes of a refused write's payload to drop */
	struct nbd_req *skipping;    /* that write, answered once they are read */
	struct nbd_req *out_head, *out_tail; /* replies to write, in order */
	uint32_t out_off;            /* of the head reply, already written */
	int pending;                 /* requests read, not yet answered */
	uint64_t pending_bytes;      /* their data */
	bool eof, broken, disc, in_dirty;
	uint32_t events;             /* what epfd watches for now */
	struct nbd_conn *next, *next_dirty;
	/* the connection's thread sleeps until the loop is done with it */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

/* Create the server (not serving yet): 0, or -1 with err. */
int nbd_server_init(struct nbd_server *s, struct lbfo_host *h, bool readonly, char *err,
		    size_t errlen);
/* Serve an accepted connection: a detached thread of its own (handshake,
 * then the loop). 0, or -1 (fd closed). */
int nbd_server_accept(struct nbd_server *s, int fd, const char *peer);
/* Stop reading requests; answer what was read; wait at most timeout_ms
 * for every connection to end. Returns how many are left. */
int nbd_server_stop(struct nbd_server *s, uint32_t timeout_ms);
/* After the host no longer calls the guest. */
void nbd_server_fini(struct nbd_server *s);

/* nbdhand.c: the handshake on the connection's thread; 0 when the client
 * chose an export (c->lu open), -1 when it ended (the log says why when it
 * is an error). */
int nbd_handshake(struct nbd_conn *c);

/* nbdconn.c: the guest's hooks, and handing a connection over (any thread). */
void nbd_conn_service(void *arg, bool readable, uint64_t now);
void nbd_conn_flush(void *arg, uint64_t now);
void nbd_conn_hand_over(struct nbd_conn *c);

/* nbdlog.c: the server's log, through the sink the program gives (its
 * lbfo log function: stderr or syslog). */
void nbd_log_to(void (*fn)(int level, const char *msg, void *opaque));
void nbd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
