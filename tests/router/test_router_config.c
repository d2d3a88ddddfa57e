/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Router configuration: a full file, ACL matching, and errors that name
 * file:line: [section]: key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "config.h"
#include "config_int.h"

static char path[64];

static int load(const char *text, struct rt_config *c, char *err, size_t len)
{
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/lbfo-rt-cfg-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	rt_config_defaults(c);
	fd = rt_config_load(c, path, err, len);
	unlink(path);
	return fd;
}

static const char good[] =
	"[router]\n"
	"cluster_id = 7\n"
	"discovery = 127.0.0.1:7400\n"
	"management = 127.0.0.9\n"
	"announce_interval_ms = 200\n"
	"miss_limit = 3\n"
	"session_table_size = 100\n"
	"control = none\n"
	"\n"
	"[service http]\n"
	"listen = 127.0.0.1:8080\n"
	"policy = weighted\n"
	"allow = any\n"
	"nodes = n1:2, n2:1\n"
	"port = 8081\n"
	"\n"
	"[service sap]\n"
	"listen = 127.0.0.1:3200\n"
	"policy = queue-depth\n"
	"allow = 127.0.0.0/24, 198.18.2.3, ::1\n"
	"nodes = n1\n"
	"sticky = address+port\n"
	"max_conns_per_client = 4\n"
	"\n"
	"[node n1]\n"
	"address = 127.0.0.11\n"
	"port.sap = 3300\n"
	"[node n2]\n"
	"address = 127.0.0.12\n";

static void test_good(void **state)
{
	struct rt_config *c = calloc(1, sizeof(*c));
	char err[512] = "";

	(void)state;
	assert_int_equal(load(good, c, err, sizeof(err)), 0);
	assert_int_equal(c->cluster_id, 7);
	assert_true(c->discovery);
	assert_int_equal(c->nsvc, 2);
	assert_int_equal(c->nnode, 2);
	assert_string_equal(c->svc[0].name, "http");
	assert_true(c->svc[0].allow_any);
	assert_int_equal(c->svc[0].nnodes, 2);
	assert_int_equal(c->svc[0].nodes[0].weight, 2);
	assert_int_equal(c->svc[0].nodes[1].weight, 1);
	assert_int_equal(c->svc[0].node_port, 8081);
	assert_int_equal(c->svc[1].node_port, 3200);
	assert_int_equal(c->node[0].port[1], 3300);
	assert_int_equal(c->svc[1].sticky, RT_STICKY_ADDRESS_PORT);
	assert_int_equal(c->svc[1].nallow, 3);
	assert_int_not_equal(c->svc[0].group_id, c->svc[1].group_id);
	/* Router address defaults to the discovery address. */
	assert_int_equal(c->router_addr.s_addr, htonl(0x7f000001));
	free(c);
}

static void test_acl(void **state)
{
	struct rt_cidr cidr;
	struct rt_addr a;
	struct sockaddr_in sa = { .sin_family = AF_INET };

	(void)state;
	assert_int_equal(rt_parse_cidr("127.0.0.5/24", &cidr), 0);
	inet_pton(AF_INET, "127.0.0.200", &sa.sin_addr);
	rt_addr_from_sockaddr((struct sockaddr *)&sa, &a, NULL);
	assert_true(rt_cidr_match(&cidr, &a));
	inet_pton(AF_INET, "127.0.1.1", &sa.sin_addr);
	rt_addr_from_sockaddr((struct sockaddr *)&sa, &a, NULL);
	assert_false(rt_cidr_match(&cidr, &a));
	assert_int_equal(rt_parse_cidr("0.0.0.0/0", &cidr), 0);
	assert_true(rt_cidr_match(&cidr, &a));
	assert_int_equal(rt_parse_cidr("127.0.1.1/31", &cidr), 0);
	assert_true(rt_cidr_match(&cidr, &a));
	assert_int_equal(rt_parse_cidr("127.0.0.1/33", &cidr), -1);
	assert_int_equal(rt_parse_cidr("127.0.0.1/", &cidr), -1);
	assert_int_equal(rt_parse_cidr("127.0.0/8", &cidr), -1);
	assert_int_equal(rt_parse_cidr("", &cidr), -1);
	assert_int_equal(rt_parse_cidr("::1/129", &cidr), -1);
	assert_int_equal(rt_parse_cidr("fe80::/10", &cidr), 0);
}

static void expect_err(const char *text, const char *want)
{
	struct rt_config *c = calloc(1, sizeof(*c));
	char err[512] = "";

	assert_int_equal(load(text, c, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
	assert_non_null(strstr(err, path)); /* names the file */
	free(c);
}

static void test_errors(void **state)
{
	(void)state;
	expect_err("[router]\ncluster_id = 70000\n", ":2: [router]: cluster_id: invalid value '70000'");
	expect_err("[router]\n\nbogus = 1\n", ":3: [router]: bogus: unknown key");
	expect_err("[service a]\nlisten = 127.0.0.1\n", ":2: [service a]: listen: invalid value");
	expect_err("[service a]\npolicy = failover\n", ":2: [service a]: policy: invalid value 'failover'");
	expect_err("[service a]\nallow = 300.0.0.0/8\n", ":2: [service a]: allow: invalid CIDR");
	expect_err("[service a]\nnodes = x:0\n", ":2: [service a]: nodes: invalid value '0'");
	expect_err("[service a]\nnodes = x, x\n", "listed twice");
	expect_err("[service a]\nsticky = mac\n", ":2: [service a]: sticky");
	expect_err("[node n]\naddress = nowhere\n", ":2: [node n]: address");
	expect_err("[node n]\nport.x = 0\n", ":2: [node n]: port.x");
	expect_err("[frob]\nx = 1\n", ":2: [frob]: x: unknown section");
	expect_err("[router]\nthis is not ini\n", ":2: syntax error");
	/* Missing keys: the section's line, the section, the key. */
	expect_err("\n[service a]\nlisten = 127.0.0.1:1\nallow = any\n",
		   ":2: [service a]: nodes: missing");
	expect_err("[service a]\nlisten = 127.0.0.1:1\nnodes = n\n[node n]\naddress = 127.0.0.2\n",
		   ":1: [service a]: allow: missing (a CIDR list, or 'any'");
	expect_err("[node n]\naddress = 127.0.0.2\n[service a]\nallow = any\nnodes = n\n",
		   ":3: [service a]: listen: missing");
	expect_err("[service a]\nlisten = 127.0.0.1:1\nallow = any\nnodes = n\n[node n]\n",
		   ":5: [node n]: address: missing (the node's IPv4 address)");
	expect_err("[router]\n", ": no [service NAME] section");
}

/* A service's line, plus the [node]s every one of them names. */
static const char svc_web[] =
	"[service web]\n"           /* 1 */
	"listen = 127.0.0.1:8080\n" /* 2 */
	"allow = any\n"             /* 3 */
	"nodes = n1\n"              /* 4 */
	"[node n1]\n"               /* 5 */
	"address = 127.0.0.11\n";   /* 6 */

static void expect_err_after(const char *more, const char *want)
{
	char text[2048];

	snprintf(text, sizeof(text), "%s%s", svc_web, more);
	expect_err(text, want);
}

/* port.SERVICE names a service; it does not make one (review finding 1). */
static void test_port_key(void **state)
{
	struct rt_config *c = calloc(1, sizeof(*c));
	char err[512] = "";
	char text[1024];

	(void)state;
	expect_err_after("port.sx = 81\n", ":7: [node n1]: port.sx: no [service sx]");
	/* ... and is the only error, whatever the order of the sections. */
	snprintf(text, sizeof(text), "[node n1]\naddress = 127.0.0.11\nport.web = 81\n"
		 "port.sx = 82\n[service web]\nlisten = 127.0.0.1:8080\nallow = any\n"
		 "nodes = n1\n");
	assert_int_equal(load(text, c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":4: [node n1]: port.sx: no [service sx]"));
	assert_null(strstr(err, "listen"));
	/* A service declared after the node's port.SERVICE key. */
	snprintf(text, sizeof(text), "[node n1]\naddress = 127.0.0.11\nport.web = 81\n"
		 "[service web]\nlisten = 127.0.0.1:8080\nallow = any\nnodes = n1\n");
	assert_int_equal(load(text, c, err, sizeof(err)), 0);
	assert_int_equal(c->nsvc, 1);
	assert_int_equal(c->node[0].port[0], 81);
	free(c);
}

/* 'nodes' names a node without a [node] section (review finding 2). */
static void test_missing_node(void **state)
{
	(void)state;
	expect_err("[service web]\nlisten = 127.0.0.1:8080\nallow = any\n"
		   "nodes = n1, n2\n[node n1]\naddress = 127.0.0.11\n",
		   ":4: [service web]: nodes: no [node n2] section");
	/* An empty [node n2] section exists: its address is what is missing. */
	expect_err("[service web]\nlisten = 127.0.0.1:8080\nallow = any\n"
		   "nodes = n1, n2\n[node n1]\naddress = 127.0.0.11\n[node n2]\n",
		   ":7: [node n2]: address: missing");
}

/* A line longer than the parser's buffer is refused at its own line (it
 * used to be read in pieces, each counted as a line). */
static void test_long_line(void **state)
{
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text), "[router]\n; %0300d\ncluster_id = 70000\n", 0);
	expect_err(text, ":2: line too long (at most 198 characters)");
	/* Up to the limit is fine: the next error is found at its line. */
	snprintf(text, sizeof(text), "[router]\n; %0190d\ncluster_id = 70000\n", 0);
	expect_err(text, ":3: [router]: cluster_id: invalid value '70000'");
}

/* A service of 256 nodes (LBFO_MAX_MEMBERS). One `nodes =` line cannot
 * hold them (lines stop at 198 characters: the INI reader's buffer), so
 * `nodes` may be given on several lines of the section, each adding to
 * the list; 1024 nodes in all (RT_MAX_NODES). */
static void test_many_nodes(void **state)
{
	struct rt_config *c = calloc(1, sizeof(*c));
	size_t cap = 256 * 1024, len = 0;
	char *text = malloc(cap), err[512] = "";
	int i, svc;

	(void)state;
	assert_non_null(c);
	assert_non_null(text);
	assert_true(RT_MAX_NODES >= 1024);
	/* One line of 256 names: too long, and the error says so. */
	len = (size_t)snprintf(text, cap, "[service big]\nlisten = 127.0.0.1:9000\nallow = any\n"
			       "nodes = ");
	for (i = 0; i < 256; i++)
		len += (size_t)snprintf(text + len, cap - len, "%sn%d:%d", i ? ", " : "", i,
					1 + i % 1000);
	snprintf(text + len, cap - len, "\n");
	assert_int_equal(load(text, c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":4: line too long (at most 198 characters)"));

	/* Four services of 256 nodes each, 16 per `nodes` line. */
	len = (size_t)snprintf(text, cap, "[router]\ncontrol = none\n");
	for (svc = 0; svc < 4; svc++) {
		len += (size_t)snprintf(text + len, cap - len,
					"[service s%d]\nlisten = 127.0.0.1:%d\nallow = any\n",
					svc, 9000 + svc);
		for (i = 0; i < 256; i++)
			len += (size_t)snprintf(text + len, cap - len, "%s%sn%d:%d%s",
						i % 16 ? "" : "nodes = ", i % 16 ? ", " : "",
						svc * 256 + i, 1 + (svc * 256 + i) % 1000,
						i % 16 == 15 ? "\n" : "");
	}
	for (i = 0; i < 1024; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"[node n%d]\naddress = 127.1.%d.%d\n", i, i / 250, 1 + i % 250);
	if (load(text, c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c->nsvc, 4);
	assert_int_equal(c->nnode, 1024);
	for (svc = 0; svc < 4; svc++) {
		assert_int_equal(c->svc[svc].nnodes, 256);
		for (i = 0; i < 256; i++) {
			const struct rt_service_node *sn = &c->svc[svc].nodes[i];
			char want[16];

			snprintf(want, sizeof(want), "n%d", svc * 256 + i);
			assert_string_equal(c->node[sn->node].name, want);
			assert_int_equal(sn->weight, 1 + (svc * 256 + i) % 1000);
		}
	}

	/* A 257th node of one service; a node listed twice over two lines;
	 * a missing [node] section named on the line that lists it. */
	len = (size_t)snprintf(text, cap, "[router]\ncontrol = none\n[service s]\n"
			       "listen = 127.0.0.1:9000\nallow = any\n");
	for (i = 0; i < 257; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s%sn%d%s",
					i % 16 ? "" : "nodes = ", i % 16 ? ", " : "", i,
					i % 16 == 15 || i == 256 ? "\n" : "");
	assert_int_equal(load(text, c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":22: [service s]: nodes: too many nodes for one service "
			       "(max 256)"));
	assert_int_equal(load("[service s]\nlisten = 127.0.0.1:9000\nallow = any\n"
			      "nodes = a, b\nnodes = c, a\n", c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":5: [service s]: nodes: node 'a' listed twice"));
	assert_int_equal(load("[service s]\nlisten = 127.0.0.1:9000\nallow = any\n"
			      "nodes = a\nnodes = b\n[node a]\naddress = 127.0.0.2\n",
			      c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":5: [service s]: nodes: no [node b] section"));
	free(text);
	free(c);
}

/* Accepted before, wrong at run time (review finding 3). */
static void test_duplicates(void **state)
{
	struct rt_config *c = calloc(1, sizeof(*c));
	char err[512] = "";

	(void)state;
	/* Two nodes, one address: discovery would only ever find the first. */
	expect_err_after("[node n2]\naddress = 127.0.0.11\n",
			 ":8: [node n2]: address: 127.0.0.11 is also the address of [node n1] "
			 "(line 6)");
	/* The same section twice, also adjacent or empty. */
	expect_err_after("[node n2]\naddress = 127.0.0.12\n[node n1]\naddress = 127.0.0.13\n",
			 ":9: [node n1]: duplicate section (the first [node n1] is at line 5");
	expect_err_after("[node n1]\n",
			 ":7: [node n1]: duplicate section (the first [node n1] is at line 5");
	expect_err_after("; comment\n[service web]\nlisten = 127.0.0.1:8081\n",
			 ":8: [service web]: duplicate section (the first [service web] is "
			 "at line 1");
	/* ... reported before a later error, after an earlier one. */
	expect_err_after("[service web]\nbogus = 1\n", ":7: [service web]: duplicate section");
	expect_err_after("bogus = 1\n[service web]\n", ":7: [node n1]: bogus: unknown key");
	expect_err_after("[node n1]\nthis is not ini\n", ":7: [node n1]: duplicate section");
	/* Two services, one listen address: --check passed, bind failed. */
	expect_err_after("[service api]\nlisten = 127.0.0.1:8080\nallow = any\nnodes = n1\n",
			 ":8: [service api]: listen: 127.0.0.1:8080 is taken by [service web] "
			 "(listen = 127.0.0.1:8080, line 2)");
	/* The wildcard takes the port on every address ([::] IPv4's too). */
	expect_err_after("[service api]\nlisten = 0.0.0.0:8080\nallow = any\nnodes = n1\n",
			 ":8: [service api]: listen: 0.0.0.0:8080 is taken by [service web]");
	expect_err_after("[service api]\nlisten = [::]:8080\nallow = any\nnodes = n1\n",
			 ":8: [service api]: listen: [::]:8080 is taken by [service web]");
	/* Other ports and other addresses are fine. */
	assert_int_equal(load("[service web]\nlisten = 127.0.0.1:8080\nallow = any\nnodes = n1\n"
			      "[service api]\nlisten = 127.0.0.2:8080\nallow = any\nnodes = n1\n"
			      "[service v6]\nlisten = [::1]:8080\nallow = any\nnodes = n1\n"
			      "[service alt]\nlisten = 0.0.0.0:8081\nallow = any\nnodes = n1\n"
			      "[node n1]\naddress = 127.0.0.11\n", c, err, sizeof(err)), 0);
	assert_int_equal(c->nsvc, 4);
	free(c);
}

/* Multicast discovery: the group is heard on discovery_interface, and the
 * router's address (FIG 8/9) is not the group. */
static void test_multicast(void **state)
{
	struct rt_config *c = calloc(1, sizeof(*c));
	char err[512] = "";
	static const char tail[] =
		"[service s]\nlisten = 127.0.0.1:8080\nallow = any\nnodes = n\n"
		"[node n]\naddress = 127.0.0.11\n";
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text), "[router]\ndiscovery = 239.255.78.1:7400\n"
		 "discovery_interface = 127.0.0.1\n%s", tail);
	assert_int_equal(load(text, c, err, sizeof(err)), 0);
	assert_true(c->discovery);
	assert_true(rt_disc_is_multicast(c));
	assert_int_equal(c->disc_listen.sin_addr.s_addr, htonl(0xefff4e01));
	assert_int_equal(ntohs(c->disc_listen.sin_port), 7400);
	assert_int_equal(c->disc_iface.s_addr, htonl(0x7f000001));
	/* No 'address': the router's address is the interface's. */
	assert_int_equal(c->router_addr.s_addr, htonl(0x7f000001));

	/* Default interface (any), 'address' given; the order does not matter. */
	snprintf(text, sizeof(text), "[router]\naddress = 127.0.0.5\n"
		 "discovery_interface = any\ndiscovery = 224.0.1.200:7400\n%s", tail);
	assert_int_equal(load(text, c, err, sizeof(err)), 0);
	assert_true(rt_disc_is_multicast(c));
	assert_int_equal(c->disc_iface.s_addr, htonl(INADDR_ANY));
	assert_int_equal(c->router_addr.s_addr, htonl(0x7f000005));

	/* Unicast and broadcast discovery are no multicast. */
	assert_int_equal(load(good, c, err, sizeof(err)), 0);
	assert_false(rt_disc_is_multicast(c));
	snprintf(text, sizeof(text), "[router]\ndiscovery = 0.0.0.0:7400\n"
		 "address = 127.0.0.1\n%s", tail);
	assert_int_equal(load(text, c, err, sizeof(err)), 0);
	assert_false(rt_disc_is_multicast(c));
	free(c);
}

static int nonlocal_bind(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_nonlocal_bind", "r");
	int v = 0;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

static void test_multicast_errors(void **state)
{
	(void)state;
	/* 192.0.2.1 (TEST-NET-1) is no address of this host. */
	if (!nonlocal_bind())
		expect_err("[router]\ndiscovery = 239.255.78.1:7400\n"
			   "discovery_interface = 192.0.2.1\n",
			   ":3: [router]: discovery_interface: invalid value '192.0.2.1': "
			   "not an address of this host");
	expect_err("[router]\ndiscovery_interface = 239.1.2.3\n",
		   ":2: [router]: discovery_interface: invalid value '239.1.2.3'");
	expect_err("[router]\ndiscovery_interface = eth0\n",
		   ":2: [router]: discovery_interface: invalid value 'eth0'");
	expect_err("[router]\ndiscovery = 224.0.0.5:7400\n",
		   ":2: [router]: discovery: invalid value '224.0.0.5:7400': 224.0.0.0/24");
	expect_err("[router]\n\ndiscovery = 232.1.2.3:7400\n",
		   ":3: [router]: discovery: invalid value '232.1.2.3:7400': 232.0.0.0/8");
	/* The interface only means something for a group. */
	expect_err("[router]\ndiscovery = 127.0.0.1:7400\ndiscovery_interface = 127.0.0.1\n",
		   ":3: [router]: discovery_interface: only used when discovery is a "
		   "multicast group (discovery is 127.0.0.1)");
	expect_err("[router]\ndiscovery_interface = 127.0.0.1\n",
		   ":2: [router]: discovery_interface: only used when discovery is a "
		   "multicast group (discovery is off)");
	/* A group is not the router's address: 'address' or the interface. */
	expect_err("[router]\ncluster_id = 7\ndiscovery = 239.255.78.1:7400\n",
		   ":3: [router]: discovery: 239.255.78.1 is a multicast group, not the "
		   "router's address");
}

/* The rules every lbfo file follows (src/common/cfgtable.h), in the
 * router's file: durations with units, the older _ms names, a key or a
 * section given twice, a section without its name. */
static void test_common_rules(void **state)
{
	struct rt_config *c = calloc(1, sizeof(*c));
	char err[512] = "", text[1024];
	static const char tail[] =
		"[service s]\nlisten = 127.0.0.1:8080\nallow = any\nnodes = n\n"
		"connect_timeout = 250ms\n[node n]\naddress = 127.0.0.11\n";

	(void)state;
	snprintf(text, sizeof(text), "[router]\nannounce_interval = 2s\nsession_idle = 1500\n%s",
		 tail);
	assert_int_equal(load(text, c, err, sizeof(err)), 0);
	assert_int_equal(c->announce_interval_ms, 2000);
	assert_int_equal(c->session_idle_ms, 1500);
	assert_int_equal(c->svc[0].connect_timeout_ms, 250);
	assert_int_equal(c->pipe_size, 262144); /* the documented default */
	assert_int_equal(c->svc[0].policy, 0);
	assert_int_equal(c->svc[0].sticky, RT_STICKY_ADDRESS);
	snprintf(text, sizeof(text), "[router]\nannounce_interval_ms = 250ms\n%s", tail);
	assert_int_equal(load(text, c, err, sizeof(err)), 0);
	assert_int_equal(c->announce_interval_ms, 250);
	expect_err("[router]\nannounce_interval = 2 s\n", ":2: [router]: announce_interval: "
		   "invalid value '2 s': expected a duration");
	expect_err("[router]\nannounce_interval = 601s\n", ":2: [router]: announce_interval: "
		   "invalid value '601s': out of range 10 ms..600 s");
	expect_err("[router]\ncluster_id = 1\nannounce_interval = 1s\ncluster_id = 2\n",
		   ":4: [router]: cluster_id: given twice (first at line 2)");
	expect_err("[router]\nannounce_interval = 1s\nannounce_interval_ms = 500\n",
		   ":3: [router]: announce_interval_ms: given twice (first at line 2)");
	expect_err("[router]\ncluster_id = +1\n", ":2: [router]: cluster_id: invalid value '+1': "
		   "not a whole number");
	expect_err("[router]\n[router]\n", ":2: [router]: duplicate section (the first [router] "
		   "is at line 1; one [router] per file)");
	expect_err("[node ]\naddress = 127.0.0.1\n", ":1: [node ]: empty name (expected [node NAME])");
	expect_err("[service a]\nallow = any, 10.0.0.0/8\n", ":2: [service a]: allow: 'any' "
		   "stands alone");
	free(c);
}

/* The table is sound (typed defaults parse, sizes fit), and the reference
 * in docs/router.md is the one the table generates: docs cannot drift. */
static void test_reference(void **state)
{
	static const char begin[] = "<!-- config-reference: begin -->\n";
	static const char end[] = "<!-- config-reference: end -->";
	char err[256], *doc = NULL, *gen = NULL, *b, *e;
	size_t dlen = 0, glen = 0;
	FILE *f;
	int ch;

	(void)state;
	if (lbfo_cfg_table_check(&rt_config_table, err, sizeof(err)) < 0)
		fail_msg("router config table: %s", err);
	f = fopen(SRCDIR "/docs/router.md", "r");
	assert_non_null(f);
	{
		FILE *m = open_memstream(&doc, &dlen);

		while ((ch = fgetc(f)) != EOF)
			fputc(ch, m);
		fclose(m);
	}
	fclose(f);
	f = open_memstream(&gen, &glen);
	rt_config_markdown(f);
	fclose(f);
	b = strstr(doc, begin);
	e = b ? strstr(b, end) : NULL;
	if (!b || !e)
		fail_msg("docs/router.md: no '%s' ... '%s' markers", begin, end);
	b += strlen(begin);
	*e = '\0';
	if (strcmp(b, gen))
		fail_msg("docs/router.md's configuration reference differs from the table: "
			 "regenerate it with build/src/router/lbfo-router --config-reference");
	free(doc);
	free(gen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_port_key),
		cmocka_unit_test(test_missing_node),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_many_nodes),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_multicast),
		cmocka_unit_test(test_multicast_errors),
		cmocka_unit_test(test_common_rules),
		cmocka_unit_test(test_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
