#!/bin/bash
# Integration test of lbfo-router (seed 002's cluster router): real
# backends (lbfo-testsrv) on 127.0.77.x, real node agents (lbfo-node),
# real load (wrk), real clients bound to many 127.0.80-83.x addresses.
# Prints "PASS name" / "FAIL name: why"; exits non-zero on any failure.
# Only loopback addresses; every loop bounded; everything started is
# killed on exit, also on failure.
set -u
cd "$(dirname "$0")/../.."
RT_TEST=router-test
source tests/integration/lib/router.sh

for x in lbfo-router lbfo-node lbfo-testsrv; do
	if [ ! -x "$B/$x" ]; then
		fail router_build "$B/$x missing (build with ninja -C build)"
		exit 1
	fi
done

RA=127.0.77.1; N1=127.0.77.11; N2=127.0.77.12
DPORT=27400
SOCK=$T/router.sock

cat >"$T/router.ini" <<CFG
[router]
cluster_id = 7
discovery = $RA:$DPORT
management = 127.0.77.9
announce_interval_ms = 100
miss_limit = 5
session_table_size = 100000
control = $SOCK

; FIG 5: web is allocated twice to n1, once to n2; only our clients.
[service web]
listen = $RA:28080
policy = weighted
allow = 127.0.77.0/24, 127.0.80.0/22
nodes = n1:2, n2:1
port = 28081
sticky = address

; every connection a new session: the load test counts sessions
[service load]
listen = $RA:28070
policy = weighted
allow = any
nodes = n1:2, n2:1
port = 28081
sticky = address+port
connect_timeout_ms = 300

[service echo]
listen = $RA:28090
policy = round-robin
allow = any
nodes = n1, n2
port = 28091
sticky = none

[node n1]
address = $N1
[node n2]
address = $N2
CFG

start_node() { # name addr
	"$B/lbfo-testsrv" --listen "$2:28081" --listen "$2:28091" --name "$1" --big 67108864 \
		2>>"$T/$1.srv.log" &
	eval "SRV_$1=$!"; PIDS+=($!)
	"$B/lbfo-node" --address "$2" --router "$RA:$DPORT" --cluster 7 --interval 100 \
		--state "$T/$1.state" 2>>"$T/$1.agent.log" &
	eval "AGENT_$1=$!"; PIDS+=($!)
}

ctl() { "$CTL" --socket "$SOCK" "$@"; }
# jq over the status document
sj() { ctl status --json | jq -r "$1"; }

# --- configuration errors name file:line: [section]: key ---------------------
printf '[router]\ncluster_id = 7\n\n[service web]\nlisten = 127.0.77.1:1\npolicy = fastest\n' >"$T/bad.ini"
msg=$("$B/lbfo-router" -c "$T/bad.ini" --check 2>&1)
if [[ "$msg" == *"bad.ini:6: [service web]: policy: invalid value 'fastest'"* ]]; then
	pass router_config_errors
else
	fail router_config_errors "got: $msg"
fi

"$B/lbfo-router" -c "$T/router.ini" 2>"$T/router.log" &
ROUTER=$!; PIDS+=($ROUTER)
start_node n1 $N1
start_node n2 $N2

# --- discovery: both nodes join; FIG 8/9 reach the agents --------------------
up=0
for _ in $(seq 1 50); do
	up=$(sj '[.nodes[] | select(.state == "up")] | length' 2>/dev/null || echo 0)
	[ "$up" = 2 ] && break
	sleep 0.1
done
if [ "$up" = 2 ] && grep -q "router $RA" "$T/n1.state" 2>/dev/null &&
   grep -q "management 127.0.77.9" "$T/n1.state"; then
	pass router_discovery_join
else
	fail router_discovery_join "nodes up: $up; n1 state: $(cat "$T/n1.state" 2>/dev/null)"
	cat "$T/router.log"
	exit 1
fi
mode=$(stat -c %a "$SOCK")
[ "$mode" = 600 ] && pass router_control_mode || fail router_control_mode "mode $mode"

# A client helper: N clients from distinct source addresses, each making
# R connections (GET /node); prints "address node" per connection. Client
# i has address 127.0.(80 + i / 250).(1 + i % 250): 1000 distinct clients.
clients() { # service-port first n [requests-per-client]
	python3 - "$@" <<'PY'
import socket, sys
port, first, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
per = int(sys.argv[4]) if len(sys.argv) > 4 else 1
for i in range(n):
    k = first + i
    src = "127.0.%d.%d" % (80 + k // 250, 1 + k % 250)
    for _ in range(per):
        try:
            s = socket.socket()
            s.settimeout(3)
            s.bind((src, 0))
            s.connect(("127.0.77.1", port))
            s.sendall(b"GET /node HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            s.close()
            body = data.split(b"\r\n\r\n", 1)[1].decode() if b"\r\n\r\n" in data else "ERR"
        except OSError as e:
            body = "ERR"
        print(src, body)
PY
}

# --- weight 2:1 splits new sessions 2:1 (+-5 %) --------------------------------
clients 28080 0 240 >"$T/split.txt"
n1=$(grep -c ' n1$' "$T/split.txt"); n2=$(grep -c ' n2$' "$T/split.txt")
ratio=$(echo "scale=3; $n1 / ($n2 + 0.0001)" | bc)
if [ "$((n1 + n2))" = 240 ] && [ "$(echo "$ratio >= 1.9 && $ratio <= 2.1" | bc)" = 1 ]; then
	pass "router_weight_2to1 (n1 $n1, n2 $n2, ratio $ratio)"
else
	fail router_weight_2to1 "n1 $n1 n2 $n2 ratio $ratio (want 2 +-5 %)"
fi

# Real load with wrk: every connection a new session (Connection: close,
# sticky address+port); sessions per node from the router's metrics.
if command -v wrk >/dev/null; then
	wrk -t2 -c20 -d3s -H "Connection: close" "http://$RA:28070/" >"$T/wrk.txt" 2>&1
	s1=$(ctl metrics | awk '/^lbfo_router_node_sessions_total\{service="load",node="n1"\}/ {print $2}')
	s2=$(ctl metrics | awk '/^lbfo_router_node_sessions_total\{service="load",node="n2"\}/ {print $2}')
	errs=$(grep -c "Socket errors\|Non-2xx" "$T/wrk.txt")
	ratio=$(echo "scale=3; ${s1:-0} / (${s2:-0} + 0.0001)" | bc)
	if [ "${s1:-0}" -gt 500 ] && [ "$errs" = 0 ] &&
	   [ "$(echo "$ratio >= 1.9 && $ratio <= 2.1" | bc)" = 1 ]; then
		pass "router_wrk_load_2to1 (sessions n1 $s1, n2 $s2, ratio $ratio, $(grep Requests/sec "$T/wrk.txt" | tr -s ' '))"
	else
		fail router_wrk_load_2to1 "sessions n1 ${s1:-?} n2 ${s2:-?} ratio $ratio; $(cat "$T/wrk.txt")"
	fi
else
	fail router_wrk_load_2to1 "wrk not installed (scripts/setup)"
fi

# --- a client sticks to its node -----------------------------------------------
clients 28080 250 1 20 >"$T/sticky.txt"
STICKY_ADDR=$(awk 'NR==1{print $1}' "$T/sticky.txt")
distinct=$(awk '{print $2}' "$T/sticky.txt" | sort -u | wc -l)
cnt=$(wc -l <"$T/sticky.txt")
if [ "$cnt" = 20 ] && [ "$distinct" = 1 ] && ! grep -q ERR "$T/sticky.txt"; then
	pass "router_sticky (20 connections of $STICKY_ADDR -> $(awk 'NR==1{print $2}' "$T/sticky.txt"))"
else
	fail router_sticky "$(sort "$T/sticky.txt" | uniq -c | tr '\n' ' ')"
fi

# --- an ineligible client is refused, counted, and reaches no node -------------
before=$(sj '[.services[] | select(.name == "web") | .nodes[].conns] | add')
out=$(python3 - <<'PY'
import socket
s = socket.socket(); s.settimeout(3); s.bind(("127.0.79.1", 0))
s.connect(("127.0.77.1", 28080))
try:
    s.sendall(b"GET /node HTTP/1.1\r\nHost: x\r\n\r\n")
    print("got:%r" % s.recv(100))
except OSError as e:
    print("refused:%s" % e.__class__.__name__)
PY
)
after=$(sj '[.services[] | select(.name == "web") | .nodes[].conns] | add')
acl=$(sj '.services[] | select(.name == "web") | .refused.acl')
if [[ "$out" == "got:b''" || "$out" == refused:* ]] && [ "$acl" -ge 1 ] && [ "$before" = "$after" ]; then
	pass "router_acl_refused ($out, refused acl $acl, node connections unchanged $after)"
else
	fail router_acl_refused "client $out; refused acl $acl; node conns $before -> $after"
fi

# --- half-close: the reply comes only after the client's EOF passed through ---
hc=$(python3 - <<'PY'
import socket, os
data = os.urandom(300000)
s = socket.create_connection(("127.0.77.1", 28090), timeout=10)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print("ok" if got == data else "bad %d/%d" % (len(got), len(data)))
PY
)
[ "$hc" = ok ] && pass router_half_close || fail router_half_close "$hc"

# --- a large transfer arrives intact (64 MiB each way, sha256) ----------------
head -c $((64 << 20)) /dev/urandom >"$T/big.bin"
big=$(python3 - "$T/big.bin" <<'PY'
import socket, hashlib, sys, threading, time
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("127.0.77.1", 28090), timeout=30)
t0 = time.time()
def send():
    s.sendall(data); s.shutdown(socket.SHUT_WR)
th = threading.Thread(target=send); th.start()
h = hashlib.sha256(); n = 0
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    h.update(b); n += len(b)
th.join()
ok = h.hexdigest() == hashlib.sha256(data).hexdigest() and n == len(data)
print("ok %.0f MB/s" % (2 * n / 1e6 / (time.time() - t0)) if ok else "bad %d bytes" % n)
PY
)
# and a 64 MiB response through the web service, against the pattern
want=$(python3 -c "
import hashlib
p = bytes((ord('a') + i % 26) for i in range(1 << 20))
h = hashlib.sha256()
for _ in range(64): h.update(p)
print(h.hexdigest())")
got=$(curl -s --max-time 30 --interface 127.0.80.200 "http://$RA:28080/big" | sha256sum | cut -d' ' -f1)
if [[ "$big" == ok* ]] && [ "$want" = "$got" ]; then
	pass "router_large_transfer (echo $big; GET /big sha256 ok)"
else
	fail router_large_transfer "echo: $big; GET /big sha256 $got want $want"
fi

# --- malformed and foreign-cluster discovery messages are dropped, counted ------
python3 - <<'PY'
import socket, struct
def msg(magic=b"LBFO", ver=1, length=36, cluster=7, typ=1, func=1, src="127.0.77.11", size=None):
    b = magic + struct.pack("!BBH", ver, 0, length) + socket.inet_aton(src) + \
        socket.inet_aton("127.0.77.1") + struct.pack("!HHHH", 100, cluster, typ, func) + \
        bytes(12)
    return b if size is None else (b + bytes(64))[:size]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.77.11", 0))      # from a real node's address
dst = ("127.0.77.1", 27400)
for m in [msg(magic=b"XXXX"), msg(ver=2), msg(length=40), msg(size=20), msg(size=50, length=50),
          msg(cluster=8), msg(cluster=8), msg(typ=9), msg(func=3), b"", b"\x00" * 3]:
    u.sendto(m, dst)
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.bind(("127.0.77.50", 0))      # claims to be n1 but is not
v.sendto(msg(), dst)
PY
sleep 0.3
d=$(sj '.discovery.dropped | "\(.magic) \(.version) \(.length) \(.cluster) \(.type) \(.function) \(.short) \(.source)"')
read -r dm dv dl dc dt df ds dsrc <<<"$d"
if [ "$dm" -ge 1 ] && [ "$dv" -ge 1 ] && [ "$dl" -ge 3 ] && [ "$dc" -ge 2 ] && [ "$dt" -ge 1 ] &&
   [ "$df" -ge 1 ] && [ "$ds" -ge 2 ] && [ "$dsrc" -ge 1 ] &&
   [ "$(sj '[.nodes[] | select(.state == "up")] | length')" = 2 ]; then
	pass "router_discovery_dropped (magic $dm version $dv length $dl cluster $dc type $dt function $df short $ds source $dsrc)"
else
	fail router_discovery_dropped "dropped: $(sj '.discovery.dropped' | tr -d ' \n')"
fi
ctl metrics | grep -q '^lbfo_router_discovery_dropped_total{reason="cluster"} [1-9]' &&
	pass router_metrics_dropped || fail router_metrics_dropped "no cluster drop in metrics"

# --- the discovery parser under libFuzzer, bounded -----------------------------
if [ -x "$B/fuzz_discovery" ]; then
	if timeout 60 "$B/fuzz_discovery" -max_total_time=15 -rss_limit_mb=512 \
		-artifact_prefix="$T/" >"$T/fuzz.log" 2>&1; then
		pass "router_fuzz_discovery ($(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$T/fuzz.log"))"
	else
		fail router_fuzz_discovery "$(tail -5 "$T/fuzz.log")"
	fi
else
	echo "SKIP router_fuzz_discovery: clang not found at configure time"
fi

# --- killing a node: after the detection window no new connection fails ------
# A client of n2 before the failure, to see its session move.
for a in $(seq 300 350); do
	node=$(clients 28080 "$a" 1 | awk '{print $2}')
	[ "$node" = n2 ] && { MOVER=$a; break; }
done
{ kill -9 "${SRV_n2}" "${AGENT_n2}"; wait "${SRV_n2}"; wait "${AGENT_n2}"; } 2>/dev/null
sleep 0.9   # detection window: miss_limit 5 x 100 ms, plus a tick and margin
state=$(sj '.nodes[] | select(.name == "n2") | .state')
clients 28080 400 100 >"$T/after.txt"
errs=$(grep -c ERR "$T/after.txt"); on2=$(grep -c ' n2$' "$T/after.txt")
moved=$(clients 28080 "${MOVER:-300}" 1 | awk '{print $2}')
if [ "$state" = failed ] && [ "$errs" = 0 ] && [ "$on2" = 0 ] && [ "$moved" = n1 ]; then
	pass "router_node_failover (n2 $state: $(sj '.nodes[] | select(.name == "n2") | .reason'); 100/100 new connections ok; n2's client moved to n1)"
else
	fail router_node_failover "n2 $state; errors $errs; on n2 $on2; client of n2 now on '$moved'"
fi
# wrk load across the failure of n1's peer is covered; now under load while n2 comes back
start_node n2 $N2
up=""
for _ in $(seq 1 30); do
	up=$(sj '.nodes[] | select(.name == "n2") | .state')
	[ "$up" = up ] && break
	sleep 0.1
done
clients 28080 500 30 >"$T/rejoin.txt"
if [ "$up" = up ] && grep -q ' n2$' "$T/rejoin.txt" && ! grep -q ERR "$T/rejoin.txt"; then
	pass "router_node_rejoin (n2 up again; $(grep -c ' n2$' "$T/rejoin.txt")/30 new sessions on n2)"
else
	fail router_node_rejoin "n2 $up; $(awk '{print $2}' "$T/rejoin.txt" | sort | uniq -c | tr '\n' ' ')"
fi

# Under load: kill n1 while wrk runs on the load service. Requests in
# flight on n1 when it dies are lost (a TCP proxy cannot replay them);
# new connections meanwhile are retried on n2. After the detection
# window, a second run must see no error at all.
if command -v wrk >/dev/null; then
	wrk -t2 -c20 -d2s -H "Connection: close" "http://$RA:28070/" >"$T/wrk2.txt" 2>&1 &
	WRK=$!; PIDS+=($WRK)
	sleep 1
	{ kill -9 "${SRV_n1}" "${AGENT_n1}"; wait "${SRV_n1}"; wait "${AGENT_n1}"; } 2>/dev/null
	wait "$WRK"
	sleep 0.8
	wrk -t2 -c20 -d2s -H "Connection: close" "http://$RA:28070/" >"$T/wrk3.txt" 2>&1
	st=$(sj '.nodes[] | select(.name == "n1") | .state')
	during=$(grep -E 'Socket errors' "$T/wrk2.txt" | tr -s ' ')
	if [ "$st" = failed ] && ! grep -q "Socket errors\|Non-2xx" "$T/wrk3.txt" &&
	   grep -q "requests in" "$T/wrk3.txt"; then
		pass "router_failover_under_load (n1 killed under wrk: during: ${during:-no errors}; connects retried $(sj '.services[] | select(.name == "load") | .connect_retries'); after the window: $(grep 'requests in' "$T/wrk3.txt" | tr -s ' '), no error)"
	else
		fail router_failover_under_load "n1 $st; after: $(grep -E 'requests in|Socket|Non-2xx' "$T/wrk3.txt" | tr '\n' ' ')"
	fi
fi

# --- operating it: lbfoctl against the router ---------------------------------
ev=$(ctl events)
st=$(ctl status)
if [[ "$ev" == *"node n2 failed: missed 5 announcements"* && "$ev" == *"node n2 rejoined"* &&
      "$st" == *"service web"* && "$st" == *"n1"* ]] && ctl status --json | jq -e .services >/dev/null; then
	pass router_lbfoctl_status_events
else
	fail router_lbfoctl_status_events "events: $ev"
fi

if [ "$FAILS" -ne 0 ]; then
	echo "--- router log"; tail -30 "$T/router.log"
	exit 1
fi
exit 0
