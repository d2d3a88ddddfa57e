/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control server over a real UNIX socket, driven the way a daemon's
 * loop drives it (service + next_deadline, time passed in), with the test
 * as the client on the same thread: requests and replies, the command
 * table, a slow reader, a reader that stops, a silent client, too many
 * clients, an oversized request, a reply larger than the socket buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "ctlserver.h"
#include "lbfo/lu.h"

#define SEC 1000000000ull
#define DEADLINE (5 * SEC)

static char sock_path[108];
static char logged[512];
static int nlogged;

/* ---- the daemon under test ----------------------------------------------- */

enum { C_ECHO, C_BIG, C_FAIL, C_PATH_FAIL, C_PATH_RESTORE, C__MAX };

static const struct lbfo_ctl_desc cmds[C__MAX] = {
	[C_ECHO] = { "echo", "[WORD ..]", "say the words back" },
	[C_BIG] = { "big", "BYTES", "a reply of BYTES bytes" },
	[C_FAIL] = { "fail", "", "always refused" },
	[C_PATH_FAIL] = { "path fail", "NAME", "take NAME out" },
	[C_PATH_RESTORE] = { "path restore", "NAME", "put NAME back" },
};

static int run_echo(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	int i;

	(void)app, (void)err, (void)errlen;
	for (i = 0; i < argc; i++)
		fprintf(out, "%s%s", i ? "|" : "", argv[i]);
	fputc('\n', out);
	return 0;
}

/* A recognisable pattern: byte i is 'a' + i % 23. */
static int run_big(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	long n = atol(argv[1]), i;

	(void)app, (void)argc, (void)err, (void)errlen;
	for (i = 0; i < n; i++)
		fputc('a' + (int)(i % 23), out);
	return 0;
}

static int run_fail(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	(void)app, (void)argc, (void)argv;
	fputs("half a body that must not be sent", out);
	snprintf(err, errlen, "nope\nsecond line");
	return -1;
}

static const lbfo_ctl_run_fn runs[C__MAX] = {
	[C_ECHO] = run_echo, [C_BIG] = run_big, [C_FAIL] = run_fail,
	[C_PATH_FAIL] = run_echo, [C_PATH_RESTORE] = run_echo,
};

static void log_cb(void *app, int level, const char *msg)
{
	(void)app;
	assert_int_equal(level, LOG_WARNING);
	snprintf(logged, sizeof(logged), "%s", msg);
	nlogged++;
}

static struct lbfo_ctl_server *server(unsigned max_clients)
{
	struct lbfo_ctl_config cfg = {
		.path = sock_path, .listen_fd = -1, .cmds = cmds, .run = runs, .ncmds = C__MAX,
		.log = log_cb, .max_clients = max_clients, .deadline_ns = DEADLINE,
	};
	struct lbfo_ctl_server *s;
	char err[256];
	static int seq; /* a socket per test: one that fails leaves its own behind */

	snprintf(sock_path, sizeof(sock_path), "/tmp/lbfo-ctltest-%d-%d.sock", (int)getpid(), ++seq);
	logged[0] = '\0';
	nlogged = 0;
	s = lbfo_ctl_server_new(&cfg, err, sizeof(err));
	if (!s)
		fail_msg("%s", err);
	return s;
}

/* ---- the client ------------------------------------------------------------ */

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

struct got {
	char *buf;
	size_t len, cap;
	bool eof;
};

/* Read what is there (at most max bytes). */
static void take(int fd, struct got *g, size_t max)
{
	while (max > 0 && !g->eof) {
		ssize_t k;

		if (g->cap - g->len < 65537) {
			g->cap = g->cap ? 2 * g->cap : 131072;
			g->buf = realloc(g->buf, g->cap);
			assert_non_null(g->buf);
		}
		k = recv(fd, g->buf + g->len, max < 65536 ? max : 65536, 0);
		if (k < 0 && errno == EAGAIN)
			break;
		if (k <= 0) {
			g->eof = true;
			break;
		}
		g->len += (size_t)k;
		max -= (size_t)k;
		g->buf[g->len] = '\0';
	}
}

/* Send req, drive the server at `now` and read until the server closes. */
static char *ask_at(struct lbfo_ctl_server *s, const char *req, size_t len, uint64_t now)
{
	struct got g = { 0 };
	int fd = client(), i;

	assert_int_equal(send(fd, req, len, 0), (ssize_t)len);
	for (i = 0; i < 10000 && !g.eof; i++) {
		lbfo_ctl_server_service(s, now);
		take(fd, &g, SIZE_MAX);
	}
	assert_true(g.eof);
	close(fd);
	if (!g.buf)
		g.buf = calloc(1, 1);
	return g.buf;
}

static char *ask(struct lbfo_ctl_server *s, const char *req)
{
	return ask_at(s, req, strlen(req), 1 * SEC);
}

static void expect(struct lbfo_ctl_server *s, const char *req, const char *want)
{
	char *got = ask(s, req);

	assert_string_equal(got, want);
	free(got);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_requests(void **state)
{
	struct lbfo_ctl_server *s = server(0);
	char *got;

	(void)state;
	expect(s, "echo a  b\tc\r\n", "ok\necho|a|b|c\n");
	expect(s, "echo\n", "ok\necho\n");
	expect(s, "path fail p1\n", "ok\npath fail|p1\n");
	expect(s, "path restore p1\n", "ok\npath restore|p1\n");
	expect(s, "path drain p1\n", "error: unknown request 'path drain' (try 'help')\n");
	expect(s, "frob x\n", "error: unknown request 'frob' (try 'help')\n");
	expect(s, "path fail\n", "error: usage: path fail NAME\n");
	expect(s, "path fail a b\n", "error: usage: path fail NAME\n");
	expect(s, "fail\n", "error: nope second line\n");
	expect(s, "  \n", "error: empty request (try 'help')\n");
	got = ask_at(s, "ab\0c\n", 5, SEC);
	assert_string_equal(got, "error: request contains a NUL byte\n");
	free(got);
	expect(s, "help\n", "ok\n"
	       "echo [WORD ..]     say the words back\n"
	       "big BYTES          a reply of BYTES bytes\n"
	       "fail               always refused\n"
	       "path fail NAME     take NAME out\n"
	       "path restore NAME  put NAME back\n"
	       "help               this list\n");
	assert_int_equal(lbfo_ctl_server_stats(s)->requests, 12);
	assert_int_equal(lbfo_ctl_server_stats(s)->errors, 7);
	assert_int_equal(lbfo_ctl_server_clients(s), 0);
	assert_int_equal(lbfo_ctl_server_next_deadline(s), UINT64_MAX);
	lbfo_ctl_server_free(s);
	assert_int_equal(access(sock_path, F_OK), -1); /* the socket file is gone */
}

/* A request in pieces; one half-closed before its newline; one too long. */
static void test_wire(void **state)
{
	struct lbfo_ctl_server *s = server(0);
	struct got g = { 0 };
	char *big, *got;
	int fd = client();

	(void)state;
	assert_int_equal(send(fd, "ec", 2, 0), 2);
	lbfo_ctl_server_service(s, SEC);
	assert_int_equal(send(fd, "ho x\n", 5, 0), 5);
	while (!g.eof) {
		lbfo_ctl_server_service(s, SEC);
		take(fd, &g, SIZE_MAX);
	}
	assert_string_equal(g.buf, "ok\necho|x\n");
	free(g.buf);
	close(fd);

	fd = client();
	memset(&g, 0, sizeof(g));
	assert_int_equal(send(fd, "echo", 4, 0), 4);
	shutdown(fd, SHUT_WR);
	while (!g.eof) {
		lbfo_ctl_server_service(s, SEC);
		take(fd, &g, SIZE_MAX);
	}
	assert_string_equal(g.buf, "error: incomplete request (one line, ending in a newline)\n");
	free(g.buf);
	close(fd);

	big = malloc(5000);
	memset(big, 'x', 5000);
	got = ask_at(s, big, 5000, SEC);
	assert_string_equal(got, "error: request too long\n");
	free(got);
	free(big);
	lbfo_ctl_server_free(s);
}

/* A reply of 4 MiB, far more than the socket holds, arrives whole. */
static void test_big_reply(void **state)
{
	struct lbfo_ctl_server *s = server(0);
	char *got = ask(s, "big 4194304\n");
	size_t i;

	(void)state;
	assert_memory_equal(got, "ok\n", 3);
	assert_int_equal(strlen(got), 3 + 4194304);
	for (i = 0; i < 4194304; i += 4099)
		assert_int_equal(got[3 + i], 'a' + (int)(i % 23));
	free(got);
	lbfo_ctl_server_free(s);
}

/* A reader slower than the deadline in total, but taking some of its
 * reply within every deadline, gets all of it (4 MiB at 64 KiB per half
 * deadline: 320 s), also while the socket is too full to take more. */
static void test_slow_reader(void **state)
{
	struct lbfo_ctl_server *s = server(0);
	struct got g = { 0 };
	uint64_t now = SEC;
	int fd = client(), i;

	(void)state;
	assert_int_equal(send(fd, "big 4194304\n", 12, 0), 12);
	for (i = 0; i < 100000 && !g.eof; i++) {
		lbfo_ctl_server_service(s, now);
		take(fd, &g, 65536);
		now += DEADLINE / 2;
	}
	assert_true(g.eof);
	assert_int_equal(g.len, 3 + 4194304);
	assert_int_equal(nlogged, 0);
	free(g.buf);
	close(fd);
	lbfo_ctl_server_free(s);
}

/* A reader that stops is cut off after the deadline, and the log says how
 * much it took (at most what it read; short by no more than a socket
 * buffer's 36 KiB); it can still read what was sent, and no more. */
static void test_reader_stops(void **state)
{
	struct lbfo_ctl_server *s = server(0);
	struct got g = { 0 };
	unsigned long took, total;
	int fd = client(), i;

	(void)state;
	assert_int_equal(send(fd, "big 3000000\n", 12, 0), 12);
	for (i = 0; i < 10; i++) {
		lbfo_ctl_server_service(s, SEC);
		take(fd, &g, 4096);
	}
	/* It took some within the deadline: it gets another. */
	assert_int_equal(lbfo_ctl_server_next_deadline(s), SEC + DEADLINE);
	lbfo_ctl_server_service(s, SEC + DEADLINE);
	assert_int_equal(lbfo_ctl_server_clients(s), 1);
	assert_int_equal(lbfo_ctl_server_next_deadline(s), SEC + 2 * DEADLINE);
	lbfo_ctl_server_service(s, SEC + 2 * DEADLINE - 1);
	assert_int_equal(lbfo_ctl_server_clients(s), 1);
	/* Then nothing: cut off. */
	lbfo_ctl_server_service(s, SEC + 2 * DEADLINE);
	assert_int_equal(lbfo_ctl_server_clients(s), 0);
	assert_int_equal(nlogged, 1);
	assert_int_equal(sscanf(logged, "control client cut off: it took %lu of its reply's %lu "
				"bytes", &took, &total), 2);
	assert_int_equal(total, 3000003);
	assert_true(took <= g.len && g.len - took < 40000);
	assert_non_null(strstr(logged, "and then nothing for 5 s; what it got is incomplete"));
	assert_int_equal(lbfo_ctl_server_stats(s)->cut_off, 1);
	take(fd, &g, SIZE_MAX);
	assert_true(g.eof);
	assert_true(g.len > took && g.len < total);
	free(g.buf);
	close(fd);
	lbfo_ctl_server_free(s);
}

/* A silent client is told and closed at its deadline; its slot is free. */
static void test_silent_client(void **state)
{
	struct lbfo_ctl_server *s = server(0);
	struct got g = { 0 };
	int fd = client();

	(void)state;
	lbfo_ctl_server_service(s, SEC);
	assert_int_equal(lbfo_ctl_server_clients(s), 1);
	assert_int_equal(lbfo_ctl_server_next_deadline(s), SEC + DEADLINE);
	lbfo_ctl_server_service(s, SEC + DEADLINE / 2);
	take(fd, &g, SIZE_MAX);
	assert_int_equal(g.len, 0);
	lbfo_ctl_server_service(s, SEC + DEADLINE);
	assert_int_equal(lbfo_ctl_server_clients(s), 0);
	take(fd, &g, SIZE_MAX);
	assert_true(g.eof);
	assert_string_equal(g.buf, "error: no complete request within 5 s\n");
	assert_int_equal(lbfo_ctl_server_stats(s)->timed_out, 1);
	assert_int_equal(lbfo_ctl_server_next_deadline(s), UINT64_MAX);
	free(g.buf);
	close(fd);
	lbfo_ctl_server_free(s);
}

/* Three slots held by silent clients: a fourth is told at once; after the
 * deadline the slots are free and a request is answered again. */
static void test_too_many(void **state)
{
	struct lbfo_ctl_server *s = server(3);
	struct got g = { 0 };
	int fd[4], i;
	char *got;

	(void)state;
	for (i = 0; i < 3; i++)
		fd[i] = client();
	lbfo_ctl_server_service(s, SEC);
	assert_int_equal(lbfo_ctl_server_clients(s), 3);
	fd[3] = client();
	lbfo_ctl_server_service(s, SEC);
	take(fd[3], &g, SIZE_MAX);
	assert_true(g.eof);
	assert_string_equal(g.buf, "error: too many control clients\n");
	assert_int_equal(lbfo_ctl_server_stats(s)->busy, 1);
	free(g.buf);
	lbfo_ctl_server_service(s, SEC + DEADLINE);
	assert_int_equal(lbfo_ctl_server_clients(s), 0);
	got = ask_at(s, "echo back\n", 10, SEC + DEADLINE);
	assert_string_equal(got, "ok\necho|back\n");
	free(got);
	for (i = 0; i < 4; i++)
		close(fd[i]);
	lbfo_ctl_server_free(s);
}

/* The one fd is pollable: readable when a client has something. */
static void test_pollable(void **state)
{
	struct lbfo_ctl_server *s = server(0);
	struct pollfd p = { .fd = lbfo_ctl_server_fd(s), .events = POLLIN };
	int fd;

	(void)state;
	assert_int_equal(poll(&p, 1, 0), 0);
	fd = client();
	assert_int_equal(poll(&p, 1, 1000), 1);
	lbfo_ctl_server_service(s, SEC);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(send(fd, "echo\n", 5, 0), 5);
	assert_int_equal(poll(&p, 1, 1000), 1);
	close(fd);
	lbfo_ctl_server_free(s);
}

static void test_table_checked(void **state)
{
	static const lbfo_ctl_run_fn partial[C__MAX] = { [C_ECHO] = run_echo };
	struct lbfo_ctl_config cfg = {
		.path = "/tmp/lbfo-ctltest-never.sock", .listen_fd = -1, .cmds = cmds,
		.run = partial, .ncmds = C__MAX,
	};
	char err[256];

	(void)state;
	assert_null(lbfo_ctl_server_new(&cfg, err, sizeof(err)));
	assert_string_equal(err, "control server: command 1 ('big') has no handler");
	assert_int_equal(access(cfg.path, F_OK), -1);
}

static void test_arity(void **state)
{
	size_t min, max;

	(void)state;
	lbfo_ctl_arity("", &min, &max);
	assert_true(min == 0 && max == 0);
	lbfo_ctl_arity("[json]", &min, &max);
	assert_true(min == 0 && max == 1);
	lbfo_ctl_arity("SERVICE NODE N", &min, &max);
	assert_true(min == 3 && max == 3);
	lbfo_ctl_arity("NAME [KEY=VALUE ..]", &min, &max);
	assert_true(min == 1 && max == SIZE_MAX);
	lbfo_ctl_arity("PATH=R[/W] ..", &min, &max);
	assert_true(min == 1 && max == SIZE_MAX);
	lbfo_ctl_arity("on|off", &min, &max);
	assert_true(min == 1 && max == 1);
	lbfo_ctl_arity("A [B [C]]", &min, &max);
	assert_true(min == 1 && max == 3);
}

/* Every table entry is complete, and the LU's default socket is the one
 * include/lbfo/lu.h names. */
static void test_tables(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < LBFO_LU_CMD__MAX; i++)
		assert_true(lbfo_lu_commands[i].name && lbfo_lu_commands[i].args &&
			    lbfo_lu_commands[i].help);
	for (i = 0; i < LBFO_RT_CMD__MAX; i++)
		assert_true(lbfo_router_commands[i].name && lbfo_router_commands[i].args &&
			    lbfo_router_commands[i].help);
	assert_string_equal(LBFO_CTL_LU_SOCKET, LBFO_DEFAULT_CONTROL);
	assert_non_null(lbfo_ctl_find(lbfo_lu_commands, LBFO_LU_CMD__MAX, "queueing"));
	assert_null(lbfo_ctl_find(lbfo_router_commands, LBFO_RT_CMD__MAX, "queueing"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_big_reply),
		cmocka_unit_test(test_slow_reader),
		cmocka_unit_test(test_reader_stops),
		cmocka_unit_test(test_silent_client),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_pollable),
		cmocka_unit_test(test_table_checked),
		cmocka_unit_test(test_arity),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
