/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's configuration: the LU's table (src/mpio/config.c: [lu] with
 * the global keys and every LU's defaults, [path NAME], [policy]) and the
 * sections only a host has, in one table with the same rules as every
 * lbfo file (src/common/cfgtable.h):
 *
 *   [discovery]             rescans; discovery's own CHAP
 *   [lu NAME]               one LU's settings over the defaults (NAME: its
 *                           WWID or export name), its alias
 *   [blacklist]             LUs never served: by WWID, or by vendor and
 *   [blacklist_exceptions]  product (globs), unless an exception matches,
 *                           as multipath.conf's blacklist works
 *
 * The object of every section is the whole struct lbfo_host_config; its
 * first member is the LU's configuration, so the LU's keys find their
 * fields where the LU's table says.
 */
#include <fnmatch.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtable.h"
#include "san_internal.h"

/* The LU-level keys an [lu NAME] section may set (the rest are the
 * host's or a session's: one value for every LU). */
static const char *const per_lu_keys[] = {
	"policy", "failback", "max_outstanding", "max_transfer", "no_path_timeout", "fence",
};
/* ... and per path of the LU: KEY.PATH */
static const char *const per_path_keys[] = { "share", "read_share", "write_share", "weight" };

#define H(f) offsetof(struct lbfo_host_config, f), sizeof(((struct lbfo_host_config *)0)->f)

/* ---- [lu NAME] ---------------------------------------------------------------------- */

static void *open_lu(const struct lbfo_cfg_ctx *ctx, char *why, size_t len)
{
	struct lbfo_host_config *c = ctx->user;
	struct lbfo_lu_settings *s;

	if (c->nlus == LBFO_MAX_LU_SECTIONS) {
		snprintf(why, len, "too many [lu NAME] sections (at most %d)", LBFO_MAX_LU_SECTIONS);
		return NULL;
	}
	s = realloc(c->lus, (size_t)(c->nlus + 1) * sizeof(*s));
	if (!s) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	c->lus = s;
	s = &c->lus[c->nlus++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", ctx->name);
	s->line = ctx->line;
	return s;
}

static int p_alias(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why, size_t len)
{
	struct lbfo_lu_settings *s = obj;

	(void)ctx;
	if (!lbfo_cfg_name_ok(v, sizeof(s->alias))) {
		snprintf(why, len, "invalid value '%s': an alias is letters, digits, '-', '_' and "
			 "'.', at most %zu characters", v, sizeof(s->alias) - 1);
		return -1;
	}
	snprintf(s->alias, sizeof(s->alias), "%s", v);
	return 0;
}

static bool in(const char *key, const char *const *set, size_t n, size_t *prefix)
{
	size_t i, l;

	for (i = 0; i < n; i++) {
		l = strlen(set[i]);
		if (prefix ? !strncmp(key, set[i], l) && key[l] == '.' && key[l + 1]
			   : !strcmp(key, set[i])) {
			if (prefix)
				*prefix = l;
			return true;
		}
	}
	return false;
}

/* Any other key of [lu NAME]: kept as given, judged once the whole file
 * is read (the paths it names may come later in the file). */
static int p_lu_other(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		      size_t len)
{
	struct lbfo_lu_settings *s = obj;
	size_t pre;

	if (!in(ctx->key, per_lu_keys, sizeof(per_lu_keys) / sizeof(*per_lu_keys), NULL) &&
	    !in(ctx->key, per_path_keys, sizeof(per_path_keys) / sizeof(*per_path_keys), &pre) &&
	    strncmp(ctx->key, "param.", 6)) {
		snprintf(why, len, "not a key of one LU (alias, policy, failback, max_outstanding, "
			 "max_transfer, no_path_timeout, fence, share.PATH, read_share.PATH, "
			 "write_share.PATH, weight.PATH, param.NAME)");
		return -1;
	}
	if (s->nkv == LBFO_LU_SECTION_KEYS) {
		snprintf(why, len, "too many keys in one [lu NAME] (at most %d)",
			 LBFO_LU_SECTION_KEYS);
		return -1;
	}
	if (strlen(ctx->key) >= sizeof(s->kv[0].key) || strlen(v) >= sizeof(s->kv[0].value)) {
		snprintf(why, len, "too long");
		return -1;
	}
	snprintf(s->kv[s->nkv].key, sizeof(s->kv[0].key), "%s", ctx->key);
	snprintf(s->kv[s->nkv].value, sizeof(s->kv[0].value), "%s", v);
	s->kv[s->nkv++].line = ctx->line;
	return 0;
}

/* One key of an [lu NAME] section onto an LU's configuration. */
static int apply_key(struct lbfo_lu_config *c, const char *key, const char *value, char *err,
		     size_t errlen)
{
	size_t pre;
	int i;

	if (!strncmp(key, "param.", 6))
		return lbfo_lu_config_set(c, NULL, key + 6, value, true, err, errlen);
	if (!in(key, per_path_keys, sizeof(per_path_keys) / sizeof(*per_path_keys), &pre))
		return lbfo_lu_config_set(c, NULL, key, value, false, err, errlen);
	for (i = 0; i < c->npaths; i++)
		if (!strcmp(c->paths[i].name, key + pre + 1)) {
			char base[LBFO_NAME_MAX];

			snprintf(base, sizeof(base), "%.*s", (int)pre, key);
			return lbfo_lu_config_set(c, &c->paths[i], base, value, false, err, errlen);
		}
	snprintf(err, errlen, "%s: no path '%s'", key, key + pre + 1);
	return -1;
}

/* The LU's configuration: the defaults, then its section's keys. */
static int apply_section(const struct lbfo_lu_config *base, const struct lbfo_lu_settings *s,
			 struct lbfo_lu_config *out, int *bad_line, char *err, size_t errlen)
{
	int i;

	*out = *base;
	/* A section with a policy of its own takes its param.* keys, not the
	 * defaults' parameters (which belong to the default policy). */
	for (i = 0; i < s->nkv; i++)
		if (!strcmp(s->kv[i].key, "policy"))
			out->npolicy_kv = 0;
	for (i = 0; i < s->nkv; i++)
		if (apply_key(out, s->kv[i].key, s->kv[i].value, err, errlen) < 0) {
			*bad_line = s->kv[i].line;
			return -1;
		}
	*bad_line = s->line;
	return lbfo_lu_config_check_settings(out, err, errlen);
}

/* ---- [blacklist], [blacklist_exceptions] ----------------------------------------- */

static int add_match(struct lbfo_match **list, int *n, const char *wwid, const char *device,
		     char *why, size_t len)
{
	struct lbfo_match *m;
	const char *colon = device ? strchr(device, ':') : NULL;

	if (device && (!colon || colon == device || !colon[1])) {
		snprintf(why, len, "invalid value '%s': expected VENDOR:PRODUCT (globs, e.g. "
			 "IET:VIRTUAL-DISK or LIO-ORG:*)", device);
		return -1;
	}
	if (*n == LBFO_MAX_MATCHES) {
		snprintf(why, len, "too many entries (at most %d)", LBFO_MAX_MATCHES);
		return -1;
	}
	m = realloc(*list, (size_t)(*n + 1) * sizeof(*m));
	if (!m) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	*list = m;
	m = &m[(*n)++];
	memset(m, 0, sizeof(*m));
	if (wwid)
		snprintf(m->wwid, sizeof(m->wwid), "%s", wwid);
	if (device) {
		snprintf(m->vendor, sizeof(m->vendor), "%.*s", (int)(colon - device), device);
		snprintf(m->product, sizeof(m->product), "%s", colon + 1);
	}
	return 0;
}

static int p_bl_wwid(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why, size_t len)
{
	struct lbfo_host_config *c = obj;

	(void)ctx;
	return add_match(&c->blacklist, &c->nblacklist, v, NULL, why, len);
}

static int p_bl_device(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		       size_t len)
{
	struct lbfo_host_config *c = obj;

	(void)ctx;
	return add_match(&c->blacklist, &c->nblacklist, NULL, v, why, len);
}

static int p_ex_wwid(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why, size_t len)
{
	struct lbfo_host_config *c = obj;

	(void)ctx;
	return add_match(&c->exceptions, &c->nexceptions, v, NULL, why, len);
}

static int p_ex_device(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		       size_t len)
{
	struct lbfo_host_config *c = obj;

	(void)ctx;
	return add_match(&c->exceptions, &c->nexceptions, NULL, v, why, len);
}

static bool matches(const struct lbfo_match *m, int n, const struct lbfo_lu_ident *id,
		    const char *export, char *why, size_t len)
{
	int i;

	for (i = 0; i < n; i++) {
		if (m[i].wwid[0] && (!fnmatch(m[i].wwid, id->id, 0) || !fnmatch(m[i].wwid, export, 0))) {
			snprintf(why, len, "wwid %s", m[i].wwid);
			return true;
		}
		if (m[i].vendor[0] && !fnmatch(m[i].vendor, id->vendor, 0) &&
		    !fnmatch(m[i].product, id->product, 0)) {
			snprintf(why, len, "device %s:%s", m[i].vendor, m[i].product);
			return true;
		}
	}
	return false;
}

bool lbfo_host_blacklisted(const struct lbfo_host_config *c, const struct lbfo_lu_ident *id,
			   char *why, size_t len)
{
	char export[LBFO_STR_MAX], ex[LBFO_STR_MAX];

	lbfo_export_name(id->id, export, sizeof(export));
	return matches(c->blacklist, c->nblacklist, id, export, why, len) &&
	       !matches(c->exceptions, c->nexceptions, id, export, ex, sizeof(ex));
}

/* ---- the table -------------------------------------------------------------------- */

static const struct lbfo_cfg_key discovery_keys[] = {
	{ .key = "rescan_interval", .type = LBFO_CFG_DURATION, H(rescan_interval_ms), .min = 0,
	  .max = 86400000, .def = "0",
	  .doc = "discover again this often (0: only when a target says its LUNs changed, or on "
		 "lbfoctl rescan)" },
	{ .key = "chap_user", .type = LBFO_CFG_STRING, H(discovery_chap_user),
	  .def_doc = "the sessions'", .doc = "one-way CHAP user of SendTargets discovery" },
	{ .key = "chap_password", .type = LBFO_CFG_STRING, H(discovery_chap_password),
	  .def_doc = "the sessions'", .doc = "one-way CHAP secret of SendTargets discovery" },
};

static const struct lbfo_cfg_key lu_name_keys[] = {
	{ .key = "alias", .type = LBFO_CFG_CUSTOM, .parse = p_alias, .syntax = "NAME",
	  .doc = "a second export name for the LU (its WWID stays one too)" },
	{ .key = "policy", .type = LBFO_CFG_CUSTOM, .parse = p_lu_other, .syntax = "NAME",
	  .def_doc = "[lu]'s", .doc = "this LU's policy; param.NAME=VALUE are its parameters" },
	{ .key = "share.PATH", .type = LBFO_CFG_CUSTOM, .parse = p_lu_other, .syntax = "PERCENT",
	  .def_doc = "[path PATH]'s", .doc = "this LU's share of PATH (also read_share.PATH, "
	  "write_share.PATH, weight.PATH)" },
	{ .key = "no_path_timeout", .type = LBFO_CFG_CUSTOM, .parse = p_lu_other,
	  .syntax = "DURATION", .def_doc = "[lu]'s",
	  .doc = "as in [lu]; also failback, max_outstanding, max_transfer, fence" },
};

static const struct lbfo_cfg_key blacklist_keys[] = {
	{ .key = "wwid", .type = LBFO_CFG_CUSTOM, .parse = p_bl_wwid, .syntax = "GLOB",
	  .flags = LBFO_CFG_REPEAT, .doc = "never serve the LUs whose WWID or export name matches" },
	{ .key = "device", .type = LBFO_CFG_CUSTOM, .parse = p_bl_device,
	  .syntax = "VENDOR:PRODUCT", .flags = LBFO_CFG_REPEAT,
	  .doc = "never serve the LUs whose INQUIRY vendor and product match (globs)" },
};

static const struct lbfo_cfg_key exception_keys[] = {
	{ .key = "wwid", .type = LBFO_CFG_CUSTOM, .parse = p_ex_wwid, .syntax = "GLOB",
	  .flags = LBFO_CFG_REPEAT, .doc = "serve these LUs although the blacklist matches them" },
	{ .key = "device", .type = LBFO_CFG_CUSTOM, .parse = p_ex_device,
	  .syntax = "VENDOR:PRODUCT", .flags = LBFO_CFG_REPEAT,
	  .doc = "serve these vendors' and products' LUs although the blacklist matches them" },
};

static struct lbfo_cfg_section sections[3 + 4];

static void check(struct lbfo_cfg_checker *chk, void *user)
{
	struct lbfo_host_config *c = user;
	struct lbfo_lu_config *scratch = malloc(sizeof(*scratch));
	char err[LBFO_ERR_MAX], hdr[LBFO_STR_MAX + 8];
	int i, k, line;

	if (!scratch)
		return;
	for (i = 0; i < c->nlus; i++) {
		snprintf(hdr, sizeof(hdr), "lu %s", c->lus[i].name);
		if (apply_section(&c->lu, &c->lus[i], scratch, &line, err, sizeof(err)) < 0)
			lbfo_cfg_found(chk, line, hdr, NULL, "%s", err);
		for (k = 0; k < i; k++)
			if (c->lus[i].alias[0] && !strcmp(c->lus[i].alias, c->lus[k].alias))
				lbfo_cfg_found(chk, c->lus[i].line, hdr, "alias", "'%s' is also the "
					       "alias of [lu %s]", c->lus[i].alias, c->lus[k].name);
	}
	free(scratch);
}

static const struct lbfo_cfg_table *table(void)
{
	static struct lbfo_cfg_table t;
	static bool made;

	if (made)
		return &t;
	memcpy(sections, lbfo_lu_config_sections, 3 * sizeof(sections[0]));
	sections[3] = (struct lbfo_cfg_section){ .name = "discovery",
		.doc = "Discovery: rescans, and its own CHAP.",
		.keys = discovery_keys, .nkeys = sizeof(discovery_keys) / sizeof(*discovery_keys) };
	sections[4] = (struct lbfo_cfg_section){ .name = "lu", .named = true,
		.name_max = LBFO_STR_MAX, .open = open_lu, .other = p_lu_other,
		.doc = "One LU's settings over [lu]'s: NAME is its WWID or export name "
		       "(lbfoctl status lists them).",
		.keys = lu_name_keys, .nkeys = 1 };
	sections[5] = (struct lbfo_cfg_section){ .name = "blacklist",
		.doc = "LUs never served (as multipath.conf's blacklist).",
		.keys = blacklist_keys, .nkeys = 2 };
	sections[6] = (struct lbfo_cfg_section){ .name = "blacklist_exceptions",
		.doc = "LUs served although the blacklist matches them.",
		.keys = exception_keys, .nkeys = 2 };
	t.sections = sections;
	t.nsections = sizeof(sections) / sizeof(sections[0]);
	t.check = check;
	made = true;
	return &t;
}

/* The reference lists the per-LU keys beside alias (the loader knows them
 * by p_lu_other). */
static const struct lbfo_cfg_table *doc_table(void)
{
	static struct lbfo_cfg_table t;
	static struct lbfo_cfg_section s[sizeof(sections) / sizeof(sections[0])];

	t = *table();
	memcpy(s, sections, sizeof(s));
	s[4].nkeys = sizeof(lu_name_keys) / sizeof(*lu_name_keys);
	t.sections = s;
	return &t;
}

/* ---- the API ------------------------------------------------------------------------ */

void lbfo_host_config_defaults(struct lbfo_host_config *c)
{
	memset(c, 0, sizeof(*c));
	lbfo_lu_config_defaults(&c->lu);
	lbfo_cfg_defaults(&table()->sections[3], c, c);
}

void lbfo_host_config_free(struct lbfo_host_config *c)
{
	free(c->lus);
	free(c->blacklist);
	free(c->exceptions);
	c->lus = NULL;
	c->blacklist = c->exceptions = NULL;
	c->nlus = c->nblacklist = c->nexceptions = 0;
}

static void *dup_array(const void *p, int n, size_t size)
{
	void *q;

	if (!p || n <= 0)
		return NULL;
	q = malloc((size_t)n * size);
	if (q)
		memcpy(q, p, (size_t)n * size);
	return q;
}

int lbfo_host_config_copy(struct lbfo_host_config *dst, const struct lbfo_host_config *src)
{
	*dst = *src;
	dst->lus = dup_array(src->lus, src->nlus, sizeof(*src->lus));
	dst->blacklist = dup_array(src->blacklist, src->nblacklist, sizeof(*src->blacklist));
	dst->exceptions = dup_array(src->exceptions, src->nexceptions, sizeof(*src->exceptions));
	if ((src->nlus && !dst->lus) || (src->nblacklist && !dst->blacklist) ||
	    (src->nexceptions && !dst->exceptions)) {
		lbfo_host_config_free(dst);
		return -1;
	}
	return 0;
}

int lbfo_host_config_set(struct lbfo_host_config *c, const char *key, const char *value,
			 char *err, size_t errlen)
{
	if (!strcmp(key, "rescan_interval"))
		return lbfo_cfg_set(table(), c, "discovery", key, value, err, errlen);
	if (!strncmp(key, "discovery_", 10) && strcmp(key, "discovery_"))
		return lbfo_cfg_set(table(), c, "discovery", key + 10, value, err, errlen);
	return lbfo_lu_config_set(&c->lu, NULL, key, value, true, err, errlen);
}

int lbfo_host_config_load(struct lbfo_host_config *c, const char *file, char *err, size_t errlen)
{
	return lbfo_cfg_load(table(), c, file, err, errlen);
}

int lbfo_host_config_check(const struct lbfo_host_config *c, char *err, size_t errlen)
{
	return lbfo_lu_config_check(&c->lu, err, errlen);
}

int lbfo_host_lu_config(const struct lbfo_host_config *c, const char *wwid, const char *export,
			struct lbfo_lu_config *out, char *alias, size_t alen, char *err,
			size_t errlen)
{
	int i, line;

	if (alen)
		alias[0] = '\0';
	for (i = 0; i < c->nlus; i++) {
		if (strcmp(c->lus[i].name, wwid) && strcmp(c->lus[i].name, export))
			continue;
		if (alen)
			snprintf(alias, alen, "%s", c->lus[i].alias);
		return apply_section(&c->lu, &c->lus[i], out, &line, err, errlen);
	}
	*out = c->lu;
	return 0;
}

void lbfo_host_config_markdown(FILE *f)
{
	lbfo_cfg_markdown(doc_table(), f);
}

void lbfo_host_config_roff(FILE *f)
{
	lbfo_cfg_roff(doc_table(), f);
}

const char *lbfo_host_config_help(void)
{
	static char *text;
	size_t len = 0;
	FILE *f;

	if (text)
		return text;
	f = open_memstream(&text, &len);
	if (!f)
		return "";
	fprintf(f, "Keys: key=VALUE on the nbdkit command line, or config=FILE (INI: [lu], "
		   "[path NAME], [policy], [discovery], [lu NAME], [blacklist], "
		   "[blacklist_exceptions]).\n"
		   "On the command line portal=HOST[:PORT] adds a path (named p0, p1, ... in "
		   "order), a path's keys\napply to the last portal= before them, [discovery]'s keys "
		   "are rescan_interval= and discovery_chap_user= / discovery_chap_password=, and\n"
		   "any other key that is not an LU key is a policy parameter. With no target= and "
		   "no lun=, every LU the portals lead to is served.\n"
		   "log=stderr|syslog: where events go (default stderr). Durations: milliseconds, "
		   "or with ms or s.\n\n");
	lbfo_cfg_help(doc_table(), f);
	fclose(f);
	return text ? text : "";
}

int lbfo_host_config_table_check(char *err, size_t errlen)
{
	return lbfo_cfg_table_check(doc_table(), err, errlen);
}
