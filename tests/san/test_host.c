/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the host (src/san): the link watch failing the sessions
 * whose interface went down, a fatal error of the loop thread, export
 * names. The host runs over the fake target (tests/iscsi/fake_target.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <cmocka.h>

#include "fake_target.h"
#include "lu_internal.h"
#include "san_internal.h"

#define BS 512
#define NBLOCKS 2048

static char logbuf[1 << 16];
static size_t loglen;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void cap_log(int level, const char *msg, void *opaque)
{
	int n;

	(void)level, (void)opaque;
	pthread_mutex_lock(&log_mu);
	n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", msg);
	if (n > 0 && loglen + (size_t)n < sizeof(logbuf))
		loglen += (size_t)n;
	pthread_mutex_unlock(&log_mu);
	if (getenv("FX_LOG"))
		fprintf(stderr, "%s\n", msg);
}

static bool logged(const char *s)
{
	bool yes;

	pthread_mutex_lock(&log_mu);
	yes = strstr(logbuf, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return yes;
}

static void config(struct lbfo_host_config *hc, int npaths)
{
	char err[256], portal[24];
	int i;

	lbfo_host_config_defaults(hc);
	snprintf(hc->lu.target, sizeof(hc->lu.target), "iqn.2026-12.io.lbfo:fake");
	snprintf(hc->lu.initiator, sizeof(hc->lu.initiator), "iqn.2026-12.io.lbfo:host");
	snprintf(hc->lu.control, sizeof(hc->lu.control), "none");
	snprintf(hc->lu.lock_dir, sizeof(hc->lu.lock_dir), "none");
	hc->lu.link_watch = false;
	hc->lu.log = cap_log;
	for (i = 0; i < npaths; i++) {
		snprintf(portal, sizeof(portal), "p%d:3260", i);
		assert_non_null(lbfo_lu_config_add_path(&hc->lu, NULL, portal, err, sizeof(err)));
	}
}

/* What discovery would have found: one target, one LU over every portal. */
static struct lbfo_san *one_lu(int npaths)
{
	struct lbfo_san *s = calloc(1, sizeof(*s));
	int i;

	assert_non_null(s);
	s->targets = calloc(1, sizeof(*s->targets));
	s->lus = calloc(1, sizeof(*s->lus));
	assert_non_null(s->targets);
	assert_non_null(s->lus);
	s->ntargets = s->nlus = 1;
	snprintf(s->targets[0].iqn, sizeof(s->targets[0].iqn), "iqn.2026-12.io.lbfo:fake");
	lbfo_tgt_check_init(&s->targets[0].chk);
	for (i = 0; i < npaths; i++) {
		s->targets[0].paths[i] = i;
		s->targets[0].chk.reachable[i] = true;
		s->lus[0].paths[i] = (struct san_path){ 0, i, 1 };
	}
	s->targets[0].npaths = s->lus[0].npaths = npaths;
	snprintf(s->lus[0].id.id, sizeof(s->lus[0].id.id), "naa.6001405fa47e00010000000000000001");
	s->lus[0].id.blocks = NBLOCKS;
	s->lus[0].id.block_size = BS;
	return s;
}

/* ---- link watch: rtnetlink link messages -> session failures ---------------- */

/* Queue one link message (as the kernel would send it) on fd. */
static void send_link(int fd, uint16_t type, unsigned char family, int ifindex,
		      unsigned flags, size_t cut)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} m;

	memset(&m, 0, sizeof(m));
	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(m.i));
	m.h.nlmsg_type = type;
	m.i.ifi_family = family;
	m.i.ifi_index = ifindex;
	m.i.ifi_flags = flags;
	assert_int_equal(send(fd, &m, sizeof(m) - cut, 0), (ssize_t)(sizeof(m) - cut));
}

static void test_link_watch(void **state)
{
	struct lbfo_host_config hc;
	struct ft *ft = ft_new(NBLOCKS, BS);
	struct lbfo_lu_env env = { .xops = &ft_xport_ops, .xenv = ft };
	struct lbfo_tgt *t;
	int paths[3] = { 0, 1, 2 }, sv[2], i;
	char err[256];

	(void)state;
	config(&hc, 3);
	t = lbfo_tgt_create(&hc.lu, hc.lu.target, "", paths, 3, NULL, &env, 0, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	for (i = 0; i < 3; i++) {
		t->paths[i].s.st = LBFO_SS_UP;
		snprintf(t->paths[i].ifname, sizeof(t->paths[i].ifname), "veth%d", i);
	}
	t->paths[0].ifindex = 7;
	t->paths[1].ifindex = 8;
	t->paths[2].ifindex = 7;
	t->paths[2].s.st = LBFO_SS_LOGIN; /* not up: nothing to fail */

	/* Up and running, another interface, a bridge port leaving its
	 * bridge (AF_BRIDGE DELLINK, link still up), a cut message: nothing. */
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 7, IFF_UP | IFF_RUNNING, 0);
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 9, 0, 0);
	send_link(sv[1], RTM_DELLINK, AF_BRIDGE, 7, IFF_UP | IFF_RUNNING, 0);
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 7, 0, 4);
	assert_int_equal(host_link_input(sv[0], &t, 1), 0);
	for (i = 0; i < 3; i++)
		assert_false(t->paths[i].s.failing);

	/* veth0's carrier gone: session 0 fails, named; session 1 does not. */
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 7, IFF_UP, 0);
	assert_int_equal(host_link_input(sv[0], &t, 1), 1);
	assert_true(t->paths[0].s.failing);
	assert_string_equal(t->paths[0].s.fail_reason, "link veth0 lost its carrier (rtnetlink)");
	assert_false(t->paths[1].s.failing);
	assert_false(t->paths[2].s.failing);
	/* Administratively down, then removed. */
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 8, 0, 0);
	assert_int_equal(host_link_input(sv[0], &t, 1), 1);
	assert_string_equal(t->paths[1].s.fail_reason, "link veth1 down (rtnetlink)");
	t->paths[1].s.failing = false;
	send_link(sv[1], RTM_DELLINK, AF_UNSPEC, 8, 0, 0);
	assert_int_equal(host_link_input(sv[0], &t, 1), 1);
	assert_string_equal(t->paths[1].s.fail_reason, "link veth1 removed (rtnetlink)");
	close(sv[0]);
	close(sv[1]);
	for (i = 0; i < 3; i++)
		t->paths[i].s.st = LBFO_SS_DOWN;
	lbfo_tgt_destroy(t);
	ft_free(ft);
}

/* ---- a fatal error of the loop thread ---------------------------------------- */

/* Every I/O, queued or later, fails with EIO at once, and the log says why. */
static int failing_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	(void)fds; (void)n; (void)timeout;
	errno = ENOMEM;
	return -1;
}

static void test_loop_death_fails_io(void **state)
{
	struct lbfo_host_config hc;
	struct ft *ft = ft_new(NBLOCKS, BS);
	struct lbfo_lu_env env = { .xops = &ft_xport_ops, .xenv = ft, .poll = failing_poll };
	struct lbfo_host *h;
	struct lbfo_lu *lu;
	struct lbfo_io io;
	uint8_t buf[BS];
	char err[256];

	(void)state;
	config(&hc, 1);
	ft_portal(ft, "p0:3260", 1, 0);
	h = lbfo_host_start_env(&hc, one_lu(1), &env, err, sizeof(err));
	assert_non_null(h);
	lu = lbfo_host_open(h, "", err, sizeof(err));
	assert_non_null(lu);
	lbfo_io_init(&io, LBFO_IO_READ, 0, BS, buf, false);
	lbfo_lu_submit(lu, &io);
	assert_int_equal(lbfo_io_timedwait(&io, 5000), 1);
	assert_int_equal(io.result, -EIO);
	lbfo_io_fini(&io);
	lbfo_io_init(&io, LBFO_IO_READ, 0, BS, buf, false);
	lbfo_lu_submit(lu, &io);
	assert_int_equal(lbfo_io_timedwait(&io, 1000), 1);
	assert_int_equal(io.result, -EIO);
	lbfo_io_fini(&io);
	lbfo_host_close(h, lu);
	lbfo_host_stop(h); /* joins the loop thread: its log is complete */
	assert_true(logged("event loop: poll: Cannot allocate memory"));
	ft_free(ft);
}

/* ---- export names ------------------------------------------------------------- */

static void test_export_names(void **state)
{
	char n[LBFO_STR_MAX];

	(void)state;
	lbfo_export_name("naa.6001405FA47E0001", n, sizeof(n));
	assert_string_equal(n, "naa.6001405fa47e0001");
	lbfo_export_name("eui.ABCDEF", n, sizeof(n));
	assert_string_equal(n, "eui.abcdef");
	/* T10 vendor IDs: spaces and anything else unsafe made '_', runs once,
	 * none at the end; the case of the text is kept. */
	lbfo_export_name("t10.IET     VIRTUAL-DISK  beaf11 ", n, sizeof(n));
	assert_string_equal(n, "t10.IET_VIRTUAL-DISK_beaf11");
	lbfo_export_name("serial.a/b?c", n, sizeof(n));
	assert_string_equal(n, "serial.a_b_c");
	lbfo_export_name("naa.60014051234", n, 9);
	assert_string_equal(n, "naa.6001");
}

/* The configuration table is sound, and the reference in
 * docs/configuration.md is the one it generates: docs cannot drift. On a
 * difference the generated text is left in config-reference.md (in the
 * build directory) to copy between the markers. */
static void test_config_reference(void **state)
{
	static const char begin[] = "<!-- config-reference: begin -->\n";
	static const char end[] = "<!-- config-reference: end -->";
	char path[512], err[256], *doc = NULL, *gen = NULL, *b, *e;
	size_t dlen = 0, glen = 0;
	FILE *f;

	(void)state;
	if (lbfo_host_config_table_check(err, sizeof(err)) < 0)
		fail_msg("config table: %s", err);
	snprintf(path, sizeof(path), "%s/docs/configuration.md", SRCDIR);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(getdelim(&doc, &dlen, '\0', f) > 0);
	fclose(f);
	f = open_memstream(&gen, &glen);
	lbfo_host_config_markdown(f);
	fclose(f);
	b = strstr(doc, begin);
	e = b ? strstr(b, end) : NULL;
	if (!b || !e)
		fail_msg("docs/configuration.md: no '%s' ... '%s' markers", begin, end);
	b += strlen(begin);
	*e = '\0';
	if (strcmp(b, gen)) {
		f = fopen("config-reference.md", "w");
		if (f) {
			fputs(gen, f);
			fclose(f);
		}
		fail_msg("docs/configuration.md's reference differs from the table: copy "
			 "config-reference.md (written in the test's directory) between the markers");
	}
	free(doc);
	free(gen);
}

/* ---- the host's configuration file ------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Load text; 0, or -1 with err; expect (if given) found in err. */
static int load(const char *text, struct lbfo_host_config *c, char *err, size_t len,
		const char *expect_line_key)
{
	char path[] = "/tmp/lbfo-host-XXXXXX", want[400];
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	close(fd);
	write_file(path, text);
	lbfo_host_config_free(c);
	lbfo_host_config_defaults(c);
	rc = lbfo_host_config_load(c, path, err, len);
	if (expect_line_key) {
		snprintf(want, sizeof(want), "%s:%s", path, expect_line_key);
		if (!strstr(err, want))
			fail_msg("error '%s' lacks '%s'", err, want);
	}
	unlink(path);
	return rc;
}

static const char san_conf[] =
	"[lu]\n"
	"policy = service-time\n"
	"no_path_timeout = 20s\n"
	"[discovery]\n"
	"rescan_interval = 30s\n"
	"chap_user = disc\n"
	"chap_password = secret\n"
	"[lu naa.6001405aa]\n"                    /* before the paths it names */
	"alias = db1\n"
	"policy = static-share\n"
	"share.fast = 70\n"
	"share.slow = 30\n"
	"no_path_timeout = 5s\n"
	"[lu naa.6001405bb]\n"
	"alias = logs\n"
	"policy = round-robin\n"
	"param.repeat = 4\n"
	"[path fast]\n"
	"portal = 198.18.1.2\n"
	"[path slow]\n"
	"portal = 198.18.2.2\n"
	"[blacklist]\n"
	"wwid = naa.6001405cc*\n"
	"device = LIO-ORG:*\n"
	"[blacklist_exceptions]\n"
	"wwid = naa.6001405ccff\n";

static void test_san_config(void **state)
{
	struct lbfo_host_config c;
	struct lbfo_lu_config lc;
	struct lbfo_lu_ident id = { .vendor = "IET", .product = "VIRTUAL-DISK" };
	char err[512], alias[LBFO_NAME_MAX], why[LBFO_STR_MAX];

	(void)state;
	lbfo_host_config_defaults(&c);
	assert_int_equal(load(san_conf, &c, err, sizeof(err), NULL), 0);
	assert_int_equal(c.rescan_interval_ms, 30000);
	assert_string_equal(c.discovery_chap_user, "disc");
	assert_int_equal(c.nlus, 2);
	/* an LU with a section: its settings over the defaults, its alias */
	assert_int_equal(lbfo_host_lu_config(&c, "naa.6001405aa", "naa.6001405aa", &lc, alias,
					     sizeof(alias), err, sizeof(err)), 0);
	assert_string_equal(alias, "db1");
	assert_string_equal(lc.policy, "static-share");
	assert_int_equal(lc.paths[0].read_share_bp, 7000);
	assert_int_equal(lc.paths[1].write_share_bp, 3000);
	assert_int_equal(lc.no_path_timeout_ms, 5000);
	/* found by its export name too; its own policy's parameters */
	assert_int_equal(lbfo_host_lu_config(&c, "NAA.6001405BB", "naa.6001405bb", &lc, alias,
					     sizeof(alias), err, sizeof(err)), 0);
	assert_string_equal(alias, "logs");
	assert_string_equal(lc.policy, "round-robin");
	assert_int_equal(lc.npolicy_kv, 1);
	assert_string_equal(lc.policy_keys[0], "repeat");
	/* an LU without one: the defaults */
	assert_int_equal(lbfo_host_lu_config(&c, "naa.6001405dd", "naa.6001405dd", &lc, alias,
					     sizeof(alias), err, sizeof(err)), 0);
	assert_string_equal(alias, "");
	assert_string_equal(lc.policy, "service-time");
	assert_int_equal(lc.no_path_timeout_ms, 20000);
	assert_int_equal(lc.paths[0].read_share_bp, 0);
	/* the blacklist, by WWID glob and by vendor:product, and its exception */
	snprintf(id.id, sizeof(id.id), "naa.6001405cc01");
	assert_true(lbfo_host_blacklisted(&c, &id, why, sizeof(why)));
	assert_string_equal(why, "wwid naa.6001405cc*");
	snprintf(id.id, sizeof(id.id), "naa.6001405ccff");
	assert_false(lbfo_host_blacklisted(&c, &id, why, sizeof(why)));
	snprintf(id.id, sizeof(id.id), "naa.6001405ee");
	assert_false(lbfo_host_blacklisted(&c, &id, why, sizeof(why)));
	snprintf(id.vendor, sizeof(id.vendor), "LIO-ORG");
	assert_true(lbfo_host_blacklisted(&c, &id, why, sizeof(why)));
	assert_string_equal(why, "device LIO-ORG:*");
	/* a deep copy is the same, and its own */
	{
		struct lbfo_host_config d;

		assert_int_equal(lbfo_host_config_copy(&d, &c), 0);
		assert_ptr_not_equal(d.lus, c.lus);
		assert_string_equal(d.lus[1].alias, "logs");
		lbfo_host_config_free(&d);
	}
	/* a command line's keys before config=FILE stay, unless the file sets them */
	{
		char path[] = "/tmp/lbfo-host-XXXXXX";
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		close(fd);
		write_file(path, "[lu]\npolicy = failover\n[discovery]\nchap_user = d\n");
		lbfo_host_config_free(&c);
		lbfo_host_config_defaults(&c);
		assert_int_equal(lbfo_host_config_set(&c, "control", "/tmp/x.sock", err, sizeof(err)), 0);
		assert_int_equal(lbfo_host_config_set(&c, "rescan_interval", "9s", err, sizeof(err)), 0);
		assert_int_equal(lbfo_host_config_set(&c, "policy", "round-robin", err, sizeof(err)), 0);
		assert_int_equal(lbfo_host_config_load(&c, path, err, sizeof(err)), 0);
		assert_string_equal(c.lu.control, "/tmp/x.sock");
		assert_int_equal(c.rescan_interval_ms, 9000);
		assert_string_equal(c.lu.policy, "failover");
		unlink(path);
	}
	/* the command line's keys of [discovery] */
	assert_int_equal(lbfo_host_config_set(&c, "rescan_interval", "2s", err, sizeof(err)), 0);
	assert_int_equal(c.rescan_interval_ms, 2000);
	assert_int_equal(lbfo_host_config_set(&c, "discovery_chap_user", "u2", err, sizeof(err)), 0);
	assert_string_equal(c.discovery_chap_user, "u2");
	assert_int_equal(lbfo_host_config_set(&c, "rescan_interval", "soon", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "rescan_interval: invalid value 'soon'"));
	lbfo_host_config_free(&c);
}

/* Every mistake names the file, the line, the section and the key. */
static void test_san_config_errors(void **state)
{
	struct lbfo_host_config c;
	char err[512];

	(void)state;
	lbfo_host_config_defaults(&c);
	/* a path the section names does not exist (found once the file is read) */
	assert_int_equal(load("[path a]\nportal = 198.18.1.2\n[lu naa.1]\nshare.b = 10\n", &c,
			      err, sizeof(err), "4: [lu naa.1]"), -1);
	assert_non_null(strstr(err, "share.b: no path 'b'"));
	/* a key one LU cannot have its own value of */
	assert_int_equal(load("[lu naa.1]\nnop_timeout = 1s\n", &c, err, sizeof(err),
			      "2: [lu naa.1]: nop_timeout"), -1);
	assert_non_null(strstr(err, "not a key of one LU"));
	/* a value the key refuses */
	assert_int_equal(load("[path a]\nportal = x\n[lu naa.1]\npolicy = fastest\n", &c, err,
			      sizeof(err), "4: [lu naa.1]"), -1);
	assert_non_null(strstr(err, "fastest"));
	/* a policy parameter its policy does not know */
	assert_int_equal(load("[lu naa.1]\npolicy = round-robin\nparam.bogus = 1\n", &c, err,
			      sizeof(err), "1: [lu naa.1]"), -1);
	assert_non_null(strstr(err, "bogus"));
	/* an alias twice */
	assert_int_equal(load("[lu naa.1]\nalias = db\n[lu naa.2]\nalias = db\n", &c, err,
			      sizeof(err), "3: [lu naa.2]: alias"), -1);
	assert_non_null(strstr(err, "also the alias of [lu naa.1]"));
	/* a section twice, a bad alias, a bad device entry */
	assert_int_equal(load("[lu naa.1]\n[lu naa.1]\n", &c, err, sizeof(err), "2: [lu naa.1]"),
			 -1);
	assert_int_equal(load("[lu naa.1]\nalias = a b\n", &c, err, sizeof(err),
			      "2: [lu naa.1]: alias"), -1);
	assert_int_equal(load("[blacklist]\ndevice = IET\n", &c, err, sizeof(err),
			      "2: [blacklist]: device"), -1);
	assert_non_null(strstr(err, "VENDOR:PRODUCT"));
	/* [lu] keeps taking no name, [discovery] its keys only */
	assert_int_equal(load("[lu]\nalias = x\n", &c, err, sizeof(err), "2: [lu]: alias"), -1);
	assert_int_equal(load("[discovery]\nportal = x\n", &c, err, sizeof(err),
			      "2: [discovery]: portal"), -1);
	lbfo_host_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_watch),
		cmocka_unit_test(test_loop_death_fails_io),
		cmocka_unit_test(test_export_names),
		cmocka_unit_test(test_config_reference),
		cmocka_unit_test(test_san_config),
		cmocka_unit_test(test_san_config_errors),
	};
	return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
