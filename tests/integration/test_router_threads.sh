#!/bin/bash
# lbfo-router with worker threads (threads = 2), on real sockets (127.0.75.x only):
#   - under wrk load both workers accept connections (their own counters in
#     lbfoctl status --json and the metrics' worker label), with no error;
#   - one client's connections from many source ports land on both workers
#     and all stay on its one node (sticky = address: the session table is
#     shared by the workers);
#   - lbfoctl worker stop 1 while clients connect in a loop: not one
#     connection reset or refused, worker 1 ends, worker 0 serves on;
#     with three workers, stopping 0 and then 2 (which took 0's place in
#     the kernel's group) likewise;
#   - a service listens on addresses that are on no interface yet (IPv4
#     and IPv6, IP_FREEBIND / IPV6_FREEBIND), in a network namespace whose
#     lo is down, and serves once they arrive (as on a backup router
#     before keepalived moves the virtual address).
# Prints "PASS name" / "FAIL name: why"; exits non-zero on any failure.
# Every loop is bounded in count and time; everything started is killed on
# exit (and the namespace deleted), also on failure.
set -u
cd "$(dirname "$0")/../.."
RT_TEST=router-threads
source tests/integration/lib/router.sh
NS=lbfo-thr-$$
# shellcheck disable=SC2317  # run by the trap
rt_cleanup_extra() {
	local p
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
}

for x in "$B/lbfo-router" "$B/lbfo-testsrv" "$CTL"; do
	[ -x "$x" ] || { fail router_threads_build "$x missing (ninja -C build)"; exit 1; }
done
command -v wrk >/dev/null || { fail router_threads_build "wrk missing (scripts/setup)"; exit 1; }

RA=127.0.75.1; N1=127.0.75.11; N2=127.0.75.12
SOCK=$T/router.sock
cat >"$T/router.ini" <<CFG
[router]
threads = 2
discovery = off
control = $SOCK

[service web]
listen = $RA:27580
allow = any
nodes = n1, n2
port = 27581
sticky = none

[service sticky]
listen = $RA:27582
allow = any
nodes = n1, n2
port = 27581
sticky = address

[node n1]
address = $N1
[node n2]
address = $N2
CFG

ctl() { "$CTL" --socket "$SOCK" "$@"; }
"$B/lbfo-testsrv" --listen "$N1:27581" --name n1 2>>"$T/n1.log" & PIDS+=($!)
"$B/lbfo-testsrv" --listen "$N2:27581" --name n2 2>>"$T/n2.log" & PIDS+=($!)
"$B/lbfo-router" -c "$T/router.ini" 2>"$T/router.log" &
ROUTER=$!; PIDS+=($ROUTER)
answers() { curl -s --max-time 1 -o /dev/null "http://$RA:27580/node"; }
if ! wait_for 50 answers; then
	fail router_threads_start "no answer after 5 s: $(tail -3 "$T/router.log")"
	exit 1
fi
threads=$(ls "/proc/$ROUTER/task" | wc -l)
# worker N's figure in status --json
wfield() { ctl status --json | jq -r --argjson w "$1" ".workers[] | select(.id == \$w) | $2"; }
wsvc() { # worker service field
	ctl status --json | jq -r --argjson w "$1" --arg s "$2" \
		".workers[] | select(.id == \$w) | .services[] | select(.name == \$s) | .$3"
}

# --- both workers accept under wrk load, no error -------------------------------------
wrk -t2 -c40 -d3s "http://$RA:27580/" >"$T/wrk.txt" 2>&1
rps=$(awk '/^Requests\/sec/ {print $2}' "$T/wrk.txt")
errs=$(grep -E 'Socket errors|Non-2xx' "$T/wrk.txt")
a0=$(wsvc 0 web accepted); a1=$(wsvc 1 web accepted)
total=$(ctl status --json | jq '.services[] | select(.name == "web") | .accepted')
m0=$(ctl metrics | awk '$1 == "lbfo_router_worker_accepted_total{worker=\"0\",service=\"web\"}" {print $2}')
nworkers=$(ctl status --json | jq '.workers | length')
if [ "$threads" -ge 3 ] && [ "$nworkers" = 2 ] && [ "${a0:-0}" -gt 0 ] && [ "${a1:-0}" -gt 0 ] &&
   [ $((a0 + a1)) = "$total" ] && [ "$m0" = "$a0" ] && [ -z "$errs" ] && [ -n "$rps" ]; then
	pass "router_threads_both_accept ($threads threads; wrk $rps req/s, no error; accepted worker 0: $a0, worker 1: $a1, total $total; metrics agree)"
else
	fail router_threads_both_accept "threads $threads; accepted $a0 + $a1 of $total (metrics $m0); wrk: $rps req/s $errs"
fi

# --- one client, many source ports, both workers, one node ----------------------------------
"$PY" - "$RA" 27582 >"$T/sticky.txt" <<'PY'
import socket, sys
nodes = []
for i in range(60):
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3,
                                 source_address=("127.0.75.50", 0))
    c.sendall(b"GET /node HTTP/1.1\r\nHost: x\r\n\r\n")
    d = b""
    while b"\r\n\r\n" not in d or not d.split(b"\r\n\r\n", 1)[1]:
        k = c.recv(4096)
        if not k:
            break
        d += k
    nodes.append(d.split(b"\r\n\r\n", 1)[1].decode() if b"\r\n\r\n" in d else "ERR")
    c.close()
print(" ".join(sorted(set(nodes))), len(nodes))
PY
s0=$(wsvc 0 sticky accepted); s1=$(wsvc 1 sticky accepted)
hits=$(ctl status --json | jq '.services[] | select(.name == "sticky") | .sticky_hits')
read -r got count <"$T/sticky.txt"
if [[ "$got" =~ ^n[12]$ ]] && [ "$count" = 60 ] && [ "${s0:-0}" -gt 0 ] && [ "${s1:-0}" -gt 0 ] &&
   [ "$hits" = 59 ]; then
	pass "router_threads_sticky (60 connections of 127.0.75.50: worker 0 accepted $s0, worker 1 $s1, all on $got; 59 sticky hits)"
else
	fail router_threads_sticky "nodes '$got' of $count; worker 0 $s0, worker 1 $s1; sticky hits $hits"
fi

# --- worker stop while clients connect in a loop: no connection lost ---------------------------
# wrk with "Connection: close": 64 clients each open a connection, ask,
# read the answer and reconnect, for 4 s, so that connections are always
# queued on both workers' sockets. wrk counts every failure (connect
# refused, read reset, timeout, non-2xx answer).
wrk -t2 -c64 -d4s -H "Connection: close" "http://$RA:27580/node" >"$T/loop.txt" 2>&1 &
LOOP=$!; PIDS+=($LOOP)
sleep 1
before=$(wsvc 1 web accepted)
said=$(ctl worker stop 1 2>&1)
at_stop=$(wsvc 1 web accepted)
stopped() { [ "$(wfield 1 .state)" = stopped ]; }
wait_for 60 stopped
state=$(wfield 1 .state)
wait "$LOOP" 2>/dev/null
reqs=$(awk '/requests in/ {print $1}' "$T/loop.txt")
bad=$(grep -E 'Socket errors|Non-2xx' "$T/loop.txt")
after0=$(wsvc 0 web accepted)
# Steered away at once: after the request, worker 1 accepts only what was
# already queued (at most one per wrk connection), not 0.5 s of new ones.
late=$(( $(wsvc 1 web accepted) - at_stop ))
answers && still=yes || still=no
if [ "$said" = "worker 1 draining" ] && [ "$state" = stopped ] && [ -z "$bad" ] &&
   [ "${reqs:-0}" -gt 1000 ] && [ "$still" = yes ] && grep -q "worker 1 stopped" "$T/router.log" &&
   [ "$late" -lt 64 ] && ! grep -q "cannot steer" "$T/router.log"; then
	pass "router_threads_drain ('$said', then $state; $reqs connections in 4 s, 0 failed; worker 1 had accepted $before before, $late after it was told; worker 0 serves on: $after0 accepted)"
else
	fail router_threads_drain "'$said'; worker 1 $state; $reqs connections, failures: ${bad:-none}; worker 1 accepted $late after it was told; still answering: $still"
fi
again=$(ctl worker stop 0 2>&1); rc=$?
if [ "$rc" = 1 ] && [[ "$again" == *"last one accepting"* ]] && answers; then
	pass "router_threads_last_worker_kept (refused: ${again##*: })"
else
	fail router_threads_last_worker_kept "exit $rc: $again"
fi

# --- three workers: stop the first, then the one that took its place ----------------------------
# The kernel fills a closed socket's place in the group with the last one;
# the steering program's indices must follow (steer.c), or the second
# stop would steer to a closed place and let the draining socket get more.
sed -e 's/^threads = 2$/threads = 3/' -e "s#^control = .*#control = $T/three.sock#" \
    -e 's/27580/27570/; s/27582/27572/' "$T/router.ini" >"$T/three.ini"
"$B/lbfo-router" -c "$T/three.ini" 2>"$T/three.log" & PIDS+=($!)
ctl3() { "$CTL" --socket "$T/three.sock" "$@"; }
acc3() { ctl3 status --json | jq -r --argjson w "$1" '.workers[] | select(.id == $w) | .accepted'; }
st3() { ctl3 status --json | jq -r --argjson w "$1" '.workers[] | select(.id == $w) | .state'; }
three_up() { curl -s --max-time 1 -o /dev/null "http://$RA:27570/node"; }
wait_for 50 three_up
wrk -t2 -c64 -d5s -H "Connection: close" "http://$RA:27570/node" >"$T/three.txt" 2>&1 &
LOOP=$!; PIDS+=($LOOP)
sleep 1
ctl3 worker stop 0 >/dev/null; at0=$(acc3 0)
s0() { [ "$(st3 0)" = stopped ]; }
wait_for 20 s0
ctl3 worker stop 2 >/dev/null; at2=$(acc3 2)
wait "$LOOP" 2>/dev/null
s2() { [ "$(st3 2)" = stopped ]; }
wait_for 20 s2
late0=$(( $(acc3 0) - at0 )); late2=$(( $(acc3 2) - at2 ))
bad=$(grep -E 'Socket errors|Non-2xx' "$T/three.txt")
reqs=$(awk '/requests in/ {print $1}' "$T/three.txt")
if [ "$(st3 0)/$(st3 1)/$(st3 2)" = stopped/running/stopped ] && [ -z "$bad" ] &&
   [ "${reqs:-0}" -gt 1000 ] && [ "$late0" -lt 64 ] && [ "$late2" -lt 64 ] &&
   [ "$(acc3 1)" -gt 0 ]; then
	pass "router_threads_drain_order (3 workers, 0 then 2 stopped under load: $reqs connections, 0 failed; accepted after told: $late0, $late2; worker 1 took $(acc3 1))"
else
	fail router_threads_drain_order "states $(st3 0)/$(st3 1)/$(st3 2); $reqs connections, failures: ${bad:-none}; late $late0, $late2"
fi

# --- listening on addresses on no interface (IP_FREEBIND, IPV6_FREEBIND) -----------------------
# A namespace whose lo is down has no address at all, not even 127.0.0.1 or ::1.
if ! ip netns add "$NS"; then
	fail router_threads_freebind "cannot create network namespace $NS"
	exit 1
fi
cat >"$T/free.ini" <<CFG
[router]
threads = 2
discovery = off
control = $T/free.sock
[service v4]
listen = $RA:27590
allow = any
nodes = n1
port = 27591
[service v6]
listen = [::1]:27592
allow = any
nodes = n1
port = 27591
[node n1]
address = $N1
CFG
ip netns exec "$NS" "$B/lbfo-router" -c "$T/free.ini" 2>"$T/free.log" & PIDS+=($!)
listening() { [ "$(ip netns exec "$NS" ss -Hltn | grep -cE "($RA:27590|\[::1\]:27592) ")" = 4 ]; }
wait_for 50 listening; early=$(ip netns exec "$NS" ss -Hltn | grep -cE "($RA:27590|\[::1\]:27592) ")
addrs=$(ip netns exec "$NS" ip -o addr show | wc -l)
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" "$B/lbfo-testsrv" --listen "$N1:27591" --name n1 2>>"$T/free-n1.log" & PIDS+=($!)
ns_get() { ip netns exec "$NS" curl -gs --max-time 1 "$1"; }
node_says() { [ "$(ns_get "$1")" = n1 ]; }
wait_for 30 node_says "http://$RA:27590/node"; v4=$(ns_get "http://$RA:27590/node")
v6=$(ns_get "http://[::1]:27592/node")
if [ "$addrs" = 0 ] && [ "$early" = 4 ] && [ "$v4" = n1 ] && [ "$v6" = n1 ]; then
	pass "router_threads_freebind (no address in the namespace; 2 services x 2 workers listening on $RA and ::1; once lo came up both answered: $v4, $v6)"
else
	fail router_threads_freebind "addresses before: $addrs; listeners: $early (want 4); answers v4 '$v4' v6 '$v6'; $(tail -2 "$T/free.log")"
fi

if [ "$FAILS" -ne 0 ]; then
	echo "--- router log"; tail -20 "$T/router.log"
	exit 1
fi
exit 0
