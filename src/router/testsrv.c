/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-testsrv: a small backend for the router's tests and benchmark.
 * One thread per connection, blocking I/O. Two ways to talk to it:
 *
 *   HTTP/1.1 (a request starting "GET "), keep-alive:
 *     GET /node  -> the server's name (and in header X-Node)
 *     GET /big   -> --big bytes of a fixed pattern
 *     GET /...   -> --size bytes (default 1024)
 *   anything else: "store and echo" — the server reads until the client
 *     shuts down its write side (EOF), then sends back every byte it got
 *     and closes. So a reply exists only if the EOF came through: the
 *     half-close test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTEN 8
#define ECHO_MAX (512u << 20)

static const char *name = "node";
static size_t body_size = 1024, big_size = 256u << 20;
static char *pattern; /* 1 MiB */
#define PATTERN_LEN (1u << 20)

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_body(int fd, size_t len)
{
	while (len) {
		size_t k = len < PATTERN_LEN ? len : PATTERN_LEN;

		if (write_all(fd, pattern, k) < 0)
			return -1;
		len -= k;
	}
	return 0;
}

static void serve_http(int fd, char *buf, size_t cap, size_t have)
{
	for (;;) {
		char *end, hdr[256];
		size_t used, len;
		bool close_after;
		int hl;

		buf[have] = '\0';
		while (!(end = strstr(buf, "\r\n\r\n"))) {
			ssize_t n;

			if (have >= cap - 1)
				return;
			n = recv(fd, buf + have, cap - 1 - have, 0);
			if (n <= 0)
				return;
			have += (size_t)n;
			buf[have] = '\0';
		}
		used = (size_t)(end - buf) + 4;
		*end = '\0';
		close_after = strcasestr(buf, "connection: close") != NULL;
		if (!strncmp(buf, "GET /node", 9)) {
			len = strlen(name);
			hl = snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
				      "X-Node: %s\r\n%s\r\n%s", len, name,
				      close_after ? "Connection: close\r\n" : "", name);
			if (write_all(fd, hdr, (size_t)hl) < 0)
				return;
		} else {
			len = !strncmp(buf, "GET /big", 8) ? big_size : body_size;
			hl = snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
				      "X-Node: %s\r\n%s\r\n", len, name,
				      close_after ? "Connection: close\r\n" : "");
			if (len <= 16384) {
				/* One write for small replies: header and body together. */
				char one[256 + 16384];

				memcpy(one, hdr, (size_t)hl);
				memcpy(one + hl, pattern, len);
				if (write_all(fd, one, (size_t)hl + len) < 0)
					return;
			} else if (write_all(fd, hdr, (size_t)hl) < 0 || send_body(fd, len) < 0) {
				return;
			}
		}
		if (close_after)
			return;
		memmove(buf, buf + used, have - used);
		have -= used;
	}
}

static void serve_echo(int fd, char *first, size_t have)
{
	size_t cap = 1u << 20;
	char *buf = malloc(cap);

	if (!buf)
		return;
	memcpy(buf, first, have);
	for (;;) {
		ssize_t n;

		if (have == cap) {
			char *nb;

			if (cap >= ECHO_MAX)
				goto out;
			nb = realloc(buf, cap * 2);
			if (!nb)
				goto out;
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + have, cap - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (write_all(fd, buf, have) == 0)
		shutdown(fd, SHUT_WR);
out:
	free(buf);
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	char buf[65536];
	size_t have = 0;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (have < 4) {
		ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (have >= 4 && !memcmp(buf, "GET ", 4))
		serve_http(fd, buf, sizeof(buf), have);
	else
		serve_echo(fd, buf, have);
	close(fd);
	return NULL;
}

static void *listen_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		pthread_t t;
		pthread_attr_t at;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			return NULL;
		}
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 256 * 1024);
		if (pthread_create(&t, &at, conn_main, (void *)(intptr_t)fd) != 0)
			close(fd);
		pthread_attr_destroy(&at);
	}
}

static int open_listen(const char *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(s, ':');
	int fd, one = 1;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "big", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	int lfd[MAX_LISTEN], nl = 0, c, i;
	pthread_t t;

	while ((c = getopt_long(argc, argv, "l:n:s:b:", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (nl >= MAX_LISTEN)
				return 2;
			lfd[nl] = open_listen(optarg);
			if (lfd[nl] < 0) {
				fprintf(stderr, "lbfo-testsrv: cannot listen on %s: %s\n", optarg,
					strerror(errno));
				return 1;
			}
			nl++;
			break;
		case 'n': name = optarg; break;
		case 's': body_size = strtoul(optarg, NULL, 10); break;
		case 'b': big_size = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: lbfo-testsrv --listen IP:PORT [--listen ...] "
				"[--name N] [--size BYTES] [--big BYTES]\n");
			return 2;
		}
	}
	if (!nl || body_size > 16384) {
		fprintf(stderr, "lbfo-testsrv: need --listen (and --size <= 16384)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	pattern = malloc(PATTERN_LEN);
	if (!pattern)
		return 1;
	for (i = 0; i < (int)PATTERN_LEN; i++)
		pattern[i] = (char)('a' + i % 26);
	for (i = 1; i < nl; i++)
		pthread_create(&t, NULL, listen_main, (void *)(intptr_t)lfd[i]);
	listen_main((void *)(intptr_t)lfd[0]);
	return 0;
}
