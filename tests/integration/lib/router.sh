#!/bin/bash
# Shared by the router's integration tests (test_router*.sh). Source it from
# the top of the tree with RT_TEST set to the test's name. It gives:
#   B, CTL       the router's binaries (LBFO_ROUTER_BIN overrides B) and lbfoctl
#   T            a scratch directory, removed on exit
#   PIDS         processes the test started: killed (and reaped) on exit,
#                also on failure or interruption
#   rt_cleanup_extra  define it before exit for more to undo (a namespace)
#   PY           the python interpreter itself (a version manager's shim
#                costs ~0.5 s a start)
#   pass NAME, fail NAME WHY   "PASS name" / "FAIL name: why"; FAILS counts
#   wait_for N CMD...          run CMD every 0.1 s, at most N times
ROOT=$PWD
B=${LBFO_ROUTER_BIN:-$ROOT/build/src/router}
CTL=$ROOT/build/src/ctl/lbfoctl
T=$(mktemp -d "/tmp/lbfo-${RT_TEST:-router}.XXXXXX")
PIDS=()
FAILS=0
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -x "${PY:-}" ] || PY=python3

# shellcheck disable=SC2317  # run by the trap
rt_cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if declare -F rt_cleanup_extra >/dev/null; then rt_cleanup_extra; fi
	rm -rf "$T"
}
trap rt_cleanup EXIT
trap 'exit 1' INT TERM

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; FAILS=$((FAILS + 1)); }

wait_for() { # N command...
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
	return 1
}
