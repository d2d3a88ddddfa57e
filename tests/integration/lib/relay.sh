# shellcheck shell=bash
# A holding TCP relay for one path (lib/relay.py): bytes that the initiator sees
# acknowledged can be kept back and delivered late, on the connection they were
# sent on, to model a stale write arriving after a failover.
#
#   relay_start p1 "$(tb_portal 1)"    # sets RELAY_PORT_p1, RELAY_PID_p1, RELAY_CTL_p1
#   nbdkit ... portal=127.0.0.1:$RELAY_PORT_p1 ...
#   relay_cmd p1 hold; ...; relay_cmd p1 release; relay_cmd p1 stats
#   relay_stop_all                     # also from the EXIT trap (install it yourself)
#
# Names: [A-Za-z0-9_]. Relays listen on 127.0.0.1 only.

RELAY_PY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/relay.py
RELAY_DIR=${RELAY_DIR:-}
RELAY_NAMES=()

# relay_start NAME TARGET_ADDR:PORT [LISTEN_PORT]: returns 1 if it does not come up within 10 s
relay_start() {
	local name=$1 target=$2 lport=${3:-0} out pid port i
	[[ "$name" =~ ^[A-Za-z0-9_]+$ ]] || { echo "relay_start: bad name '$name'" >&2; return 1; }
	[ -n "$RELAY_DIR" ] || RELAY_DIR=$(mktemp -d /tmp/lbfo-relay.XXXXXX)
	out=$RELAY_DIR/$name.out
	: >"$out"
	python3 "$RELAY_PY" --listen "$lport" --target "$target" --control "$RELAY_DIR/$name.ctl" \
		>"$out" 2>"$RELAY_DIR/$name.log" </dev/null &
	pid=$!
	disown "$pid" 2>/dev/null
	RELAY_NAMES+=("$name")
	printf -v "RELAY_PID_$name" '%s' "$pid"
	printf -v "RELAY_CTL_$name" '%s' "$RELAY_DIR/$name.ctl"
	printf -v "RELAY_LOG_$name" '%s' "$RELAY_DIR/$name.log"
	for ((i = 0; i < 100; i++)); do
		port=$(awk '/^PORT /{print $2; exit}' "$out")
		if [ -n "$port" ] && [ -S "$RELAY_DIR/$name.ctl" ]; then
			printf -v "RELAY_PORT_$name" '%s' "$port"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "relay_start $name: not up: $(tail -3 "$RELAY_DIR/$name.log")" >&2
	return 1
}

# relay_cmd NAME COMMAND: prints the one-line answer; 1 on error
relay_cmd() {
	local ctl="RELAY_CTL_$1"
	[ -n "${!ctl:-}" ] || { echo "error: no relay $1"; return 1; }
	timeout 30 python3 "$RELAY_PY" --timeout 25 --cmd "${!ctl}" "$2"
}

# relay_stop NAME / relay_stop_all: by PID, only the relays started here
relay_stop() {
	local v="RELAY_PID_$1" pid i
	pid=${!v:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	printf -v "RELAY_PID_$1" '%s' ""
}
relay_stop_all() {
	local n
	for n in "${RELAY_NAMES[@]}"; do relay_stop "$n"; done
	RELAY_NAMES=()
	[ -n "$RELAY_DIR" ] && case "$RELAY_DIR" in /tmp/lbfo-relay.*) rm -rf "$RELAY_DIR" ;; esac
	RELAY_DIR=
	return 0
}
