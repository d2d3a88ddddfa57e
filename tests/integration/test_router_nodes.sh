#!/bin/bash
# lbfo-router with one service of 256 static nodes (discovery off), weights
# 1..4 (w = 1 + i % 4, W = 640), every connection allocated afresh (sticky
# none). 32 lbfo-testsrv processes serve the nodes, 8 addresses each
# (127.91.x.y, one per node). Two whole cycles of the weighted policy (2W =
# 1280 connections) must give every node exactly twice its weight,
# counted by the router (lbfoctl status --json) and, per backend process,
# by the clients from the replies.
# Only loopback addresses; every loop bounded; everything started is
# killed on exit, also on failure.
set -u
cd "$(dirname "$0")/../.."
RT_TEST=router-nodes
source tests/integration/lib/router.sh

for x in lbfo-router lbfo-testsrv; do
	if [ ! -x "$B/$x" ]; then
		fail router_nodes_build "$B/$x missing (build with ninja -C build)"
		exit 1
	fi
done

N=256
PER=8 # addresses per lbfo-testsrv
RA=127.0.91.1
LPORT=29180
NPORT=29181
SOCK=$T/router.sock
node_addr() { echo "127.91.$(($1 / 128)).$((1 + $1 % 128))"; }
weight() { echo $((1 + $1 % 4)); }

{
	# one worker: weighted round-robin is per worker, and this test counts
	# an exact split (test_router_threads.sh covers several workers)
	printf '[router]\ndiscovery = off\ncontrol = %s\nthreads = 1\n\n' "$SOCK"
	printf '[service many]\nlisten = %s:%d\npolicy = weighted\nallow = 127.0.0.0/8\n' \
		"$RA" "$LPORT"
	printf 'port = %d\nsticky = none\nconnect_timeout = 2s\n' "$NPORT"
	# 16 nodes a line: one line of 256 would pass the 198-character limit
	for ((i = 0; i < N; i++)); do
		if ((i % 16 == 0)); then printf 'nodes = '; else printf ', '; fi
		printf 'n%d:%d' "$i" "$(weight $i)"
		if ((i % 16 == 15)); then printf '\n'; fi
	done
	printf '\n'
	for ((i = 0; i < N; i++)); do
		printf '[node n%d]\naddress = %s\n' "$i" "$(node_addr $i)"
	done
} >"$T/router.ini"

for ((p = 0; p < N / PER; p++)); do
	args=()
	for ((k = 0; k < PER; k++)); do
		args+=(--listen "$(node_addr $((p * PER + k))):$NPORT")
	done
	"$B/lbfo-testsrv" "${args[@]}" --name "s$p" 2>>"$T/srv.log" &
	PIDS+=($!)
done
"$B/lbfo-router" -c "$T/router.ini" 2>"$T/router.log" &
PIDS+=($!)

listening() {
	[ "$(ss -Hltn "sport = :$NPORT" | grep -c '127\.91\.')" = "$N" ] &&
		[ -S "$SOCK" ] && "$CTL" --socket "$SOCK" status --json >/dev/null 2>&1
}
if ! wait_for 100 listening; then
	fail router_nodes_start "backends listening: $(ss -Hltn "sport = :$NPORT" | grep -c '127\.91\.'); router: $(tail -3 "$T/router.log")"
	exit 1
fi
"$CTL" --socket "$SOCK" status --json >"$T/before.json"
up=$(jq '[.services[0].nodes[] | select(.state == "active")] | length' "$T/before.json")
if [ "$up" = "$N" ]; then
	pass router_nodes_256_configured
else
	fail router_nodes_256_configured "$up of $N nodes active"
	exit 1
fi

# 2W connections, one after the other: each asks its backend's name.
W=0
for ((i = 0; i < N; i++)); do W=$((W + $(weight $i))); done
start=$(date +%s%N)
"$PY" - "$RA" "$LPORT" $((2 * W)) >"$T/replies" <<'PY'
import socket, sys
ra, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(n):
    body = "ERR"
    try:
        s = socket.create_connection((ra, port), timeout=3)
        s.sendall(b"GET /node HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        if b"\r\n\r\n" in data:
            body = data.split(b"\r\n\r\n", 1)[1].decode().strip()
    except OSError:
        pass
    print(body)
PY
ms=$((($(date +%s%N) - start) / 1000000))
"$CTL" --socket "$SOCK" status --json >"$T/after.json"

# Per node: the router's count of connections against twice its weight.
bad=$(jq -r --argjson n "$N" '
	.services[0].nodes | to_entries[] |
	select(.value.conns != 2 * (1 + (.key % 4)) or .value.connect_fail != 0) |
	"\(.value.name): \(.value.conns) conns, weight \(.value.weight)"' "$T/after.json" | head -5)
nodes_hit=$(jq '[.services[0].nodes[] | select(.conns > 0)] | length' "$T/after.json")
errs=$(grep -c '^ERR' "$T/replies")
if [ -z "$bad" ] && [ "$nodes_hit" = "$N" ] && [ "$errs" = 0 ]; then
	pass "router_nodes_spread_by_weight ($((2 * W)) connections over $N nodes in $ms ms, each node exactly 2 x its weight)"
else
	fail router_nodes_spread_by_weight "nodes hit $nodes_hit/$N, failed replies $errs; $bad"
fi

# The clients' view: replies per backend process = the router's counts of
# its 8 nodes.
want=$(jq -r --argjson per "$PER" '
	[.services[0].nodes | to_entries[] | {p: (.key / $per | floor), c: .value.conns}] |
	group_by(.p)[] | "s\(.[0].p) \(map(.c) | add)"' "$T/after.json" | sort)
got=$(grep -v '^ERR' "$T/replies" | sort | uniq -c | awk '{print $2, $1}' | sort)
if [ "$want" = "$got" ]; then
	pass router_nodes_replies_match
else
	fail router_nodes_replies_match "$(diff <(echo "$want") <(echo "$got") | head -5)"
fi

exit $((FAILS > 0))
