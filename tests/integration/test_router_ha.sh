#!/bin/bash
# Integration test of a pair of lbfo-routers behind a virtual address moved
# by keepalived (VRRP), with the example configuration of
# examples/keepalived (only its site settings replaced).
#
# One L2 segment, 198.18.96.0/24 (no other test uses it): a bridge in a
# network namespace of its own joins a client namespace (21 client
# addresses), two router namespaces (lbfo-router under
# lbfo-router-supervise, and keepalived, each really running there) and
# three node namespaces (lbfo-testsrv as the backend, lbfo-node announcing
# to BOTH routers' own addresses). Nothing is added to the root namespace.
#
#   r1 198.18.96.1   r2 198.18.96.2   VIP 198.18.96.10 (service web :8080)
#   n1..n3 198.18.96.11-13 (:8081)    clients 198.18.96.100-121
#
# Checks: the example passes keepalived --config-test; one router holds the
# VIP and the other already listens on it (ip_nonlocal_bind until the
# router sets IP_FREEBIND); clients connect in a loop through the VIP while
# the master's lbfo-router is killed with -9 (keepalived stays up): the
# gap until the first connection through the VIP succeeds again (< 1 s),
# the connections that failed in it, and with [sync] (HA_SYNC=1, the
# default) the replication lag and that every client keeps its node; a
# restarted lbfo-router on the old master does not take the VIP back (no
# second gap); a master that reaches no node hands the VIP over; when
# neither reaches a node, one of them keeps it (no FAULT on both).
#
# HA_SYNC=0 leaves out [sync] (for a router without it) and skips only the
# affinity assertion; it still prints how many clients moved.
# Prints "PASS name" / "FAIL name: why"; exits non-zero on any failure.
# Every loop bounded; every namespace and process removed on exit.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck disable=SC2034  # read by lib/router.sh
RT_TEST=router-ha
# shellcheck source=lib/router.sh
source tests/integration/lib/router.sh

HA_SYNC=${HA_SYNC:-1}
EX=$ROOT/examples/keepalived
NET=198.18.96
VIP=$NET.10
PORT=8080
NODEPORT=8081
DPORT=7400
SPORT=7500
RA=([1]=$NET.1 [2]=$NET.2)
NA=([1]=$NET.11 [2]=$NET.12 [3]=$NET.13)
CFIRST=100
CLAST=120
LAGCLIENT=$NET.121
P=lbfoha-$$
NS_BR=$P-br
NS_C=$P-c
NSR=([1]=$P-r1 [2]=$P-r2)
NSN=([1]=$P-n1 [2]=$P-n2 [3]=$P-n3)
ALLNS=("$NS_BR" "$NS_C" "${NSR[1]}" "${NSR[2]}" "${NSN[1]}" "${NSN[2]}" "${NSN[3]}")

# shellcheck disable=SC2317  # run by the EXIT trap (lib/router.sh)
rt_cleanup_extra() {
	local ns pid pids i
	for ns in "${ALLNS[@]}"; do
		[ -e "/run/netns/$ns" ] || continue
		for ((i = 0; i < 5; i++)); do
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[ -z "$pids" ] && break
			for pid in $pids; do kill -9 "$pid" 2>/dev/null; done
			sleep 0.1
		done
	done
	[ "${HA_KEEP:-0}" = 1 ] && cp -r "$T" "$T.kept" && echo "kept: $T.kept"
	[ -e "/run/netns/$NS_BR" ] && ip -n "$NS_BR" link del br0 2>/dev/null
	for ns in "${ALLNS[@]}"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns" 2>/dev/null
	done
}

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# (in the foreground only: "in_ns ... &" would make $! a subshell's pid;
# "ip netns exec NS CMD &" gives CMD's own, as ip execs it)
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# Which routers hold the VIP: "r1", "r2", "r1 r2" or "".
holder() {
	local k hs=()
	for k in 1 2; do
		ip -n "${NSR[$k]}" -4 -o addr show dev eth0 2>/dev/null | grep -q " $VIP/" && hs+=("r$k")
	done
	echo "${hs[*]}"
}
# The pid of the process called COMM in namespace NS.
ns_pid_of() {
	local p
	for p in $(ip netns pids "$1" 2>/dev/null); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && { echo "$p"; return 0; }
	done
	return 1
}
vstate() { cut -d' ' -f1 "$T/r$1.state" 2>/dev/null; }
ctl() { local k=$1; shift; "$CTL" --socket "$T/r$k.sock" "$@"; }
nodes_up() { ctl "$1" status --json 2>/dev/null | jq '[.nodes[] | select(.state == "up")] | length' 2>/dev/null; }

for x in "$B/lbfo-router" "$B/lbfo-node" "$B/lbfo-testsrv" "$CTL"; do
	if [ ! -x "$x" ]; then
		fail router_ha_build "$x missing (build with ninja -C build)"
		exit 1
	fi
done
if [ "$(id -u)" != 0 ] || ! command -v keepalived >/dev/null; then
	fail router_ha_setup "needs root and keepalived (scripts/setup)"
	exit 1
fi

# --- the segment --------------------------------------------------------------
root_before=$(ip -4 -o addr show | grep -c " $NET\.")
setup_net() {
	local ns k tag
	for ns in "${ALLNS[@]}"; do
		ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
	done
	ip -n "$NS_BR" link add br0 type bridge &&
		ip -n "$NS_BR" link set br0 type bridge mcast_snooping 0 &&
		ip -n "$NS_BR" link set br0 up || return 1
	# Each namespace's end is eth0 (the example's interface), the other
	# end a port of br0. Both ends are made in their namespaces.
	join_seg() { # ns tag address...
		local ns=$1 tag=$2 a
		shift 2
		ip -n "$NS_BR" link add "v$tag" type veth peer name eth0 netns "$ns" &&
			ip -n "$NS_BR" link set "v$tag" master br0 up &&
			ip -n "$ns" link set eth0 up || return 1
		for a in "$@"; do ip -n "$ns" addr add "$a/24" dev eth0 || return 1; done
	}
	local caddr=()
	for ((k = CFIRST; k <= CLAST; k++)); do caddr+=("$NET.$k"); done
	join_seg "$NS_C" c "${caddr[@]}" "$LAGCLIENT" || return 1
	for k in 1 2; do
		join_seg "${NSR[$k]}" "r$k" "${RA[$k]}" || return 1
		# The backup must listen on the VIP before it holds it. The router
		# is to set IP_FREEBIND on its service sockets; until then the
		# namespace allows binding a foreign address.
		in_ns "${NSR[$k]}" sysctl -qw net.ipv4.ip_nonlocal_bind=1 || return 1
	done
	for k in 1 2 3; do join_seg "${NSN[$k]}" "n$k" "${NA[$k]}" || return 1; done
}
if ! setup_net; then
	fail router_ha_setup "could not build the namespaces and the bridge"
	exit 1
fi

# --- the example passes keepalived's own check (in a namespace with eth0) -----
if out=$(in_ns "${NSR[1]}" keepalived --config-test -f "$EX/keepalived.conf" 2>&1); then
	pass router_ha_example_config_test
else
	fail router_ha_example_config_test "$out"
fi

# --- configurations ---------------------------------------------------------------
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/sync.key"
chmod 600 "$T/sync.key"
for k in 1 2; do
	o=$((3 - k))
	{
		cat <<CFG
[router]
cluster_id = 9
discovery = ${RA[$k]}:$DPORT
; discovery tells the nodes the VIP as the router's address
address = $VIP
announce_interval = 100ms
miss_limit = 5
control = $T/r$k.sock

; the same policy table on both routers
[service web]
listen = $VIP:$PORT
policy = round-robin
allow = $NET.0/24
nodes = n1, n2, n3
port = $NODEPORT
sticky = address

[node n1]
address = ${NA[1]}
[node n2]
address = ${NA[2]}
[node n3]
address = ${NA[3]}
CFG
		if [ "$HA_SYNC" = 1 ]; then
			cat <<CFG

; session table replication with the other router
[sync]
listen = ${RA[$k]}:$SPORT
peers = ${RA[$o]}:$SPORT
key_file = $T/sync.key
CFG
		fi
	} >"$T/r$k.ini"
	# keepalived: the example with its site settings replaced, nothing else.
	sed -e "s|^\$LBFO_IFACE=.*|\$LBFO_IFACE=eth0|" \
		-e "s|^\$LBFO_VIP=.*|\$LBFO_VIP=$VIP/32|" \
		-e "s|^\$LBFO_VRID=.*|\$LBFO_VRID=196|" \
		-e "s|^\$LBFO_SOCKET=.*|\$LBFO_SOCKET=$T/r$k.sock|" \
		-e "s|^\$LBFO_DOWN_FILE=.*|\$LBFO_DOWN_FILE=$T/r$k.down|" \
		-e "s|^\$LBFO_STATE_FILE=.*|\$LBFO_STATE_FILE=$T/r$k.state|" \
		-e "s|^\$LBFOCTL=.*|\$LBFOCTL=$CTL|" \
		-e "s|^\$LBFO_DIR=.*|\$LBFO_DIR=$EX|" \
		"$EX/keepalived.conf" >"$T/ka$k.conf"
done
nset=$(grep -cE "^\\\$(LBFO_IFACE=eth0|LBFO_VIP=$VIP/32|LBFO_VRID=196|LBFO_SOCKET=$T/|LBFO_DOWN_FILE=$T/|LBFO_STATE_FILE=$T/|LBFOCTL=$CTL|LBFO_DIR=$EX)" "$T/ka1.conf")
if [ "$nset" != 8 ]; then
	fail router_ha_config "replaced $nset of the 8 site settings of $EX/keepalived.conf (renamed?)"
	exit 1
fi
if ! out=$("$B/lbfo-router" -c "$T/r1.ini" --check 2>&1); then
	hint=""
	[ "$HA_SYNC" = 1 ] && hint=" (HA_SYNC=1 writes a [sync] section: a router without session replication refuses it; HA_SYNC=0 runs the rest)"
	fail router_ha_config "lbfo-router --check: $out$hint"
	exit 1
fi

# --- start: backends and agents, routers, keepalived ----------------------------
for k in 1 2 3; do
	ip netns exec "${NSN[$k]}" "$B/lbfo-testsrv" --listen "${NA[$k]}:$NODEPORT" --name "n$k" \
		2>>"$T/n$k.srv.log" &
	PIDS+=($!)
	# to both routers' own addresses: the backup knows the live nodes too
	ip netns exec "${NSN[$k]}" "$B/lbfo-node" --address "${NA[$k]}" --router "${RA[1]}:$DPORT" \
		--router "${RA[2]}:$DPORT" --cluster 9 --interval 100 --state "$T/n$k.nstate" \
		2>>"$T/n$k.agent.log" &
	AGENT[k]=$!
	PIDS+=($!)
done
start_router() { # k
	ip netns exec "${NSR[$1]}" "$EX/lbfo-router-supervise" -s "$T/r$1.sock" -l "$CTL" "$T/r$1.down" \
		"$B/lbfo-router" -c "$T/r$1.ini" 2>>"$T/r$1.log" &
	PIDS+=($!)
}
start_router 1
start_router 2
for k in 1 2; do
	ip netns exec "${NSR[$k]}" keepalived -f "$T/ka$k.conf" -n -l -D -G -P \
		-p "$T/ka$k.pid" -r "$T/ka$k.vrrp.pid" >"$T/ka$k.log" 2>&1 &
	KA[k]=$!
	PIDS+=($!)
done

# --- one router holds the VIP, the other listens on it already -------------------
# Both start in BACKUP with equal priorities; on a loaded host both may time
# out and become master, and the lower address then yields. Wait until one
# holds the VIP as MASTER, the other is BACKUP, and that lasted 1 s.
t0=$(now_ms)
ok=0
since=""
last=""
for ((i = 0; i < 300 && $(now_ms) - t0 < 15000; i++)); do
	h=$(holder)
	cur=""
	if [[ "$h" == r? ]] && [ "$(vstate "${h#r}")" = MASTER ] && [ "$(vstate $((3 - ${h#r})))" = BACKUP ]; then
		cur=$h
	fi
	if [ -z "$cur" ] || [ "$cur" != "$last" ]; then since=$(now_ms); fi
	last=$cur
	if [ -n "$cur" ] && [ $(($(now_ms) - since)) -ge 1000 ] &&
	   [ "$(nodes_up 1)" = 3 ] && [ "$(nodes_up 2)" = 3 ]; then
		ok=1
		break
	fi
	sleep 0.05
done
if [ "$ok" = 1 ]; then
	M=${h#r}
	S=$((3 - M))
	pass "router_ha_elected (r$M holds $VIP as MASTER, r$S BACKUP, stable since $((since - t0)) ms after start; both routers see 3 nodes up)"
else
	fail router_ha_elected "VIP held by '$(holder)', states r1 $(vstate 1) r2 $(vstate 2); nodes up: r1 $(nodes_up 1), r2 $(nodes_up 2); keepalived r1: $(tail -n 5 "$T/ka1.log" | tr '\n' ' ')"
	exit 1
fi
# keepalived really runs in the router namespaces, nothing in the root one
ka_ok=1
for k in 1 2; do
	for pf in "$T/ka$k.pid" "$T/ka$k.vrrp.pid"; do
		p=$(cat "$pf" 2>/dev/null)
		[ -n "$p" ] && [ "$(ip netns identify "$p" 2>/dev/null)" = "${NSR[$k]}" ] || ka_ok=0
	done
done
root_after=$(ip -4 -o addr show | grep -c " $NET\.")
if [ "$ka_ok" = 1 ] && [ "$root_after" = "$root_before" ]; then
	pass "router_ha_namespaces (keepalived and its VRRP process in ${NSR[1]} and ${NSR[2]}; no $NET.x address in the root namespace)"
else
	fail router_ha_namespaces "keepalived in its namespaces: $ka_ok; root addresses in $NET.0/24: $root_before -> $root_after"
fi
# one listening socket per worker thread (SO_REUSEPORT): the same address
listen=$(in_ns "${NSR[$S]}" ss -Hltn "sport = :$PORT" | awk '{print $4}' | sort -u)
if [ "$listen" = "$VIP:$PORT" ] && [ "$(holder)" = "r$M" ]; then
	pass "router_ha_backup_listens (r$S listens on $listen without holding it)"
else
	fail router_ha_backup_listens "r$S listens on '$listen'; VIP held by '$(holder)'"
fi

# --- clients in a loop through the VIP ----------------------------------------------
# Three streams at once, each with a third of the client addresses: every
# round each of its clients once, in a new random order (so that a router
# allocating afresh does not repeat the first router's choices by chance).
# A connection is GET /node, answered with the backend's name. 0.2 s to
# connect: the handshake is the kernel's work, quick however loaded the
# host, and a SYN lost while the VIP moves (sent to the old master's MAC
# after it dropped the address, before the new one's gratuitous ARP) would
# otherwise stall the stream for TCP's 1 s retransmission, measuring that
# instead of the gap. Then 2 s for the answer, which needs the router and
# the backend scheduled. One line per attempt: start end client
# node|ERR:why (ERR:connect-... or ERR:answer-...). Bounded by time, count
# and a stop file.
cat >"$T/prober.py" <<'PY'
import os, random, socket, sys, threading, time
out, vip, port, net, first, last, secs, stop = sys.argv[1:9]
port, first, last, secs = int(port), int(first), int(last), float(secs)
clients = ["%s.%d" % (net, k) for k in range(first, last + 1)]
end = time.time() + secs
lock = threading.Lock()
f = open(out, "w", buffering=1)

def stream(mine, seed):
    rnd = random.Random(seed)
    n = 0
    while time.time() < end and n < 20000 and not os.path.exists(stop):
        order = mine[:]
        rnd.shuffle(order)
        for src in order:
            t0 = time.time()
            s = socket.socket()
            stage = "connect-"
            try:
                s.settimeout(0.2)
                s.bind((src, 0))
                s.connect((vip, port))
                stage = "answer-"
                s.settimeout(2.0)
                s.sendall(b"GET /node HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    data += b
                body = data.split(b"\r\n\r\n", 1)[1].decode().strip() if b"\r\n\r\n" in data else ""
                res = body if body else "ERR:empty"
            except OSError as e:
                res = "ERR:" + stage + e.__class__.__name__
            finally:
                s.close()
            with lock:
                f.write("%.4f %.4f %s %s\n" % (t0, time.time(), src, res))
            n += 1
            time.sleep(0.005)

ts = [threading.Thread(target=stream, args=(clients[i::3], 4242 + i)) for i in range(3)]
for t in ts:
    t.start()
for t in ts:
    t.join()
PY
ip netns exec "$NS_C" "$PY" "$T/prober.py" "$T/probe.txt" "$VIP" "$PORT" "$NET" "$CFIRST" "$CLAST" 40 "$T/probe.stop" &
PROBER=$!
PIDS+=($!)
# the attempts in the order they started
probes() { sort -n -k1,1 "$T/probe.txt"; }
sleep 1.5

# Before the kill: every client answered, always by the same node.
pre=$(awk '{print $3, $4}' "$T/probe.txt" | sort -u)
pre_err=$(grep -c ' ERR' "$T/probe.txt")
pre_n=$(wc -l <"$T/probe.txt")
pre_clients=$(echo "$pre" | awk '{print $1}' | sort -u | wc -l)
pre_pairs=$(echo "$pre" | wc -l)
if [ "$pre_err" = 0 ] && [ "$pre_clients" = $((CLAST - CFIRST + 1)) ] && [ "$pre_pairs" = "$pre_clients" ]; then
	pass "router_ha_clients ($pre_n connections of $pre_clients clients through $VIP, each client on one node: $(echo "$pre" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}' | sed 's/, $//'))"
else
	fail router_ha_clients "$pre_err errors in $pre_n connections; $pre_clients clients, $pre_pairs client-node pairs"
fi

# Replication lag: from a new client's connection through the VIP (the
# master makes its session) until the backup's session table has it, asked
# every 2 ms over the backup's control socket (lbfoctl's request line
# "sessions json"; a path socket is reachable from any network namespace).
lag=""
if [ "$HA_SYNC" = 1 ]; then
	lag=$(in_ns "$NS_C" "$PY" -c '
import json, socket, sys, time
src, vip, port, ctl = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def has(client):
    u = socket.socket(socket.AF_UNIX)
    u.settimeout(2)
    u.connect(ctl)
    u.sendall(b"sessions json\n")
    data = b""
    while True:
        b = u.recv(65536)
        if not b:
            break
        data += b
    u.close()
    head, _, body = data.partition(b"\n")
    return head == b"ok" and any(e["client"] == client for e in json.loads(body)["entries"])
s = socket.socket(); s.settimeout(2); s.bind((src, 0))
s.connect((vip, port))
t = time.time()
s.sendall(b"GET /node HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
while s.recv(4096):
    pass
s.close()
while time.time() - t < 3:
    if has(src):
        print("%.1f" % ((time.time() - t) * 1000))
        break
    time.sleep(0.002)
' "$LAGCLIENT" "$VIP" "$PORT" "$T/r$S.sock" 2>"$T/lag.err")
	if [ -n "$lag" ]; then
		pass "router_ha_sync_lag (a new session on r$M is in r$S's table $lag ms after the connection)"
	else
		fail router_ha_sync_lag "the session of $LAGCLIENT made on r$M did not reach r$S within 3 s $(head -c 300 "$T/lag.err")"
	fi
fi

# --- the master's lbfo-router is killed; keepalived stays up ----------------------------
if [ "$(holder)" != "r$M" ]; then
	fail router_ha_failover "the VIP moved before the kill: now on '$(holder)'; keepalived r$M: $(grep -E 'STATE|priority' "$T/ka$M.log" | tail -n 4 | tr '\n' ' ')"
	exit 1
fi
RPID=$(ns_pid_of "${NSR[$M]}" lbfo-router)
tkill=$EPOCHREALTIME
kill -9 "$RPID"
moved=""
for ((i = 0; i < 500; i++)); do
	if [ "$(holder)" = "r$S" ]; then moved=$(awk -v a="$tkill" -v b="$EPOCHREALTIME" 'BEGIN{printf "%d", (b - a) * 1000}'); break; fi
	sleep 0.01
done
sleep 1.5
# gap: from the kill to the end of the first connection that started after
# it and succeeded; failed: those that started after the kill and before
# that end (one still trying then counts: it failed later).
read -r gap first_ok failed < <(probes | awk -v k="$tkill" '
	$1 > k && $4 !~ /^ERR/ && (ok == "" || $2 < ok) { ok = $2 }
	{ line[NR] = $0; st[NR] = $1; r[NR] = $4 }
	END {
		if (ok == "") { print -1, 9e99, 0; exit }
		for (i = 1; i <= NR; i++) if (st[i] > k && st[i] < ok && r[i] ~ /^ERR/) f++
		printf "%d %.4f %d\n", (ok - k) * 1000, ok, f
	}')
why=$(awk -v k="$tkill" -v e="$first_ok" '$1 > k && $1 < e && $4 ~ /^ERR/ {print $4}' "$T/probe.txt" | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}' | sed 's/, $//')
if [ -n "$moved" ] && [ "$gap" -ge 0 ] && [ "$gap" -lt 1000 ] && [ "$(holder)" = "r$S" ]; then
	pass "router_ha_failover (lbfo-router on r$M killed -9: VIP on r$S after $moved ms; gap $gap ms until the first connection through the VIP succeeded; $failed connections failed in it${why:+: $why}; keepalived on r$M still up: $(kill -0 "${KA[$M]}" 2>/dev/null && echo yes || echo no))"
else
	fail router_ha_failover "VIP now on '$(holder)' (moved after ${moved:-never} ms); gap ${gap} ms (want 0..999); $failed failed${why:+: $why}"
fi

# Affinity: each client's node after the takeover against before it.
awk -v k="$tkill" '$2 < k && $4 !~ /^ERR/ {print $3, $4}' "$T/probe.txt" | sort -u >"$T/before.txt"
awk -v s="$first_ok" '$1 >= s && $4 !~ /^ERR/ {print $3, $4}' "$T/probe.txt" | sort -u >"$T/after.txt"
nclients=$(awk '{print $1}' "$T/before.txt" | sort -u | wc -l)
nafter=$(awk '{print $1}' "$T/after.txt" | sort -u | wc -l)
nmoved=$(join "$T/before.txt" "$T/after.txt" | awk '$2 != $3' | awk '{print $1}' | sort -u | wc -l)
# a client answered by two nodes after the takeover moved too
nsplit=$(awk '{print $1}' "$T/after.txt" | uniq -d | wc -l)
if [ "$HA_SYNC" = 1 ]; then
	if [ "$nafter" = "$nclients" ] && [ "$nmoved" = 0 ] && [ "$nsplit" = 0 ]; then
		pass "router_ha_affinity (all $nclients clients on the same node through r$S as through r$M)"
	else
		fail router_ha_affinity "$nmoved of $nclients clients on another node after the takeover ($nsplit on two), $nafter answered"
	fi
else
	echo "NOTE router_ha_affinity not asserted (HA_SYNC=0): $nmoved of $nclients clients moved to another node after the takeover ($nafter answered; with HA_SYNC=1 this would fail)"
fi

# --- the old master's lbfo-router comes back: no failback, no second gap ------------------
prio_ok() { grep -c "Changing effective priority from 50 to 100" "$T/ka$1.log"; }
prio_low() { grep -c "Changing effective priority from 100 to 50" "$T/ka$1.log"; }
# at full priority: every fall of lbfo_nodes_up has been followed by a rise
# (whether it fell while lbfo-router was away depends on fall x interval)
full() { [ "$(prio_low "$1")" = "$(prio_ok "$1")" ]; }
tback=$EPOCHREALTIME
start_router "$M"
ok=0
for ((i = 0; i < 100; i++)); do
	[ "$(cat "$T/r$M.down" 2>/dev/null)" = 0 ] && [ "$(vstate "$M")" = BACKUP ] &&
		[ "$(nodes_up "$M")" = 3 ] && full "$M" && { ok=1; break; }
	sleep 0.1
done
# then a while at full priority, equal to the master's
sleep 1.5
full "$M" || ok=0
touch "$T/probe.stop"
wait "$PROBER" 2>/dev/null
read -r n2 e2 < <(awk -v k="$tback" '$1 > k {n++; if ($4 ~ /^ERR/) e++} END {printf "%d %d\n", n, e}' "$T/probe.txt")
span=$(awk -v a="$tback" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')
if [ "$ok" = 1 ] && [ "$(holder)" = "r$S" ] && [ "$e2" = 0 ] && [ "$n2" -gt 0 ]; then
	pass "router_ha_no_failback (lbfo-router restarted on r$M: r$M BACKUP at full priority, VIP stays on r$S; $n2 connections in the next $span s, none failed)"
else
	fail router_ha_no_failback "r$M down file $(cat "$T/r$M.down" 2>/dev/null), state $(vstate "$M"), full priority: $ok (falls $(prio_low "$M"), rises $(prio_ok "$M")); VIP on '$(holder)'; $e2 of $n2 connections failed"
fi

# --- a master that reaches no node hands the VIP over ---------------------------------
# r$S (the master now) stops hearing the nodes' announcements.
in_ns "${NSR[$S]}" iptables -w 5 -I INPUT -p udp --dport "$DPORT" -j DROP
tblock=$EPOCHREALTIME
moved=""
for ((i = 0; i < 80; i++)); do
	if [ -z "$moved" ] && [ "$(holder)" = "r$M" ]; then
		moved=$(awk -v a="$tblock" -v b="$EPOCHREALTIME" 'BEGIN{printf "%d", (b - a) * 1000}')
	fi
	# the notify script records the state a moment after the change
	[ -n "$moved" ] && [ "$(vstate "$S")" = BACKUP ] && break
	sleep 0.1
done
if [ -n "$moved" ] && [ "$(vstate "$S")" = BACKUP ]; then
	pass "router_ha_no_nodes_one (r$S hears no node: its priority falls by 50 and r$M takes the VIP after $moved ms; r$S BACKUP, not FAULT)"
else
	fail router_ha_no_nodes_one "VIP on '$(holder)', r$S $(vstate "$S"), nodes up r$S $(nodes_up "$S")"
fi
rise=$(prio_ok "$S")
in_ns "${NSR[$S]}" iptables -w 5 -D INPUT -p udp --dport "$DPORT" -j DROP
# r$S hears the nodes again: wait for its priority to come back (rise 2)
for ((i = 0; i < 60; i++)); do
	[ "$(prio_ok "$S")" -gt "$rise" ] && break
	sleep 0.1
done

# --- neither router reaches a node: one of them keeps the VIP --------------------------
kill -STOP "${AGENT[1]}" "${AGENT[2]}" "${AGENT[3]}"
low() { grep -c "Changing effective priority from 100 to 50" "$T/ka$1.log"; }
l1=$(low 1)
l2=$(low 2)
# From the stop until both routers' scripts have failed (the nodes' window,
# then fall x interval) and 1.5 s after: every poll one holder, no FAULT.
tstop=$(now_ms)
bad=""
seen=""
both=""
for ((i = 0; i < 300 && $(now_ms) - tstop < 15000; i++)); do
	h=$(holder)
	[[ "$h" == r? ]] || bad="$bad ${h:-none}"
	seen="$seen $h"
	for k in 1 2; do [ "$(vstate "$k")" = FAULT ] && bad="$bad r$k-FAULT"; done
	if [ -z "$both" ] && [ "$(low 1)" -gt "$l1" ] && [ "$(low 2)" -gt "$l2" ]; then
		both=$(now_ms)
	fi
	[ -n "$both" ] && [ $(($(now_ms) - both)) -ge 1500 ] && break
	sleep 0.1
done
holders=$(echo "$seen" | tr ' ' '\n' | grep . | sort -u | tr '\n' ' ')
if [ -n "$both" ] && [ -z "$bad" ]; then
	pass "router_ha_no_nodes_both (no router sees a node: both lowered by 50 after $((both - tstop)) ms, neither in FAULT; VIP held by ${holders% } throughout, $i polls)"
else
	fail router_ha_no_nodes_both "both lowered: ${both:+yes}${both:-no} (nodes up r1 $(nodes_up 1), r2 $(nodes_up 2)); bad polls:${bad:- none}; holders: $holders"
fi
kill -CONT "${AGENT[1]}" "${AGENT[2]}" "${AGENT[3]}"

# --- nothing of the test is left in the root namespace (the rest at exit) ---------------------
root_after=$(ip -4 -o addr show | grep -c " $NET\.")
[ "$root_after" = "$root_before" ] || fail router_ha_root_untouched "the root namespace got $NET.x addresses"

[ "$FAILS" = 0 ] || {
	for k in 1 2; do echo "--- keepalived r$k (last lines)"; tail -n 15 "$T/ka$k.log"; echo "--- lbfo-router r$k"; tail -n 10 "$T/r$k.log"; done
}
exit $((FAILS > 0))
