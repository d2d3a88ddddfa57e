/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <json-c/json.h>

#include "client.h"

static int connect_to(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "lbfoctl: socket path too long: %s\n", sock);
		return -1;
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "lbfoctl: no lbfo instance at %s: %s\n", sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The request line. Returns 0, or the errno of a failed send: EPIPE and
 * ECONNRESET may come with an answer still there to read (the instance
 * said "too many control clients" and closed before reading). */
static int send_line(int fd, const char *req)
{
	size_t n = strlen(req);
	char *line = malloc(n + 2);
	int rc = 0;

	if (!line)
		return ENOMEM;
	memcpy(line, req, n);
	line[n] = '\n';
	if (send(fd, line, n + 1, MSG_NOSIGNAL) != (ssize_t)(n + 1))
		rc = errno ? errno : EIO;
	free(line);
	return rc;
}

/* Everything until the instance closes (10 s at most between pieces).
 * Returns the bytes read (NUL-terminated in *buf), or -1. */
static long read_all(int fd, const char *sock, char **buf)
{
	size_t len = 0, cap = 0;

	*buf = NULL;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 10000) <= 0) {
			fprintf(stderr, "lbfoctl: %s: no reply within 10 s\n", sock);
			free(*buf);
			*buf = NULL;
			return -1;
		}
		if (len + 4096 + 1 > cap) {
			char *b = realloc(*buf, cap = cap ? cap * 2 : 16384);

			if (!b) {
				free(*buf);
				*buf = NULL;
				return -1;
			}
			*buf = b;
		}
		r = read(fd, *buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (*buf)
		(*buf)[len] = '\0';
	return (long)len;
}

int ctl_request(const char *sock, const char *req, char **out)
{
	int fd = connect_to(sock), send_err;
	long len;
	char *buf;

	*out = NULL;
	if (fd < 0)
		return 3;
	send_err = send_line(fd, req);
	if (send_err && send_err != EPIPE && send_err != ECONNRESET) {
		fprintf(stderr, "lbfoctl: %s: %s\n", sock, strerror(send_err));
		close(fd);
		return 3;
	}
	len = read_all(fd, sock, &buf);
	close(fd);
	if (len <= 0) {
		if (len == 0)
			fprintf(stderr, "lbfoctl: %s: %s\n", sock,
				send_err ? strerror(send_err) : "empty reply");
		free(buf);
		return 3;
	}
	if (!strncmp(buf, "ok\n", 3) || !strncmp(buf, "error: ", 7)) {
		size_t skip = buf[0] == 'o' ? 3 : 7;

		memmove(buf, buf + skip, (size_t)len - skip + 1);
		*out = buf;
		return skip == 3 ? 0 : 1;
	}
	fprintf(stderr, "lbfoctl: %s: unexpected reply\n", sock);
	free(buf);
	return 3;
}

static long outstanding_in(json_object *paths, const char *name)
{
	size_t i, n = json_object_is_type(paths, json_type_array) ?
		json_object_array_length(paths) : 0;

	for (i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(paths, i), *v;

		if (!json_object_object_get_ex(p, "name", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    strcmp(json_object_get_string(v), name))
			continue;
		if (!json_object_object_get_ex(p, "outstanding", &v) ||
		    !json_object_is_type(v, json_type_int))
			return -1;
		return (long)json_object_get_int64(v);
	}
	return -1;
}

long ctl_path_outstanding(const char *json, const char *name)
{
	json_object *doc = json_tokener_parse(json), *lus;
	long n = -1;
	size_t i, k;

	if (!doc)
		return -1;
	if (json_object_object_get_ex(doc, "lus", &lus) &&
	    json_object_is_type(lus, json_type_array)) {
		k = json_object_array_length(lus);
		for (i = 0; i < k && n < 0; i++) {
			json_object *paths;

			if (json_object_object_get_ex(json_object_array_get_idx(lus, i), "paths",
						      &paths))
				n = outstanding_in(paths, name);
		}
	}
	json_object_put(doc);
	return n;
}

/* Does a line of the help begin with the word w (then a space or its end)? */
static int lists(const char *help, const char *w)
{
	size_t n = strlen(w);
	const char *p = help;

	while (p && *p) {
		if (!strncmp(p, w, n) && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

enum ctl_kind ctl_kind_of_help(const char *help)
{
	if (lists(help, "nodes"))
		return CTL_KIND_ROUTER;
	if (lists(help, "policy set") || lists(help, "status") || lists(help, "shares set"))
		return CTL_KIND_LU;
	return CTL_KIND_UNKNOWN;
}
