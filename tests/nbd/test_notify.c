/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * src/nbd/notify.c, systemd's readiness protocol: a datagram socket of the
 * test's own (in a temporary directory, or in the abstract namespace)
 * stands in for systemd and must receive exactly what the plugin sends;
 * without NOTIFY_SOCKET nothing is sent; a bad address is an error.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "notify.h"

struct listener {
	char dir[32];
	char path[64];
	int fd;
};

/* A datagram socket at a path in a new temporary directory; receives
 * wait at most 2 s. */
static void listen_path(struct listener *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };

	snprintf(l->dir, sizeof(l->dir), "/tmp/lbfo-notify.XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->path, sizeof(l->path), "%s/notify", l->dir);
	memcpy(sa.sun_path, l->path, strlen(l->path) + 1);
	l->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

static void unlisten(struct listener *l)
{
	close(l->fd);
	if (l->dir[0]) {
		unlink(l->path);
		rmdir(l->dir);
	}
}

/* The next datagram, as a string; fails the test if none comes in 2 s. */
static void receive(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, 0);

	if (n < 0)
		fail_msg("no datagram: %s", strerror(errno));
	buf[n] = '\0';
}

static void nothing_waiting(int fd)
{
	char buf[64];

	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void test_path_socket(void **state)
{
	struct listener l;
	char buf[512];

	(void)state;
	listen_path(&l);
	assert_int_equal(setenv("NOTIFY_SOCKET", l.path, 1), 0);

	assert_int_equal(lbfo_sd_notify_ready(1, 1, 2, 2, 3000), 0);
	receive(l.fd, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1\nSTATUS=started with 1 of 1 LU ready, 2 of 2 paths up");

	/* One path did not answer discovery: ready on the other. */
	assert_int_equal(lbfo_sd_notify_ready(3, 3, 3, 6, 3000), 0);
	receive(l.fd, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1\nSTATUS=started with 3 of 3 LUs ready, 3 of 6 paths up; the "
				 "others did not answer at start-up and keep trying in the "
				 "background");

	/* Both answered discovery, neither logged in before the deadline. */
	assert_int_equal(lbfo_sd_notify_ready(0, 1, 0, 2, 3000), 0);
	receive(l.fd, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1\nSTATUS=started with 0 of 1 LU ready, 0 of 2 paths up: the "
				 "login deadline (3000 ms) passed first; the rest keep trying "
				 "in the background");

	assert_int_equal(lbfo_sd_notify("STOPPING=1"), 0);
	receive(l.fd, buf, sizeof(buf));
	assert_string_equal(buf, "STOPPING=1");
	nothing_waiting(l.fd);
	/* The variable stays for the messages that follow READY=1. */
	assert_string_equal(getenv("NOTIFY_SOCKET"), l.path);
	unsetenv("NOTIFY_SOCKET");
	unlisten(&l);
}

static void test_abstract_socket(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	struct listener l = { .fd = -1 };
	char name[64], env[80], buf[512];
	size_t n;

	(void)state;
	n = (size_t)snprintf(name, sizeof(name), "lbfo-test-notify-%ld", (long)getpid());
	memcpy(sa.sun_path + 1, name, n); /* sun_path[0] == '\0': abstract */
	l.fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(l.fd >= 0);
	assert_int_equal(bind(l.fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)), 0);
	assert_int_equal(setsockopt(l.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	snprintf(env, sizeof(env), "@%s", name);
	assert_int_equal(setenv("NOTIFY_SOCKET", env, 1), 0);

	assert_int_equal(lbfo_sd_notify("READY=1\nSTATUS=1 of 1 paths up"), 0);
	receive(l.fd, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1\nSTATUS=1 of 1 paths up");
	nothing_waiting(l.fd);

	/* A name one character longer is another socket: nobody there. */
	snprintf(env, sizeof(env), "@%sx", name);
	assert_int_equal(setenv("NOTIFY_SOCKET", env, 1), 0);
	errno = 0;
	assert_int_equal(lbfo_sd_notify("READY=1"), -1);
	assert_int_equal(errno, ECONNREFUSED);
	nothing_waiting(l.fd);
	unsetenv("NOTIFY_SOCKET");
	unlisten(&l);
}

/* Not started by systemd: nothing to do, and nothing is sent. */
static void test_unset_is_a_no_op(void **state)
{
	struct listener l;

	(void)state;
	listen_path(&l);
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(lbfo_sd_notify("READY=1"), 0);
	assert_int_equal(lbfo_sd_notify_ready(0, 1, 0, 1, 100), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(lbfo_sd_notify("READY=1"), 0);
	nothing_waiting(l.fd);
	unsetenv("NOTIFY_SOCKET");
	unlisten(&l);
}

static void test_errors(void **state)
{
	char dir[64], path[128], longname[200];

	(void)state;
	/* No socket at the path. */
	snprintf(dir, sizeof(dir), "/tmp/lbfo-notify.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
	errno = 0;
	assert_int_equal(lbfo_sd_notify("READY=1"), -1);
	assert_int_equal(errno, ENOENT);
	rmdir(dir);

	/* Neither a path nor '@', a bare '@', and a name too long. */
	assert_int_equal(setenv("NOTIFY_SOCKET", "run/systemd/notify", 1), 0);
	errno = 0;
	assert_int_equal(lbfo_sd_notify("READY=1"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(setenv("NOTIFY_SOCKET", "@", 1), 0);
	errno = 0;
	assert_int_equal(lbfo_sd_notify("READY=1"), -1);
	assert_int_equal(errno, EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", longname, 1), 0);
	errno = 0;
	assert_int_equal(lbfo_sd_notify("READY=1"), -1);
	assert_int_equal(errno, EINVAL);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_unset_is_a_no_op),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
