/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lbfoctl's side of the control protocol (src/common/ctlserver.h): one
 * request line, the whole reply. */
#ifndef LBFO_CTL_CLIENT_H
#define LBFO_CTL_CLIENT_H

/* Send req to the instance at sock, read the whole reply. Returns 0 ok
 * (body in *out), 1 error reply (message in *out), 3 no instance or no
 * reply (said on stderr, *out NULL). *out is the caller's to free. */
int ctl_request(const char *sock, const char *req, char **out);

/* The "outstanding" of path `name` in a storage LU's status JSON
 * ({"lus":[{"paths":[{"name":..,"outstanding":..}]}]}), or -1 when the
 * document does not parse or has no such path. */
long ctl_path_outstanding(const char *json, const char *name);

/* Kinds of instance, as its help says. */
enum ctl_kind { CTL_KIND_UNKNOWN, CTL_KIND_LU, CTL_KIND_ROUTER };
/* From the body of a `help` reply: an LU's lists "policy set", the
 * router's "nodes" (also the help of instances older than the tables). */
enum ctl_kind ctl_kind_of_help(const char *help);

#endif
