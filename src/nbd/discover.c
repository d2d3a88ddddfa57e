/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Discovery and its report, for both NBD servers (discover.h).
 */
#include <stdio.h>
#include <string.h>

#include "discover.h"

const char lbfo_nbd_no_default[] =
	"this server has several exports and no default: name one (nbdinfo --list shows them)";

static void say(const struct lbfo_host_config *cfg, int level, const char *msg)
{
	if (cfg->lu.log)
		cfg->lu.log(level, msg, cfg->lu.log_opaque);
	else
		fprintf(stderr, "lbfo: %s\n", msg);
}

static void warn_lines(const struct lbfo_host_config *cfg, const char *text, const char *suffix)
{
	const char *line;
	char msg[1024];

	for (line = text; *line; ) {
		const char *nl = strchr(line, '\n');
		int len = nl ? (int)(nl - line) : (int)strlen(line);

		snprintf(msg, sizeof(msg), "%.*s%s", len, line, suffix);
		say(cfg, LBFO_LOG_WARNING, msg);
		line += len + (nl ? 1 : 0);
	}
}

int lbfo_nbd_discover(const struct lbfo_host_config *cfg, struct lbfo_san **san, char *err,
		      size_t errlen)
{
	static char warn[16384];
	char msg[1024];
	int n;

	if (lbfo_san_discover(cfg, NULL, san, warn, sizeof(warn), err, errlen) < 0) {
		warn_lines(cfg, warn, "");
		return -1;
	}
	warn_lines(cfg, warn, " (will retry)");
	if (!cfg->lu.target[0])
		for (n = 0; n < lbfo_san_ntargets(*san); n++) {
			snprintf(msg, sizeof(msg), "target %s found by SendTargets",
				 lbfo_san_target(*san, n));
			say(cfg, LBFO_LOG_NOTICE, msg);
		}
	for (n = 0; n < lbfo_san_count(*san); n++) {
		const struct lbfo_lu_ident *id = lbfo_san_lu(*san, n);

		snprintf(msg, sizeof(msg), "LU %s: %s %s, %llu blocks of %u bytes", id->id,
			 id->vendor, id->product, (unsigned long long)id->blocks, id->block_size);
		say(cfg, LBFO_LOG_NOTICE, msg);
	}
	return 0;
}
