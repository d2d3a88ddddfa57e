#!/bin/bash
# Integration test of multicast discovery (seed 002, FIG 7-9): node agents
# (lbfo-node) announce to a multicast group, lbfo-router joins the group
# and answers each node by unicast. Everything runs in a network namespace
# of its own (lbfo-mc-PID) whose lo gets the MULTICAST flag and a route
# for 224.0.0.0/4 (the host's lo has neither), so no traffic leaves it.
# Prints "PASS name" / "FAIL name: why"; exits non-zero on any failure.
# Every loop is bounded; everything started is killed and the namespace
# deleted on exit, also on failure. Needs root.
set -u
cd "$(dirname "$0")/../.."
RT_TEST=router-mcast
source tests/integration/lib/router.sh
NS=lbfo-mc-$$
# shellcheck disable=SC2317  # run by the trap
rt_cleanup_extra() {
	local p
	# anything else left in our own namespace
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
}
# Foreground only: in the background, $! would be a subshell, not the program.
in_ns() { ip netns exec "$NS" "$@"; }

if [ "$(id -u)" -ne 0 ]; then
	fail router_mcast "needs root (network namespace)"
	exit 1
fi
for x in lbfo-router lbfo-node lbfo-testsrv; do
	if [ ! -x "$B/$x" ]; then
		fail router_mcast_build "$B/$x missing (build with ninja -C build)"
		exit 1
	fi
done
if ! ip netns add "$NS" || ! in_ns ip link set lo up; then
	fail router_mcast_netns "cannot create network namespace $NS"
	exit 1
fi

RA=127.0.78.1; N1=127.0.78.11; N2=127.0.78.12
GROUP=239.255.78.1; DPORT=27801
SOCK=$T/router.sock

# One request line to the router's control socket; prints the body after "ok".
rq() {
	"$PY" - "$SOCK" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
text = data.decode()
if not text.startswith("ok\n"):
    sys.exit("control: " + text.strip())
sys.stdout.write(text[3:])
PY
}
sj() { rq "status json" 2>/dev/null | jq -r "$1" 2>/dev/null; }
node_state() { sj ".nodes[] | select(.name == \"$1\") | .state"; }
# N connections through the router's service; prints the node of each (ERR on failure).
get_nodes() {
	local i
	for i in $(seq 1 "$1"); do
		in_ns curl -s --max-time 2 "http://$RA:27880/node" || echo -n ERR
		echo
	done
}

cat >"$T/router.ini" <<CFG
[router]
cluster_id = 7
; a multicast group; the router's address (FIG 8/9) is the interface's
discovery = $GROUP:$DPORT
discovery_interface = $RA
management = 127.0.78.9
announce_interval_ms = 100
miss_limit = 5
control = $SOCK

[service web]
listen = $RA:27880
policy = round-robin
allow = any
nodes = n1, n2
port = 27881
sticky = none

[node n1]
address = $N1
[node n2]
address = $N2
CFG

# --- configuration errors name file:line: [router]: key ----------------------
sed 's/^discovery_interface = .*/discovery_interface = 192.0.2.1/' "$T/router.ini" >"$T/badif.ini"
m1=$(in_ns "$B/lbfo-router" -c "$T/badif.ini" --check 2>&1)
sed 's/^discovery = .*/discovery = 224.0.0.9:27801/' "$T/router.ini" >"$T/badgroup.ini"
m2=$(in_ns "$B/lbfo-router" -c "$T/badgroup.ini" --check 2>&1)
m3=$(in_ns "$B/lbfo-router" -c "$T/router.ini" --check 2>&1)
if [[ "$m1" == *"badif.ini:5: [router]: discovery_interface: invalid value '192.0.2.1': not an address of this host"* &&
      "$m2" == *"badgroup.ini:4: [router]: discovery: invalid value '224.0.0.9:27801': 224.0.0.0/24"* &&
      "$m3" == *"configuration OK"* ]]; then
	pass router_mcast_config_errors
else
	fail router_mcast_config_errors "bad interface: $m1 | bad group: $m2 | good: $m3"
fi

# --- no route for the group yet: joining on any interface fails, and says so --
grep -v '^discovery_interface' "$T/router.ini" | sed "s/^management = /address = $RA\nmanagement = /" \
	>"$T/noroute.ini"
m=$(in_ns timeout 3 "$B/lbfo-router" -c "$T/noroute.ini" 2>&1)
rc=$?
if [ "$rc" = 1 ] && [[ "$m" == *"cannot join multicast group $GROUP on interface any"*"No such device"* ]]; then
	pass router_mcast_join_error
else
	fail router_mcast_join_error "exit $rc: $m"
fi
rm -f "$SOCK"

# Now make lo a multicast link with a route for the groups.
if ! in_ns ip link set lo multicast on || ! in_ns ip route add 224.0.0.0/4 dev lo; then
	fail router_mcast_netns "cannot enable multicast on lo in $NS"
	exit 1
fi

start_agent() { # name addr [extra args]
	local name=$1 addr=$2
	shift 2
	ip netns exec "$NS" "$B/lbfo-node" --address "$addr" --router "$GROUP:$DPORT" --cluster 7 \
		--interval 100 --state "$T/$name.state" "$@" 2>>"$T/$name.agent.log" &
	eval "AGENT_$name=$!"; PIDS+=($!)
}
for n in n1:$N1 n2:$N2; do
	ip netns exec "$NS" "$B/lbfo-testsrv" --listen "${n#*:}:27881" --name "${n%%:*}" 2>>"$T/${n%%:*}.srv.log" &
	PIDS+=($!)
done
ip netns exec "$NS" "$B/lbfo-router" -c "$T/router.ini" 2>"$T/router.log" &
ROUTER=$!; PIDS+=($ROUTER)
for _ in $(seq 1 40); do [ -S "$SOCK" ] && break; sleep 0.05; done
start_agent n1 $N1
start_agent n2 $N2 --ttl 1

# --- both nodes join through the group; FIG 8/9 reach the agents ------------
up=0
for _ in $(seq 1 60); do
	up=$(sj '[.nodes[] | select(.state == "up")] | length')
	[ "${up:-0}" = 2 ] && break
	sleep 0.05
done
if [ "${up:-0}" = 2 ] && grep -q "joined multicast group $GROUP:$DPORT on interface $RA" "$T/router.log"; then
	pass "router_mcast_join (both nodes up; $(grep -o 'joined multicast group.*' "$T/router.log"))"
else
	fail router_mcast_join "nodes up: ${up:-?}; router log: $(tr '\n' ' ' <"$T/router.log")"
	exit 1
fi
ok=0
for _ in $(seq 1 40); do
	grep -qx "router $RA" "$T/n1.state" 2>/dev/null && grep -qx "management 127.0.78.9" "$T/n1.state" &&
	grep -qx "router $RA" "$T/n2.state" 2>/dev/null && grep -qx "management 127.0.78.9" "$T/n2.state" &&
	{ ok=1; break; }
	sleep 0.05
done
if [ "$ok" = 1 ]; then
	pass "router_mcast_agents_learn_router (state files: $(tr '\n' ' ' <"$T/n1.state"))"
else
	fail router_mcast_agents_learn_router "n1: $(cat "$T/n1.state" 2>/dev/null); n2: $(cat "$T/n2.state" 2>/dev/null)"
fi

# --- connections through the service reach both backends --------------------
get_nodes 8 >"$T/both.txt"
c1=$(grep -cx n1 "$T/both.txt"); c2=$(grep -cx n2 "$T/both.txt")
if [ "$c1" -ge 2 ] && [ "$c2" -ge 2 ] && [ "$((c1 + c2))" = 8 ]; then
	pass "router_mcast_traffic (8/8 connections: n1 $c1, n2 $c2)"
else
	fail router_mcast_traffic "$(sort "$T/both.txt" | uniq -c | tr '\n' ' ')"
fi

# --- a foreign-cluster announcement to the group is dropped and counted ------
# (and one from an address that is no [node], valid otherwise)
before=$(sj '.discovery.dropped.cluster')
unk_before=$(sj '.discovery.unknown_node')
in_ns "$PY" - "$GROUP" "$DPORT" <<'PY'
import socket, struct, sys
def msg(cluster, src):
    return b"LBFO" + struct.pack("!BBH", 1, 0, 36) + socket.inet_aton(src) + \
        socket.inet_aton(sys.argv[1]) + struct.pack("!HHHH", 100, cluster, 1, 1) + bytes(12)
for src, cluster in (("127.0.78.11", 8), ("127.0.78.99", 7)):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((src, 0))
    u.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
    u.sendto(msg(cluster, src), (sys.argv[1], int(sys.argv[2])))
    u.close()
PY
after=$before; unk=$unk_before
for _ in $(seq 1 20); do
	after=$(sj '.discovery.dropped.cluster')
	unk=$(sj '.discovery.unknown_node')
	[ "${after:-0}" -gt "${before:-0}" ] && [ "${unk:-0}" -gt "${unk_before:-0}" ] && break
	sleep 0.05
done
up=$(sj '[.nodes[] | select(.state == "up")] | length')
if [ "${after:-0}" -gt "${before:-0}" ] && [ "${unk:-0}" -gt "${unk_before:-0}" ] &&
   [ "$up" = 2 ]; then
	pass "router_mcast_foreign_dropped (cluster drops ${before:-?} -> $after; unknown node ${unk_before:-?} -> ${unk:-?}; nodes still up $up)"
else
	fail router_mcast_foreign_dropped "cluster drops ${before:-?} -> ${after:-?}; up $up; discovery: $(sj '.discovery' | tr -d ' \n')"
fi

# --- an agent killed and restarted at once, within the detection window -----
# The node never fails; the new agent announces from another port, so the
# router tells it FIG 9 again (before the fix only a reply came, and its
# state file said "management 0.0.0.0"). The agent writes the router line
# alone until FIG 9 has told it the management address.
fails_before=$(sj '.nodes[] | select(.name == "n2") | .fails')
joins_before=$(sj '.nodes[] | select(.name == "n2") | .joins')
{ kill -9 "$AGENT_n2"; wait "$AGENT_n2"; } 2>/dev/null
rm -f "$T/n2.state"
: >"$T/n2.agent.log"
start_agent n2 $N2 --ttl 1
ok=0
for _ in $(seq 1 60); do
	grep -qx "management 127.0.78.9" "$T/n2.state" 2>/dev/null &&
	grep -q "agent of node n2 restarted (port" "$T/router.log" && { ok=1; break; }
	sleep 0.05
done
ev=$(rq events 2>/dev/null | grep -o "agent of node n2 restarted.*" | tail -1)
st=$(node_state n2)
fails_after=$(sj '.nodes[] | select(.name == "n2") | .fails')
joins_after=$(sj '.nodes[] | select(.name == "n2") | .joins')
if [ "$ok" = 1 ] && [ "$st" = up ] && [ "${fails_after:-x}" = "${fails_before:-y}" ] &&
   [ "${joins_after:-x}" = "${joins_before:-y}" ] &&
   [[ "$ev" == *"told router and management again"*"node still up"* ]] &&
   [ "$(wc -l <"$T/n2.state")" = 2 ] && grep -qx "router $RA" "$T/n2.state" &&
   ! grep -q "management 0.0.0.0" "$T/n2.agent.log" &&
   grep -q "management 127.0.78.9 (assign)" "$T/n2.agent.log" &&
   ! grep -q "node n2 failed\|node n2 rejoined" "$T/router.log"; then
	pass "router_mcast_agent_restart (n2 $st, fails ${fails_before} -> ${fails_after}; event: $ev; state file: $(tr '\n' ' ' <"$T/n2.state"))"
else
	fail router_mcast_agent_restart "ok=$ok n2 '$st' fails ${fails_before:-?} -> ${fails_after:-?} joins ${joins_before:-?} -> ${joins_after:-?}; event: '$ev'; state: $(tr '\n' ' ' <"$T/n2.state" 2>/dev/null); agent: $(tr '\n' ' ' <"$T/n2.agent.log")"
fi

# --- an agent with unicast targets believes only them ----------------------
# A stand-in router on 127.0.78.50:27802 (not lbfo-router: the real one
# hears the group only); an ASSIGN from 127.0.78.51 is dropped and reported
# once; the reply writes the router line alone, the ASSIGN the management.
ip netns exec "$NS" "$B/lbfo-node" --address 127.0.78.13 --router 127.0.78.50:27802 \
	--cluster 7 --interval 100 --state "$T/n3.state" 2>>"$T/n3.agent.log" &
AGENT_n3=$!; PIDS+=($AGENT_n3)
u=$(in_ns timeout 10 "$PY" - "$T/n3.state" <<'PY' 2>&1
import os, socket, struct, sys, time
state = sys.argv[1]
def msg(typ, func, router, mgmt, to):
    return (b"LBFO" + struct.pack("!BBH", 1, 0, 36) + socket.inet_aton(router) +
            socket.inet_aton(to[0]) + struct.pack("!HHHH", 0, 7, typ, func) +
            socket.inet_aton(router) + socket.inet_aton(mgmt) +
            struct.pack("!HH", 27802, to[1]))
def wait_state(cond):
    for _ in range(100):
        t = open(state).read() if os.path.exists(state) else ""
        if cond(t):
            break
        time.sleep(0.02)
    return t.strip().replace("\n", ";") or "none"
real = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
real.bind(("127.0.78.50", 27802))
real.settimeout(3)
fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fake.bind(("127.0.78.51", 27802))
_, agent = real.recvfrom(2048)
fake.sendto(msg(3, 4, "127.0.78.66", "127.0.78.67", agent), agent)
fake.sendto(msg(2, 3, "127.0.78.66", "0.0.0.0", agent), agent)
time.sleep(0.3)
out = ["foreign=" + wait_state(lambda t: True)]
real.sendto(msg(2, 3, "127.0.78.50", "0.0.0.0", agent), agent)
out.append("reply=" + wait_state(lambda t: "router" in t))
time.sleep(0.2)
out.append("reply_later=" + wait_state(lambda t: True))
real.sendto(msg(3, 4, "127.0.78.50", "127.0.78.9", agent), agent)
out.append("assign=" + wait_state(lambda t: "management" in t))
print(" ".join(out))
PY
)
{ kill "$AGENT_n3"; wait "$AGENT_n3"; } 2>/dev/null
if [ "$u" = "foreign=none reply=router 127.0.78.50 reply_later=router 127.0.78.50 assign=router 127.0.78.50;management 127.0.78.9" ] &&
   [ "$(grep -c 'ignoring' "$T/n3.agent.log")" = 1 ] &&
   grep -q "ignoring assign from 127.0.78.51:27802, which is no --router target" "$T/n3.agent.log"; then
	pass "router_mcast_agent_unicast_only ($u; $(grep -o 'ignoring assign from [0-9.:]*' "$T/n3.agent.log"))"
else
	fail router_mcast_agent_unicast_only "$u; agent: $(tr '\n' ' ' <"$T/n3.agent.log" 2>/dev/null)"
fi

# --- killing an agent: failed within the detection window ---------------------
# miss_limit 5 x 100 ms = 500 ms after its last hello (sent <= 100 ms before
# the kill), checked every router tick (50 ms): 400..~700 ms after the kill.
# The router's own figure ("none for N ms") must be in the window; the wall
# clock here, which includes the polling, gets a margin for a loaded host.
t0=$(date +%s%N)
{ kill -9 "$AGENT_n1"; wait "$AGENT_n1"; } 2>/dev/null
st=""
for _ in $(seq 1 100); do
	st=$(node_state n1)
	[ "$st" = failed ] && break
	[ $(($(date +%s%N) - t0)) -gt 3000000000 ] && break
	sleep 0.02
done
dt=$((($(date +%s%N) - t0) / 1000000))
reason=$(sj '.nodes[] | select(.name == "n1") | .reason')
silent=$(sed -n 's/.*none for \([0-9]*\) ms.*/\1/p' <<<"$reason")
get_nodes 8 >"$T/after.txt"
a2=$(grep -cx n2 "$T/after.txt")
if [ "$st" = failed ] && [ "$dt" -ge 300 ] && [ "$dt" -le 2500 ] &&
   [[ "$reason" == *"missed 5 announcements"* ]] && [ "${silent:-0}" -ge 500 ] &&
   [ "${silent:-0}" -le 1000 ] && [ "$a2" = 8 ]; then
	pass "router_mcast_node_failed (n1 failed ${dt} ms after its agent was killed: $reason; 8/8 new connections on n2)"
else
	fail router_mcast_node_failed "n1 '$st' after ${dt} ms ($reason); after: $(sort "$T/after.txt" | uniq -c | tr '\n' ' ')"
fi

# --- the agent returns: the node rejoins and is told the addresses again ------
rm -f "$T/n1.state"
start_agent n1 $N1
st=""
for _ in $(seq 1 60); do
	st=$(node_state n1)
	[ "$st" = up ] && grep -qx "management 127.0.78.9" "$T/n1.state" 2>/dev/null && break
	sleep 0.05
done
get_nodes 8 >"$T/rejoin.txt"
r1=$(grep -cx n1 "$T/rejoin.txt"); r2=$(grep -cx n2 "$T/rejoin.txt")
if [ "$st" = up ] && grep -qx "router $RA" "$T/n1.state" 2>/dev/null &&
   grep -qx "management 127.0.78.9" "$T/n1.state" &&
   [ "$r1" -ge 2 ] && [ "$r2" -ge 2 ] && [ "$((r1 + r2))" = 8 ] &&
   grep -q "node n1 rejoined" "$T/router.log"; then
	pass "router_mcast_node_rejoin (n1 up again, told router $RA management 127.0.78.9 (FIG 9); 8/8 connections: n1 $r1, n2 $r2)"
else
	fail router_mcast_node_rejoin "n1 '$st'; state: $(cat "$T/n1.state" 2>/dev/null); $(sort "$T/rejoin.txt" | uniq -c | tr '\n' ' ')"
fi

if [ "$FAILS" -ne 0 ]; then
	echo "--- router log"; tail -30 "$T/router.log"
	for n in n1 n2 n3; do echo "--- $n agent log"; tail -5 "$T/$n.agent.log" 2>/dev/null; done
	exit 1
fi
exit 0
