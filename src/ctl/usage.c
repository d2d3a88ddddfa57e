/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "ctlserver.h"
#include "usage.h"

#define COL 35   /* where the help text starts */
#define WIDTH 80 /* and where it wraps */

/* What lbfoctl itself adds to a request. */
static const struct {
	const char *name, *args, *help;
} own[] = {
	{ "watch", "[--interval S] [--count N]",
	  "status, refreshed (default every 1 s, until Ctrl-C)" },
	{ "path drain", "[--timeout S]",
	  "then lbfoctl waits (default 30 s) until none is in flight and prints 'drained'" },
};

static const struct lbfo_ctl_desc *find(const struct lbfo_ctl_desc *t, size_t n,
					const char *name)
{
	return lbfo_ctl_find(t, n, name);
}

static void verb_of(const char *name, struct ctl_verb *v)
{
	v->name = name;
	v->lu = find(lbfo_lu_commands, LBFO_LU_CMD__MAX, name);
	v->rt = find(lbfo_router_commands, LBFO_RT_CMD__MAX, name);
}

/* How many of words a name's words match (all of them), or 0. */
static int words_match(const char *name, char **w, int n)
{
	int k = 0;

	while (*name) {
		size_t len = strcspn(name, " ");

		if (k >= n || strlen(w[k]) != len || strncmp(w[k], name, len))
			return 0;
		k++;
		name += len;
		name += strspn(name, " ");
	}
	return k;
}

static void best_in(const struct lbfo_ctl_desc *t, size_t nt, char **words, int n,
		    const char **best, int *used)
{
	size_t i;

	for (i = 0; i < nt; i++) {
		int k = words_match(t[i].name, words, n);

		if (k > *used) {
			*used = k;
			*best = t[i].name;
		}
	}
}

bool ctl_verb_find(char **words, int n, struct ctl_verb *v, int *used)
{
	const char *best = NULL;

	*used = 0;
	best_in(lbfo_lu_commands, LBFO_LU_CMD__MAX, words, n, &best, used);
	best_in(lbfo_router_commands, LBFO_RT_CMD__MAX, words, n, &best, used);
	if (!best)
		return false;
	verb_of(best, v);
	return true;
}

static void add_next(const struct lbfo_ctl_desc *t, size_t nt, const char *first, char **seen,
		     int *n)
{
	size_t i, fl = strlen(first);
	int k;

	for (i = 0; i < nt; i++) {
		if (strncmp(t[i].name, first, fl) || t[i].name[fl] != ' ')
			continue;
		for (k = 0; k < *n && strcmp(seen[k], t[i].name + fl + 1); k++)
			;
		if (k == *n && *n < 8)
			seen[(*n)++] = (char *)t[i].name + fl + 1;
	}
}

void ctl_verb_next_words(const char *first, char *buf, size_t len)
{
	char *seen[8];
	size_t off = 0;
	int n = 0, k;

	add_next(lbfo_lu_commands, LBFO_LU_CMD__MAX, first, seen, &n);
	add_next(lbfo_router_commands, LBFO_RT_CMD__MAX, first, seen, &n);
	buf[0] = '\0';
	for (k = 0; k < n && off < len; k++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", k == 0 ? "" :
					k + 1 < n ? ", " : " or ", seen[k]);
}

static bool arity_ok(const struct lbfo_ctl_desc *d, int n)
{
	size_t min, max;

	if (!d)
		return false;
	lbfo_ctl_arity(d->args, &min, &max);
	return (size_t)n >= min && (size_t)n <= max;
}

bool ctl_verb_arity_ok(const struct ctl_verb *v, int n)
{
	return arity_ok(v->lu, n) || arity_ok(v->rt, n);
}

bool ctl_verb_json(const struct ctl_verb *v)
{
	return (v->lu && strstr(v->lu->args, "[json]")) || (v->rt && strstr(v->rt->args, "[json]"));
}

void ctl_verb_synopsis(const struct ctl_verb *v, char *buf, size_t len)
{
	const char *args = v->lu ? v->lu->args : v->rt ? v->rt->args : "";
	const char *j = strstr(args, "[json]");
	size_t i;

	if (j)
		snprintf(buf, len, "%s %.*s[--json]%s", v->name, (int)(j - args), args, j + 6);
	else
		snprintf(buf, len, "%s%s%s", v->name, args[0] ? " " : "", args);
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (!strcmp(own[i].name, v->name))
			snprintf(buf + strlen(buf), len - strlen(buf), " %s", own[i].args);
}

/* Does a verb of the other kind begin with the first n characters? */
static bool other_starts(const struct ctl_verb *v, size_t n)
{
	const struct lbfo_ctl_desc *t = v->lu ? lbfo_router_commands : lbfo_lu_commands;
	size_t i, nt = v->lu ? LBFO_RT_CMD__MAX : LBFO_LU_CMD__MAX;

	for (i = 0; i < nt; i++)
		if (!strncmp(t[i].name, v->name, n) && (t[i].name[n] == ' ' || !t[i].name[n]))
			return true;
	return false;
}

int ctl_verb_short(const struct ctl_verb *v)
{
	size_t w = strcspn(v->name, " ");

	return (int)(other_starts(v, w) ? strlen(v->name) : w);
}

/* ---- usage ------------------------------------------------------------------ */

static const char intro[] =
"usage: lbfoctl [--socket PATH] [--json] COMMAND [ARGS]\n"
"\n"
"Talks to a running lbfo instance over its control socket: a storage LU\n"
"(nbdkit lbfo ... control=PATH) or the cluster router (lbfo-router, [router]\n"
"control = PATH, default " LBFO_CTL_ROUTER_SOCKET "). The socket: --socket PATH,\n"
"else $LBFO_SOCKET, else " LBFO_CTL_LU_SOCKET ".\n";

static const char outro[] =
"\n"
"A command the instance at the socket does not know (a router command sent to\n"
"an LU's socket, or the other way round, or one newer than the instance) is\n"
"refused: lbfoctl prints the instance's error with the socket path, says which\n"
"kind of instance knows the command, and exits 1.\n"
"\n"
"exit status: 0 done, 1 the instance refused the request or a wait timed out,\n"
"2 bad usage, 3 no instance at the socket.\n";

/* One entry: the synopsis, then the help wrapped at WIDTH from COL. */
static void entry(FILE *f, const char *syn, const char *text)
{
	int col;

	if (strlen(syn) + 3 > COL)
		col = fprintf(f, "  %s\n%*s", syn, COL, "") - (int)strlen(syn) - 3;
	else
		col = fprintf(f, "  %-*s ", COL - 3, syn);
	while (*text) {
		size_t n = strcspn(text, " ");

		if (col > COL && col + 1 + (int)n > WIDTH) {
			fprintf(f, "\n%*s", COL, "");
			col = COL;
		} else if (col > COL) {
			fputc(' ', f);
			col++;
		}
		col += fprintf(f, "%.*s", (int)n, text);
		text += n;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

static void help_of(const struct ctl_verb *v, char *buf, size_t len)
{
	size_t i;

	if (v->lu && v->rt && strcmp(v->lu->help, v->rt->help))
		snprintf(buf, len, "LU: %s; router: %s", v->lu->help, v->rt->help);
	else
		snprintf(buf, len, "%s", v->lu ? v->lu->help : v->rt->help);
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (!strcmp(own[i].name, v->name) && (v->lu || v->rt))
			snprintf(buf + strlen(buf), len - strlen(buf), "; %s", own[i].help);
}

static void verb_entry(FILE *f, const char *name)
{
	struct ctl_verb v;
	char syn[128], help[512];

	verb_of(name, &v);
	ctl_verb_synopsis(&v, syn, sizeof(syn));
	help_of(&v, help, sizeof(help));
	entry(f, syn, help);
	if (!strcmp(name, "status"))
		entry(f, "watch [--interval S] [--count N]", own[0].help);
}

void ctl_usage(FILE *f)
{
	size_t i;

	fputs(intro, f);
	fputs("\ncommands for both an LU and the router:\n", f);
	for (i = 0; i < LBFO_RT_CMD__MAX; i++)
		if (find(lbfo_lu_commands, LBFO_LU_CMD__MAX, lbfo_router_commands[i].name))
			verb_entry(f, lbfo_router_commands[i].name);
	fputs("\ncommands for a storage LU only:\n", f);
	for (i = 0; i < LBFO_LU_CMD__MAX; i++)
		if (!find(lbfo_router_commands, LBFO_RT_CMD__MAX, lbfo_lu_commands[i].name))
			verb_entry(f, lbfo_lu_commands[i].name);
	fputs("\ncommands for the router (lbfo-router) only:\n", f);
	for (i = 0; i < LBFO_RT_CMD__MAX; i++)
		if (!find(lbfo_lu_commands, LBFO_LU_CMD__MAX, lbfo_router_commands[i].name))
			verb_entry(f, lbfo_router_commands[i].name);
	fputs(outro, f);
}
