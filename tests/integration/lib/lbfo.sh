# shellcheck shell=bash
# Helpers for lbfo integration tests: start nbdkit with the lbfo plugin on a
# unix socket, drive it with real NBD clients, record PASS/FAIL lines.
# Source after tests/integration/lib/testbed.sh.
#
# LBFO_SERVER selects the server lbfo_start / lbfo_run_fail / lbfo_stop run:
#   nbdkit   (default) nbdkit -f -U SOCKET $LBFO_PLUGIN KEY=VALUE...
#   lbfo-nbd lbfo's own NBD server, $LBFO_NBD -U SOCKET KEY=VALUE... (same keys;
#            it runs in the foreground and creates the socket once logged in)

LBFO_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
LBFO_PLUGIN=${LBFO_PLUGIN:-$LBFO_TOP/build/src/nbd/nbdkit-lbfo-plugin.so}
LBFO_SERVER=${LBFO_SERVER:-nbdkit}
LBFO_NBD=${LBFO_NBD:-$LBFO_TOP/build/src/nbd/lbfo-nbd}
LBFO_TMP=$(mktemp -d /tmp/lbfo-it.XXXXXX)
LBFO_PID=
LBFO_SOCK=$LBFO_TMP/nbd.sock
LBFO_LOG=$LBFO_TMP/nbdkit.log
LBFO_STATUS=$LBFO_TMP/status.json
LBFO_FAILED=0
LBFO_RC=     # the exit status of the server lbfo_stop last stopped

# tests/integration/run collects these lines from standard output
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; LBFO_FAILED=1; }
# check NAME CONDITION-COMMAND...: PASS when the command succeeds
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
note() { echo "  $*"; }

lbfo_uri() { echo "nbd+unix:///?socket=$LBFO_SOCK"; }

# lbfo_server_cmd SOCKET: LBFO_CMD=(the LBFO_SERVER command line up to its
# KEY=VALUEs, serving on the unix socket SOCKET)
lbfo_server_cmd() {
	case $LBFO_SERVER in
	lbfo-nbd) LBFO_CMD=("$LBFO_NBD" -U "$1") ;;
	*) LBFO_CMD=(nbdkit -f -U "$1" "$LBFO_PLUGIN") ;;
	esac
}

# lbfo_start KEY=VALUE...: nbdkit in the foreground (background job) with the
# plugin (or lbfo-nbd, see LBFO_SERVER); waits (<= 20 s) until the socket
# exists. Returns 1 if the server exited.
lbfo_start() {
	local LBFO_CMD
	rm -f "$LBFO_SOCK" "$LBFO_STATUS"
	lbfo_server_cmd "$LBFO_SOCK"
	"${LBFO_CMD[@]}" status_file="$LBFO_STATUS" \
		status_interval=200 "$@" >"$LBFO_LOG" 2>&1 &
	LBFO_PID=$!
	# nbdkit binds its socket before the plugin has logged in: wait for
	# the sessions too (all paths, or LBFO_WANT_UP of them).
	local i want=${LBFO_WANT_UP:-all} up
	for ((i = 0; i < 200; i++)); do
		kill -0 "$LBFO_PID" 2>/dev/null || { wait "$LBFO_PID"; LBFO_PID=; return 1; }
		if [ -S "$LBFO_SOCK" ] && [ -s "$LBFO_STATUS" ]; then
			up=$(lbfo_status '[.lus[].paths[] | select(.session == "up")] | length')
			[ "$want" = all ] && want=$(lbfo_status '[.lus[].paths[]] | length')
			[ "${up:-0}" -ge "$want" ] && return 0
		fi
		sleep 0.1
	done
	return 1
}

# lbfo_run_fail KEY=VALUE...: nbdkit (or LBFO_SERVER) that is expected to
# refuse to start; prints its stderr; returns its exit status (bounded to 30 s).
lbfo_run_fail() {
	local LBFO_CMD
	lbfo_server_cmd "$LBFO_TMP/never.sock"
	timeout 30 "${LBFO_CMD[@]}" "$@" 2>&1
}

lbfo_stop() {
	[ -n "$LBFO_PID" ] || return 0
	kill "$LBFO_PID" 2>/dev/null
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$LBFO_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$LBFO_PID" 2>/dev/null
	wait "$LBFO_PID" 2>/dev/null
	LBFO_RC=$?
	LBFO_PID=
}

# lbfo_status JQ-FILTER: query the status file (rewritten every 200 ms)
lbfo_status() { jq -r "$1" "$LBFO_STATUS" 2>/dev/null; }

# lbfo_wait_status JQ-BOOL-FILTER TIMEOUT_S: wait until the filter is true
lbfo_wait_status() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(lbfo_status "$1")" = true ] && return 0
		sleep 0.1
	done
	return 1
}

# lbfo_fio OUT.json fio-args...: fio on the export, JSON result in OUT.json
lbfo_fio() {
	local out=$1; shift
	timeout 300 fio --name=lbfo --ioengine=nbd --uri="$(lbfo_uri)" \
		--verify_state_save=0 --output-format=json --output="$out" "$@" >/dev/null 2>&1
}
# fio_field OUT.json JQ: a field of the first job
fio_field() { jq -r ".jobs[0] | $2" "$1"; }

lbfo_cleanup() {
	lbfo_stop
	rm -rf "$LBFO_TMP"
}
